"""The cart store through the redis-operator (prod) and as our own StatefulSet (dev), derived from
the catalog's store entry; every chart value and custom-resource field checked against the key
lists in tests/chart_keys (written from the chart's values and the CRD at the pinned versions)."""

from __future__ import annotations

from typing import Any

import pytest

from boutique.__main__ import main
from boutique.cli.render import HELM_RELEASE
from boutique.inputs.catalog import load_catalog
from boutique.inputs.errors import CatalogError
from boutique.inputs.stackconfig import read_stack_config
from boutique.plans import versions
from boutique.program import CATALOG_FILE, PROJECT_DIR, settings_from_config
from components import redis_operator
from components.redis_backup import SNAPSHOT_SCRIPT, UPLOAD_SCRIPT
from tests.conftest import container, env_of
from tests.test_tracing import known_keys, release, unknown_keys

STORE = "redis-cart"


def flatten_lists(value: Any) -> Any:
    """Lists of objects merged into one object, so their items' keys are checked too."""
    if isinstance(value, dict):
        return {k: flatten_lists(v) for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        merged: dict[str, Any] = {}
        for item in value:
            for k, v in flatten_lists(item).items():
                merged[k] = {**merged[k], **v} if isinstance(merged.get(k), dict) and isinstance(v, dict) else v
        return merged
    return value


def replication(objects) -> dict[str, Any]:
    return objects.get("RedisReplication", STORE)


def test_prod_runs_a_replication_of_three_with_three_sentinels_and_no_statefulset_of_ours(prod, catalog):
    spec = replication(prod)["spec"]
    entry = catalog.stores[STORE].replication
    assert spec["clusterSize"] == entry.replicas == 3
    assert spec["sentinel"]["size"] == entry.sentinels == 3
    assert redis_operator.quorum(spec["sentinel"]["size"]) == 2
    assert spec["kubernetesConfig"]["image"] == entry.image.ref
    assert spec["kubernetesConfig"]["redisSecret"] == {"name": "redis-cart-auth", "key": "password"}
    assert STORE not in prod.names("StatefulSet")
    assert spec["storage"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert spec["redisExporter"]["enabled"] is True


def test_dev_keeps_its_single_redis(dev):
    assert dev.get("StatefulSet", STORE)["spec"]["replicas"] == 1
    assert not dev.kind("RedisReplication")
    assert env_of(container(dev.get("Deployment", "cartservice")))["REDIS_ADDR"].startswith("redis-cart:6379,")


def test_cartservice_writes_to_the_master_service(prod):
    address = env_of(container(prod.get("Deployment", "cartservice")))["REDIS_ADDR"]
    assert address.startswith(f"{redis_operator.master_service(STORE)}:6379,password=$(REDIS_PASSWORD)")


def test_a_drain_takes_one_redis_pod_and_one_sentinel_at_most(prod):
    assert replication(prod)["spec"]["pdb"] == {"enabled": True, "maxUnavailable": 1}
    budget = prod.get("PodDisruptionBudget", redis_operator.sentinel_statefulset(STORE))["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"]["matchLabels"] == redis_operator.sentinel_pod_labels(STORE)


def test_redis_and_sentinels_spread_across_zones_and_run_restricted(prod):
    spec = replication(prod)["spec"]
    for part, labels in ((spec, redis_operator.redis_pod_labels(STORE)), (spec["sentinel"], None)):
        zone = [c for c in part["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"]
        assert zone and zone[0]["whenUnsatisfiable"] == "DoNotSchedule"
        if labels:
            assert zone[0]["labelSelector"]["matchLabels"] == labels
        assert part["podSecurityContext"]["runAsNonRoot"] is True
        assert part["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert part["securityContext"]["allowPrivilegeEscalation"] is False
        assert part["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_operator_images_are_pinned_and_admitted(prod, catalog):
    spec = replication(prod)["spec"]
    (binding,) = [p for p in prod.kind("ValidatingAdmissionPolicy") if p["metadata"]["name"].endswith("registries")]
    rule = binding["spec"]["validations"][0]["expression"]
    for image in (spec["kubernetesConfig"]["image"], spec["sentinel"]["image"], spec["redisExporter"]["image"]):
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
        assert f"'{image.rsplit('/', 1)[0]}/'" in rule


def policy(objects, name: str) -> dict[str, Any]:
    return objects.get("NetworkPolicy", name)["spec"]


def ports(rules: list[dict[str, Any]]) -> set[int]:
    return {p["port"] for r in rules for p in r["ports"]}


# prod runs in the mesh, monitored and traced: like every pod there, the operator's pods admit the
# scrapers of their sidecar's metrics and send their proxy's spans to the collector.
SIDECAR_METRICS = {15020, 15090}
SPANS = 4317


def test_network_policies_cover_redis_sentinels_and_the_backup(prod):
    redis = policy(prod, STORE)
    assert redis["podSelector"]["matchLabels"] == redis_operator.redis_pod_labels(STORE)
    assert ports(redis["ingress"]) == {6379, 9121} | SIDECAR_METRICS
    assert ports(redis["egress"]) == {6379, SPANS}
    callers = [r for r in redis["ingress"] if {"podSelector": {"matchLabels": {"app": "cartservice"}}} in r["from"]]
    assert callers and ports(callers) == {6379}
    sentinels = policy(prod, redis_operator.sentinel_statefulset(STORE))
    assert ports(sentinels["ingress"]) == {26379} | SIDECAR_METRICS
    assert ports(sentinels["egress"]) == {6379, 26379, SPANS}
    operator = {"name": "redis-operator"}
    assert any(f.get("podSelector", {}).get("matchLabels") == operator for r in sentinels["ingress"] for f in r["from"])
    backup = policy(prod, "redis-cart-backup")
    assert ports(backup["ingress"]) == SIDECAR_METRICS and ports(backup["egress"]) == {6379, 443, SPANS}
    for workload in (redis, sentinels, backup):  # the sidecar's metrics: the monitoring namespace only
        (metrics,) = [r for r in workload["ingress"] if ports([r]) == SIDECAR_METRICS]
        (peer,) = metrics["from"]
        assert peer == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    # A Job's pod with a classic sidecar never completes: the backup's proxy runs as a native one.
    template = prod.get("CronJob", "redis-cart-backup")["spec"]["jobTemplate"]["spec"]["template"]
    assert template["metadata"]["annotations"] == {"sidecar.istio.io/nativeSidecar": "true"}


def test_backup_cronjob_runs_the_shared_scripts_restricted_as_its_own_identity(prod):
    job = prod.get("CronJob", "redis-cart-backup")
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "redis-cart-backup"
    account = prod.get("ServiceAccount", "redis-cart-backup")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    (snapshot,) = pod["initContainers"]
    (upload,) = pod["containers"]
    assert snapshot["command"][-1] == SNAPSHOT_SCRIPT and upload["command"][-1] == UPLOAD_SCRIPT
    assert env_of(snapshot)["REDIS_HOST"] == redis_operator.replica_service(STORE)
    assert upload["image"] == versions.REDIS_BACKUP_UPLOADER_IMAGE
    for c in (snapshot, upload):
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert "AWS_SECRET_ACCESS_KEY" not in env_of(c) and "REDISCLI_AUTH" not in env_of(c)


def test_the_alerts_of_the_replicated_store_and_its_backup(prod):
    # Recording rules (the SLOs') live in PrometheusRules too: alerts only.
    rules = {
        r["alert"] for p in prod.kind("PrometheusRule") for g in p["spec"]["groups"] for r in g["rules"] if "alert" in r
    }
    assert {"RedisMasterLost", "RedisReplicasNotInSync", "RedisSentinelQuorumLost", "RedisBackupTooOld"} <= rules
    assert "RedisMemoryNearLimit" in rules


def test_every_value_and_field_exists_at_the_pinned_versions(prod):
    (values,) = [release(r)["values"] for r in prod.run.of_type(HELM_RELEASE) if r.inputs["chart"] == "redis-operator"]
    chart = versions.REDIS_OPERATOR
    assert unknown_keys(values, known_keys(chart.chart, chart.version)) == []
    fields = known_keys("redisreplication", "v1beta2")
    assert unknown_keys(flatten_lists(replication(prod)["spec"]), fields) == []
    assert unknown_keys({"notAField": 1, "sentinel": {"quorumz": "2"}}, fields) == ["notAField", "sentinel.quorumz"]


def test_an_operated_store_on_another_port_is_refused_naming_the_file_store_and_field(tmp_path, capsys):
    """The operator always serves Redis on 6379: another port in the catalog is refused where the
    stack runs the operator (prod), and is fine where the store is ours (dev)."""
    text = CATALOG_FILE.read_text()
    assert text.count("    port: 6379\n") == 1
    path = tmp_path / "services.yaml"
    path.write_text(text.replace("    port: 6379\n", "    port: 6380\n"))
    catalog = load_catalog(path)
    with pytest.raises(CatalogError) as caught:
        settings_from_config("prod", read_stack_config(PROJECT_DIR, "prod")[0], catalog)
    message = str(caught.value)
    assert message.startswith("services.yaml: stores.redis-cart.port: 6380, but Pulumi.prod.yaml runs this store")
    assert "redis-operator" in message and "set port: 6379" in message and "Traceback" not in message
    out = tmp_path / "out"
    assert main(["render", "--stack", "prod", "--out", str(out), "--catalog", str(path)]) == 2
    assert "stores.redis-cart.port: 6380" in capsys.readouterr().err
    assert not out.exists()  # nothing written on refusal
    assert settings_from_config("dev", read_stack_config(PROJECT_DIR, "dev")[0], catalog).redis_operator() is False
