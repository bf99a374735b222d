"""`venv/bin/python -m boutique images --stack S`: every image the stack runs, one per line, with
where it runs.

It reads what the program registers under mocks (the same run `render` writes), so it cannot drift
from it: every container and init container of every workload, the images pinned in Helm release
values, Istio's (its proxy goes into every pod of a meshed namespace at admission, so no manifest
shows it) and the Elasticsearch and Kibana images ECK runs for the version the program pins.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from boutique.cli import render
from boutique.cli.mockrun import Run
from boutique.plans import topology, versions
from boutique.plans.mesh import ISTIO_GATEWAY_CLASS
from boutique.plans.supply_chain import ECK_IMAGES

MESH_LABEL = ("istio-injection", "enabled")


def _containers(value: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`init ` or ``, container) for every container list anywhere in an object (pod specs,
    templates, job templates), so every workload kind is covered."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("containers", "initContainers", "ephemeralContainers") and isinstance(item, list):
                kind = "" if key == "containers" else f"{key.removesuffix('Containers')} "
                yield from ((kind, c) for c in item if isinstance(c, dict))
            else:
                yield from _containers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _containers(item)


def _value_images(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, image) for every image a chart's values pin: `image: {registry?, repository, tag}`
    or `image: "<ref>"`."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            if key == "image" and isinstance(item, dict) and item.get("repository"):
                registry = f"{item['registry']}/" if item.get("registry") else ""
                ref = f"{registry}{item['repository']}:{item.get('tag') or 'latest'}"
                yield here, ref + (f"@{item['digest']}" if item.get("digest") else "")
            elif key == "image" and isinstance(item, str) and ":" in item:
                yield here, item
            else:
                yield from _value_images(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _value_images(item, f"{path}[{index}]")


def collect(run: Run) -> dict[str, list[str]]:
    """Image -> where it runs, from a recorded run."""
    found: dict[str, list[str]] = defaultdict(list)
    meshed = []
    gateways = []
    for registration in run.resources:
        if not render.is_kubernetes_object(registration):
            continue
        body = render.manifest(registration)
        meta = body["metadata"]
        where = f"{meta.get('namespace') or '-'}/{body['kind']}/{meta['name']}"
        for kind, container in _containers(body.get("spec", {})):
            if container.get("image"):
                found[container["image"]].append(f"{where} ({kind}{container['name']})")
        if body["kind"] in ECK_IMAGES and body.get("spec", {}).get("version"):
            spec = body["spec"]
            found[spec.get("image") or f"{ECK_IMAGES[body['kind']]}:{spec['version']}"].append(f"{where} (ECK)")
        if body["kind"] == "Namespace" and (meta.get("labels") or {}).get(MESH_LABEL[0]) == MESH_LABEL[1]:
            meshed.append(meta["name"])
        if body["kind"] == "Gateway" and (body.get("spec") or {}).get("gatewayClassName") == ISTIO_GATEWAY_CLASS:
            gateways.append(where)  # istiod deploys its pods: the proxy image, as a gateway
    istio_version = None
    for registration in run.of_type(render.HELM_RELEASE):
        chart = render.release(registration)
        where = f"helm {chart['name']} ({chart['namespace']})"
        for path, image in _value_images(chart["values"]):
            found[image].append(f"{where}: {path}")
        if chart["repository"] == versions.ISTIO_REPOSITORY and chart["chart"] in topology.ISTIO_CHART_IMAGES:
            hub = (chart["values"].get("global") or {}).get("hub") or topology.ISTIO_IMAGE_REGISTRY
            found[f"{hub}/{topology.ISTIO_CHART_IMAGES[chart['chart']]}:{chart['version']}"].append(where)
            if chart["chart"] == "istiod":
                istio_version = (hub, chart["version"])
    if meshed or gateways:
        # Without an istiod of ours the cluster's Istio runs it, at the hub and version we assume.
        hub, version = istio_version or (topology.ISTIO_IMAGE_REGISTRY, versions.ISTIO_VERSION)
        proxy = f"{hub}/{topology.ISTIO_PROXY_IMAGE}:{version}"
        found[proxy] += [f"{ns}/* ({topology.ISTIO_PROXY_CONTAINER}, injected)" for ns in meshed]
        found[proxy] += [f"{where} (its pods, deployed by istiod)" for where in gateways]
    return {image: sorted(set(wheres)) for image, wheres in sorted(found.items())}


def format_images(images: dict[str, list[str]]) -> str:
    """`image  where, where, ...`, one line per image: the image is the first word."""
    return "".join(f"{image}  {', '.join(wheres)}\n" for image, wheres in images.items())
