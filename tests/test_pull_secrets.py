"""Private registries: the shop's pods pull with the registry credentials `boutique:imagePullSecret`
names, from the secrets manager (an ExternalSecret of type dockerconfigjson) or from the encrypted
`boutique:registryAuth`; images and the allowed-registries rule follow `boutique:imageRegistry`; no
credential is ever in plain text."""

from __future__ import annotations

import base64
import copy
import functools
import json

import pytest
from pulumi.runtime import rpc

from boutique.cli import render
from boutique.cli.mockrun import run_program
from boutique.inputs.errors import SettingsError
from boutique.inputs.stackconfig import read_stack_config
from boutique.program import CATALOG_FILE, PROJECT_DIR, run, settings_from_config
from tests.conftest import Objects
from tests.test_security_admission import policies

REGISTRY = "registry.example.com/shop"
PULL_SECRET = "shop-registry"
ACCOUNT = "robot-shop:n0t-a-real-t0ken"  # what the tests search every output for
DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"


def run_with(stack: str, values: dict[str, str], secret: tuple[str, ...] = ()) -> Objects:
    """The stack with `boutique:` overrides; keys in `secret` arrive encrypted, as `--secret` stores them."""
    config, secret_keys = read_stack_config(PROJECT_DIR, stack)
    config.update({f"boutique:{k}": v for k, v in values.items()})
    keys = [*secret_keys, *(f"boutique:{k}" for k in secret)]
    return Objects(run_program(lambda: run(CATALOG_FILE), stack, config, keys))


@functools.cache
def prod_private() -> Objects:
    """The issue's example: prod pulling from a private registry, credentials in the secrets manager."""
    return run_with("prod", {"imageRegistry": REGISTRY, "imagePullSecret": PULL_SECRET})


@functools.cache
def dev_private() -> Objects:
    return run_with(
        "dev", {"imageRegistry": REGISTRY, "imagePullSecret": PULL_SECRET, "registryAuth": ACCOUNT}, ("registryAuth",)
    )


def pod_specs(objects: Objects) -> dict[str, dict]:
    """Every pod template of the shop's namespace, by workload: Deployments, StatefulSets and
    CronJobs; and for a RedisReplication the redis-operator's pods, as the custom resource describes
    them (its Redis pods and its Sentinels: their ServiceAccount and pull secrets)."""
    namespace = objects.run.outputs["namespace"]
    specs = {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]
        for o in objects.kind("Deployment") + objects.kind("StatefulSet")
        if o["metadata"]["namespace"] == namespace
    }
    for job in objects.kind("CronJob"):
        if job["metadata"]["namespace"] == namespace:
            specs[job["metadata"]["name"]] = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    for replication in objects.kind("RedisReplication"):
        name, spec = replication["metadata"]["name"], replication["spec"]
        pulls = spec["kubernetesConfig"].get("imagePullSecrets")
        specs[name] = {"serviceAccountName": spec["serviceAccountName"], "imagePullSecrets": pulls}
        if "sentinel" in spec:
            sentinel = spec["sentinel"]
            specs[f"{name} Sentinels"] = {
                "serviceAccountName": sentinel["serviceAccountName"],
                "imagePullSecrets": sentinel.get("imagePullSecrets"),
            }
    return specs


def test_prod_with_a_private_registry_builds_a_dockerconfigjson_external_secret(catalog):
    objects = prod_private()
    secret = objects.get("ExternalSecret", PULL_SECRET)
    target = secret["spec"]["target"]
    assert target["name"] == PULL_SECRET and target["template"]["type"] == DOCKER_CONFIG_JSON
    assert [d["remoteRef"] for d in secret["spec"]["data"]] == [
        {"key": f"boutique/prod/{PULL_SECRET}", "property": "username"},
        {"key": f"boutique/prod/{PULL_SECRET}", "property": "password"},
    ]
    template = target["template"]["data"][".dockerconfigjson"]
    # The registry is the host the images come from; the auth is base64(username:password), in ESO's template.
    config = json.loads(template.replace('"%s:%s"', "'%s:%s'"))
    (host,) = config["auths"]
    assert host == REGISTRY.split("/")[0]
    assert config["auths"][host]["auth"] == "{{ printf '%s:%s' .username .password | b64enc }}"
    assert secret["spec"]["secretStoreRef"]["name"] == "security-secret-store"


def test_every_shop_pod_pulls_with_it_and_waits_for_it(catalog):
    objects = prod_private()
    specs = pod_specs(objects)
    assert set(catalog.stores) | {"frontend", "frontend-v2"} <= set(specs)
    for workload, spec in specs.items():
        account = objects.get("ServiceAccount", spec["serviceAccountName"])
        assert account["imagePullSecrets"] == [{"name": PULL_SECRET}], workload
        assert account["automountServiceAccountToken"] is False
        if "imagePullSecrets" in spec:  # set on the custom resource, the operator's pods carry it too
            assert spec["imagePullSecrets"] == [{"name": PULL_SECRET}], workload
    run_ = objects.run
    external = next(
        r.urn for r in run_.resources if r.type.endswith(":ExternalSecret") and r.name.endswith(PULL_SECRET)
    )
    for name in catalog.services:
        if name in specs:
            assert external in run_.named("boutique:index:MicroService", name).dependencies, name
    for name in catalog.stores:
        assert external in run_.named("boutique:index:RedisStore", name).dependencies, name


def test_the_shops_images_and_the_allowed_registries_follow_the_registry(catalog):
    objects = prod_private()
    rule = policies(objects)["allowed-registries"]
    namespace = objects.run.outputs["namespace"]
    followed = []
    for workload in objects.kind("Deployment"):
        service = catalog.services.get(workload["spec"]["template"]["metadata"]["labels"]["app"])
        if workload["metadata"]["namespace"] != namespace or service is None or service.image is not None:
            continue  # stores, and services with an image of their own, keep theirs
        server = next(c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == "server")
        assert server["image"].startswith(f"{REGISTRY}/"), workload["metadata"]["name"]
        followed.append(workload["metadata"]["name"])
    assert "frontend" in followed
    frontend = objects.get("Deployment", "frontend")
    assert rule.admits(frontend)
    upstream = copy.deepcopy(frontend)
    upstream["spec"]["template"]["spec"]["containers"][0]["image"] = (
        f"{catalog.images.registry}/frontend:{catalog.images.tag}"
    )
    assert not rule.admits(upstream)  # the upstream registry is no longer allowed


def test_without_a_pull_secret_no_account_carries_one(prod, dev):
    for objects in (prod, dev):
        assert all("imagePullSecrets" not in a for a in objects.kind("ServiceAccount"))
        assert all(s.get("type") != DOCKER_CONFIG_JSON for s in objects.kind("Secret"))


def test_generated_mode_writes_a_secret_pull_secret_from_registry_auth():
    objects = dev_private()
    secret = objects.get("Secret", PULL_SECRET)
    assert secret["type"] == DOCKER_CONFIG_JSON
    assert secret["stringData"] == {".dockerconfigjson": render.REDACTED}
    registration = objects.run.named("kubernetes:core/v1:Secret", f"security-{PULL_SECRET}")
    data = registration.inputs["stringData"]
    assert rpc.is_rpc_secret(data)  # a Pulumi secret: encrypted in state, redacted everywhere
    config = json.loads(rpc.unwrap_rpc_secret(data)[".dockerconfigjson"])
    assert base64.b64decode(config["auths"][REGISTRY.split("/")[0]]["auth"]).decode() == ACCOUNT
    for spec in pod_specs(objects).values():
        assert objects.get("ServiceAccount", spec["serviceAccountName"])["imagePullSecrets"] == [{"name": PULL_SECRET}]


def test_ci_may_update_the_generated_pull_secret_by_name():
    objects = run_with(
        "dev",
        {"imagePullSecret": PULL_SECRET, "registryAuth": ACCOUNT, "deployerServiceAccount": "deployer"},
        ("registryAuth",),
    )
    rules = objects.get("Role", "deployer")["rules"]
    by_name = next(r for r in rules if r["resources"] == ["secrets"] and "resourceNames" in r)
    assert PULL_SECRET in by_name["resourceNames"] and "update" in by_name["verbs"]


def test_the_credential_is_in_no_rendered_file(tmp_path):
    objects = dev_private()
    render.write(objects.run, tmp_path)
    password = ACCOUNT.split(":")[1]
    encoded = base64.b64encode(ACCOUNT.encode()).decode()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert password not in text and encoded not in text, path


def refused(catalog, stack: str = "dev", secret_keys: tuple[str, ...] | None = None, **values: str) -> str:
    config, _ = read_stack_config(PROJECT_DIR, stack)
    config.update({f"boutique:{k}": v for k, v in values.items()})
    with pytest.raises(SettingsError) as caught:
        settings_from_config(stack, config, catalog, secret_keys)
    return str(caught.value)


def test_registry_auth_in_plain_text_is_refused(catalog):
    message = refused(catalog, secret_keys=(), imagePullSecret=PULL_SECRET, registryAuth=ACCOUNT)
    assert message.startswith("Pulumi.dev.yaml: boutique:registryAuth: stored as plain text; store it encrypted")
    assert "pulumi config set --secret boutique:registryAuth" in message
    assert ACCOUNT.split(":")[1] not in message
    config, _ = read_stack_config(PROJECT_DIR, "dev")
    config.update({"boutique:imagePullSecret": PULL_SECRET, "boutique:registryAuth": ACCOUNT})
    assert settings_from_config("dev", config, catalog, ["boutique:registryAuth"]).image_pull_secret == PULL_SECRET


@pytest.mark.parametrize(
    "values, says",
    [
        (
            {"imagePullSecret": PULL_SECRET},
            "boutique:registryAuth: missing: boutique:imagePullSecret is",
        ),
        ({"registryAuth": ACCOUNT}, "boutique:registryAuth: set, but boutique:imagePullSecret names no Secret"),
        ({"imagePullSecret": PULL_SECRET, "registryAuth": "token-only"}, "expected <username>:<password>"),
        ({"imagePullSecret": "redis-cart-auth", "registryAuth": ACCOUNT}, "'redis-cart-auth' is the name of a store"),
        ({"imagePullSecret": "Not_A_Name"}, "boutique:imagePullSecret: 'Not_A_Name' is neither empty nor a DNS-1123"),
    ],
)
def test_bad_pull_secret_settings_are_refused(catalog, values, says):
    message = refused(catalog, **values)
    assert says in message, message
    assert "token-only" not in message and ACCOUNT.split(":")[1] not in message


def test_external_mode_keeps_the_account_in_the_secrets_manager(catalog):
    message = refused(catalog, "prod", imagePullSecret=PULL_SECRET, registryAuth=ACCOUNT)
    assert message.startswith("Pulumi.prod.yaml: boutique:registryAuth: secretsMode is external")
    assert "boutique/prod/shop-registry, properties username and password" in message
