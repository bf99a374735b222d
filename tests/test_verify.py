"""`verify`: the deployed stack checked against canned API responses (tests/fixtures/verify, objects
written by hand in the shape `kubectl get -o json` returns), for whatever the stack runs."""

from __future__ import annotations

import copy
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from boutique.__main__ import main
from boutique.cli import verify
from boutique.cli.verify import Expected, Ref

FIXTURES = Path(__file__).parent / "fixtures" / "verify"
RESOURCE_OF = {
    **{kind: resource for kind, resource in verify.WORKLOAD_KINDS.items()},
    "ExternalSecret": verify.EXTERNAL_SECRETS,
    "Certificate": verify.CERTIFICATES,
    "Gateway": verify.GATEWAYS,
    "Service": verify.SERVICES,
    "EndpointSlice": verify.ENDPOINT_SLICES,
}
HEALTHY = {
    "Deployment": "deployment-available",
    "StatefulSet": "statefulset-ready",
    "DaemonSet": "daemonset-available",
    "ExternalSecret": "externalsecret-synced",
    "Certificate": "certificate-ready",
    "Gateway": "gateway-programmed",
}


def fixture(name: str, ref: Ref) -> dict[str, Any]:
    """A canned object, given the name and namespace it answers for."""
    text = (FIXTURES / f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text.replace("NAMESPACE", ref.namespace).replace("NAME", ref.name))


class FakeCluster:
    """The API's Lists, per (resource, namespace), and a reader over them that records every read."""

    def __init__(self) -> None:
        self.lists: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.reads: list[tuple[str, str]] = []

    def put(self, obj: dict[str, Any]) -> None:
        key = (RESOURCE_OF[obj["kind"]], obj["metadata"]["namespace"])
        items = self.lists.setdefault(key, [])
        items[:] = [o for o in items if o["metadata"]["name"] != obj["metadata"]["name"]] + [obj]

    def read(self, resource: str, namespace: str) -> list[dict[str, Any]]:
        self.reads.append((resource, namespace))
        return copy.deepcopy(self.lists.get((resource, namespace), []))


def healthy_cluster(want: Expected) -> FakeCluster:
    cluster = FakeCluster()
    for ref in [*want.workloads, *want.external_secrets, *want.certificates, *want.gateways]:
        cluster.put(fixture(HEALTHY[ref.kind], ref))
    if want.frontend:
        cluster.put(fixture("service-clusterip", want.frontend))
        cluster.put(fixture("endpointslice-ready", want.frontend))
    for namespace, release in want.releases:  # each chart's own workload, annotated by Helm
        made = fixture("deployment-available", Ref("Deployment", namespace, f"{release}-controller"))
        made["metadata"]["annotations"] = {verify.HELM_RELEASE_ANNOTATION: release}
        cluster.put(made)
    return cluster


@pytest.fixture(scope="module")
def wanted(dev, prod) -> dict[str, Expected]:
    return {"dev": verify.expected(dev.run), "prod": verify.expected(prod.run)}


def test_the_expected_list_is_what_the_program_creates(dev, prod, wanted):
    for objects, want in ((dev, wanted["dev"]), (prod, wanted["prod"])):
        made = {
            Ref(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])
            for o in objects.all
            if o["kind"] in verify.WORKLOAD_KINDS and o["apiVersion"] == "apps/v1"
        }
        assert made and set(want.workloads) == made
        assert {r.name for r in want.external_secrets} == objects.names("ExternalSecret")
        assert {r.name for r in want.certificates} == objects.names("Certificate")
        assert len(want.releases) == len(objects.run.of_type("kubernetes:helm.sh/v3:Release"))
    # dev is reached through its frontend Service, prod through the Gateway.
    assert wanted["dev"].frontend is not None and not wanted["dev"].gateways
    assert wanted["prod"].gateways and wanted["prod"].external_secrets and wanted["prod"].certificates


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_healthy_cluster_passes(wanted, stack):
    want = wanted[stack]
    report = verify.verify(want, healthy_cluster(want).read)
    assert report.problems == []
    assert report.checked["workloads"] == len(want.workloads) + len(want.releases)
    assert "all right" in verify.format_report(stack, report)


def test_a_deployment_short_of_replicas_is_named(wanted):
    want = wanted["prod"]
    cluster = healthy_cluster(want)
    short = next(r for r in want.workloads if r.kind == "Deployment")
    cluster.put(fixture("deployment-short", short))
    report = verify.verify(want, cluster.read)
    assert report.problems == [
        f"Deployment {short.namespace}/{short.name}: 1 of 3 replicas available "
        "(MinimumReplicasUnavailable: Deployment does not have minimum availability.)"
    ]
    assert "1 not right" in verify.format_report("prod", report)


def test_a_missing_workload_and_a_chart_workload_down_are_named(wanted):
    want = wanted["dev"]
    cluster = healthy_cluster(want)
    gone = want.workloads[0]
    key = (verify.WORKLOAD_KINDS[gone.kind], gone.namespace)
    cluster.lists[key] = [o for o in cluster.lists[key] if o["metadata"]["name"] != gone.name]
    namespace, release = want.releases[0]
    down = fixture("deployment-short", Ref("Deployment", namespace, f"{release}-controller"))
    down["metadata"]["annotations"] = {verify.HELM_RELEASE_ANNOTATION: release}
    cluster.put(down)
    problems = verify.verify(want, cluster.read).problems
    assert f"{gone}: not found" in problems
    assert any(p.startswith(f"Deployment {namespace}/{release}-controller: 1 of 3") for p in problems)
    assert len(problems) == 2


def test_an_external_secret_not_synced_is_named(wanted):
    want = wanted["prod"]
    cluster = healthy_cluster(want)
    broken = want.external_secrets[0]
    cluster.put(fixture("externalsecret-not-synced", broken))
    assert verify.verify(want, cluster.read).problems == [
        f"ExternalSecret {broken.namespace}/{broken.name}: not ready "
        "(SecretSyncedError: could not get secret data from provider)"
    ]


def test_a_certificate_not_ready_is_named(wanted):
    want = wanted["prod"]
    cluster = healthy_cluster(want)
    (certificate,) = want.certificates
    cluster.put(fixture("certificate-not-ready", certificate))
    assert verify.verify(want, cluster.read).problems == [
        f"Certificate {certificate.namespace}/{certificate.name}: not ready "
        "(DoesNotExist: Issuing certificate as Secret does not exist)"
    ]


def test_the_way_in_not_answering_is_named(wanted):
    prod = wanted["prod"]
    cluster = healthy_cluster(prod)
    (gateway,) = prod.gateways
    unprogrammed = fixture("gateway-programmed", gateway)
    unprogrammed["status"] = {"conditions": [{"type": "Programmed", "status": "False", "reason": "Pending"}]}
    cluster.put(unprogrammed)
    assert verify.verify(prod, cluster.read).problems == [f"{gateway}: not programmed (Pending)"]
    dev = wanted["dev"]
    cluster = healthy_cluster(dev)
    cluster.lists[(verify.ENDPOINT_SLICES, dev.frontend.namespace)] = []
    no_pod = f"{dev.frontend}: no ready endpoints: no pod answers behind it"
    assert verify.verify(dev, cluster.read).problems == [no_pod]


def test_a_crd_the_cluster_lacks_is_said_once(wanted):
    want = wanted["prod"]
    cluster = healthy_cluster(want)

    def read(resource: str, namespace: str) -> list[dict[str, Any]]:
        if resource == verify.EXTERNAL_SECRETS:
            raise verify.MissingResourceTypeError('the server doesn\'t have a resource type "externalsecrets"')
        return cluster.read(resource, namespace)

    problems = verify.verify(want, read).problems
    assert problems[0].startswith(f"{verify.EXTERNAL_SECRETS}: the cluster does not serve it")
    assert all(p.endswith("not found") for p in problems[1:])


def fake_kubectl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lists: dict[str, Any] | None, error: str = ""
) -> None:
    """A `kubectl` on PATH that answers `get RESOURCE -n NS -o json` from `lists`, or fails as a
    kubectl that reaches no API server does."""
    (tmp_path / "lists.json").write_text(json.dumps(lists or {}), encoding="utf-8")
    script = tmp_path / "kubectl"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"error = {error!r}\n"
        "if error:\n"
        "    sys.stderr.write(error); sys.exit(1)\n"
        "args = sys.argv[1:]\n"
        "resource, namespace = args[args.index('get') + 1], args[args.index('-n') + 1]\n"
        f"lists = json.load(open({str(tmp_path / 'lists.json')!r}))\n"
        "print(json.dumps({'apiVersion': 'v1', 'kind': 'List', 'items': lists.get(resource + ' ' + namespace, [])}))\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


def test_the_command_through_kubectl_healthy(wanted, tmp_path, monkeypatch, capsys):
    cluster = healthy_cluster(wanted["dev"])
    fake_kubectl(tmp_path, monkeypatch, {f"{r} {ns}": items for (r, ns), items in cluster.lists.items()})
    assert main(["verify", "--stack", "dev"]) == 0
    assert capsys.readouterr().out.startswith("stack dev: all right")


def test_the_command_through_kubectl_unhealthy_exits_1(wanted, tmp_path, monkeypatch, capsys):
    want = wanted["dev"]
    cluster = healthy_cluster(want)
    cluster.put(fixture("deployment-short", want.workloads[0]))
    fake_kubectl(tmp_path, monkeypatch, {f"{r} {ns}": items for (r, ns), items in cluster.lists.items()})
    assert main(["verify", "--stack", "dev", "--context", "kind-shop"]) == 1
    out = capsys.readouterr().out
    assert f"  - {want.workloads[0]}: 1 of 3 replicas available" in out


def test_an_unreachable_cluster_is_said_plainly(tmp_path, monkeypatch, capsys):
    refused = (
        'E0120 10:00:00.000000 1 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group '
        'list: Get \\"https://10.0.0.1:6443/api?timeout=20s\\": dial tcp 10.0.0.1:6443: connect: connection refused"\n'
        "The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?\n"
    )
    fake_kubectl(tmp_path, monkeypatch, None, error=refused)
    assert main(["verify", "--stack", "dev", "--context", "shop-dev"]) == 2
    err = capsys.readouterr().err
    said = "error: cannot read the cluster of context shop-dev: The connection to the server 10.0.0.1:6443 was refused"
    assert said in err
    assert "Traceback" not in err and "memcache" not in err


def test_a_service_added_to_the_catalog_is_verified(tmp_path):
    from tests.conftest import run_stack
    from tests.test_catalog_extension import NEW, extended

    want = verify.expected(run_stack("dev", catalog_path=extended(tmp_path)))
    new = Ref("Deployment", want.frontend.namespace, NEW)
    assert new in want.workloads
    cluster = healthy_cluster(want)
    cluster.put(fixture("deployment-short", new))
    assert [p for p in verify.verify(want, cluster.read).problems if NEW in p] == [
        f"{new}: 1 of 3 replicas available (MinimumReplicasUnavailable: Deployment does not have minimum availability.)"
    ]
