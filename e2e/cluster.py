"""A real control plane on loopback with simulated nodes: `python -m e2e.cluster up|down`.

kwokctl (binary runtime) runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the
kwok controller from the local bin dir, with certificates of its own. Three kwok nodes in three
zones stand in for kubelets: the scheduler places pods on them, kwok's stages make them Ready.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from e2e import crds as crd_files
from e2e.kube import Kube, kubectl_binary

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "e2e"
KUBECONFIG = BUILD / "kubeconfig"
CLUSTER_NAME = "boutique-e2e"
# The operators' CRD schemas at our pinned versions, beside the repo (override: --crds or BOUTIQUE_E2E_CRDS).
DEFAULT_CRDS = Path(os.environ.get("BOUTIQUE_E2E_CRDS") or REPO.parent / "shared" / "reference" / "crds")
ZONES = ("zone-a", "zone-b", "zone-c")
# A common cloud node: 4 vCPU / 16 GiB, minus the kubelet's and system reservations.
NODE_CPU = "3920m"
NODE_MEMORY = "15Gi"
NODE_PODS = "110"
STORAGE_CLASS = "e2e-local"
# kwokctl's own binary flags, one per control-plane binary we built.
BINARY_FLAGS = {
    "etcd": "--etcd-binary",
    "kube-apiserver": "--kube-apiserver-binary",
    "kube-controller-manager": "--kube-controller-manager-binary",
    "kube-scheduler": "--kube-scheduler-binary",
    "kwok": "--kwok-controller-binary",
}


def bin_dir_from(value: str | None) -> Path | None:
    value = value or os.environ.get("BOUTIQUE_E2E_BIN")
    return Path(value).resolve() if value else None


def missing_binaries(bin_dir: Path | None) -> list[str]:
    needed = ["kwokctl", *BINARY_FLAGS]
    if bin_dir is None:
        return needed
    return [name for name in needed if not os.access(bin_dir / name, os.X_OK)]


def node(name: str, zone: str) -> dict[str, Any]:
    """A kwok-managed node (kwok's default selector: the annotation), in `zone`, with room for pods."""
    resources = {"cpu": NODE_CPU, "memory": NODE_MEMORY, "pods": NODE_PODS, "ephemeral-storage": "100Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/worker": "",
                "topology.kubernetes.io/zone": zone,
                "topology.kubernetes.io/region": "e2e",
            },
        },
        "spec": {},
        "status": {
            "allocatable": resources,
            "capacity": {**resources, "cpu": "4", "memory": "16Gi"},
            "phase": "Running",
        },
    }


def nodes() -> list[dict[str, Any]]:
    return [node(f"e2e-node-{zone[-1]}", zone) for zone in ZONES]


def storage(volumes: int = 12, size: str = "200Gi") -> list[dict[str, Any]]:
    """A default StorageClass and pre-made volumes for it: no provisioner runs here, and PVCs
    (Redis, Elasticsearch) must bind for their pods to schedule."""
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
            "reclaimPolicy": "Delete",
        }
    ]
    for i in range(volumes):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"e2e-pv-{i:02d}"},
                "spec": {
                    "capacity": {"storage": size},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": STORAGE_CLASS,
                    # kwok runs no containers: the path is never mounted.
                    "hostPath": {"path": f"/var/lib/e2e-pv-{i:02d}"},
                },
            }
        )
    return objects


def kwokctl(bin_dir: Path, args: Sequence[str], workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KWOK_WORKDIR": str(workdir), "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(bin_dir / "kwokctl"), "--name", CLUSTER_NAME, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def create_args(bin_dir: Path, kubeconfig: Path) -> list[str]:
    args = ["create", "cluster", "--runtime", "binary", "--kubeconfig", str(kubeconfig), "--wait", "120s"]
    for name, flag in BINARY_FLAGS.items():
        args += [flag, str(bin_dir / name)]
    # Admission (Pod Security, ValidatingAdmissionPolicies) and RBAC on, as on a real cluster.
    args += ["--kube-admission=true", "--kube-authorization=true"]
    return args


def wait_for(what: str, check: Any, timeout: float = 120, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def nodes_ready(kube: Kube) -> bool:
    items = kube.get("nodes")
    ready = [
        n
        for n in items
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
    ]
    return len(ready) >= len(ZONES)


def crds_established(kube: Kube, names: Sequence[str]) -> bool:
    for name in names:
        crd = kube.get("crd", name)
        conditions = (crd or {}).get("status", {}).get("conditions", [])
        if not any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            return False
    return True


def up(bin_dir: Path, crd_dir: Path, kubeconfig: Path = KUBECONFIG) -> dict[str, Any]:
    """Start the cluster (replacing one left over), add nodes, storage and CRDs. Returns facts for
    the report: the server's version, seconds taken, CRDs installed."""
    started = time.monotonic()
    workdir = kubeconfig.parent / "kwok"
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    down(bin_dir, kubeconfig)
    created = kwokctl(bin_dir, create_args(bin_dir, kubeconfig), workdir)
    if created.returncode != 0:
        raise RuntimeError(f"kwokctl create cluster failed:\n{created.stdout}\n{created.stderr}")
    kube = Kube(kubeconfig, kubectl_binary(bin_dir))
    wait_for("the API server", lambda: kube.run(["get", "--raw", "/readyz"]).ok)
    version = kube.raw("/version")["gitVersion"]
    kube.apply(nodes(), server_side=False)  # status is written on create (as a kubelet does)
    wait_for("three Ready nodes", lambda: nodes_ready(kube))
    kube.apply(storage())
    definitions = crd_files.load_crds(crd_dir)
    kube.apply(definitions)
    names = [c["metadata"]["name"] for c in definitions]
    wait_for("the CRDs to be established", lambda: crds_established(kube, names))
    # The namespace `default` ServiceAccount token controller etc. need a moment; so do the CRDs'
    # discovery documents, which the provider reads.
    wait_for("discovery of the CRDs", lambda: kube.run(["api-resources", "-o", "name"]).ok)
    return {
        "kubernetes": version,
        "crds": sorted(names),
        "seconds": round(time.monotonic() - started, 1),
    }


def down(bin_dir: Path | None, kubeconfig: Path = KUBECONFIG) -> None:
    workdir = kubeconfig.parent / "kwok"
    if bin_dir is not None and (bin_dir / "kwokctl").exists() and workdir.exists():
        kwokctl(bin_dir, ["delete", "cluster", "--kubeconfig", str(kubeconfig)], workdir)
    kubeconfig.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.cluster", description=__doc__)
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--bin", help="dir of the built binaries (default: $BOUTIQUE_E2E_BIN)")
    parser.add_argument("--crds", default=str(DEFAULT_CRDS), help="folder of CRD schemas (index.json) or CRD files")
    args = parser.parse_args(argv)
    bin_dir = bin_dir_from(args.bin)
    if args.action == "down":
        down(bin_dir)
        print(f"cluster {CLUSTER_NAME} removed")
        return 0
    if not Path(args.crds).is_dir():
        print(f"e2e: --crds {args.crds}: no such folder (the CRD schemas; see README, make e2e)", file=sys.stderr)
        return 2
    missing = missing_binaries(bin_dir)
    if missing:
        print(f"e2e: missing binaries in {bin_dir}: {', '.join(missing)}", file=sys.stderr)
        return 2
    assert bin_dir is not None
    facts = up(bin_dir, Path(args.crds))
    print(f"cluster {CLUSTER_NAME} up ({facts['kubernetes']}), kubeconfig {KUBECONFIG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
