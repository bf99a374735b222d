"""Bad security config: a clear error naming the stack file and the key, and nothing registered."""

from __future__ import annotations

import json

import pulumi
import pytest

from boutique.cli.mockrun import Run, run_program
from boutique.inputs.errors import SettingsError
from boutique.inputs.settings import Settings
from boutique.inputs.stackconfig import read_stack_config
from boutique.plans.security import registry_of, stack_images
from boutique.plans.workloads import enabled_services
from boutique.program import PROJECT_DIR, run, settings_from_config

AWS = {"secretsMode": "external", "secretsProvider": "aws"}
INVERTED = '{"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Mi"}}'


def refused(catalog, stack: str = "prod", **values) -> str:
    with pytest.raises(SettingsError) as caught:
        settings_from_config(stack, {f"boutique:{k}": v for k, v in values.items()}, catalog)
    return str(caught.value)


@pytest.mark.parametrize(
    "values, key, says",
    [
        ({**AWS, "secretsProvider": "keybase"}, "secretsProvider", "unknown secrets provider 'keybase'"),
        ({"secretsMode": "external"}, "secretsProvider", "secretsMode is external: name the provider"),
        ({"secretsMode": "vault"}, "secretsMode", "'vault' is not one of 'generated' or 'external'"),
        ({**AWS, "secretStore": '{"region": "eu-west-1"}'}, "secretStore", "aws store: roleArn: required, but missing"),
        (
            {"secretsMode": "external", "secretsProvider": "azure", "secretStore": '{"vaultUrl": "http://kv"}'},
            "secretStore",
            "azure store: vaultUrl: 'http://kv' is not an https:// URL",
        ),
        ({**AWS, "secretsProvider": "gcp", "secretKeyPrefix": "shop/prod/"}, "secretKeyPrefix", "gcp secret names"),
        ({"allowedRegistries": "[]"}, "allowedRegistries", "no registry allowed, so every pod would be refused"),
        ({"allowedRegistries": '["https://ghcr.io"]'}, "allowedRegistries", "is not a registry"),
        ({"allowedRegistries": '["docker.io/library"]'}, "allowedRegistries", "is from none of ['docker.io/library']"),
        ({"access": '{"developer": {}}'}, "access.developer", "the role is bound to nobody"),
        ({"access": '{"developer": {"groups": []}}'}, "access.developer", "the role is bound to nobody"),
        (
            {"access": '{"admin": {"groups": ["ops"]}}'},
            "access.admin",
            "the key 'admin' is not one of 'developer' or 'viewer'",
        ),
        ({"networkPolicyHoles": '["frontnd"]'}, "networkPolicyHoles", "'frontnd' is not a workload of this stack"),
        ({"networkPolicyHoles": '["loadgenerator"]'}, "networkPolicyHoles", "not a workload of this stack"),
        ({"deployerServiceAccount": "cartservice"}, "deployerServiceAccount", "is taken by a workload or a role"),
        (
            {"podSecurityVersion": "latest"},
            "podSecurityVersion",
            "'latest' is not a Kubernetes minor version, e.g. v1.30",
        ),
        (
            {"containerDefaults": INVERTED},
            "containerDefaults",
            "requests.memory is above limits.memory",
        ),
    ],
)
def test_bad_security_config_names_file_and_key(catalog, values, key, says):
    message = refused(catalog, **values)
    assert message.startswith(f"Pulumi.prod.yaml: boutique:{key}"), message
    assert says in message


def test_stacks_as_committed_are_valid(catalog):
    for stack in ("dev", "prod"):
        config, _ = read_stack_config(PROJECT_DIR, stack)
        settings = settings_from_config(stack, config, catalog)
        assert settings.secrets_mode == {"dev": "generated", "prod": "external"}[stack]


def test_an_explicit_registry_list_that_covers_the_images_is_taken(catalog):
    # dev's images (Redis and the load generator's busybox from Docker Hub, the shop's own) and any
    # a service added to the catalog brings.
    enabled = enabled_services(catalog, Settings(load_generator=True))
    registries = sorted({registry_of(i) for i in stack_images(catalog, Settings(), enabled).values()})
    assert {"docker.io/library", "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo"} <= set(registries)
    settings = settings_from_config("dev", {"boutique:allowedRegistries": json.dumps(registries)}, catalog)
    assert settings.allowed_registries == registries


def test_nothing_is_registered_on_bad_security_config():
    config, _ = read_stack_config(PROJECT_DIR, "prod")
    config["boutique:secretsProvider"] = "keybase"
    partial = Run()
    with pytest.raises(
        pulumi.RunError, match=r"Pulumi\.prod\.yaml: boutique:secretsProvider: unknown secrets provider"
    ):
        run_program(run, "prod", config, run=partial)
    assert partial.resources == []
