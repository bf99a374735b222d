"""`render --out`: only ever replaces a folder an earlier render wrote; refuses anything else,
plainly, and deletes nothing (issue 16, items 1 and 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from boutique.__main__ import main
from boutique.cli import render
from boutique.program import PROJECT_DIR


def tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("held", [{"README.md": b"mine\n"}, {".git/HEAD": b"ref\n", "tests/test_x.py": b"x\n"}])
def test_out_onto_a_folder_render_did_not_write_is_refused_and_nothing_deleted(tmp_path, capsys, held):
    out = tmp_path / "checkout"
    for name, content in held.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(content)
    before = tree(tmp_path)
    assert main(["render", "--stack", "dev", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out}: ") and "not written by render" in err
    assert tree(tmp_path) == before  # nothing deleted, no staging folder left beside it


def test_out_onto_a_file_is_refused_without_traceback(tmp_path):
    target = tmp_path / "README.md"
    target.write_text("keep me\n")
    proc = subprocess.run(
        [sys.executable, "-m", "boutique", "render", "--stack", "dev", "--out", str(target)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"--out {target}: a file, not a folder" in proc.stderr
    assert target.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_out_replaces_a_folder_render_wrote_and_an_empty_one(tmp_path):
    out = tmp_path / "out"
    out.mkdir()  # empty: nothing to lose
    assert main(["render", "--stack", "dev", "--out", str(out)]) == 0
    assert (out / render.MARKER).is_file()
    stale = out / "manifests" / "stale.yaml"
    stale.write_text("kind: Gone\n")
    (out / "checks").mkdir()  # what promcheck writes beside a render goes with it
    assert main(["render", "--stack", "dev", "--out", str(out)]) == 0
    assert not stale.exists() and not (out / "checks").exists()
    assert (out / "manifests").is_dir() and (out / render.MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_refusal_comes_before_the_program_runs(tmp_path, monkeypatch):
    """A refused --out costs nothing: the program never runs."""
    (tmp_path / "keep.txt").write_text("x")
    import boutique.__main__ as cli

    def boom(*_args: object) -> None:
        raise AssertionError("the program ran")

    monkeypatch.setattr(cli, "_run_stack", boom)
    assert main(["render", "--stack", "dev", "--out", str(tmp_path)]) == 2


# --- issue 16, item 3: bytes that are not UTF-8 name the file and the line ---


def _latin1_comment(text: str, line: int) -> bytes:
    """`text` with a Latin-1 "café" comment put in as line `line` (1-based)."""
    lines = text.encode("utf-8").split(b"\n")
    lines.insert(line - 1, "# caf\u00e9 au lait".encode("latin-1"))
    return b"\n".join(lines)


def test_latin1_byte_in_the_catalog_names_file_and_line(tmp_path):
    catalog = tmp_path / "services.yaml"
    catalog.write_bytes(_latin1_comment((PROJECT_DIR / "services.yaml").read_text(), 7))
    proc = subprocess.run(
        [sys.executable, "-m", "boutique", "render", "--stack", "dev", "--out", str(tmp_path / "o"),
         "--catalog", str(catalog)],
        cwd=PROJECT_DIR, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "services.yaml: line 7: not UTF-8" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_latin1_byte_in_a_stack_file_names_file_and_line(tmp_path):
    from boutique.inputs.errors import SettingsError
    from boutique.inputs.stackconfig import read_stack_config

    (tmp_path / "Pulumi.yaml").write_bytes((PROJECT_DIR / "Pulumi.yaml").read_bytes())
    (tmp_path / "Pulumi.dev.yaml").write_bytes(_latin1_comment((PROJECT_DIR / "Pulumi.dev.yaml").read_text(), 3))
    with pytest.raises(SettingsError, match=r"^Pulumi\.dev\.yaml: line 3: not UTF-8 .*byte 0xe9"):
        read_stack_config(tmp_path, "dev")


def test_a_control_character_names_file_and_line(tmp_path):
    """Found by tests/test_input_properties.py: YAML's reader error has no line of its own."""
    from boutique.inputs.catalog import load_catalog
    from boutique.inputs.errors import CatalogError

    lines = (PROJECT_DIR / "services.yaml").read_text().split("\n")
    lines[4] = "\x00" + lines[4]
    path = tmp_path / "services.yaml"
    path.write_text("\n".join(lines))
    with pytest.raises(CatalogError, match=r"^services\.yaml: line 5: invalid YAML: character U\+0000 is not allowed"):
        load_catalog(path)
