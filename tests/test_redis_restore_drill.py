"""Restore drill against real redis-servers (Debian's; `make redis-tools` unpacks them into .tools):
carts written the way cartservice writes them, a snapshot taken from a replica with exactly the
CronJob's snapshot script, restored into a fresh master with exactly the runbook's restore script.

Every server runs on loopback on a free port, in a temporary directory, and is stopped at the end.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from boutique.program import PROJECT_DIR
from components.redis_backup import RESTORE_SCRIPT, SNAPSHOT_SCRIPT
from tests.conftest import project_tool
from tools import redis_restore_script

PASSWORD = "drill-password"
REDIS_SERVER, REDIS_CLI = project_tool("redis-server"), project_tool("redis-cli")
pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None or REDIS_CLI is None, reason="redis-server missing: run `make redis-tools`"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def cart_bytes(user_id: str, items: dict[str, int]) -> bytes:
    """hipstershop.Cart {user_id = 1; repeated CartItem items = 2}, CartItem {product_id = 1; quantity = 2}."""
    body = field(1, user_id.encode())
    for product, quantity in items.items():
        body += field(2, field(1, product.encode()) + varint(2 << 3) + varint(quantity))
    return body


class Server:
    def __init__(self, root: Path, name: str, *extra: str) -> None:
        self.port = free_port()
        self.dir = root / name
        self.dir.mkdir()
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
             "--requirepass", PASSWORD, "--masterauth", PASSWORD, "--save", "", "--appendonly", "no", *extra],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.wait(lambda: self.cli("ping") == b"PONG\n")

    def cli(self, *args: str, stdin: bytes | None = None) -> bytes:
        env = {**os.environ, "REDISCLI_AUTH": PASSWORD}
        result = subprocess.run(
            [REDIS_CLI, "-p", str(self.port), *args], env=env, input=stdin, capture_output=True, check=False
        )
        return result.stdout

    @staticmethod
    def wait(ready: object, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if ready():  # type: ignore[operator]
                return
            time.sleep(0.1)
        raise AssertionError("timed out")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def run(script: str, env: dict[str, str]) -> None:
    # The scripts call redis-cli and redis-server by name: the same ones as the drill's servers.
    tools = {str(Path(t).parent) for t in (REDIS_SERVER, REDIS_CLI) if t}
    path = os.pathsep.join([*sorted(tools), os.environ.get("PATH", "")])
    subprocess.run(["/bin/sh", "-c", script], env={**os.environ, **env, "PATH": path}, check=True, timeout=120)


def test_a_replica_snapshot_restores_every_cart(tmp_path: Path, servers: list[Server]) -> None:
    master = Server(tmp_path, "master")
    servers.append(master)
    replica = Server(tmp_path, "replica", "--replicaof", "127.0.0.1", str(master.port))
    servers.append(replica)
    carts = {f"user-{i:03d}": cart_bytes(f"user-{i:03d}", {"OLJCESPC7Z": i + 1, "66VCHSJNUP": 2}) for i in range(50)}
    for user, cart in carts.items():
        # HSET <userId> cart <bytes>, as RedisCartStore.AddItemAsync does; -x takes the value from stdin.
        assert master.cli("-x", "hset", user, "cart", stdin=cart) == b"1\n"
    master.cli("set", "cart", "OK")  # cartservice's connection test
    replica.wait(lambda: replica.cli("dbsize") == f"{len(carts) + 1}\n".encode())

    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD)
    snapshot = tmp_path / "backup" / "dump.rdb"
    snapshot.parent.mkdir()
    run(
        SNAPSHOT_SCRIPT,
        {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(replica.port), "REDIS_PASSWORD_FILE": str(password_file),
         "SNAPSHOT": str(snapshot)},
    )  # fmt: skip
    assert snapshot.stat().st_size > 0

    fresh = Server(tmp_path, "fresh")
    servers.append(fresh)
    assert fresh.cli("dbsize") == b"0\n"
    run(
        RESTORE_SCRIPT,
        {"SNAPSHOT": str(snapshot), "SCRATCH_PORT": str(free_port()), "TARGET_HOST": "127.0.0.1",
         "TARGET_PORT": str(fresh.port), "REDIS_PASSWORD_FILE": str(password_file)},
    )  # fmt: skip
    assert fresh.cli("dbsize") == f"{len(carts) + 1}\n".encode()
    for user, cart in carts.items():
        assert fresh.cli("--no-raw", "hgetall", user) == master.cli("--no-raw", "hgetall", user)
        assert fresh.cli("hget", user, "cart").removesuffix(b"\n") == cart


def test_the_runbook_copies_the_drills_restore_script_and_names_the_master_from_status():
    """The README's restore runs `RESTORE_SCRIPT` as printed by the tool, in the pod the operator
    reports as master (never a fixed pod name)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert redis_restore_script.main() == 0
    assert out.getvalue() == RESTORE_SCRIPT
    page = (PROJECT_DIR / "docs" / "operations" / "cart-store.md").read_text()
    restore = page[page.index("**Restore**") :]
    assert "venv/bin/python -m tools.redis_restore_script > restore.sh" in restore
    assert "jsonpath='{.status.masterNode}'" in restore and "redis-cart-0:" not in restore
    assert 'exec "$MASTER"' in restore and "sh /tmp/restore.sh" in restore
