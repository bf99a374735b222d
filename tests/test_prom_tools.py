"""`make prom-tools`: promtool and amtool land in the project's own folder, taken out of the
Debian/Ubuntu packages without installing them (installing starts Prometheus and Alertmanager as
services on a systemd host). apt-get, sudo, dpkg-deb and id are stand-ins that record each call."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from boutique.program import PROJECT_DIR

SCRIPT = PROJECT_DIR / "tools" / "prom_tools.sh"

# A package as the stand-in dpkg-deb unpacks it: its binary and the service a real install would start.
FAKES = {
    "apt-get": """
echo "apt-get $*" >> "$CALLS"
case " $* " in
  *" download "*) for p in prometheus prometheus-alertmanager; do echo "$p" > "${p}_1.0_amd64.deb"; done ;;
  *" update "*) ;;
  *) exit 3 ;;
esac
""",
    "dpkg-deb": """
echo "dpkg-deb $*" >> "$CALLS"
[ "$1" = -x ] || exit 3
mkdir -p "$3/usr/bin" "$3/lib/systemd/system"
case "$(cat "$2")" in
  prometheus) bins="prometheus promtool" ;;
  prometheus-alertmanager) bins="prometheus-alertmanager amtool" ;;
esac
for b in $bins; do printf '#!/bin/sh\\necho %s\\n' "$b" > "$3/usr/bin/$b"; chmod 755 "$3/usr/bin/$b"; done
touch "$3/lib/systemd/system/$(cat "$2").service"
""",
    "sudo": 'echo "sudo $*" >> "$CALLS"\nexec "$@"\n',
    "id": 'echo "$FAKE_UID"\n',
}


def fake_bin(tmp_path: Path, with_sudo: bool = True) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, body in FAKES.items():
        if name == "sudo" and not with_sudo:
            continue
        path = folder / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return folder


def get_tools(tmp_path: Path, uid: int, with_sudo: bool = True) -> tuple[subprocess.CompletedProcess, Path, Path]:
    calls = tmp_path / "calls.log"
    calls.touch()
    dest = tmp_path / "project" / ".tools" / "bin"
    # Only the stand-ins and the shell's own basics: no real apt-get or sudo can be reached.
    path = f"{fake_bin(tmp_path, with_sudo)}:/usr/bin:/bin"
    env = {**os.environ, "PATH": path, "CALLS": str(calls), "FAKE_UID": str(uid)}
    if not with_sudo and Path("/usr/bin/sudo").exists():
        pytest.skip("sudo is installed in /usr/bin here: cannot hide it")
    done = subprocess.run(["bash", str(SCRIPT), str(dest)], env=env, capture_output=True, text=True, check=False)
    return done, dest, calls


@pytest.mark.parametrize("uid", [0, 1001])
def test_only_the_two_binaries_are_taken_and_nothing_is_installed(tmp_path, uid):
    done, dest, calls = get_tools(tmp_path, uid)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["amtool", "promtool"]
    for tool in ("promtool", "amtool"):
        assert os.access(dest / tool, os.X_OK)
        assert subprocess.run([dest / tool], capture_output=True, text=True, check=True).stdout.strip() == tool
    log = calls.read_text().splitlines()
    assert not [line for line in log if " install" in line], log  # no package is installed, no service set up
    sudo = "sudo " if uid else ""  # apt-get update needs root: sudo for a user, directly as root
    assert f"{sudo}apt-get update -qq" in log
    downloads = [line for line in log if " download " in line]
    assert len(downloads) == 1 and downloads[0].endswith("download -qq prometheus prometheus-alertmanager")
    assert not downloads[0].startswith("sudo")  # downloading needs no root
    # Nothing of the packages is left anywhere under the project (no service file, no daemon binary).
    assert not list((tmp_path / "project").rglob("*.service"))


def test_a_second_run_asks_apt_nothing(tmp_path):
    first, _, calls = get_tools(tmp_path, 1001)
    assert first.returncode == 0
    calls.write_text("")
    again = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "project" / ".tools" / "bin")], capture_output=True, text=True, check=False
    )
    assert again.returncode == 0 and calls.read_text() == ""


def test_a_user_without_sudo_gets_a_plain_message(tmp_path):
    done, dest, calls = get_tools(tmp_path, 1001, with_sudo=False)
    assert done.returncode == 1
    assert "apt-get update needs root" in done.stderr and "Traceback" not in done.stderr
    assert not dest.exists() and calls.read_text() == ""


def test_the_makefile_uses_the_project_local_tools():
    dry = subprocess.run(
        ["make", "-n", "-B", "prom-tools", "promcheck"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout
    assert "tools/prom_tools.sh .tools/bin" in dry
    assert "apt-get" not in dry  # only through the script, which never installs
    tool_calls = ("check rules", "test rules", "check-config")
    checks = [line for line in dry.splitlines() if any(c in line for c in tool_calls)]
    assert checks and all(".tools/bin/promtool" in line or ".tools/bin/amtool" in line for line in checks)
    assert ".tools/" in (PROJECT_DIR / ".gitignore").read_text().split()
