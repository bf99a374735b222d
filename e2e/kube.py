"""The API server through kubectl: every figure of the report is read here, from the server's answers."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Answer:
    code: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.code == 0


def kubectl_binary(bin_dir: Path | None) -> str:
    if bin_dir is not None and (bin_dir / "kubectl").exists():
        return str(bin_dir / "kubectl")
    found = shutil.which("kubectl")
    if not found:
        raise SystemExit("e2e: kubectl not found (neither in the bin dir nor on PATH)")
    return found


class Kube:
    def __init__(self, kubeconfig: Path, kubectl: str = "kubectl", timeout: float = 120) -> None:
        self.kubeconfig = kubeconfig
        self.kubectl = kubectl
        self.timeout = timeout

    def run(self, args: Sequence[str], stdin: str | None = None, timeout: float | None = None) -> Answer:
        proc = subprocess.run(
            [self.kubectl, "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout or self.timeout,
            check=False,
        )
        return Answer(proc.returncode, proc.stdout, proc.stderr.strip())

    def must(self, args: Sequence[str], stdin: str | None = None) -> str:
        answer = self.run(args, stdin)
        if not answer.ok:
            raise RuntimeError(f"kubectl {' '.join(args)}: {answer.err}")
        return answer.out

    def get(self, kind: str, name: str | None = None, namespace: str | None = None, all_ns: bool = False) -> Any:
        """One object (None when absent) or a list's items."""
        args = ["get", kind]
        if name:
            args.append(name)
        if namespace:
            args += ["-n", namespace]
        if all_ns:
            args.append("-A")
        answer = self.run([*args, "-o", "json"])
        if not answer.ok:
            if "NotFound" in answer.err or "not found" in answer.err:
                return None if name else []
            raise RuntimeError(f"kubectl {' '.join(args)}: {answer.err}")
        data = json.loads(answer.out)
        return data if name else data.get("items", [])

    def raw(self, path: str) -> Any:
        return json.loads(self.must(["get", "--raw", path]))

    def apply(self, documents: Sequence[dict[str, Any]], server_side: bool = True) -> str:
        body = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(documents)})
        args = ["apply", "-f", "-"] + (["--server-side", "--field-manager=boutique-e2e"] if server_side else [])
        return self.must(args, body)

    def create_dry_run(self, document: dict[str, Any]) -> Answer:
        """Submitted to the server, through admission, but not stored."""
        return self.run(["create", "--dry-run=server", "-o", "name", "-f", "-"], json.dumps(document))

    def evict(self, namespace: str, pod: str) -> Answer:
        eviction = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod, "namespace": namespace},
        }
        return self.run(
            ["create", "--raw", f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction", "-f", "-"],
            json.dumps(eviction),
        )
