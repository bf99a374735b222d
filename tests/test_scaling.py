"""Traffic autoscaling, right-sizing and graceful stop: the autoscalers' metrics and behavior, the
metric prometheus-adapter serves, a VerticalPodAutoscaler (Off) per workload and its export, and
how each workload stops. Expected values come from the catalog and the stack config."""

from __future__ import annotations

import json

import pytest

from boutique.cli import render
from boutique.cli.render import HELM_RELEASE, release
from boutique.inputs.catalog import KILL_MARGIN_SECONDS, load_catalog
from boutique.inputs.errors import CatalogError, SettingsError
from boutique.inputs.stackconfig import read_stack_config
from boutique.plans import scaling
from boutique.program import CATALOG_FILE, PROJECT_DIR, settings_from_config
from components import redis_operator
from tests.conftest import Objects, run_stack
from tests.security_stacks import PLAIN_LOAD_BALANCER, variant
from tools.prom_files import adapter_rule_groups

VPA_KIND = "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler"


def chart_values(objects: Objects, chart: str) -> dict:
    (found,) = [release(r) for r in objects.run.of_type(HELM_RELEASE) if r.inputs["chart"] == chart]
    return found["values"]


def served_metrics(objects: Objects) -> set[str]:
    """What the stack's prometheus-adapter serves (its rules' `name.as`)."""
    return {rule["name"]["as"] for rule in chart_values(objects, "prometheus-adapter")["rules"]["custom"]}


def workloads(objects: Objects) -> list[dict]:
    namespace = objects.run.outputs["namespace"]
    return [
        o for o in objects.kind("Deployment") + objects.kind("StatefulSet") if o["metadata"]["namespace"] == namespace
    ]


# Runtimes that keep the memory they have grown (a heap is not given back): more replicas do not
# lower it, so an autoscaler on memory would climb to its maximum and stay.
KEEPS_MEMORY = {"java", "dotnet", "python"}


def app_resources(objects: Objects, hpa: dict) -> set[str]:
    """The resources the autoscaler scales on: each the app container's own (ContainerResource)."""
    deployment = objects.get("Deployment", hpa["spec"]["scaleTargetRef"]["name"])
    app = deployment["spec"]["template"]["spec"]["containers"][0]["name"]
    metrics = hpa["spec"]["metrics"]
    assert "Resource" not in {m["type"] for m in metrics}  # a pod's figure would add the proxy's
    found = [m["containerResource"] for m in metrics if m["type"] == "ContainerResource"]
    assert found and {m["container"] for m in found} == {app}
    return {m["name"] for m in found}


def operator_statefulsets(objects: Objects) -> set[tuple[str, str]]:
    """The StatefulSets the redis-operator makes from each RedisReplication: Redis, named after it,
    and its Sentinels."""
    found = set()
    for replication in objects.kind("RedisReplication"):
        name = replication["metadata"]["name"]
        found.add(("StatefulSet", name))
        if "sentinel" in replication["spec"]:
            found.add(("StatefulSet", redis_operator.sentinel_statefulset(name)))
    return found


def test_prod_autoscalers_scale_on_the_app_containers_use_and_the_request_rate_the_adapter_serves(prod, catalog):
    (metric,) = served_metrics(prod)
    hpas = prod.kind("HorizontalPodAutoscaler")
    assert hpas
    for hpa in hpas:
        spec = hpa["spec"]
        service = catalog.services[hpa["metadata"]["labels"]["app"]]
        resources = app_resources(prod, hpa)
        (pods,) = [m["pods"] for m in spec["metrics"] if m["type"] == "Pods"]
        keeps = service.runtime is None or service.runtime in KEEPS_MEMORY
        assert resources == ({"cpu"} if keeps else {"cpu", "memory"}), hpa["metadata"]["name"]
        # Left off memory: the autoscaler says why.
        notes = (hpa["metadata"].get("annotations") or {}).get(scaling.MEMORY_NOTE, "")
        assert bool(notes) is keeps and (not keeps or "memory" in notes), hpa["metadata"]["name"]
        assert pods["metric"]["name"] == metric
        assert pods["target"] == {
            "type": "AverageValue",
            "averageValue": scaling.quantity(service.autoscaling.requests_per_second),
        }
        # Quick up, stabilised and rate-limited down.
        down, up = spec["behavior"]["scaleDown"], spec["behavior"]["scaleUp"]
        assert down["stabilizationWindowSeconds"] == 300 and up["stabilizationWindowSeconds"] == 0
        assert {p["type"]: p["value"] for p in down["policies"]} == {"Pods": 1, "Percent": 20}
        assert {p["periodSeconds"] for p in down["policies"]} == {60}
    # The targets differ per service, as the catalog says.
    pods_targets = {h["metadata"]["name"]: [m["pods"] for m in h["spec"]["metrics"] if "pods" in m] for h in hpas}
    targets = {name: pods[0]["target"]["averageValue"] for name, pods in pods_targets.items()}
    assert targets["frontend"] == targets["frontend-v2"] != targets["cartservice"]


def test_the_adapter_maps_istio_labels_to_pods_deployments_and_namespaces(prod):
    values = chart_values(prod, "prometheus-adapter")
    assert values["rules"]["default"] is False
    (rule,) = values["rules"]["custom"]
    assert rule["seriesQuery"].startswith("istio_requests_total{")
    assert rule["resources"]["overrides"] == {
        "destination_workload_namespace": {"resource": "namespace"},
        "destination_workload": {"group": "apps", "resource": "deployment"},
        "pod": {"resource": "pod"},
    }
    # Only what a pod answered: its sidecar also reports the calls it makes, as the source.
    assert 'reporter="destination"' in rule["metricsQuery"] and "<<.LabelMatchers>>" in rule["metricsQuery"]
    assert values["prometheus"] == {
        "url": "http://kube-prometheus-stack-prometheus.monitoring.svc",
        "port": 9090,
        "path": "",
    }
    assert values["replicas"] == 2 and values["podDisruptionBudget"]["enabled"] is True
    assert values["certManager"] == {"enabled": True}  # prod installs cert-manager


def test_promtool_runs_the_adapters_query_as_the_recording_rule_make_test_writes(prod, tmp_path):
    render.write(prod.run, tmp_path)
    (group,) = adapter_rule_groups(tmp_path)
    (rule,) = group["rules"]
    assert {rule["record"]} == served_metrics(prod)
    assert 'destination_workload_namespace="boutique"' in rule["expr"] and rule["expr"].endswith("by (pod)")
    text = (PROJECT_DIR / "tests" / "promtool" / "adapter_test.yaml").read_text()
    assert "build/prod/checks/adapter_rules.yaml" in text and f"expr: {rule['record']}" in text


def test_without_the_mesh_cpu_and_memory_only_and_dev_has_no_autoscaler(dev):
    assert not dev.kind("HorizontalPodAutoscaler")
    plain = variant("prod", PLAIN_LOAD_BALANCER)
    assert plain.kind("HorizontalPodAutoscaler")
    for hpa in plain.kind("HorizontalPodAutoscaler"):
        assert {m["type"] for m in hpa["spec"]["metrics"]} == {"ContainerResource"}
        assert "cpu" in app_resources(plain, hpa)
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert "prometheus-adapter" not in {r.inputs["chart"] for r in plain.run.of_type(HELM_RELEASE)}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_workload_has_a_recommendation_only_vpa_waiting_for_its_crd(stack, request):
    objects = request.getfixturevalue(stack)
    vpas = objects.kind("VerticalPodAutoscaler")
    targets = {(v["spec"]["targetRef"]["kind"], v["spec"]["targetRef"]["name"]) for v in vpas}
    assert targets == {(w["kind"], w["metadata"]["name"]) for w in workloads(objects)} | operator_statefulsets(objects)
    assert stack == "dev" or operator_statefulsets(objects)  # prod's store is the operator's
    for vpa in vpas:
        assert vpa["apiVersion"] == "autoscaling.k8s.io/v1"
        assert vpa["spec"]["updatePolicy"] == {"updateMode": "Off"}
        assert vpa["metadata"]["name"] == vpa["spec"]["targetRef"]["name"]
    recommender = next(r for r in objects.run.of_type(HELM_RELEASE) if r.inputs["chart"] == "vertical-pod-autoscaler")
    assert all(recommender.urn in r.dependencies for r in objects.run.of_type(VPA_KIND))
    values = chart_values(objects, "vertical-pod-autoscaler")
    assert values["admissionController"]["enabled"] is False and values["updater"]["enabled"] is False
    if stack == "prod":  # CI's deployer manages them beside the workloads
        (rule,) = [
            r for r in objects.get("Role", "boutique-deployer")["rules"] if "autoscaling.k8s.io" in r["apiGroups"]
        ]
        assert rule["resources"] == ["verticalpodautoscalers"] and {"create", "patch"} <= set(rule["verbs"])


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_kube_state_metrics_exports_recommendations_and_the_dashboard_charts_them(stack, request):
    objects = request.getfixturevalue(stack)
    ksm = chart_values(objects, "kube-prometheus-stack")["kube-state-metrics"]
    (resource,) = ksm["customResourceState"]["config"]["spec"]["resources"]
    assert resource["groupVersionKind"] == {
        "group": "autoscaling.k8s.io",
        "version": "v1",
        "kind": "VerticalPodAutoscaler",
    }
    exported = {f"{resource['metricNamePrefix']}_{m['name']}" for m in resource["metrics"]}
    assert {"list", "watch"} <= set(
        next(r for r in ksm["rbac"]["extraRules"] if "verticalpodautoscalers" in r["resources"])["verbs"]
    )
    config_map = next(c for c in objects.kind("ConfigMap") if c["metadata"]["labels"].get("grafana_dashboard") == "1")
    board = json.loads(next(iter(config_map["data"].values())))
    sizing = [p for p in board["panels"] if "requested vs recommended" in p["title"]]
    assert len(sizing) == 2
    for panel in sizing:
        requested, recommended = (t["expr"] for t in panel["targets"])
        assert "kube_pod_container_resource_requests" in requested
        assert any(
            name in recommended and name.endswith("_target_" + ("cpu" if "CPU" in panel["title"] else "memory"))
            for name in exported
        )
    variable = next(v for v in board["templating"]["list"] if v["name"] == "workload")
    assert {o["value"] for o in variable["options"]} == {
        v["metadata"]["name"] for v in objects.kind("VerticalPodAutoscaler")
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_serving_container_waits_for_endpoint_removal_within_its_grace_period(stack, request, catalog):
    objects = request.getfixturevalue(stack)
    checked = 0
    for workload in workloads(objects):
        pod = workload["spec"]["template"]["spec"]
        app = workload["metadata"]["labels"]["app"]
        entry = catalog.services.get(app) or catalog.stores[app]
        main = pod["containers"][0]
        grace = pod["terminationGracePeriodSeconds"]
        if not main.get("ports"):
            assert "lifecycle" not in main  # nothing to take out of rotation (the load generator)
            assert grace == entry.shutdown.drain_seconds + KILL_MARGIN_SECONDS
            continue
        sleep = main["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert sleep == entry.shutdown.pre_stop_seconds
        window = entry.shutdown.pre_stop_seconds + entry.shutdown.drain_seconds
        # The kubelet's SIGKILL comes a margin after the whole stop is due to end.
        assert sleep < window == grace - KILL_MARGIN_SECONDS
        annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        if stack == "prod":  # in the mesh the proxy starts first and drains as long as the app may take
            proxy = json.loads(annotations["proxy.istio.io/config"])
            assert proxy == {"holdApplicationUntilProxyStarts": True, "terminationDrainDuration": f"{window}s"}
        else:
            assert "proxy.istio.io/config" not in annotations
        checked += 1
    assert checked >= len([s for s in catalog.services.values() if s.ports]) + len(catalog.stores)


def proxy_drain(objects: Objects, name: str) -> int:
    annotations = objects.get("Deployment", name)["spec"]["template"]["metadata"]["annotations"]
    return int(json.loads(annotations["proxy.istio.io/config"])["terminationDrainDuration"].removesuffix("s"))


@pytest.mark.parametrize("grace", [30, 32, 35, 60])
def test_the_proxy_always_stops_a_margin_before_the_kubelet_kills_it(tmp_path, grace):
    """A classic sidecar's pilot-agent sleeps its whole drain before stopping Envoy: ending at the
    grace period, it races the SIGKILL. It ends KILL_MARGIN_SECONDS before, and never before the
    app's window when the grace period leaves room for both."""
    text = CATALOG_FILE.read_text().replace(
        "    autoscaling: {requestsPerSecond: 10}",
        f"    autoscaling: {{requestsPerSecond: 10}}\n    terminationGracePeriodSeconds: {grace}",
    )
    (tmp_path / "services.yaml").write_text(text)
    objects = Objects(run_stack("prod", catalog_path=tmp_path / "services.yaml"))
    pod = objects.get("Deployment", "frontend")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == grace
    window = 30  # frontend: preStopSeconds 5 + drainSeconds 25 (defaults)
    drain = proxy_drain(objects, "frontend")
    assert drain <= grace - KILL_MARGIN_SECONDS
    assert drain == min(window, grace - KILL_MARGIN_SECONDS)


def test_a_grace_period_shorter_than_the_shutdown_is_refused(tmp_path):
    text = CATALOG_FILE.read_text().replace(
        "    autoscaling: {requestsPerSecond: 10}",
        "    autoscaling: {requestsPerSecond: 10}\n    terminationGracePeriodSeconds: 20",
    )
    (tmp_path / "services.yaml").write_text(text)
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "services.yaml")
    message = str(caught.value)
    assert message.startswith("services.yaml: services.frontend")
    assert (
        "terminationGracePeriodSeconds 20 is shorter than shutdown.preStopSeconds + shutdown.drainSeconds (30)"
        in message
    )


def test_memory_scaling_follows_the_runtime_and_the_catalog_can_say_otherwise(tmp_path):
    text = CATALOG_FILE.read_text()
    # adservice (JVM) scales on memory when its entry says so; a Go service does not when it says not.
    text = text.replace(
        "    ports: {container: 9555, protocol: grpc}",
        "    ports: {container: 9555, protocol: grpc}\n    autoscaling: {memory: true}",
    )
    text = text.replace(
        "    autoscaling: {requestsPerSecond: 40}",
        "    autoscaling: {requestsPerSecond: 40, memory: false}",
    )
    text = text.replace("    runtime: node\n", "", 1)  # currencyservice: no runtime known
    (tmp_path / "services.yaml").write_text(text)
    catalog = load_catalog(tmp_path / "services.yaml")
    assert catalog.services["currencyservice"].runtime is None
    objects = Objects(run_stack("prod", catalog_path=tmp_path / "services.yaml"))
    by_name = {h["metadata"]["name"]: h for h in objects.kind("HorizontalPodAutoscaler")}
    assert app_resources(objects, by_name["adservice"]) == {"cpu", "memory"}
    assert app_resources(objects, by_name["productcatalogservice"]) == {"cpu"}
    notes = {name: (h["metadata"].get("annotations") or {}).get(scaling.MEMORY_NOTE) for name, h in by_name.items()}
    assert "autoscaling.memory: false" in notes["productcatalogservice"] and notes["adservice"] is None
    assert app_resources(objects, by_name["currencyservice"]) == {"cpu"}
    assert "no runtime" in notes["currencyservice"]


def test_an_unknown_runtime_is_refused_plainly(tmp_path):
    (tmp_path / "services.yaml").write_text(CATALOG_FILE.read_text().replace("runtime: java", "runtime: jvm"))
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "services.yaml")
    assert "services.adservice.runtime" in str(caught.value)


def test_request_rate_targets_are_quantities():
    assert [scaling.quantity(x) for x in (20, 20.0, 2.5, 0.25)] == ["20", "20", "2500m", "250m"]


def _refused(catalog, stack: str, **overrides: str) -> str:
    config, _ = read_stack_config(PROJECT_DIR, stack)
    config.update({f"boutique:{k}": v for k, v in overrides.items()})
    with pytest.raises(SettingsError) as caught:
        settings_from_config(stack, config, catalog)
    return str(caught.value)


def test_what_the_request_rate_and_the_recommendations_need_is_checked(catalog):
    operators = json.dumps(
        ["gateway-api", "istio", "cert-manager", "external-secrets", "kube-prometheus-stack", "eck-operator", "fluentd"]
    )
    message = _refused(catalog, "prod", operators=f'{operators[:-1]}, "vertical-pod-autoscaler"]')
    assert message.startswith("Pulumi.prod.yaml: boutique:autoscaling: needs the prometheus-adapter operator")
    message = _refused(catalog, "prod", operators=f'{operators[:-1]}, "prometheus-adapter"]')
    assert message.startswith("Pulumi.prod.yaml: boutique:scaling.recommendations: needs the vertical-pod-autoscaler")
    message = _refused(catalog, "prod", monitoring="false")
    assert message.startswith(
        "Pulumi.prod.yaml: boutique:autoscaling: in the mesh the autoscalers also scale on request rate"
    )
    message = _refused(catalog, "dev", scaling='{"scaleDown": {"pods": 0}}')
    assert message.startswith("Pulumi.dev.yaml: boutique:scaling.scaleDown.pods: ")


def test_behavior_follows_the_stack_config(catalog):
    config, _ = read_stack_config(PROJECT_DIR, "prod")
    config["boutique:scaling"] = json.dumps({"scaleDown": {"stabilizationSeconds": 600, "select": "Min"}})
    settings = settings_from_config("prod", config, catalog)
    autoscaler = scaling.autoscaling(settings, 3, catalog.services["cartservice"])
    assert autoscaler.scale_down.stabilization_seconds == 600 and autoscaler.scale_down.select == "Min"
    assert autoscaler.scale_down.pods == 1 and autoscaler.scale_up.pods == 4  # the keys left out: defaults
    assert not settings.scaling.recommendations  # a section set whole: unset keys take their defaults
