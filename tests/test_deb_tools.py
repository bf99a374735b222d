"""`make prom-tools` and `make redis-tools` (tools/deb_tools.sh): promtool, amtool, redis-server and
redis-cli land in the project's own folder, taken out of the Debian/Ubuntu packages without
installing them (installing starts Prometheus, Alertmanager or Redis as services on a systemd host).
apt-get, sudo, dpkg-deb, dpkg-query and id are stand-ins that record each call."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from boutique.program import PROJECT_DIR

SCRIPT = PROJECT_DIR / "tools" / "deb_tools.sh"

# What redis-tools declares (Ubuntu 24.04's, with an alternative): the stand-in machine has some.
REDIS_TOOLS_DEPENDS = (
    "adduser, libatomic1 (>= 4.8), libc6 (>= 2.34), libjemalloc2 (>= 3.5.0), liblzf1 (>= 1.5), "
    "libssl3t64 (>= 3.0.0) | libssl3, libsystemd0"
)

# A package as the stand-in dpkg-deb unpacks it: its files, and the service a real install would start.
# redis-tools' redis-check-rdb is the server under another name (it answers with the name it runs as,
# and with the loader path it gets, so a test sees the wrapper's).
FAKES = {
    "apt-get": """
echo "apt-get $*" >> "$CALLS"
case " $* " in
  *" download "*)
    for p in "$@"; do
      case "$p" in -*|download|APT::*) ;; *) echo "$p" > "${p}_1.0_amd64.deb" ;; esac
    done ;;
  *" update "*) ;;
  *) exit 3 ;;
esac
""",
    "dpkg-deb": f"""
echo "dpkg-deb $*" >> "$CALLS"
if [ "$1" = -f ] && [ "$3" = Depends ] && [ "$(cat "$2")" = redis-tools ]; then echo "{REDIS_TOOLS_DEPENDS}"; exit 0; fi
[ "$1" = -x ] || exit 3
mkdir -p "$3/usr/bin" "$3/lib/systemd/system" "$3/usr/lib/x86_64-linux-gnu"
bins= libs=
case "$(cat "$2")" in
  prometheus) bins="prometheus promtool" ;;
  prometheus-alertmanager) bins="prometheus-alertmanager amtool" ;;
  redis-tools) bins="redis-check-rdb redis-cli redis-benchmark" ;;
  libjemalloc2) libs="libjemalloc.so.2" ;;
  liblzf1) libs="liblzf.so.1.5" ; ln -sf liblzf.so.1.5 "$3/usr/lib/x86_64-linux-gnu/liblzf.so.1" ;;
  *) exit 4 ;;
esac
for b in $bins; do
  printf '#!/bin/sh\\necho "$(basename "$0") $LD_LIBRARY_PATH"\\n' > "$3/usr/bin/$b"; chmod 755 "$3/usr/bin/$b"
done
for l in $libs; do echo "$l" > "$3/usr/lib/x86_64-linux-gnu/$l"; done
touch "$3/lib/systemd/system/$(cat "$2").service"
""",
    "dpkg-query": """
echo "dpkg-query $*" >> "$CALLS"
for last; do :; done
for p in $FAKE_INSTALLED; do
  [ "$p" = "$last" ] && { printf 'install ok installed'; exit 0; }
done
exit 1
""",
    "sudo": 'echo "sudo $*" >> "$CALLS"\nexec "$@"\n',
    "id": 'echo "$FAKE_UID"\n',
}
# The stand-in machine: a stock one, without redis' own libraries.
INSTALLED = "adduser libatomic1 libc6 libssl3 libsystemd0"


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


def get_tools(
    tmp_path: Path, uid: int, which: str = "prom", with_sudo: bool = True, installed: str = INSTALLED
) -> tuple[subprocess.CompletedProcess, Path, Path]:
    calls = tmp_path / "calls.log"
    calls.touch()
    dest = tmp_path / "project" / ".tools" / "bin"
    # Only the stand-ins and the shell's own basics: no real apt-get or sudo can be reached.
    path = f"{fake_bin(tmp_path, with_sudo)}:/usr/bin:/bin"
    env = {**os.environ, "PATH": path, "CALLS": str(calls), "FAKE_UID": str(uid), "FAKE_INSTALLED": installed}
    env.pop("LD_LIBRARY_PATH", None)
    if not with_sudo and Path("/usr/bin/sudo").exists():
        pytest.skip("sudo is installed in /usr/bin here: cannot hide it")
    done = subprocess.run(["bash", str(SCRIPT), which, str(dest)], env=env, capture_output=True, text=True, check=False)
    return done, dest, calls


def check_apt_calls(log: list[str], uid: int, *downloads: str) -> None:
    assert not [line for line in log if " install" in line], log  # no package is installed, no service set up
    sudo = "sudo " if uid else ""  # apt-get update needs root: sudo for a user, directly as root
    assert f"{sudo}apt-get update -qq" in log
    done = [line for line in log if " download " in line]
    assert [line.partition("download -qq ")[2] for line in done] == list(downloads)
    assert not [line for line in done if line.startswith("sudo")]  # downloading needs no root


@pytest.mark.parametrize("uid", [0, 1001])
def test_only_the_two_binaries_are_taken_and_nothing_is_installed(tmp_path, uid):
    done, dest, calls = get_tools(tmp_path, uid)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["amtool", "promtool"]
    for tool in ("promtool", "amtool"):
        assert os.access(dest / tool, os.X_OK)
        assert subprocess.run([dest / tool], capture_output=True, text=True, check=True).stdout.split() == [tool]
    check_apt_calls(calls.read_text().splitlines(), uid, "prometheus prometheus-alertmanager")
    # Nothing of the packages is left anywhere under the project (no service file, no daemon binary).
    assert not list((tmp_path / "project").rglob("*.service"))


@pytest.mark.parametrize("uid", [0, 1001])
def test_redis_comes_from_redis_tools_with_only_the_libraries_the_machine_lacks(tmp_path, uid):
    done, dest, calls = get_tools(tmp_path, uid, "redis")
    assert done.returncode == 0, done.stdout + done.stderr
    tools = tmp_path / "project" / ".tools"
    assert sorted(p.name for p in dest.iterdir()) == ["redis-cli", "redis-server"]
    # The server package (a symlink and the service) is never fetched; of the libraries, only what
    # the machine has no package of (libssl3 stands for libssl3t64: either will do).
    check_apt_calls(calls.read_text().splitlines(), uid, "redis-tools", "libjemalloc2 liblzf1")
    assert sorted(p.name for p in (tools / "lib").iterdir()) == ["libjemalloc.so.2", "liblzf.so.1", "liblzf.so.1.5"]
    assert (tools / "lib" / "liblzf.so.1").is_symlink()
    for tool in ("redis-server", "redis-cli"):
        ran = subprocess.run([dest / tool, "--version"], capture_output=True, text=True, check=True).stdout.split()
        # The server runs under its own name (the binary is redis-check-rdb), with the libraries found.
        assert ran == [tool, str(tools.resolve() / "lib")]
    assert not list((tmp_path / "project").rglob("*.service"))
    assert not list((tmp_path / "project").rglob("redis-benchmark"))


def test_a_machine_with_every_library_fetches_only_redis_tools(tmp_path):
    done, _, calls = get_tools(tmp_path, 1001, "redis", installed=f"{INSTALLED} libjemalloc2 liblzf1")
    assert done.returncode == 0, done.stdout + done.stderr
    check_apt_calls(calls.read_text().splitlines(), 1001, "redis-tools")
    assert list((tmp_path / "project" / ".tools" / "lib").iterdir()) == []


@pytest.mark.parametrize("which", ["prom", "redis"])
def test_a_second_run_asks_apt_nothing(tmp_path, which):
    first, dest, calls = get_tools(tmp_path, 1001, which)
    assert first.returncode == 0
    calls.write_text("")
    again = subprocess.run(["bash", str(SCRIPT), which, str(dest)], capture_output=True, text=True, check=False)
    assert again.returncode == 0 and calls.read_text() == ""


@pytest.mark.parametrize("which", ["prom", "redis"])
def test_a_user_without_sudo_gets_a_plain_message(tmp_path, which):
    done, dest, calls = get_tools(tmp_path, 1001, which, with_sudo=False)
    assert done.returncode == 1
    assert "apt-get update needs root" in done.stderr and f"make {which}-tools" in done.stderr
    assert "Traceback" not in done.stderr
    assert not dest.exists() and calls.read_text() == ""


def test_an_unknown_set_is_refused_with_the_usage(tmp_path):
    done, dest, calls = get_tools(tmp_path, 1001, "postgres")
    assert done.returncode == 2 and done.stderr.startswith("usage: tools/deb_tools.sh prom|redis DIR")
    assert not dest.exists() and calls.read_text() == ""


def test_the_makefile_uses_the_project_local_tools():
    dry = subprocess.run(
        ["make", "-n", "-B", "prom-tools", "redis-tools", "promcheck"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "tools/deb_tools.sh prom .tools/bin" in dry and "tools/deb_tools.sh redis .tools/bin" in dry
    assert "apt-get" not in dry  # only through the script, which never installs
    tool_calls = ("check rules", "test rules", "check-config")
    checks = [line for line in dry.splitlines() if any(c in line for c in tool_calls)]
    assert checks and all(".tools/bin/promtool" in line or ".tools/bin/amtool" in line for line in checks)
    assert ".tools/" in (PROJECT_DIR / ".gitignore").read_text().split()
