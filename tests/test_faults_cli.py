"""The CLI meets a database that is not there: one line naming it, a non-zero exit, no
traceback (issue 16). Run as a user runs it — a separate process — so what is printed and the
exit status are the real ones."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from geogrid.cli import EXIT_DATABASE_UNAVAILABLE
from geogrid.settings import PROJECT_ROOT


def _closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "args", [["db", "migrate"], ["issues", "check-tags"]], ids=["alembic", "engine"]
)
def test_cli_says_database_unreachable_and_exits_non_zero(args: list[str]) -> None:
    port = _closed_port()
    env = os.environ | {
        "GEOGRID_DATABASE_URL": f"postgresql://geogrid:secret@127.0.0.1:{port}/nowhere",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "geogrid.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == EXIT_DATABASE_UNAVAILABLE, done.stderr
    assert f"database unreachable at 127.0.0.1:{port} (connection refused)" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "secret" not in done.stderr + done.stdout
