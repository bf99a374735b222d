"""The e2e toolchain's pins, wrapper modules and build script agree with each other.

e2e/toolchain/build.sh builds every binary from Go modules at the versions in versions.env,
through our wrapper modules (wrappers/<piece>/go.mod). A pin bumped in one place and not the
other builds something else than what the key, the manifest and the stamps claim; these checks
need no Go and no cache.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from boutique.program import PROJECT_DIR

TOOLCHAIN = PROJECT_DIR / "e2e" / "toolchain"
WRAPPERS = TOOLCHAIN / "wrappers"
BUILD_SH = TOOLCHAIN / "build.sh"

# Which pin of versions.env each module a wrapper names must be at.
PINS = {
    "go.etcd.io/etcd/": "ETCD_VERSION",
    "k8s.io/kubernetes": "KUBERNETES_VERSION",
    "k8s.io/": "KUBERNETES_STAGING_VERSION",  # every other k8s.io module: the staging releases
    "sigs.k8s.io/kwok": "KWOK_VERSION",
    "github.com/pulumi/pulumi/pkg/v3": "PULUMI_VERSION",
    "github.com/pulumi/pulumi/sdk/v3": "PULUMI_VERSION",
    "github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3": "PULUMI_LANGUAGE_PYTHON_MODULE_VERSION",
    "github.com/pulumi/pulumi-kubernetes/provider/v4": "PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION",
    "github.com/pulumi/pulumi-kubernetes/sdk/v4": "PULUMI_KUBERNETES_GO_SDK_VERSION",
    "github.com/pulumi/pulumi-random/provider/v4": "PULUMI_RANDOM_PROVIDER_MODULE_VERSION",
    "github.com/prometheus/prometheus": "PROMETHEUS_VERSION",
    "github.com/prometheus/alertmanager": "ALERTMANAGER_VERSION",
}
# Replaces repeated verbatim from an upstream go.mod (pkg/v3's clipboard fork), not a pin of ours.
UPSTREAM_REPLACES = {"github.com/tgummerer/clipboard"}

# The binary names the e2e harness looks for in the bin dir (docs: e2e/toolchain/README.md).
BINARIES = {
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "kwokctl",
    "pulumi", "pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-kubernetes",
    "pulumi-resource-random", "promtool", "amtool",
}  # fmt: skip


def versions_env() -> dict[str, str]:
    pins = {}
    for line in (TOOLCHAIN / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z0-9_]+", key), f"versions.env: not KEY=value: {line!r}"
            assert re.fullmatch(r"[\w.+-]+", value), f"versions.env: {key}: quote-free version expected"
            pins[key] = value
    return pins


def go_mod(path: Path) -> dict[str, list[tuple[str, ...]]]:
    """The require, replace and tool directives of a go.mod: (module, version), (old, new, version)."""
    found: dict[str, list[tuple[str, ...]]] = {"require": [], "replace": [], "tool": []}
    block = None
    for raw in path.read_text().splitlines():
        line = raw.split("//")[0].strip()
        if not line:
            continue
        if block and line == ")":
            block = None
            continue
        words = line.split()
        if words[0] in found and words[-1] == "(":
            block = words[0]
            continue
        verb, args = (block, words) if block else (words[0], words[1:])
        if verb == "replace":
            old, arrow, new, *version = args
            assert arrow == "=>", f"{path}: {raw}"
            found[verb].append((old, new, *version))
        elif verb in found:
            found[verb].append(tuple(args))
    return found


def wrappers() -> list[Path]:
    return sorted(p for p in WRAPPERS.iterdir() if p.is_dir())


def pin_for(module: str) -> str | None:
    matches = [prefix for prefix in PINS if module == prefix or (prefix.endswith("/") and module.startswith(prefix))]
    return PINS[max(matches, key=len)] if matches else None


@pytest.mark.parametrize("wrapper", wrappers(), ids=lambda p: p.name)
def test_every_module_a_wrapper_names_is_at_its_pin(wrapper):
    pins = versions_env()
    mod = go_mod(wrapper / "go.mod")
    named = [(m, v) for m, v in mod["require"]] + [(new, rest[0]) for _, new, *rest in mod["replace"] if rest]
    assert named, f"{wrapper.name}/go.mod requires nothing"
    for module, version in named:
        if module in UPSTREAM_REPLACES:
            continue
        pin = pin_for(module)
        assert pin, f"{wrapper.name}/go.mod: {module} has no pin in versions.env (add one and to PINS here)"
        assert version == pins[pin], f"{wrapper.name}/go.mod: {module} {version}, versions.env {pin}={pins[pin]}"


def test_staging_modules_are_the_release_of_the_pinned_kubernetes():
    pins = versions_env()
    major_minor_patch = pins["KUBERNETES_VERSION"].removeprefix("v").split(".", 1)[1]
    assert pins["KUBERNETES_STAGING_VERSION"] == f"v0.{major_minor_patch}"
    replaces = go_mod(WRAPPERS / "kubernetes" / "go.mod")["replace"]
    olds = [old for old, *_ in replaces]
    assert len(olds) == len(set(olds)), "a staging module is replaced twice"
    # Each staging module by its own name: v0.0.0 of one module => the release of the same one.
    assert all(old.startswith("k8s.io/") and new == old for old, new, *_ in replaces)
    # The ones the control plane cannot build without (a missing one fails at `go mod tidy`).
    for core in ("api", "apimachinery", "apiserver", "client-go", "component-base", "kube-aggregator"):
        assert f"k8s.io/{core}" in olds


def build_pieces() -> list[list[str]]:
    """The `piece NAME OUTPUTS...` calls of build.sh."""
    return [line.split()[1:] for line in BUILD_SH.read_text().splitlines() if line.startswith("piece ")]


def test_build_sh_builds_every_wrapper_into_the_binary_names_the_harness_expects():
    script = BUILD_SH.read_text()
    pieces = build_pieces()
    assert sorted(name for name, *_ in pieces) == sorted(p.name for p in wrappers())
    outputs = [out for _, *outs in pieces for out in outs]
    assert len(outputs) == len(set(outputs)) and set(outputs) == BINARIES
    for name, *_ in pieces:
        function = re.search(rf"^build_{name.replace('-', '_')}\(\) {{\n(.*?)^}}", script, re.M | re.S)
        assert function, f"build.sh: no build_{name.replace('-', '_')} for piece {name}"
        assert f"prepare {name}\n" in function.group(1), f"build_{name}: does not build in its wrapper"
        # Every program the wrapper declares as a tool is built by its function (kubernetes: a loop).
        for (tool,) in go_mod(WRAPPERS / name / "go.mod")["tool"]:
            if name != "kubernetes":
                assert tool in function.group(1), f"build_{name}: does not build {tool}, a tool of its go.mod"


def test_kubernetes_loop_builds_each_declared_control_plane_program():
    script = BUILD_SH.read_text()
    loop = re.search(r"for c in ([\w -]+); do", script)
    assert loop, "build_kubernetes: no loop over the programs"
    tools = [t for (t,) in go_mod(WRAPPERS / "kubernetes" / "go.mod")["tool"]]
    assert sorted(f"k8s.io/kubernetes/cmd/{c}" for c in loop.group(1).split()) == sorted(tools)


def test_every_variable_build_sh_reads_is_pinned_or_known():
    """`set -u` would stop the build on an unset pin; better to hear it here than after an hour."""
    known = {"BOUTIQUE_E2E_CACHE", "HOME", "E2E_BUILD_ONLY", "E2E_BUILD_RETRY", "GOFLAGS", "BASH_SOURCE"}
    known |= {"HERE", "WRAPPERS", "KEY", "ROOT", "BIN", "LOGS", "SRC", "STATUS", "NICE", "FAILED", "BUILT", "SECONDS"}
    used = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", BUILD_SH.read_text()))
    unknown = used - known - set(versions_env())
    assert not unknown, f"build.sh reads variables versions.env does not define: {sorted(unknown)}"
    key = re.search(r'^KEY="(.*)"$', BUILD_SH.read_text(), re.M)
    assert key and {"KUBERNETES_VERSION", "ETCD_VERSION", "PULUMI_VERSION"} <= set(re.findall(r"\$\{(\w+)\}", key[1]))


def test_the_plugin_version_is_the_one_the_python_sdk_declares():
    pins = versions_env()
    # pulumi-kubernetes' Python SDK asks the engine for a plugin of exactly its own version.
    assert pins["PULUMI_KUBERNETES_SDK_VERSION"] == pins["PULUMI_KUBERNETES_PLUGIN_VERSION"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pins["PULUMI_KUBERNETES_PLUGIN_VERSION"])
    module = pins["PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION"]
    assert module.split(".")[0] == "v" + pins["PULUMI_KUBERNETES_PLUGIN_VERSION"].split(".")[0]


def test_requirements_install_the_sdk_whose_plugin_is_built():
    from packaging.requirements import Requirement

    pins = versions_env()
    for line in (PROJECT_DIR / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip().rstrip("\\").strip()  # the lock: `name==version \` then hashes
        if line and not line.startswith("--") and Requirement(line).name == "pulumi-kubernetes":
            assert pins["PULUMI_KUBERNETES_SDK_VERSION"] in Requirement(line).specifier
            return
    pytest.fail("requirements.txt does not name pulumi-kubernetes")


@pytest.mark.parametrize(
    "path",
    [
        "e2e/toolchain/wrappers/pulumi/go.sum",
        "e2e/toolchain/wrappers/kubernetes-provider/schema-embed.json",
        "e2e/toolchain/wrappers/kubernetes-provider/terraform-mapping-embed.json",
        "e2e/toolchain/wrappers/etcd/etcd",
        "e2e/toolchain/go.work",
    ],
)
def test_what_an_in_tree_build_leaves_is_ignored(path):
    """build.sh builds in the cache; someone running go in a wrapper leaves these, never to commit."""
    ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=PROJECT_DIR, check=False)
    assert ignored.returncode == 0, f"{path} is not ignored by .gitignore"


def test_wrappers_hold_only_our_own_files():
    """go.mod and our main.go, nothing copied out of a module."""
    for wrapper in wrappers():
        files = sorted(p.name for p in wrapper.iterdir())
        assert set(files) <= {"go.mod", "main.go"}, f"{wrapper.name}: unexpected files {files}"


def test_build_sh_passes_shellcheck():
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    if not shellcheck:
        pytest.skip("shellcheck not installed (make venv installs it)")
    result = subprocess.run([shellcheck, "-x", str(BUILD_SH)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
