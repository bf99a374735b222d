"""`boutique images`: every image a stack runs, held to what the program renders."""

from __future__ import annotations

import re
from typing import Any

import pytest

from boutique.__main__ import main
from boutique.cli import images
from boutique.cli.render import HELM_RELEASE, release
from boutique.plans import topology, versions
from tests.security_stacks import MESH_PORT_FORWARD, variant

PINNED = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?/[^\s:@]+(:(?!latest$)[\w][\w.-]*)?(@sha256:[a-f0-9]{64})?$")


def rendered_images(value: Any) -> set[str]:
    """Every `image` of every container list in the rendered objects, found independently."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("containers", "initContainers", "ephemeralContainers") and isinstance(item, list):
                found |= {c["image"] for c in item if isinstance(c, dict) and "image" in c}
            else:
                found |= rendered_images(item)
    elif isinstance(value, list):
        for item in value:
            found |= rendered_images(item)
    return found


@pytest.fixture(scope="module")
def prod_images(prod) -> dict[str, list[str]]:
    return images.collect(prod.run)


def test_prod_lists_every_image_of_the_rendered_manifests(prod, prod_images):
    in_manifests = rendered_images(prod.all)
    assert len(in_manifests) >= 12  # the shop's ten services, Redis and its exporter
    assert in_manifests <= set(prod_images)


def test_dev_lists_init_containers_and_the_load_generator(dev, catalog):
    listed = images.collect(dev.run)
    assert rendered_images(dev.all) <= set(listed)
    wait_for = catalog.services["loadgenerator"].wait_for
    assert any("(init wait-for-" in where for where in listed[wait_for.image.ref])


def test_prod_lists_the_images_pinned_in_helm_values_and_istios(prod, prod_images):
    falco = f"{versions.FALCO_IMAGE_REGISTRY}/{versions.FALCO_IMAGE_REPOSITORY}:{versions.FALCO_IMAGE_TAG}"
    sidekick = (
        f"{versions.FALCO_IMAGE_REGISTRY}/{versions.FALCOSIDEKICK_IMAGE_REPOSITORY}:{versions.FALCOSIDEKICK_IMAGE_TAG}"
    )
    fluentd = f"{versions.FLUENTD_IMAGE_REPOSITORY}:{versions.FLUENTD_IMAGE_TAG}"
    for image in (falco, sidekick, fluentd):
        assert image in prod_images
    assert prod_images[sidekick] == ["helm falco (falco): falcosidekick.image"]
    # The proxy Istio injects into every pod of the meshed namespace: from the hub istiod is
    # installed with, at its chart's version.
    istiod = next(release(r) for r in prod.run.of_type(HELM_RELEASE) if r.inputs["name"] == "istiod")
    proxy = f"{istiod['values']['global']['hub']}/{topology.ISTIO_PROXY_IMAGE}:{istiod['version']}"
    assert "boutique/* (istio-proxy, injected)" in prod_images[proxy]  # and the gateway's pods, below
    assert f"docker.elastic.co/elasticsearch/elasticsearch:{versions.ELASTIC_STACK_VERSION}" in prod_images


def test_dev_outside_the_mesh_lists_no_istio_image(dev):
    assert not [image for image in images.collect(dev.run) if "istio" in image]


def test_a_mesh_the_cluster_runs_injects_the_proxy_the_admission_rule_expects():
    listed = images.collect(variant("dev", MESH_PORT_FORWARD).run)
    proxy = f"{topology.ISTIO_IMAGE_REGISTRY}/{topology.ISTIO_PROXY_IMAGE}:{versions.ISTIO_VERSION}"
    assert listed[proxy] == ["boutique-dev/* (istio-proxy, injected)"]
    assert not [image for image in listed if "/pilot:" in image]  # the cluster's istiod, not ours


def test_every_listed_image_is_pinned_to_a_registry_and_a_tag_or_digest(prod_images):
    unpinned = [image for image in prod_images if not PINNED.match(image) or ":" not in image.rsplit("/", 1)[1]]
    assert not unpinned


def test_the_command_prints_one_image_per_line_then_where(capsys, prod_images):
    assert main(["images", "--stack", "prod"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ", 1)[0] for line in lines] == list(prod_images)
    assert all(len(line.split("  ", 1)) == 2 and " " not in line.split("  ", 1)[0] for line in lines)


def test_a_bad_stack_is_refused_without_a_listing(capsys):
    assert main(["images", "--stack", "staging"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Pulumi.staging.yaml: no such stack file" in captured.err


def test_the_gateways_pods_run_the_proxy_image_and_are_listed(prod, prod_images):
    """istiod deploys each Gateway of its class as pods of the proxy image (issue 16, item 18)."""
    from boutique.plans.mesh import ISTIO_GATEWAY_CLASS

    gateways = [g for g in prod.kind("Gateway") if g["spec"].get("gatewayClassName") == ISTIO_GATEWAY_CLASS]
    assert gateways, "prod serves the shop through an Istio Gateway"
    (proxy,) = [image for image in prod_images if f"/{topology.ISTIO_PROXY_IMAGE}:" in image]
    for gateway in gateways:
        where = f"{gateway['metadata']['namespace']}/Gateway/{gateway['metadata']['name']}"
        assert any(w.startswith(where) for w in prod_images[proxy]), prod_images[proxy]
