"""`python -m boutique render --stack dev --out build/dev`: the program, offline, as files."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from boutique.errors import InputError


def _render(args: argparse.Namespace) -> int:
    # Imported here so `--help` and input errors stay fast.
    from boutique import render
    from boutique.catalog import load_catalog
    from boutique.mockrun import run_program
    from boutique.program import CATALOG_FILE, PROJECT_DIR, run
    from boutique.settings import settings_from_config
    from boutique.stackconfig import read_stack_config

    started = time.perf_counter()
    catalog_path = Path(args.catalog) if args.catalog else CATALOG_FILE
    # Validate everything first: bad input registers nothing and writes nothing.
    catalog = load_catalog(catalog_path)
    config, secret_keys = read_stack_config(PROJECT_DIR, args.stack)
    settings_from_config(args.stack, config, catalog)

    result = run_program(lambda: run(catalog_path), args.stack, config, secret_keys)
    kinds = render.write(result, Path(args.out))
    elapsed = time.perf_counter() - started
    print(f"rendered stack {args.stack} into {args.out} in {elapsed:.2f}s:")
    for kind, count in sorted(kinds.items()):
        print(f"  {count:4d}  {kind}")
    print(f"  {sum(kinds.values()):4d}  objects, {len(result.resources)} Pulumi resources")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m boutique", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="run the program under mocks and write every object as YAML")
    render.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    render.add_argument("--out", required=True, help="output directory (replaced)")
    render.add_argument("--catalog", help="catalog file (default: services.yaml)")
    render.set_defaults(handler=_render)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
