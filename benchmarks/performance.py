"""Performance of the program under mocks: `venv/bin/python benchmarks/performance.py`.

Prints one table (Markdown, for docs/performance.md):

- `render --stack prod`: wall time and peak memory of the whole command, in a fresh process, as a
  developer or CI runs it (best of `--repeat`), against the import floor: a fresh process that only
  imports the program (Python, Pulumi, pulumi_kubernetes, ours), measured alternately in the same run;
- the prod stack's program over synthetic catalogs of 11, 50, 200 and 500 services (the shop's own
  catalog plus generated services that call one another): program run time under mocks (wall and
  CPU), resources registered and CPU time per service, each size in a fresh process, and what each
  added service costs between consecutive sizes (linear growth keeps that flat);
- the longest dependency chain in the rendered `resources.json`: how many sequential waves of
  resource operations `pulumi up` needs (dependencies plus parent edges, as the engine orders them).

Every target is a ratio of figures measured in the same run (the render against the import floor,
the suite of sizes against itself per added service) or a count, so a verdict means the same on a
fast machine, a slow one or a busy one; the seconds are shown beside them, without a target. Each
measure with a target is marked PASS or FAIL, and the exit code is 1 when one is missed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
SIZES = (11, 50, 200, 500)
STACK = "prod"
# What every run of the program pays before it does anything: a fresh interpreter importing it.
IMPORT_FLOOR = "import boutique.program, boutique.cli.render"
# Targets, each a ratio of the same run's figures or a count: machine-independent.
RENDER_OVER_IMPORT = 6.0  # the whole render costs at most this many import floors
MARGINAL_SPREAD_PERCENT = 30  # CPU per added service, between consecutive sizes: flat (linear growth)
OWN_CHAIN, FULL_CHAIN = 4, 5  # waves of `pulumi up`: the shop's own, and with the operators
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
COMPONENT_TYPES = {"kubernetes:helm.sh/v4:Chart", "kubernetes:yaml/v2:ConfigGroup", "kubernetes:yaml/v2:ConfigFile"}


# --- synthetic catalogs --------------------------------------------------------------------------


def synthetic_catalog(size: int, seed: int = 6) -> dict[str, Any]:
    """The shop's catalog grown to `size` services: each added one is a gRPC backend calling up to
    three services added before it, so the call graph stays acyclic and as deep as it gets.
    """
    catalog = yaml.safe_load((PROJECT_DIR / "services.yaml").read_text(encoding="utf-8"))
    services: dict[str, Any] = catalog["services"]
    if size < len(services):
        raise SystemExit(f"the shop alone has {len(services)} services; ask for at least that many")
    template = services["paymentservice"]
    rng = random.Random(seed)  # noqa: S311 - a reproducible catalog, nothing secret
    added: list[str] = []
    for index in range(size - len(services)):
        name = f"synthetic-{index:04d}"
        callees = rng.sample(added, k=min(len(added), rng.randint(0, 3)))
        services[name] = {
            **template,
            "description": "A generated backend for the performance benchmark.",
            "calls": {f"CALLEE_{i}_ADDR": callee for i, callee in enumerate(callees)},
        }
        added.append(name)
    return catalog


def measure_program(size: int) -> dict[str, Any]:
    """Run the prod program over a synthetic catalog of `size` services (in this process)."""
    sys.path.insert(0, str(PROJECT_DIR))
    from boutique.cli.mockrun import run_program
    from boutique.inputs.stackconfig import read_stack_config
    from boutique.program import run

    config, secret_keys = read_stack_config(PROJECT_DIR, STACK)
    # Warm up on the shop's own catalog: pulumi_kubernetes loads its modules on first use, a cost
    # every run pays once (the render row shows it) that would otherwise swamp the small sizes.
    run_program(run, STACK, config, secret_keys)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "services.yaml"
        path.write_text(yaml.safe_dump(synthetic_catalog(size), sort_keys=False), encoding="utf-8")
        started, cpu_started = time.perf_counter(), time.process_time()
        result = run_program(lambda: run(path), STACK, config, secret_keys)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {"size": size, "seconds": seconds, "cpu": cpu, "resources": len(result.resources)}


# --- render of the real stack --------------------------------------------------------------------


def measure_render(out: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of `python -m boutique render --stack prod`, as a child process."""
    command = [sys.executable, "-m", "boutique", "render", "--stack", STACK, "--out", str(out)]
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"render failed with exit code {child.returncode}")
    return seconds, usage.ru_maxrss / 1024  # Linux reports KiB


def measure_import_floor() -> float:
    """Wall seconds of a fresh process that imports the program and does nothing else."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORT_FLOOR], cwd=PROJECT_DIR, check=True)
    return time.perf_counter() - started


# --- dependency chain ----------------------------------------------------------------------------


def is_component(resource_type: str) -> bool:
    """Components (ours, and remote ones that expand into children) cost no wave of their own."""
    return resource_type.startswith("boutique:") or resource_type in COMPONENT_TYPES


def longest_chain(resources: Iterable[Mapping[str, Any]], leave_out: Collection[str] = ()) -> list[str]:
    """The longest sequence of resource operations `pulumi up` must run one after another.

    A resource starts once its dependencies and its parent are registered; a component registers
    at once but only after its own dependencies, which it thereby passes on to its children.
    Resources of a type in `leave_out`, and everything waiting on them, are left out.
    """
    by_urn = {r["urn"]: r for r in resources}
    memo: dict[str, list[str] | None] = {}

    def chain(urn: str) -> list[str] | None:  # None: left out
        if urn not in by_urn:  # the root Stack is not recorded
            return []
        if urn not in memo:
            resource = by_urn[urn]
            before = [chain(u) for u in [*resource["dependencies"], resource["parent"]] if u]
            if resource["type"] in leave_out or any(c is None for c in before):
                memo[urn] = None
            else:
                longest = max(before, key=len, default=[])
                own = (
                    []
                    if is_component(resource["type"])
                    else [f"{resource['type'].rsplit(':', 1)[-1]} {resource['name']}"]
                )
                memo[urn] = [*longest, *own]
        return memo[urn]

    return max((c for c in map(chain, by_urn) if c is not None), key=len, default=[])


# --- targets and the table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A bound a measure must stay under: `< 3 s`, `<= 30 %`."""

    limit: float
    inclusive: bool  # <= rather than <
    unit: str

    def met(self, value: float) -> bool:
        return value <= self.limit if self.inclusive else value < self.limit

    def __str__(self) -> str:
        return f"{'<=' if self.inclusive else '<'} {self.limit:g}{f' {self.unit}' if self.unit else ''}"


def below(limit: float, unit: str = "") -> Target:
    return Target(limit, inclusive=False, unit=unit)


def at_most(limit: float, unit: str = "") -> Target:
    return Target(limit, inclusive=True, unit=unit)


@dataclass(frozen=True)
class Row:
    measure: str
    result: str
    value: float | None = None  # judged against the target, as shown in `result` (rounded alike)
    target: Target | None = None

    @property
    def verdict(self) -> str:
        if self.target is None or self.value is None:
            return ""
        return "PASS" if self.target.met(self.value) else "FAIL"


def report(rows: Sequence[Row]) -> int:
    """Print the table (Markdown, for docs/performance.md); 1 when a target is missed, else 0."""
    print("| measure | result | target | verdict |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row.measure} | {row.result} | {row.target or ''} | {row.verdict} |")
    missed = [row.measure for row in rows if row.verdict == "FAIL"]
    if missed:
        print(f"\nFAIL: {len(missed)} target(s) missed: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def run_in_fresh_process(size: int) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, "--program-only", str(size)],
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="catalog sizes (services)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    parser.add_argument("--program-only", type=int, help=argparse.SUPPRESS)
    return parser


def render_rows(renders: Sequence[tuple[float, float]], floors: Sequence[float]) -> list[Row]:
    """The render (wall seconds, peak MiB per run) judged against the import floor of the same run."""
    wall = min(r[0] for r in renders)
    floor = min(floors)
    ratio = round(wall / floor, 1)
    return [
        Row("import floor: a fresh process importing the program", f"{floor:.2f} s"),
        Row("render --stack prod: wall time", f"{wall:.2f} s"),
        Row("render --stack prod: against the import floor", f"{ratio:.1f} x", ratio, at_most(RENDER_OVER_IMPORT, "x")),
        Row("render --stack prod: peak memory", f"{min(r[1] for r in renders):.0f} MiB"),
    ]


def program_rows(rounds: Sequence[Sequence[Mapping[str, Any]]]) -> list[Row]:
    """The program over each size (`rounds`: per round, one measurement per size, sizes ascending),
    judged against itself: what each added service costs must stay flat from size to size."""
    rows = []
    per_service = []
    best_cpu: dict[int, float] = {}
    for index, first in enumerate(rounds[0]):
        size = first["size"]
        runs = [measured[index] for measured in rounds]
        wall = min(r["seconds"] for r in runs)
        cpu = best_cpu[size] = min(r["cpu"] for r in runs)
        per_service.append(cpu / size * 1000)
        rows.append(
            Row(
                f"program, {size} services",
                f"{wall:.2f} s wall ({cpu:.2f} s CPU), {first['resources']} resources, "
                f"{per_service[-1]:.1f} ms CPU/service",
            )
        )
    # CPU time: on a shared machine wall time also measures the neighbours. Per service it carries
    # the stack's fixed part (operators, namespaces, policies), which the smallest size spreads over
    # few services: shown, not judged.
    spread = round((max(per_service) - min(per_service)) / statistics.mean(per_service) * 100)
    rows.append(Row("CPU time per service: spread (max - min) / mean", f"{spread} %"))
    # What each added service costs, between consecutive sizes: flat means linear growth.
    steps = list(itertools.pairwise(sorted(best_cpu)))
    if steps:
        marginal = [(best_cpu[b] - best_cpu[a]) / (b - a) * 1000 for a, b in steps]
        shown = ", ".join(f"{a}→{b}: {m:.1f}" for (a, b), m in zip(steps, marginal, strict=True))
        marginal_spread = round((max(marginal) - min(marginal)) / statistics.mean(marginal) * 100)
        rows.append(
            Row(
                "CPU time per added service: spread (max - min) / mean",
                f"{marginal_spread} % ({shown} ms)",
                marginal_spread,
                at_most(MARGINAL_SPREAD_PERCENT, "%"),
            )
        )
    return rows


def chain_rows(graph: Sequence[Mapping[str, Any]]) -> list[Row]:
    own = longest_chain(graph, leave_out={HELM_RELEASE})
    everything = longest_chain(graph)
    return [
        Row(
            "longest dependency chain (waves), shop's own",
            f"{len(own)}: {' → '.join(own)}",
            len(own),
            at_most(OWN_CHAIN),
        ),
        Row(
            "longest dependency chain, with operators",
            f"{len(everything)}: {' → '.join(everything)}",
            len(everything),
            at_most(FULL_CHAIN),
        ),
    ]


def main() -> int:
    args = build_parser().parse_args()
    if args.program_only:
        print(json.dumps(measure_program(args.program_only)))
        return 0

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / STACK
        # Alternately, so a slow spell of the shared machine weighs on both alike.
        renders, floors = [], []
        for _ in range(args.repeat):
            renders.append(measure_render(out))
            floors.append(measure_import_floor())
        graph = json.loads((out / "resources.json").read_text(encoding="utf-8"))
    # Rounds over all sizes rather than each size's runs back to back: a slow spell of the shared
    # machine then costs one run of several sizes, not every run of one size.
    rounds = [[run_in_fresh_process(size) for size in sorted(args.sizes)] for _ in range(args.repeat)]
    return report([*render_rows(renders, floors), *program_rows(rounds), *chain_rows(graph)])


if __name__ == "__main__":
    sys.exit(main())
