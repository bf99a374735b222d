"""The catalog: upstream's facts are there, and every kind of bad input is refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from boutique.inputs.catalog import Service, load_catalog
from boutique.inputs.errors import CatalogError
from boutique.program import CATALOG_FILE

# Upstream v0.10.6 (DESIGN.md), written here independently of services.yaml. The shop's catalog
# must hold all of it; a service added beside upstream's (README: "Adding a service") is welcome.
UPSTREAM_PORTS = {  # service: (container port, Service port, protocol); None: serves no port
    "frontend": (8080, 80, "http"),
    "adservice": (9555, 9555, "grpc"),
    "currencyservice": (7000, 7000, "grpc"),
    "cartservice": (7070, 7070, "grpc"),
    "recommendationservice": (8080, 8080, "grpc"),
    "checkoutservice": (5050, 5050, "grpc"),
    "emailservice": (8080, 5000, "grpc"),
    "paymentservice": (50051, 50051, "grpc"),
    "shippingservice": (50051, 50051, "grpc"),
    "productcatalogservice": (3550, 3550, "grpc"),
    "loadgenerator": None,
}
UPSTREAM_CALLS = {  # caller: {env var: callee}
    "frontend": {
        "PRODUCT_CATALOG_SERVICE_ADDR": "productcatalogservice",
        "CURRENCY_SERVICE_ADDR": "currencyservice",
        "CART_SERVICE_ADDR": "cartservice",
        "RECOMMENDATION_SERVICE_ADDR": "recommendationservice",
        "SHIPPING_SERVICE_ADDR": "shippingservice",
        "CHECKOUT_SERVICE_ADDR": "checkoutservice",
        "AD_SERVICE_ADDR": "adservice",
    },
    "cartservice": {"REDIS_ADDR": "redis-cart"},
    "recommendationservice": {"PRODUCT_CATALOG_SERVICE_ADDR": "productcatalogservice"},
    "checkoutservice": {
        "PRODUCT_CATALOG_SERVICE_ADDR": "productcatalogservice",
        "SHIPPING_SERVICE_ADDR": "shippingservice",
        "PAYMENT_SERVICE_ADDR": "paymentservice",
        "EMAIL_SERVICE_ADDR": "emailservice",
        "CURRENCY_SERVICE_ADDR": "currencyservice",
        "CART_SERVICE_ADDR": "cartservice",
    },
    "loadgenerator": {"FRONTEND_ADDR": "frontend"},
}


def test_catalog_has_every_upstream_service_and_redis(catalog):
    for name, ports in UPSTREAM_PORTS.items():
        service = catalog.services.get(name)
        assert service is not None, f"upstream's {name} is missing from the catalog"
        got = (service.ports.container, service.ports.service_port, service.ports.protocol) if service.ports else None
        assert got == ports, name
    assert catalog.services["loadgenerator"].optional
    redis = catalog.stores["redis-cart"]
    assert (redis.engine, redis.port) == ("redis", 6379)


def test_addresses_use_the_targets_service_port(catalog):
    assert catalog.address_of("emailservice") == "emailservice:5000"
    assert catalog.address_of("frontend") == "frontend:80"
    assert catalog.address_of("redis-cart") == "redis-cart:6379"
    assert catalog.services["emailservice"].ports.container == 8080


def test_call_graph_matches_upstream(catalog):
    """Every upstream call is there under upstream's env var; services added beside may call more."""
    for caller, calls in UPSTREAM_CALLS.items():
        for env, callee in calls.items():
            assert catalog.services[caller].calls.get(env) == callee, f"{caller} {env}"
    upstream_callers = {c for c, calls in UPSTREAM_CALLS.items() if "productcatalogservice" in calls.values()}
    assert upstream_callers <= set(catalog.callers_of("productcatalogservice"))
    assert catalog.callers_of("redis-cart") == ["cartservice"]  # the cart store is cartservice's alone


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


def test_unknown_key_is_refused_with_its_path_the_nearest_and_the_known_ones(tmp_path):
    path = write_catalog(tmp_path, lambda d: d["services"]["adservice"].update(prots={"container": 1}))
    message = refused(path)
    assert message.startswith(
        "services.yaml: services.adservice.prots: unknown key; did you mean services.adservice.ports? known keys here: "
    )
    known = message.split("known keys here: ", 1)[1].split(", ")
    assert known == [field.alias for field in Service.model_fields.values()]
    assert "Extra inputs" not in message


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
    assert "services.yaml: services.cartservice.ports.container: must be at most 65535, got 70000" in refused(path)


def test_bad_name_is_refused(tmp_path):
    path = write_catalog(tmp_path, lambda d: d["services"].update(Bad_Name=d["services"]["adservice"]))
    assert refused(path).startswith(
        "services.yaml: services.Bad_Name: the key 'Bad_Name' is not a DNS-1123 label: lowercase letters, "
        "digits and '-', at most 63 characters"
    )


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
