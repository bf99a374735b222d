"""`make e2e`: dev and prod through the real Pulumi engine against a real API server on loopback.

For each stack: `pulumi up`, every workload available and spread, `pulumi preview` with no changes,
a second `up` that changes nothing, the admission drill, (prod) a node drained through the
eviction API, `pulumi destroy` leaving nothing. Writes build/e2e/report.json and prints a table.
Parts that need a binary that is not built are reported as not run; the rest still runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from e2e import cluster, drill, identity, report, rollout, stacks
from e2e.drain import Drain
from e2e.engine import (
    AutomationEngine,
    CliEngine,
    engine_env,
    install_plugins,
    mode,
    sdk_plugin_version,
)
from e2e.kube import Kube, kubectl_binary

REPO = cluster.REPO
BUILD = cluster.BUILD
PROJECT_DIR = BUILD / "project"
STATE_DIR = BUILD / "state"
ROLLOUT_TIMEOUT = 240
ENGINE_BINARIES = ("pulumi", "pulumi-resource-kubernetes")


def log(message: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- what the program registers (under mocks): the objects the server must end up holding ---


def rendered_objects(stack: str) -> tuple[list[dict[str, Any]], set[str], Any]:
    """The e2e stack's Kubernetes objects as the program registers them, the providers it uses,
    and the mocks' run itself (what the deployment issue's tools read)."""
    from boutique.cli import render
    from boutique.cli.mockrun import run_program
    from boutique.inputs.catalog import CATALOG_FILE, load_catalog
    from boutique.inputs.stackconfig import read_stack_config
    from boutique.program import run, settings_from_config

    config, secret_keys = read_stack_config(PROJECT_DIR, stack)
    settings_from_config(stack, config, load_catalog(CATALOG_FILE), secret_keys)
    registered = run_program(run, stack, config, secret_keys)
    objects = [render.manifest(r) for r in registered.resources if render.is_kubernetes_object(r)]
    packages = {r.type.split(":", 1)[0] for r in registered.resources if r.custom}
    return objects, packages, registered


def object_id(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    group = obj["apiVersion"].rsplit("/", 1)[0] if "/" in obj["apiVersion"] else "core"
    return f"{obj['kind']}.{group}/{meta.get('namespace') or '-'}/{meta['name']}"


def resource_names(kube: Kube) -> dict[tuple[str, str], str]:
    """(group, kind) -> the resource name kubectl takes (`plural.group`), from discovery."""
    out = kube.must(["api-resources", "--no-headers", "-o", "wide"])
    names = {}
    for line in out.splitlines():
        cols = line.split()
        if len(cols) < 4:
            continue
        # NAME [SHORTNAMES] APIVERSION NAMESPACED KIND VERBS...
        idx = next(i for i, c in enumerate(cols) if c in ("true", "false"))
        api_version, kind = cols[idx - 1], cols[idx + 1]
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else "core"
        names[(group, kind)] = cols[0] if group == "core" else f"{cols[0]}.{group}"
    return names


def present(kube: Kube, wanted: Sequence[dict[str, Any]]) -> set[str]:
    """Ids of the wanted objects the API server holds (one list call for all kinds)."""
    names = resource_names(kube)
    kinds = set()
    for obj in wanted:
        group = obj["apiVersion"].rsplit("/", 1)[0] if "/" in obj["apiVersion"] else "core"
        if (group, obj["kind"]) in names:
            kinds.add(names[(group, obj["kind"])])
    if not kinds:
        return set()
    answer = kube.run(["get", ",".join(sorted(kinds)), "-A", "-o", "json"])
    items = json.loads(answer.out).get("items", []) if answer.out else []
    held = {object_id(i) for i in items if not i["metadata"].get("deletionTimestamp")}
    return {object_id(o) for o in wanted} & held


def namespaces_of(objects: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"})


def cluster_namespaces(objects: Sequence[dict[str, Any]]) -> list[str]:
    """Namespaces the stack writes into but does not create: those of the cluster's operators
    (`clusterOperators`, e.g. kube-prometheus-stack's `monitoring`), which a real cluster has."""
    used = {o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")}
    return sorted(used - set(namespaces_of(objects)))


def shop_namespace(stack: str) -> str:
    from boutique.inputs.stackconfig import read_stack_config

    config, _ = read_stack_config(PROJECT_DIR, stack)
    return config["boutique:namespace"]


def deployer_account(stack: str) -> str:
    from boutique.inputs.stackconfig import read_stack_config

    config, _ = read_stack_config(PROJECT_DIR, stack)
    return config.get("boutique:deployerServiceAccount", "")


def shop_image(objects: Sequence[dict[str, Any]], namespace: str) -> str:
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"].get("namespace") == namespace:
            return obj["spec"]["template"]["spec"]["containers"][0]["image"]
    raise RuntimeError(f"no Deployment of ours in namespace {namespace}")


def registries_of(objects: Sequence[dict[str, Any]], namespace: str) -> list[str]:
    """The allowed registries the stack's own policy names (read from its rendered expression)."""
    import re

    for obj in objects:
        if obj["kind"] == "ValidatingAdmissionPolicy" and obj["metadata"]["name"] == f"{namespace}-allowed-registries":
            expression = obj["spec"]["validations"][0]["expression"]
            return [r.rstrip("/") for r in re.findall(r"'([^']+/)'", expression)]
    return []


# --- the deployment issue's checks (merged separately) ---


def verify(stack: str, registered: Any, kubeconfig: Path) -> dict[str, Any]:
    """`python -m boutique verify`'s checks against what the e2e copy of the stack registers (the
    command itself reads the repo's stack file, whose operators and charts do not run here)."""
    try:
        checks = importlib.import_module("boutique.cli.verify")
    except ImportError:
        return {"status": "not available"}
    os.environ["KUBECONFIG"] = str(kubeconfig)  # kubectl_reader runs kubectl in this environment
    try:
        found = checks.verify(checks.expected(registered), checks.kubectl_reader(None))
    except Exception as exc:  # reported; the rest of the run goes on
        return {"status": f"error: {exc}"}
    return {"status": "ok" if found.healthy else "failed", "output": checks.format_report(stack, found)[-3000:]}


# --- the phases ---


def wait_rollout(kube: Kube, namespaces: Sequence[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        workloads = [w for ns in namespaces for kind in rollout.WORKLOAD_KINDS for w in kube.get(kind, namespace=ns)]
        pods = [p for ns in namespaces for p in kube.get("pods", namespace=ns)]
        hpas = [h for ns in namespaces for h in kube.get("hpa", namespace=ns)]
        summary = rollout.summarize(workloads, pods, kube.get("nodes"), hpas)
        if (summary["available"] == summary["deployments"]) or time.monotonic() > deadline:
            summary["pending_pods"] = [
                f"{p['metadata']['namespace']}/{p['metadata']['name']}: "
                + "; ".join(
                    c.get("message", "") for c in p["status"].get("conditions", []) if c.get("status") == "False"
                )
                for p in pods
                if p.get("status", {}).get("phase") == "Pending"
            ]
            return summary
        time.sleep(3)


def wait_gone(kube: Kube, objects: Sequence[dict[str, Any]], timeout: float = 120) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = sorted(present(kube, objects))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(3)


def engine_failure_lines(error: str) -> list[str]:
    """The engine's per-resource errors (what the server or provider refused)."""
    lines = []
    for line in error.splitlines():
        text = line.strip()
        refusal = text.startswith(("kubernetes:", "error:")) or "admission" in text or "forbidden" in text.lower()
        if refusal and text[:400] not in lines:
            lines.append(text[:400])
    return lines[:50]


def run_stack(
    name: str,
    kube: Kube,
    bin_dir: Path,
    engine_missing: list[str],
    env: dict[str, str],
    details: dict[str, Any],
) -> report.StackResult:
    result = report.StackResult()
    started = time.monotonic()
    objects, packages, registered = rendered_objects(name)
    result.rendered = [object_id(o) for o in objects]
    result.seconds["render"] = round(time.monotonic() - started, 1)
    namespace = shop_namespace(name)
    namespaces = namespaces_of(objects)
    engine = None
    operator_namespaces = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": n, "labels": {"boutique.e2e/stands-in-for": "cluster-operator"}},
        }
        for n in cluster_namespaces(objects)
    ]
    if operator_namespaces:
        kube.apply(operator_namespaces)
    details["cluster_operator_namespaces"] = [n["metadata"]["name"] for n in operator_namespaces]
    # Kept for the next stack (the cluster's, like its operators); what the deployer needed goes.
    made: list[dict[str, Any]] = []
    missing = list(engine_missing)
    if "random" in packages and not (bin_dir / "pulumi-resource-random").exists():
        missing.append("pulumi-resource-random")
    if missing:
        why = f"missing {', '.join(missing)}"
        for phase in ("up", "preview", "destroy"):
            result.skipped[phase] = why
        # The API server, admission, rollout and drain need no Pulumi: apply the rendered objects.
        log(f"{name}: engine not available ({why}): applying the rendered objects with kubectl")
        details["deployer_identity"] = "cluster-admin through kubectl (no engine)"
        started = time.monotonic()
        answer = kube.run(
            ["apply", "--server-side", "--field-manager=boutique-e2e", "-f", "-"],
            json.dumps({"apiVersion": "v1", "kind": "List", "items": _ordered(objects)}),
            timeout=300,
        )
        if not answer.ok:
            result.refused = [line for line in answer.err.splitlines() if line.strip()][:50]
        result.seconds["kubectl_apply"] = round(time.monotonic() - started, 1)
    else:
        settings_ns, deployer_sa = shop_namespace(name), deployer_account(name)
        who, deployer_kubeconfig, for_deployer = identity.deployer(
            kube, registered, settings_ns, deployer_sa, BUILD / f"kubeconfig-{name}-deployer"
        )
        details["deployer_identity"] = who
        made += for_deployer
        if deployer_kubeconfig is not None:
            env = {**env, "KUBECONFIG": str(deployer_kubeconfig)}
        log(f"{name}: pulumi up ({mode(bin_dir)}) as {who}")
        engine = _engine(name, bin_dir, env)
        result.up = engine.up()
        if not result.up.ok:
            result.refused = engine_failure_lines(result.up.error)
            log(f"{name}: up failed:\n{result.up.error[-2000:]}")
    result.applied = sorted(present(kube, objects))
    log(f"{name}: {len(result.applied)} of {len(objects)} objects on the server")
    details["missing_objects"] = sorted(set(result.rendered) - set(result.applied))

    started = time.monotonic()
    result.rollout = wait_rollout(kube, namespaces, ROLLOUT_TIMEOUT)
    result.seconds["rollout"] = round(time.monotonic() - started, 1)
    details["rollout"] = result.rollout
    details["verify"] = verify(name, registered, kube.kubeconfig)
    log(f"{name}: verify: {details['verify']['status']}")
    log(f"{name}: {result.rollout['available']} of {result.rollout['deployments']} workloads available")

    if engine is not None and result.up is not None and result.up.ok:
        log(f"{name}: pulumi preview after up")
        result.preview = engine.preview()
        details["preview_changes"] = result.preview.changes
        log(f"{name}: preview: {result.preview.changes} {result.preview.error[-1500:]}")
        log(f"{name}: second pulumi up")
        result.second_up = engine.up()
        details["second_up_changes"] = result.second_up.changes

    started = time.monotonic()
    registries = registries_of(objects, namespace)
    result.admission = drill.run(kube.create_dry_run, namespace, shop_image(objects, namespace), registries)
    result.seconds["admission_drill"] = round(time.monotonic() - started, 1)
    details["admission"] = result.admission
    log(f"{name}: drill: {len(result.admission['refused'])} of {result.admission['expected_refusals']} refused")

    if name == "prod":
        started = time.monotonic()
        result.drain = Drain(kube, namespaces).run()
        result.seconds["drain"] = round(time.monotonic() - started, 1)
        details["drain"] = result.drain
        log(f"{name}: drain of {result.drain['node']}: {result.drain['evicted']} evicted")
    else:
        result.skipped["drain"] = "dev runs one replica of everything (no budgets): drained in prod only"

    if engine is not None and result.up is not None:
        log(f"{name}: pulumi destroy")
        result.destroy = engine.destroy()
        if not result.destroy.ok:
            log(f"{name}: destroy failed:\n{result.destroy.error[-2000:]}")
    else:
        kube.run(
            ["delete", "--wait=false", "-f", "-"], json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
        )
    started = time.monotonic()
    result.left_behind = wait_gone(kube, objects)
    result.seconds["teardown_wait"] = round(time.monotonic() - started, 1)
    details["left_behind"] = result.left_behind
    if engine is not None:
        engine.remove()
    if made:
        kube.run(
            ["delete", "--wait=false", "--ignore-not-found", "-f", "-"],
            json.dumps({"apiVersion": "v1", "kind": "List", "items": made}),
        )
    return result


def _ordered(objects: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    first = {"Namespace": 0, "ServiceAccount": 1, "ValidatingAdmissionPolicy": 1}
    return sorted(objects, key=lambda o: first.get(o["kind"], 2))


def _engine(name: str, bin_dir: Path, env: dict[str, str]) -> AutomationEngine | CliEngine:
    if mode(bin_dir) == "cli":
        return CliEngine(PROJECT_DIR, name, env, bin_dir)
    from boutique.program import run

    return AutomationEngine(PROJECT_DIR, name, env, run)


def pulumi_version(bin_dir: Path) -> str:
    if not (bin_dir / "pulumi").exists():
        return "not built"
    proc = subprocess.run([str(bin_dir / "pulumi"), "version"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.run", description=__doc__)
    parser.add_argument("--bin", help="dir of the built binaries (default: $BOUTIQUE_E2E_BIN)")
    parser.add_argument(
        "--crds", default=str(cluster.DEFAULT_CRDS), help="folder of CRD schemas (index.json) or CRD files"
    )
    parser.add_argument("--stacks", default="dev,prod")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running afterwards")
    parser.add_argument(
        "--existing-cluster",
        action="store_true",
        help="use the cluster of --kubeconfig (e.g. kind) instead of starting one: its current context, "
        "the stacks' own operators and charts (the engine fetches charts and plugins), no CRDs installed",
    )
    parser.add_argument("--kubeconfig", help="with --existing-cluster (default: $KUBECONFIG, else ~/.kube/config)")
    args = parser.parse_args(argv)
    bin_dir = cluster.bin_dir_from(args.bin)
    if bin_dir is None:
        print("e2e: no bin dir (--bin DIR or BOUTIQUE_E2E_BIN)", file=sys.stderr)
        return 2
    if args.existing_cluster:
        return existing_cluster(args, bin_dir)
    if not Path(args.crds).is_dir():
        print(f"e2e: --crds {args.crds}: no such folder (the operators' CRD schemas)", file=sys.stderr)
        return 2
    started = time.monotonic()
    BUILD.mkdir(parents=True, exist_ok=True)
    names = [s for s in args.stacks.split(",") if s]
    random_plugin = (bin_dir / "pulumi-resource-random").exists()
    e2e_stacks = [stacks.e2e_stack(n, stacks.read_stack(REPO, n), random_plugin) for n in names]
    stacks.write_project(REPO, PROJECT_DIR, e2e_stacks)
    not_run = [item for s in e2e_stacks for item in s.not_run_here]
    details: dict[str, Any] = {"stacks": {n: {} for n in names}}

    missing_cluster = cluster.missing_binaries(bin_dir)
    if missing_cluster:
        print(f"e2e: cannot start a cluster, missing in {bin_dir}: {', '.join(missing_cluster)}", file=sys.stderr)
        return 2
    engine_missing = [b for b in ENGINE_BINARIES if not (bin_dir / b).exists()]
    env = engine_env(bin_dir, STATE_DIR, BUILD / "pulumi-home", cluster.KUBECONFIG)
    if not engine_missing:
        import pulumi_kubernetes
        import pulumi_random

        wanted = {
            "kubernetes": sdk_plugin_version(Path(pulumi_kubernetes.__file__).parent),
            "random": sdk_plugin_version(Path(pulumi_random.__file__).parent),
        }
        details["plugins"] = install_plugins(bin_dir, env, wanted)
        manifest = bin_dir.parent / "manifest.json"
        if manifest.exists():  # what was built, to set beside the versions the SDKs asked for
            details["toolchain"] = json.loads(manifest.read_text()).get("versions", {})
        details["engine_mode"] = mode(bin_dir)
        log(f"plugins: {details['plugins']}, engine: {details['engine_mode']}")
        # A fresh cluster every run: state left by an interrupted run would name objects it lacks.
        shutil.rmtree(STATE_DIR, ignore_errors=True)
        STATE_DIR.mkdir(parents=True)
    else:
        not_run.append(f"pulumi engine (missing {', '.join(engine_missing)}): objects applied with kubectl instead")

    log("starting the cluster")
    facts = cluster.up(bin_dir, Path(args.crds))
    details["cluster"] = facts
    log(f"cluster up: {facts['kubernetes']} in {facts['seconds']}s")
    return run_all(
        names,
        Kube(cluster.KUBECONFIG, kubectl_binary(bin_dir)),
        bin_dir,
        engine_missing,
        env,
        facts,
        not_run,
        details,
        started,
        stop=None if args.keep else lambda: cluster.down(bin_dir),
    )


def run_all(
    names: list[str],
    kube: Kube,
    bin_dir: Path,
    engine_missing: list[str],
    env: dict[str, str],
    facts: dict[str, Any],
    not_run: list[str],
    details: dict[str, Any],
    started: float,
    stop: Any = None,
) -> int:
    """Every stack on the cluster, then the report and its table; 1 when a check did not hold."""
    results = {}
    try:
        for name in names:
            results[name] = run_stack(name, kube, bin_dir, engine_missing, env, details["stacks"][name])
    finally:
        if stop is not None:
            stop()
    final = report.build(facts["kubernetes"], pulumi_version(bin_dir), not_run, results)
    (BUILD / "report.json").write_text(json.dumps(final, indent=2) + "\n")
    details["seconds_total"] = round(time.monotonic() - started, 1)
    (BUILD / "details.json").write_text(json.dumps(details, indent=2, default=str) + "\n")
    print(report.table(final))
    who = {n: details["stacks"][n].get("deployer_identity", "none") for n in names}
    print(f"deployer identity: {who}; engine: {details.get('engine_mode', 'none')}")
    print(f"total {details['seconds_total']}s; report {BUILD / 'report.json'}, details {BUILD / 'details.json'}")
    found = report.problems(final, results)
    for problem in found:
        print(f"FAIL {problem}")
    return 1 if found else 0


def existing_cluster(args: argparse.Namespace, bin_dir: Path) -> int:
    """The same checks on a cluster that exists (kind on a runner): nothing started or stopped here,
    the stacks as written (their operators' charts installed by the program), plugins fetched by the
    engine."""
    kubeconfig = Path(args.kubeconfig or os.environ.get("KUBECONFIG") or Path.home() / ".kube" / "config")
    if not kubeconfig.is_file():
        print(f"e2e: --kubeconfig {kubeconfig}: no such file", file=sys.stderr)
        return 2
    context = (yaml.safe_load(kubeconfig.read_text()) or {}).get("current-context", "")
    if not context:
        print(f"e2e: {kubeconfig} has no current context", file=sys.stderr)
        return 2
    started = time.monotonic()
    BUILD.mkdir(parents=True, exist_ok=True)
    names = [s for s in args.stacks.split(",") if s]
    e2e_stacks = [stacks.e2e_stack(n, stacks.read_stack(REPO, n), True, context, charts=True) for n in names]
    stacks.write_project(REPO, PROJECT_DIR, e2e_stacks)
    details: dict[str, Any] = {"stacks": {n: {} for n in names}, "engine_mode": mode(bin_dir)}
    env = engine_env(bin_dir, STATE_DIR, BUILD / "pulumi-home", kubeconfig)
    # This machine reaches the plugin and chart registries: the engine fetches what the SDKs ask for.
    for key in ("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "PULUMI_IGNORE_AMBIENT_PLUGINS"):
        env.pop(key)
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    STATE_DIR.mkdir(parents=True)
    kube = Kube(kubeconfig, kubectl_binary(bin_dir))
    facts = {"kubernetes": kube.raw("/version")["gitVersion"], "crds": [], "seconds": 0}
    details["cluster"] = {**facts, "context": context, "kubeconfig": str(kubeconfig)}
    log(f"existing cluster {context}: {facts['kubernetes']}")
    return run_all(names, kube, bin_dir, [], env, facts, [], details, started)


if __name__ == "__main__":
    sys.exit(main())
