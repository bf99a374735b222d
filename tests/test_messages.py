"""Errors in plain words: every message names the file and the key, says what is expected in words
(what a pattern means, the keys a mapping takes and the nearest one), and speaks no pydantic."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from boutique.inputs.catalog import Catalog, load_catalog
from boutique.inputs.errors import CatalogError, InputError, nearest, pattern_meaning
from boutique.inputs.mesh_settings import Canary
from boutique.inputs.security_settings import SECRET_STORES, ContainerDefaults
from boutique.inputs.settings import Settings
from boutique.program import CATALOG_FILE, settings_from_config

# What pydantic says where a person should read plain words.
JARGON = (
    "Input should",
    "Extra inputs",
    "valid dictionary",
    "instance of",
    "should match pattern",
    "Field required",
    "(top level)",
    "[key]",
    "Value error",
)


def _patterns(annotation: typing.Any, seen: set[type]) -> set[str]:
    """Every string pattern an annotation (a model, its fields, dict keys and items) may check."""
    found: set[str] = set()
    if typing.get_origin(annotation) is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        return {m.pattern for m in metadata if getattr(m, "pattern", None)} | _patterns(base, seen)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return found
        seen.add(annotation)
        for field in annotation.model_fields.values():
            found |= {m.pattern for m in field.metadata if getattr(m, "pattern", None)}
            found |= _patterns(field.annotation, seen)
        return found
    for argument in typing.get_args(annotation):
        found |= _patterns(argument, seen)
    return found


def test_every_pattern_of_both_inputs_says_what_it_means():
    models = [Catalog, Settings, Canary, ContainerDefaults, *SECRET_STORES.values()]
    patterns = set().union(*(_patterns(model, set()) for model in models))
    assert len(patterns) > 15  # the walk reaches nested models, dict keys and list items
    assert [p for p in sorted(patterns) if pattern_meaning(p) is None] == []


def test_nearest_finds_typos_and_nothing_for_strangers():
    assert nearest("replica", ["replicas", "namespace"]) == "replicas"
    assert nearest("Replicas", ["replicas"]) == "replicas"
    assert nearest("boutiqe", ["boutique", "kubernetes", "pulumi", "random"]) == "boutique"
    assert nearest("aws", ["boutique", "kubernetes", "pulumi", "random"]) is None


def write_catalog(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(CATALOG_FILE.read_text())
    mutate(data)
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def catalog_message(tmp_path: Path, mutate) -> str:
    with pytest.raises(CatalogError) as caught:
        load_catalog(write_catalog(tmp_path, mutate))
    return str(caught.value)


@pytest.mark.parametrize(
    "mutate, says",
    [
        (
            lambda d: d["services"]["frontend"].update(probes="x"),
            "shop.yaml: services.frontend.probes: expected a mapping (key: value), got 'x'",
        ),
        (
            lambda d: d["services"]["adservice"]["ports"].update(container="x"),
            "shop.yaml: services.adservice.ports.container: expected a whole number, got 'x'",
        ),
        (
            lambda d: d["services"]["adservice"]["ports"].update(protocol="udp"),
            "shop.yaml: services.adservice.ports.protocol: 'udp' is not one of 'grpc', 'http' or 'tcp'",
        ),
        (
            lambda d: d["services"]["adservice"]["resources"]["limits"].update(cpu="1 core"),
            "shop.yaml: services.adservice.resources.limits.cpu: '1 core' is not a Kubernetes quantity",
        ),
        (
            lambda d: d["services"]["adservice"].update(calls={"9_ADDR": "cartservice"}),
            "shop.yaml: services.adservice.calls.9_ADDR: the key '9_ADDR' is not an environment variable name",
        ),
        (
            lambda d: d["services"]["adservice"].pop("resources"),
            "shop.yaml: services.adservice.resources: required, but missing",
        ),
        (
            lambda d: d["services"]["adservice"]["api"]["grpc"].update(methods=[]),
            "shop.yaml: services.adservice.api.grpc.methods: needs at least 1 item(s), got 0",
        ),
        (
            lambda d: d["services"]["adservice"]["api"]["grpc"].update(service="AdService"),
            "shop.yaml: services.adservice.api.grpc.service: 'AdService' is not a gRPC service's full name",
        ),
        (
            lambda d: d["services"]["frontend"]["calls"].update(FOO_ADDR="nosuchservice"),
            "shop.yaml: services.frontend.calls.FOO_ADDR: 'nosuchservice' is not a service or store with a port",
        ),
        (
            lambda d: d["stores"].update(frontend=d["stores"]["redis-cart"]),
            "shop.yaml: stores.frontend: also the name of a service",
        ),
        (
            lambda d: d["mesh"]["retries"].update(retryOn="5xx, reset"),
            "shop.yaml: mesh.retries.retryOn: '5xx, reset' is not Envoy retry conditions, comma-separated",
        ),
        (
            lambda d: d["services"]["adservice"].update(Api={}),
            "shop.yaml: services.adservice.Api: unknown key; did you mean services.adservice.api? known keys here: ",
        ),
    ],
)
def test_catalog_errors_are_plain_words_with_file_and_key(tmp_path, mutate, says):
    message = catalog_message(tmp_path, mutate)
    assert message.startswith(says), message
    assert not [j for j in JARGON if j in message], message


@pytest.mark.parametrize(
    "values, says",
    [
        (
            {"access": '{"developer": ["ops"]}'},
            "boutique:access.developer: expected a mapping (key: value), got a list",
        ),
        ({"replicas": "two"}, "boutique:replicas: expected a whole number, got 'two'"),
        ({"loadGenerator": "yes please"}, "boutique:loadGenerator: expected true or false, got 'yes please'"),
        ({"replicas": "0"}, "boutique:replicas: must be at least 1, got 0"),
        ({"networkPolicyHoles": '"adservice"'}, "boutique:networkPolicyHoles: expected a list, got 'adservice'"),
        ({"prometheusRetention": "2 weeks"}, "boutique:prometheusRetention: '2 weeks' is not a Prometheus duration"),
        ({"prometheusStorage": "50 GB"}, "boutique:prometheusStorage: '50 GB' is neither empty nor a storage size"),
        (
            {"canaries": '{"frontend": {"header": "x", "hedaer": "y"}}'},
            "did you mean boutique:canaries.frontend.header?",
        ),
        ({"secretRefreshInterval": "hourly"}, "boutique:secretRefreshInterval: 'hourly' is not a duration in h, m"),
        (
            {"secretsMode": "external", "secretsProvider": "gcp", "secretStore": '{"projectId": "P"}'},
            "boutique:secretStore: gcp store: projectId: 'P' is not a GCP project ID, e.g. my-project-123; "
            "serviceAccount: required, but missing",
        ),
    ],
)
def test_settings_errors_are_plain_words_with_file_and_key(catalog, values, says):
    with pytest.raises(InputError) as caught:
        settings_from_config("dev", {f"boutique:{k}": v for k, v in values.items()}, catalog)
    message = str(caught.value)
    assert message.startswith("Pulumi.dev.yaml: boutique:"), message
    assert says in message, message
    assert not [j for j in JARGON if j in message], message
