"""The real Pulumi engine and providers: the CLI with its Python language host when the host is
built, else the Automation API with the program inline (the engine talks to a language server in
this process and needs no host). Either way the state is a local backend with a passphrase."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PASSPHRASE = "boutique-e2e"  # noqa: S105 - the throwaway state of a throwaway cluster
NO_CHANGE_OPS = {"same"}


@dataclass
class Outcome:
    ok: bool
    seconds: float
    changes: dict[str, int] = field(default_factory=dict)  # op -> count, from the engine
    error: str = ""

    @property
    def changed(self) -> int:
        return sum(n for op, n in self.changes.items() if op not in NO_CHANGE_OPS)


def engine_env(bin_dir: Path, state_dir: Path, pulumi_home: Path, kubeconfig: Path) -> dict[str, str]:
    """What every engine call runs with: our binaries first, no network look-ups, local state."""
    return {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "PULUMI_HOME": str(pulumi_home),
        "PULUMI_BACKEND_URL": f"file://{state_dir}",
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "1",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # Only the plugins installed under the SDKs' versions, never one that happens to be on PATH.
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "1",
        "KUBECONFIG": str(kubeconfig),
    }


def sdk_plugin_version(package_dir: Path) -> str:
    """The plugin version a Python provider SDK asks the engine for (its pulumi-plugin.json)."""
    return json.loads((package_dir / "pulumi-plugin.json").read_text())["version"]


def mode(bin_dir: Path) -> str:
    return "cli" if (bin_dir / "pulumi-language-python").exists() else "automation-api"


def install_plugins(bin_dir: Path, env: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str]:
    """`pulumi plugin install resource NAME VERSION --file BINARY` for each built provider.
    Returns name -> version installed, or name -> 'missing: ...'."""
    done: dict[str, str] = {}
    for name, version in wanted.items():
        binary = bin_dir / f"pulumi-resource-{name}"
        if not binary.exists():
            done[name] = f"missing: {binary} not built"
            continue
        proc = subprocess.run(
            [str(bin_dir / "pulumi"), "plugin", "install", "resource", name, version, "--file", str(binary)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        done[name] = version if proc.returncode == 0 else f"missing: {proc.stderr.strip()[-300:]}"
    return done


def _timed(action: Callable[[], dict[str, int]]) -> Outcome:
    started = time.monotonic()
    try:
        changes = action()
    except Exception as exc:
        return Outcome(False, round(time.monotonic() - started, 1), error=_short(str(exc)))
    return Outcome(True, round(time.monotonic() - started, 1), changes)


def _short(text: str, limit: int = 4000) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return text if len(text) <= limit else "...\n" + text[-limit:]


class AutomationEngine:
    """The program inline: the Automation API serves it from this process."""

    def __init__(self, project_dir: Path, stack: str, env: Mapping[str, str], program: Callable[[], None]) -> None:
        from pulumi import automation as auto

        self.log = project_dir / f"engine-{stack}.log"
        self.log.write_text("")
        os.environ.update(env)  # the inline program's own runtime reads KUBECONFIG etc. too
        workspace = auto.LocalWorkspaceOptions(
            work_dir=str(project_dir),
            pulumi_home=env["PULUMI_HOME"],
            env_vars=dict(env),
            secrets_provider="passphrase",
        )
        self.stack = auto.create_or_select_stack(
            stack_name=stack, project_name="boutique", program=program, opts=workspace
        )

    def _out(self, line: str) -> None:
        with self.log.open("a") as f:
            f.write(line + "\n")

    def up(self, expect_no_changes: bool = False) -> Outcome:
        def action() -> dict[str, int]:
            result = self.stack.up(on_output=self._out, expect_no_changes=expect_no_changes, color="never")
            return dict(result.summary.resource_changes or {})

        return _timed(action)

    def preview(self) -> Outcome:
        def action() -> dict[str, int]:
            result = self.stack.preview(on_output=self._out, color="never", diff=True)
            return dict(result.change_summary or {})

        return _timed(action)

    def destroy(self) -> Outcome:
        def action() -> dict[str, int]:
            result = self.stack.destroy(on_output=self._out, color="never")
            return dict(result.summary.resource_changes or {})

        return _timed(action)

    def remove(self) -> None:
        self.stack.workspace.remove_stack(self.stack.name)


class CliEngine:
    """`pulumi up/preview/destroy` with the Python language host, as a user runs them."""

    def __init__(self, project_dir: Path, stack: str, env: Mapping[str, str], bin_dir: Path) -> None:
        self.project_dir, self.stack, self.bin = project_dir, stack, bin_dir
        self.env = {**os.environ, **env}
        self.log = project_dir / f"engine-{stack}.log"
        self.log.write_text("")
        init = self._pulumi(["stack", "select", "--create", stack, "--secrets-provider", "passphrase"])
        if init.returncode != 0:
            raise RuntimeError(f"pulumi stack select --create {stack}: {init.stderr}")

    def _pulumi(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.bin / "pulumi"), *args, "--cwd", str(self.project_dir), "--non-interactive"],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        with self.log.open("a") as f:
            f.write(f"$ pulumi {' '.join(args)}\n{proc.stdout}\n{proc.stderr}\n")
        return proc

    def _last_update_changes(self) -> dict[str, int]:
        proc = self._pulumi(["stack", "history", "--json", "--stack", self.stack])
        history = json.loads(proc.stdout or "[]")
        return dict(history[0].get("resourceChanges") or {}) if history else {}

    def _run(self, args: list[str]) -> dict[str, int]:
        proc = self._pulumi([*args, "--stack", self.stack, "--color", "never"])
        if proc.returncode != 0:
            raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-3000:])
        return self._last_update_changes()

    def up(self, expect_no_changes: bool = False) -> Outcome:
        flags = ["--expect-no-changes"] if expect_no_changes else []
        return _timed(lambda: self._run(["up", "--yes", "--skip-preview", *flags]))

    def preview(self) -> Outcome:
        def action() -> dict[str, int]:
            proc = self._pulumi(["preview", "--json", "--diff", "--stack", self.stack])
            if proc.returncode != 0:
                raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-3000:])
            return preview_changes(json.loads(proc.stdout))

        return _timed(action)

    def destroy(self) -> Outcome:
        return _timed(lambda: self._run(["destroy", "--yes", "--skip-preview"]))

    def remove(self) -> None:
        self._pulumi(["stack", "rm", "--yes", "--force", self.stack])


def preview_changes(document: Mapping[str, Any]) -> dict[str, int]:
    """op -> count from `pulumi preview --json` (its changeSummary, else counted from its steps)."""
    summary = document.get("changeSummary")
    if summary:
        return {op: int(n) for op, n in summary.items()}
    counted: dict[str, int] = {}
    for step in document.get("steps") or []:
        op = step.get("op", "same")
        counted[op] = counted.get(op, 0) + 1
    return counted
