"""Shared fixtures: run the real program under Pulumi's mocks and look at what it registered."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any

import pytest

from boutique.cli import render
from boutique.cli.mockrun import Run, run_program
from boutique.inputs.catalog import Catalog, load_catalog
from boutique.inputs.stackconfig import read_stack_config
from boutique.program import CATALOG_FILE, PROJECT_DIR, run

TOOLS_BIN = PROJECT_DIR / ".tools" / "bin"  # where `make prom-tools` and `make redis-tools` put theirs


def project_tool(name: str) -> str | None:
    """promtool, amtool, redis-server or redis-cli: the project's own (`make prom-tools`,
    `make redis-tools`), else one on PATH, else None."""
    local = TOOLS_BIN / name
    return str(local) if local.is_file() else shutil.which(name)


def documentation() -> str:
    """What a user reads: the README and every page of the docs site (docs/), one after another."""
    pages = [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").rglob("*.md"))]
    return "\n".join(page.read_text() for page in pages)


def run_stack(stack: str, overrides: dict[str, str] | None = None, catalog_path: Path = CATALOG_FILE) -> Run:
    """The program as `pulumi up -s <stack>` would run it, with optional `boutique:` overrides."""
    config, secret_keys = read_stack_config(PROJECT_DIR, stack)
    config.update({f"boutique:{k}": v for k, v in (overrides or {}).items()})
    return run_program(lambda: run(catalog_path), stack, config, secret_keys)


@functools.cache
def _cached(stack: str) -> Run:
    return run_stack(stack)


class Objects:
    """The Kubernetes objects of a run, as rendered, with small lookups."""

    def __init__(self, result: Run) -> None:
        self.run = result
        self.all = [render.manifest(r) for r in result.resources if render.is_kubernetes_object(r)]

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.all if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def shop_namespace(self) -> dict[str, Any]:
        """The shop's own Namespace (a stack may create others, e.g. the gateway's)."""
        return self.get("Namespace", self.run.outputs["namespace"])

    def names(self, kind: str) -> set[str]:
        return {o["metadata"]["name"] for o in self.kind(kind)}


def container(deployment: dict[str, Any], name: str = "server") -> dict[str, Any]:
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def env_of(container_spec: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container_spec.get("env", [])}


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(CATALOG_FILE)


@pytest.fixture(scope="session")
def dev() -> Objects:
    return Objects(_cached("dev"))


@pytest.fixture(scope="session")
def prod() -> Objects:
    return Objects(_cached("prod"))
