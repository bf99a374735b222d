"""Dependencies are locked with hashes, and every environment installs from the locks: `make`, the
workflows, and the Pulumi CLI (toolchain pip installs requirements.txt, which is the runtime lock).
Renovate keeps the locks, the actions and the pinned charts up to date."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from packaging.requirements import Requirement

from boutique.plans import versions
from boutique.program import PROJECT_DIR
from tests.test_workflows import run_scripts

# lock -> the ranges it is compiled from
LOCKS = {
    "requirements.txt": "requirements.in",
    "requirements-dev.txt": "requirements-dev.in",
    "requirements-checkov.txt": "requirements-checkov.in",
    "policy/requirements.txt": "policy/requirements.in",
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def locked(lock: str) -> dict[str, tuple[str, list[str]]]:
    """Package (normalised name) -> (version, hashes), from a lock's `name==version \\ --hash=...` entries."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = (PROJECT_DIR / lock).read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"{lock}: not a pinned requirement: {line[:80]}"
        entries[match.group(1).lower().replace("_", "-")] = (match.group(2), re.findall(r"--hash=sha256:\w{64}", line))
    return entries


def ranges(source: str) -> list[Requirement]:
    """The requirements of a *.in file, following `-r` includes."""
    found = []
    for line in (PROJECT_DIR / source).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found += ranges(str((PROJECT_DIR / source).parent.joinpath(line[3:]).relative_to(PROJECT_DIR)))
        elif line:
            found.append(Requirement(line))
    return found


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_locked_package_has_a_pinned_version_and_a_hash(lock):
    entries = locked(lock)
    assert entries
    unhashed = [name for name, (_, hashes) in entries.items() if not hashes]
    assert not unhashed, f"{lock}: no hash for {unhashed}"


@pytest.mark.parametrize(("lock", "source"), sorted(LOCKS.items()))
def test_each_lock_holds_what_its_ranges_ask_for(lock, source):
    """A range added or changed in a *.in file and not locked yet fails here: run `make lock`."""
    entries = locked(lock)
    for requirement in ranges(source):
        name = requirement.name.lower().replace("_", "-")
        assert name in entries, f"{source} asks for {requirement}; {lock} lacks it: run `make lock`"
        version = entries[name][0]
        assert requirement.specifier.contains(version, prereleases=True), f"{lock}: {name}=={version} ∉ {requirement}"


def test_the_dev_and_policy_locks_hold_the_runtime_locks_versions():
    runtime = {name: version for name, (version, _) in locked("requirements.txt").items()}
    for lock in ("requirements-dev.txt", "policy/requirements.txt"):
        differ = {n: (v, runtime[n]) for n, (v, _) in locked(lock).items() if n in runtime and v != runtime[n]}
        assert not differ, f"{lock} and requirements.txt lock different versions: {differ}"


def test_make_and_the_workflows_install_only_from_the_locks_with_hashes():
    makefile = (PROJECT_DIR / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if re.search(r"\bpip install\b|\$\(PIP_LOCKED\)", line)]
    assert installs
    locked_install = re.search(r"^PIP_LOCKED := (.*)$", makefile, re.MULTILINE).group(1)
    assert "--require-hashes" in locked_install
    for line in installs:
        if line.startswith("PIP_LOCKED"):
            continue
        assert "$(PIP_LOCKED) -r " in line, f"Makefile installs without the lock: {line.strip()}"
        assert line.split(" -r ")[1].split()[0] in LOCKS
    for where, script in run_scripts().items():
        for line in script.splitlines():
            if re.search(r"\bpip install\b", line):
                assert "--require-hashes" in line, f"{where}: {line.strip()}"
                lock = line.split(" -r ")[1].split()[0]
                assert lock in LOCKS, f"{where}: installs {lock}, not a lock"
    # The CI image's venv is the one `make` builds; the workflows that install Python get it from make.
    assert "venv: $(BIN)/.installed" in makefile and "$(BIN)/.installed: requirements-dev.txt" in makefile


def test_pulumi_installs_the_runtime_lock_itself():
    """Toolchain pip installs requirements.txt into `venv` when it creates it: that file is the lock."""
    options = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["runtime"]["options"]
    assert options == {"toolchain": "pip", "virtualenv": "venv"}
    assert "pulumi" in locked("requirements.txt") and "pulumi-kubernetes" in locked("requirements.txt")
    makefile = (PROJECT_DIR / "Makefile").read_text()
    assert re.search(r"^\$\(CHECKOV_VENV\)/.installed: requirements-checkov.txt", makefile, re.MULTILINE)


def test_make_lock_runs_what_each_locks_header_says():
    """`make lock` writes every lock with the options the lock says it was written with (Renovate reads them)."""
    import subprocess

    printed = subprocess.run(
        ["make", "--no-print-directory", "-n", "lock", "UPGRADE=pulumi-kubernetes==4.25.0"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    commands = [line for line in printed.splitlines() if "uv pip compile" in line]
    assert len(commands) == len(LOCKS)
    for lock, source in LOCKS.items():
        header = (PROJECT_DIR / lock).read_text().splitlines()[1].strip("# ").strip()
        (command,) = [c for c in commands if c.rstrip().endswith(f"-o {lock}")]
        assert "uv " + " ".join(command.split()[1:]).replace("--quiet ", "").replace(
            "--upgrade-package pulumi-kubernetes==4.25.0 ", ""
        ) == header, (command, header)
        assert "--upgrade-package pulumi-kubernetes==4.25.0" in command  # one command moves a pin
        assert f" {source} " in command


# --- Renovate ---


def renovate() -> dict:
    return json.loads((PROJECT_DIR / ".github" / "renovate.json").read_text())


def test_renovate_updates_the_locks_the_actions_and_the_charts():
    config = renovate()
    assert {"pip-compile", "github-actions", "custom.regex"} <= set(config["enabledManagers"])
    patterns = [re.compile(p.strip("/")) for p in config["pip-compile"]["managerFilePatterns"]]
    assert all(any(p.search(lock) for p in patterns) for lock in LOCKS)
    for lock in LOCKS:  # Renovate re-runs the command in the lock's header
        assert (PROJECT_DIR / lock).read_text().startswith("# This file was autogenerated by uv")


def test_renovates_chart_patterns_find_every_pinned_chart_and_the_gateway_api():
    text = (PROJECT_DIR / "boutique" / "plans" / "versions.py").read_text()
    found = set()
    for manager in renovate()["customManagers"]:
        for pattern in manager["matchStrings"]:
            for match in re.finditer(pattern.replace("(?<", "(?P<"), text):
                groups = match.groupdict()
                name = groups.get("depName") or manager["depNameTemplate"]
                found.add((name, groups.get("registryUrl"), groups["currentValue"]))
    for chart in versions.CHARTS:
        name = "istiod" if chart.repository == versions.ISTIO_REPOSITORY else chart.chart
        assert (name, chart.repository, chart.version) in found, chart
    assert ("kubernetes-sigs/gateway-api", None, versions.GATEWAY_API_VERSION) in found


def test_workflow_actions_are_pinned():
    """Renovate moves them; each `uses:` names a version (tag or commit), never a branch."""
    files = [*(PROJECT_DIR / ".github").rglob("*.yml")]
    for path in files:
        for uses in re.findall(r"uses: ([^\s#]+)", path.read_text()):
            if uses.startswith("./"):
                continue
            ref = uses.split("@", 1)[1]
            assert re.fullmatch(r"v\d+(\.\d+)*|[0-9a-f]{40}", ref), f"{path.name}: {uses}"
