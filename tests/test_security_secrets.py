"""Secrets: generated in dev, from a secrets manager through the External Secrets Operator in prod;
no value ever in a rendered file, and every workload waits for the Secret it reads."""

from __future__ import annotations

import pulumi
import pytest

from boutique.cli.mockrun import fake_secret_value, run_program
from components.crds import CrdOwners
from components.external_secrets import ExternalSecretSpec, SecretStoreSpec, _provider, create_external_secrets
from tests.conftest import Objects, container, run_stack

ESO = "external-secrets.io/v1"


def urn_of(run, type_suffix: str, name: str) -> str:
    return next(r.urn for r in run.resources if r.type.endswith(type_suffix) and r.name == name)


def test_prod_creates_no_plain_secret_and_generates_nothing(prod):
    assert prod.kind("Secret") == []
    assert not prod.run.of_type("random:index/randomPassword:RandomPassword")


def test_prod_redis_secret_comes_from_an_external_secret_that_builds_redis_conf(prod):
    external = prod.get("ExternalSecret", "redis-cart-auth")
    assert external["apiVersion"] == ESO
    spec = external["spec"]
    assert spec["target"]["name"] == "redis-cart-auth"
    template = spec["target"]["template"]
    assert template["engineVersion"] == "v2"
    assert template["data"] == {"password": "{{ .password }}", "redis.conf": "requirepass {{ .password }}\n"}
    assert spec["data"] == [
        {"secretKey": "password", "remoteRef": {"key": "boutique/prod/redis-cart-auth", "property": "password"}}
    ]
    assert spec["refreshInterval"] == "1h"
    store = prod.get("SecretStore", spec["secretStoreRef"]["name"])
    assert spec["secretStoreRef"]["kind"] == "SecretStore"  # namespaced, not a ClusterSecretStore
    aws = store["spec"]["provider"]["aws"]
    assert (aws["service"], aws["region"]) == ("SecretsManager", "eu-west-1")
    account = prod.get("ServiceAccount", aws["auth"]["jwt"]["serviceAccountRef"]["name"])
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/boutique-prod-external-secrets"
    }


def test_the_workloads_read_what_the_external_secret_writes(prod):
    target = prod.get("ExternalSecret", "redis-cart-auth")["spec"]["target"]
    keys = set(target["template"]["data"])
    # prod's Redis is the redis-operator's: it hands the password to Redis and the Sentinels from
    # the RedisReplication's redisSecret; the backup job mounts it.
    assert "redis-cart" not in prod.names("StatefulSet")
    redis_secret = prod.get("RedisReplication", "redis-cart")["spec"]["kubernetesConfig"]["redisSecret"]
    assert redis_secret["name"] == target["name"] and redis_secret["key"] in keys
    backup = prod.get("CronJob", "redis-cart-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    volume = next(v for v in backup["volumes"] if "secret" in v)
    assert volume["secret"]["secretName"] == target["name"]
    assert {item["key"] for item in volume["secret"]["items"]} <= keys
    ref = container(prod.get("Deployment", "cartservice"))["env"]
    secret_ref = next(e["valueFrom"]["secretKeyRef"] for e in ref if "valueFrom" in e)
    assert secret_ref["name"] == target["name"] and secret_ref["key"] in keys


def test_workloads_depend_on_the_external_secret(prod):
    run = prod.run
    external = urn_of(run, ":ExternalSecret", "security-externalsecret-redis-cart-auth")
    # The operator reads the Secret when it makes the pods: the RedisReplication waits for it, as
    # does the backup job.
    replication = next(
        r for r in run.resources if r.type.endswith(":RedisReplication") and r.name == "redis-cart-replication"
    )
    assert external in replication.dependencies
    assert external in run.named("boutique:index:RedisBackup", "redis-cart-backup").dependencies
    assert external in run.named("boutique:index:MicroService", "cartservice").dependencies
    # The ExternalSecret itself does not wait for its store (the operator retries until the store is
    # Ready), so it is created beside it, one wave earlier than after it.
    store = urn_of(run, ":SecretStore", "security-secretstore")
    assert (
        store
        not in run.named(
            "kubernetes:external-secrets.io/v1:ExternalSecret", "security-externalsecret-redis-cart-auth"
        ).dependencies
    )


def test_dev_generates_the_password_as_a_pulumi_secret(dev):
    assert dev.kind("ExternalSecret") == [] and dev.kind("SecretStore") == []
    secret = dev.get("Secret", "redis-cart-auth")
    assert set(secret["stringData"]) == {"password", "redis.conf"}
    run = dev.run
    assert (
        run.named("kubernetes:core/v1:Secret", "redis-cart-secret").urn
        in run.named("boutique:index:MicroService", "cartservice").dependencies
    )


def test_external_secrets_wait_for_the_operator_release():
    """Once the operator's Release is registered for external-secrets.io, the store and every
    ExternalSecret depend on it."""

    def program():
        crds = CrdOwners()
        operator = pulumi.CustomResource("test:index:Operator", "eso")  # stands in for a helm Release
        crds.register("external-secrets.io", operator)
        owner = pulumi.ComponentResource("test:index:Owner", "owner")
        create_external_secrets(
            owner,
            "sec",
            "shop",
            {},
            SecretStoreSpec("vault", {"server": "https://v", "role": "r", "path": "kv", "auth_mount_path": "k8s"}),
            [ExternalSecretSpec("db-auth", "shop/db", ["password"])],
            crds,
        )

    run = run_program(program, "test", {})
    operator = next(r.urn for r in run.resources if r.type == "test:index:Operator")
    for kind in ("SecretStore", "ExternalSecret"):
        (registration,) = [r for r in run.resources if r.type == f"kubernetes:{ESO}:{kind}"]
        assert operator in registration.dependencies, kind
    copied = Objects(run).get("ExternalSecret", "db-auth")["spec"]
    assert "template" not in copied["target"]  # no template: the properties are copied as they are


@pytest.mark.parametrize(
    "provider, settings, field, annotation",
    [
        ("aws", {"region": "us-east-1", "role_arn": "arn:aws:iam::1:role/r"}, "aws", "eks.amazonaws.com/role-arn"),
        ("vault", {"server": "https://vault", "role": "r", "path": "kv", "auth_mount_path": "k8s"}, "vault", None),
        (
            "gcp",
            {"project_id": "p", "service_account": "a@p.iam.gserviceaccount.com"},
            "gcpsm",
            "iam.gke.io/gcp-service-account",
        ),
        (
            "azure",
            {"vault_url": "https://v.vault.azure.net", "client_id": "c"},
            "azurekv",
            "azure.workload.identity/client-id",
        ),
    ],
)
def test_each_provider_authenticates_as_the_store_account(provider, settings, field, annotation):
    spec, annotations = _provider(provider, settings, "store-sa")
    assert list(spec) == [field]
    assert "store-sa" in repr(spec[field])  # the workload identity is the store's own ServiceAccount
    assert "secretRef" not in repr(spec)  # never a static credential in a Secret
    assert list(annotations) == ([annotation] if annotation else [])


def test_vault_store_from_config():
    objects = Objects(
        run_stack(
            "prod",
            {"secretsProvider": "vault", "secretStore": '{"server": "https://vault.example.com", "role": "boutique"}'},
        )
    )
    vault = objects.get("SecretStore", "security-secret-store")["spec"]["provider"]["vault"]
    assert vault["version"] == "v2" and vault["path"] == "secret"
    assert vault["auth"]["kubernetes"] == {
        "mountPath": "kubernetes",
        "role": "boutique",
        "serviceAccountRef": {"name": "security-secret-store"},
    }


def test_no_rendered_object_holds_a_generated_value(dev, prod):
    value = fake_secret_value("redis-cart-password")
    for objects in (dev, prod):
        assert value not in repr(objects.all)
