"""A real, throwaway PostgreSQL server for the registry tests.

Started once per test session on loopback with its own data folder; each test gets a fresh
database. PostgreSQL refuses to run as root, so under root the server runs as the ``postgres``
system user (which the Debian package creates). ``make setup`` installs the binaries when they
are missing (see the Makefile).
"""

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


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found: install the postgresql package (make setup does)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the admin URL (``postgresql+psycopg://…/postgres``) of a running server."""
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    folder = Path(tempfile.mkdtemp(prefix="hubcli-pg-"))
    data = folder / "data"
    if as_root:
        shutil.chown(folder, "postgres", "postgres")
    port = _free_port()
    subprocess.run(
        [*prefix, _binary("initdb"), "-D", str(data), "-U", "hubcli", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [
            *prefix,
            _binary("postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(folder),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("PostgreSQL did not start") from None
                time.sleep(0.1)
        time.sleep(0.2)
        yield f"postgresql+psycopg://hubcli@127.0.0.1:{port}/postgres"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def create_database(admin_url: str, name: str) -> str:
    """Create database ``name`` and return its URL."""
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
