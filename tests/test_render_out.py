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
