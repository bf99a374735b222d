"""The benchmark's dependency-chain measure (benchmarks/performance.py), and the shop's chain itself."""

from __future__ import annotations

import json

import pytest

from benchmarks import performance
from boutique.cli import render


def resource(name, type_="kubernetes:core/v1:ConfigMap", parent=None, dependencies=()):
    return {"urn": name, "type": type_, "name": name, "parent": parent, "dependencies": list(dependencies)}


def test_components_cost_no_wave_but_pass_their_dependencies_to_their_children():
    graph = [
        resource("ns", "kubernetes:core/v1:Namespace"),
        resource("secret", dependencies=["ns"]),
        resource("svc", "boutique:index:MicroService", dependencies=["secret"]),
        resource("deploy", "kubernetes:apps/v1:Deployment", parent="svc"),
        resource("hpa", "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", parent="svc", dependencies=["deploy"]),
        resource("lonely"),
    ]
    assert performance.longest_chain(graph) == [
        "Namespace ns",
        "ConfigMap secret",
        "Deployment deploy",
        "HorizontalPodAutoscaler hpa",
    ]


def test_leaving_out_operators_drops_what_waits_on_them():
    release = "kubernetes:helm.sh/v3:Release"
    graph = [
        resource("ns", "kubernetes:core/v1:Namespace"),
        resource("operator", release, dependencies=["ns"]),
        resource("cr", "kubernetes:monitoring.coreos.com/v1:ServiceMonitor", dependencies=["operator"]),
        resource("cm", dependencies=["ns"]),
    ]
    assert len(performance.longest_chain(graph)) == 3
    assert performance.longest_chain(graph, leave_out={release}) == ["Namespace ns", "ConfigMap cm"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_shops_own_resources_deploy_in_at_most_four_waves_and_all_in_five(stack, request, tmp_path):
    render.write(request.getfixturevalue(stack).run, tmp_path)
    graph = json.loads((tmp_path / "resources.json").read_text())
    assert len(performance.longest_chain(graph, leave_out={performance.HELM_RELEASE})) <= 4
    # The operators' CRD ordering may add one wave, no more.
    assert len(performance.longest_chain(graph)) <= 5
