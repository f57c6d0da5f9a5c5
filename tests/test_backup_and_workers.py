"""Operations: ``geogrid db dump`` / ``geogrid db restore`` round-trip a database into one
cloned from the PostGIS template (same row counts, same grid geometries), and
``geogrid serve --workers 2`` keeps answering when a worker is killed, and replaces it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from geogrid.settings import Settings
from tests.scratch import creator_engine, database_env, on_database

ROOT = Path(__file__).resolve().parents[1]


def _geogrid(*args: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **database_env(settings)}
    return subprocess.run(
        [sys.executable, "-m", "geogrid.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _fingerprint(engine: Engine) -> dict[str, object]:
    """Row counts of every table, and the grid geometries, of a database."""
    with engine.connect() as conn:
        tables = conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'spatial_ref_sys' ORDER BY 1"
            )
        ).scalars()
        out: dict[str, object] = {
            t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables
        }
        out["grid geometries"] = conn.execute(
            text(
                "SELECT md5(string_agg(ST_AsEWKB(geom)::text, ',' ORDER BY id)) FROM grid_versions"
            )
        ).scalar_one()
    return out


@pytest.fixture
def clone(settings: Settings, demo: Engine) -> Iterator[Settings]:
    """An empty database cloned from the PostGIS template, dropped afterwards."""
    name = f"{make_url(settings.database_url).database}_restore"
    template = os.environ.get("GEOGRID_TEST_POSTGIS_TEMPLATE", "geogrid_template_postgis")
    admin = creator_engine(settings)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield on_database(settings, name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_dump_and_restore_round_trip(
    settings: Settings, demo: Engine, clone: Settings, tmp_path: Path
) -> None:
    dump = tmp_path / "geogrid.dump"
    done = _geogrid("db", "dump", str(dump), settings=settings)
    assert done.returncode == 0, done.stderr
    assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    done = _geogrid("db", "restore", str(dump), settings=clone)
    assert done.returncode == 0, done.stderr
    # read as the application role: the restore gave it its rights on the restored tables
    restored = create_engine(clone.database_url)
    try:
        original = _fingerprint(demo)
        assert original["grids"] and original["issues"]
        assert _fingerprint(restored) == original
    finally:
        restored.dispose()
    # restoring again over the restored database replaces it, it does not double it
    done = _geogrid("db", "restore", str(dump), settings=clone)
    assert done.returncode == 0, done.stderr
    restored = create_engine(clone.database_url)
    try:
        assert _fingerprint(restored) == _fingerprint(demo)
    finally:
        restored.dispose()


def test_restore_of_a_file_that_is_not_a_dump_says_so(settings: Settings, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a dump")
    done = _geogrid("db", "restore", str(bogus), settings=settings)
    assert done.returncode == 1
    assert "not a geogrid db dump file" in done.stderr


def _workers(supervisor: int) -> set[int]:
    """The worker processes uvicorn's supervisor started (spawned children)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == supervisor and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


def _wait(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_a_killed_worker_does_not_stop_the_service_and_is_replaced(settings: Settings) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, **database_env(settings)}
    server = subprocess.Popen(
        [sys.executable, "-m", "geogrid.cli", "serve", "--workers", "2", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert _wait(lambda: healthy() and len(_workers(server.pid)) == 2, 120)
        before = _workers(server.pid)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        # the next requests are answered (by the other worker, then by both)
        assert _wait(healthy, 10)
        assert all(healthy() for _ in range(10))
        # and the supervisor starts a replacement
        assert _wait(lambda: len(_workers(server.pid) - {victim}) == 2, 60), _workers(server.pid)
        assert healthy()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
