"""Each workload's version label and digest-skip reason are true of the image it runs (issue 16, item 10)."""

from __future__ import annotations

import copy

import yaml

from boutique.inputs.catalog import load_catalog
from boutique.program import CATALOG_FILE
from tests.conftest import Objects, run_stack

DIGEST_CHECK = "CKV_K8S_43"


def tag_of(image: str) -> str:
    return image.split("@")[0].rsplit("/", 1)[-1].partition(":")[2]


def skip_reasons(metadata: dict) -> dict[str, str]:
    annotations = metadata.get("annotations") or {}
    return dict(v.split("=", 1) for k, v in annotations.items() if k.startswith("checkov.io/skip"))


def workloads(objects: Objects) -> list[dict]:
    return objects.kind("Deployment") + objects.kind("StatefulSet")


def shop_images(objects: Objects) -> set[str]:
    catalog = load_catalog(CATALOG_FILE)
    return {f"{catalog.images.registry}/{name}:{catalog.images.tag}" for name in catalog.services}


def check(objects: Objects, shop: set[str]) -> None:
    for workload in workloads(objects):
        labels = workload["metadata"]["labels"]
        if labels.get("app.kubernetes.io/managed-by") != "pulumi" or "app" not in labels:
            continue
        pod = workload["spec"]["template"]["spec"]
        main = pod["containers"][0]["image"]
        assert labels["app.kubernetes.io/version"] == tag_of(main), workload["metadata"]["name"]
        reason = skip_reasons(workload["metadata"]).get(DIGEST_CHECK)
        images = [c["image"] for c in pod["containers"] + pod.get("initContainers", [])]
        foreign = [i for i in images if "@" not in i and i not in shop]
        if reason is not None and foreign:
            for image in foreign:
                assert image in reason, (workload["metadata"]["name"], reason)


def test_shipped_stacks_label_and_skip_each_workload_by_its_own_image(dev, prod):
    for objects in (dev, prod):
        check(objects, shop_images(objects))


def test_a_service_with_its_own_image_is_labelled_and_skipped_by_that_image(tmp_path):
    data = yaml.safe_load(CATALOG_FILE.read_text())
    data = copy.deepcopy(data)
    name = next(n for n, s in data["services"].items() if s.get("ports") and "image" not in s)
    own = f"{data['images']['registry']}/{name}-fork"
    data["services"][name]["image"] = {"repository": own, "tag": "2.3.1-rc1"}
    path = tmp_path / "services.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    objects = Objects(run_stack("dev", catalog_path=path))
    deployment = objects.get("Deployment", name)
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == "2.3.1-rc1"
    assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "2.3.1-rc1"
    reason = skip_reasons(deployment["metadata"])[DIGEST_CHECK]
    assert f"{own}:2.3.1-rc1" in reason and data["images"]["tag"] not in reason
    check(objects, shop_images(objects))


def test_a_canary_with_its_own_tag_is_labelled_by_it():
    objects = Objects(run_stack("prod", {"canaries": '{"frontend": {"weight": 10, "imageTag": "v0.10.7"}}'}))
    canary = objects.get("Deployment", "frontend-v2")
    assert canary["metadata"]["labels"]["app.kubernetes.io/version"] == "v0.10.7"
    assert canary["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "v0.10.7"
    assert objects.get("Deployment", "frontend")["metadata"]["labels"]["app.kubernetes.io/version"] != "v0.10.7"
    check(objects, shop_images(objects))
