"""The catalog: upstream's facts are there, and every kind of bad input is refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from boutique.inputs.catalog import load_catalog
from boutique.inputs.errors import CatalogError
from boutique.program import CATALOG_FILE

UPSTREAM_SERVICES = {
    "frontend",
    "adservice",
    "currencyservice",
    "cartservice",
    "recommendationservice",
    "checkoutservice",
    "emailservice",
    "paymentservice",
    "shippingservice",
    "productcatalogservice",
    "loadgenerator",
}


def test_catalog_has_every_upstream_service_and_redis(catalog):
    assert set(catalog.services) == UPSTREAM_SERVICES
    assert set(catalog.stores) == {"redis-cart"}


def test_addresses_use_the_targets_service_port(catalog):
    assert catalog.address_of("emailservice") == "emailservice:5000"
    assert catalog.address_of("frontend") == "frontend:80"
    assert catalog.address_of("redis-cart") == "redis-cart:6379"
    assert catalog.services["emailservice"].ports.container == 8080


def test_call_graph_matches_upstream(catalog):
    assert catalog.callees_of("checkoutservice") == sorted(
        ["productcatalogservice", "shippingservice", "paymentservice", "emailservice", "currencyservice", "cartservice"]
    )
    assert catalog.callers_of("productcatalogservice") == ["checkoutservice", "frontend", "recommendationservice"]
    assert catalog.callers_of("redis-cart") == ["cartservice"]


def write_catalog(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(CATALOG_FILE.read_text())
    mutate(data)
    path = tmp_path / "services.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def refused(path: Path) -> str:
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    return str(caught.value)


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "services.yaml"
    path.write_text("services:\n  frontend: [unclosed\n")
    message = refused(path)
    assert message.startswith("services.yaml: line")
    assert "invalid YAML" in message


def test_unknown_key_is_refused_with_its_path(tmp_path):
    path = write_catalog(tmp_path, lambda d: d["services"]["adservice"].update(replica=2))
    assert "services.yaml: services.adservice.replica: Extra inputs are not permitted" in refused(path)


def test_duplicate_service_is_refused(tmp_path):
    path = tmp_path / "services.yaml"
    text = CATALOG_FILE.read_text()
    text = text.replace("  paymentservice:\n", "  shippingservice:\n", 1)
    path.write_text(text)
    message = refused(path)
    assert "duplicate key 'shippingservice'" in message
    assert message.startswith("services.yaml: line")


def test_dangling_dependency_is_refused(tmp_path):
    path = write_catalog(tmp_path, lambda d: d["services"]["frontend"]["calls"].update(FOO_ADDR="nosuchservice"))
    assert "services.frontend.calls.FOO_ADDR: 'nosuchservice' is not a service or store with a port" in refused(path)


def test_self_dependency_is_refused(tmp_path):
    path = write_catalog(tmp_path, lambda d: d["services"]["cartservice"]["calls"].update(SELF_ADDR="cartservice"))
    assert "cartservice cannot call itself" in refused(path)


def test_latest_image_is_refused(tmp_path):
    path = write_catalog(tmp_path, lambda d: d["images"].update(tag="latest"))
    assert "services.yaml: images.tag: image tag 'latest' is not pinned" in refused(path)


def test_unpinned_override_image_is_refused(tmp_path):
    path = write_catalog(tmp_path, lambda d: d["stores"]["redis-cart"].update(image={"repository": "redis"}))
    assert "stores.redis-cart.image: image is not pinned" in refused(path)


def test_bad_port_is_refused(tmp_path):
    path = write_catalog(tmp_path, lambda d: d["services"]["cartservice"]["ports"].update(container=70000))
    assert (
        "services.yaml: services.cartservice.ports.container: Input should be less than or equal to 65535"
        in refused(path)
    )


def test_bad_name_is_refused(tmp_path):
    path = write_catalog(tmp_path, lambda d: d["services"].update(Bad_Name=d["services"]["adservice"]))
    assert "services.Bad_Name.[key]" in refused(path)


def test_probe_with_two_handlers_is_refused(tmp_path):
    def mutate(d):
        d["services"]["adservice"]["probes"]["readiness"]["tcp"] = {}

    path = write_catalog(tmp_path, mutate)
    assert "services.adservice.probes.readiness: a probe needs exactly one of http, grpc or tcp" in refused(path)


def test_requests_above_limits_are_refused(tmp_path):
    path = write_catalog(tmp_path, lambda d: d["services"]["adservice"]["resources"]["requests"].update(cpu="2"))
    assert "services.adservice.resources: requests.cpu is above limits.cpu" in refused(path)


def test_missing_file_is_a_clear_error(tmp_path):
    assert "cannot read" in refused(tmp_path / "nope.yaml")
