"""`venv/bin/python -m boutique render --stack dev --out build/dev`: the program, offline, as files.

Also `graph` (the service call graph), `diff` (what changes between two stacks, or between a
rendered directory and a stack), `images` (every image a stack runs), `verify` (is the deployed
stack healthy on its cluster) and `deployer-rbac` (the RBAC CI's deployer and previewer need).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from boutique.inputs.errors import InputError

if TYPE_CHECKING:
    from boutique.cli.mockrun import Run


def _catalog_path(args: argparse.Namespace) -> Path:
    from boutique.inputs.catalog import CATALOG_FILE  # not boutique.program: `graph` needs no pulumi

    return Path(args.catalog) if args.catalog else CATALOG_FILE


def _run_stack(stack: str, catalog_path: Path) -> Run:
    """The program as `pulumi up -s <stack>` runs it, under mocks; inputs validated first."""
    from boutique.cli.mockrun import run_stack  # imported here so `--help` and `graph` stay fast

    return run_stack(stack, catalog_path)


def _render(args: argparse.Namespace) -> int:
    from boutique.cli import render

    started = time.perf_counter()
    render.check_out(Path(args.out))  # before the program runs: a refusal costs nothing
    result = _run_stack(args.stack, _catalog_path(args))
    kinds = render.write(result, Path(args.out))
    elapsed = time.perf_counter() - started
    print(f"rendered stack {args.stack} into {args.out} in {elapsed:.2f}s:")
    for kind, count in sorted(kinds.items()):
        print(f"  {count:4d}  {kind}")
    print(f"  {sum(kinds.values()):4d}  objects, {len(result.resources)} Pulumi resources")
    return 0


def _images(args: argparse.Namespace) -> int:
    from boutique.cli import images

    sys.stdout.write(images.format_images(images.collect(_run_stack(args.stack, _catalog_path(args)))))
    return 0


def _graph(args: argparse.Namespace) -> int:
    from boutique.cli import graph
    from boutique.inputs.catalog import load_catalog

    catalog = load_catalog(_catalog_path(args))
    if args.write is None:
        sys.stdout.write(graph.draw(catalog, args.format))
        return 0
    if args.format != "mermaid":
        raise InputError("--write replaces the docs' mermaid diagram (docs/catalog.md); leave out --format dot")
    changed = graph.write_into(Path(args.write), catalog)
    edges = len(catalog.edges())
    state = "updated" if changed else "already up to date"
    print(f"{args.write}: service graph {state} ({len(graph.nodes(catalog))} nodes, {edges} calls)")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from boutique.cli import diff

    stacks = args.stack or []
    if args.dir and len(stacks) == 1:
        old = diff.side_of_dir(Path(args.dir))
        new = diff.side_of_run(_run_stack(stacks[0], _catalog_path(args)), f"stack {stacks[0]}")
    elif not args.dir and len(stacks) == 2:
        old, new = (diff.side_of_run(_run_stack(s, _catalog_path(args)), f"stack {s}") for s in stacks)
    else:
        raise InputError("diff takes two stacks (--stack A --stack B) or a directory and a stack (--dir DIR --stack S)")
    report = diff.compare(old, new)
    sys.stdout.write(diff.format_report(report))
    return 1 if args.exit_code and report.differs else 0


def _verify(args: argparse.Namespace) -> int:
    from boutique.cli import verify
    from boutique.inputs.stackconfig import read_stack_config
    from boutique.program import PROJECT_DIR

    want = verify.expected(_run_stack(args.stack, _catalog_path(args)))
    config, _ = read_stack_config(PROJECT_DIR, args.stack)
    # The context the stack deploys through (boutique:cluster), unless the command names another.
    context = args.context or json.loads(config.get("boutique:cluster") or "{}").get("context") or None
    try:
        report = verify.verify(want, verify.kubectl_reader(context))
    except verify.ClusterUnreachableError as exc:
        where = f"context {context}" if context else "the current kubeconfig context"
        print(f"error: cannot read the cluster of {where}: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(verify.format_report(args.stack, report))
    return 0 if report.healthy else 1


def _deployer_rbac(args: argparse.Namespace) -> int:
    from boutique.cli import deployer_rbac
    from boutique.inputs.settings import parse_settings
    from boutique.inputs.stackconfig import read_stack_config
    from boutique.program import PROJECT_DIR

    run = _run_stack(args.stack, _catalog_path(args))  # validates every input first
    settings = parse_settings(args.stack, read_stack_config(PROJECT_DIR, args.stack)[0])
    files = deployer_rbac.generate(run, settings.namespace, settings.deployer_service_account)
    deployer_rbac.write(files, Path(args.out))
    home = deployer_rbac.identity_namespace(settings.namespace)
    print(f"wrote the RBAC of stack {args.stack} into {args.out}:")
    for file_name, docs in files.items():
        print(f"  {file_name:18s} {len(docs):3d} objects")
    for identity in deployer_rbac.identities(settings.namespace, settings.deployer_service_account):
        print(f"  {identity.role}: ServiceAccount {home}/{identity.service_account}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line (also read by the test that keeps the README's commands runnable)."""
    parser = argparse.ArgumentParser(prog="venv/bin/python -m boutique", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="run the program under mocks and write every object as YAML")
    render.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    render.add_argument("--out", required=True, help="folder: new, empty or an earlier render's (replaced whole)")
    render.add_argument("--catalog", help="catalog file (default: services.yaml)")
    render.set_defaults(handler=_render)
    images = commands.add_parser(
        "images", help="every image the stack runs, one per line: `image  where` (what `render` would write runs)"
    )
    images.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    images.add_argument("--catalog", help="catalog file (default: services.yaml)")
    images.set_defaults(handler=_images)
    graph = commands.add_parser("graph", help="print the service call graph from the catalog")
    graph.add_argument("--format", choices=("mermaid", "dot"), default="mermaid", help="default: mermaid")
    graph.add_argument("--catalog", help="catalog file (default: services.yaml)")
    graph.add_argument(
        "--write", metavar="FILE", help="replace the diagram in FILE's 'Service graph' section (docs/catalog.md)"
    )
    graph.set_defaults(handler=_graph)
    diff = commands.add_parser(
        "diff", help="objects added, removed and changed, field by field: two stacks, or a rendered dir and a stack"
    )
    diff.add_argument("--stack", action="append", help="stack name; give two, or one with --dir")
    diff.add_argument("--dir", help="a directory `render` wrote (the old side)")
    diff.add_argument("--catalog", help="catalog file (default: services.yaml)")
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when anything differs")
    diff.set_defaults(handler=_diff)
    verify = commands.add_parser(
        "verify", help="check the deployed stack on its cluster: workloads, ExternalSecrets, Certificates, the way in"
    )
    verify.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    verify.add_argument(
        "--context", help="kubeconfig context (default: the stack's boutique:cluster.context, else the current one)"
    )
    verify.add_argument("--catalog", help="catalog file (default: services.yaml)")
    verify.set_defaults(handler=_verify)
    rbac = commands.add_parser(
        "deployer-rbac", help="write the RBAC of CI's deployer (pulumi up/destroy) and previewer (pulumi preview)"
    )
    rbac.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    rbac.add_argument("--out", required=True, help="output directory (replaced)")
    rbac.add_argument("--catalog", help="catalog file (default: services.yaml)")
    rbac.set_defaults(handler=_deployer_rbac)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
