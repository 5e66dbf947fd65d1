"""A throw-away PostgreSQL server for tests, from Debian's postgresql package binaries."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def require_postgres() -> None:
    """Skip the calling test when PostgreSQL is not installed; in CI (CI=true), where
    .ci/run installs it, fail instead: a missing server must not pass as a skip."""
    if pg_bin_dir() is not None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("PostgreSQL binaries missing in CI: .ci/run must install postgresql")
    pytest.skip("PostgreSQL not installed (apt-get install -y postgresql)")


def pg_bin_dir() -> Path | None:
    """Directory holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root: run the server as the postgres user then.
    if os.geteuid() == 0:
        return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(cmd)]
    return cmd


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server on a free loopback port; yield its ibis URL; stop and delete it."""
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL binaries not found")
    root = Path(tempfile.mkdtemp(prefix="cx-pg-"))
    data = root / "data"
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-A", "trust", "-U", user, "-D", str(data)]),
        check=True, capture_output=True,
    )
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {root}"
    subprocess.run(
        _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
                      "-o", f"'{opts}'", "-w", "start"]),
        check=True, capture_output=True,
    )
    try:
        _wait_for(port)
        yield f"postgres://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def _wait_for(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL did not start on port {port}")
