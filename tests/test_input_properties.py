"""Property-based: whatever is done to either input file (a key deleted, renamed, retyped, given
odd text or nested wrongly), the program renders, or refuses with a plain message naming the
file and the field: never a traceback, and nothing written on refusal (issue 16, item 4).

Derandomized and few examples, so CI is reproducible and the suite stays fast; the mutations are
drawn over every path of the shipped files, so a key added to either is covered as it lands.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boutique.cli import render
from boutique.cli.mockrun import run_program
from boutique.inputs.catalog import load_catalog
from boutique.inputs.errors import InputError
from boutique.inputs.stackconfig import read_stack_config
from boutique.program import CATALOG_FILE, PROJECT_DIR, run, settings_from_config

STACK = "dev"
STACK_FILE = f"Pulumi.{STACK}.yaml"
CATALOG = yaml.safe_load(CATALOG_FILE.read_text())
CONFIG = yaml.safe_load((PROJECT_DIR / STACK_FILE).read_text())
# HYPOTHESIS_EXAMPLES=200 explores further by hand (150 of each ran clean when this was written).
FAST = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "12")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# `file: field: message`, or `file: line N: ...` for what is wrong before any field is read.
REFUSAL = re.compile(r"^(services\.yaml|Pulumi\.dev\.yaml): (line \d+: |[A-Za-z0-9_.:\[\]/-]+: )\S")


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and item path in a parsed YAML document."""
    found = []
    if isinstance(value, dict):
        for key, child in value.items():
            found += [(*prefix, key), *paths(child, (*prefix, key))]
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += [(*prefix, index), *paths(child, (*prefix, index))]
    return found


ODD_TEXT = st.sampled_from(
    ["", " ", "latest", "caf\u00e9 \u2603", "x" * 300, "-1", "1e309", "null", "{a: b}", "$(PORT)", "\t\n", "@@", "0x10"]
)
NEW_VALUE = st.one_of(
    ODD_TEXT,
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.just([]),
    st.just({}),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def mutated(draw: st.DrawFn, document: dict[str, Any], root: tuple[Any, ...] = ()) -> dict[str, Any]:
    """`document` with one path deleted, renamed, retyped, given odd text or nested wrongly."""
    data = copy.deepcopy(document)
    path = draw(st.sampled_from([p for p in paths(data) if p[: len(root)] == root and len(p) > len(root)]))
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    operation = draw(st.sampled_from(["delete", "rename", "retype", "odd text", "wrap in a list", "wrap in a map"]))
    if operation == "delete":
        del parent[last]
    elif operation == "rename" and isinstance(parent, dict):
        parent[draw(st.sampled_from([f"{last}x", str(last).upper(), f"{last}"[:-1] or "k", "boutique:nope"]))] = (
            parent.pop(last)
        )
    elif operation == "retype":
        parent[last] = draw(NEW_VALUE)
    elif operation == "odd text" or operation == "rename":
        parent[last] = draw(ODD_TEXT)
    elif operation == "wrap in a list":
        parent[last] = [parent[last]]
    else:
        parent[last] = {"value": parent[last]}
    return data


def as_bytes(document: dict[str, Any] | bytes) -> bytes:
    if isinstance(document, bytes):
        return document
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True).encode("utf-8")


def contract(tmp_path: Path, catalog: dict[str, Any] | bytes, config: dict[str, Any] | bytes) -> None:
    """A render, or a plain refusal naming file and field; no traceback; nothing written on refusal."""
    work = Path(tmp_path)
    for leftover in work.iterdir():
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    project = work / "project"
    project.mkdir()
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", project / "Pulumi.yaml")
    (project / STACK_FILE).write_bytes(as_bytes(config))
    catalog_path = project / "services.yaml"
    catalog_path.write_bytes(as_bytes(catalog))
    out = work / "out"
    try:
        loaded = load_catalog(catalog_path)
        values, secret_keys = read_stack_config(project, STACK)
        settings_from_config(STACK, values, loaded, secret_keys)
    except InputError as exc:
        message = str(exc)
        for line in message.splitlines():
            assert REFUSAL.match(line), message
        assert "Traceback" not in message and "pydantic" not in message
        assert not out.exists()
        return
    result = run_program(lambda: run(catalog_path), STACK, values, secret_keys)
    render.write(result, out)
    assert (out / "manifests").is_dir()


@FAST
@given(catalog=mutated(CATALOG))
def test_any_mutation_of_the_catalog_renders_or_is_refused_plainly(tmp_path_factory, catalog):
    contract(tmp_path_factory.mktemp("catalog"), catalog, CONFIG)


@FAST
@given(config=mutated(CONFIG, root=("config",)))
def test_any_mutation_of_the_stack_file_renders_or_is_refused_plainly(tmp_path_factory, config):
    contract(tmp_path_factory.mktemp("stack"), CATALOG, config)


@st.composite
def odd_bytes(draw: st.DrawFn, path: Path) -> bytes:
    """The file as written, with a byte that is not UTF-8 text (Latin-1, a stray byte) put in on some line."""
    lines = path.read_bytes().split(b"\n")
    where = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    column = draw(st.integers(min_value=0, max_value=len(lines[where])))
    byte = draw(st.sampled_from([b"\xe9", b"\xff", b"\xc3", b"\x80", b"\x00", b"\x1b"]))
    lines[where] = lines[where][:column] + byte + lines[where][column:]
    return b"\n".join(lines)


@FAST
@given(catalog=odd_bytes(CATALOG_FILE), config=odd_bytes(PROJECT_DIR / STACK_FILE), which=st.sampled_from([0, 1]))
def test_a_stray_byte_in_either_file_renders_or_is_refused_plainly(tmp_path_factory, catalog, config, which):
    if which == 0:
        contract(tmp_path_factory.mktemp("bytes"), catalog, CONFIG)
    else:
        contract(tmp_path_factory.mktemp("bytes"), CATALOG, config)
