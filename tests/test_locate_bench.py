"""bench/locate.py runs end to end with tiny sizes (no timing assertions; needs ``wrk``,
which scripts/provision.sh installs for tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

from geogrid.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs(demo: Engine, settings: Settings) -> None:
    env = {**os.environ, "GEOGRID_TEST_DATABASE_URL": settings.database_url}
    env.pop("GEOGRID_DATABASE_URL", None)
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "locate.py"),
            *("--points", "2000", "--urls", "50", "--duration", "1", "--rounds", "1"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "GET /locate" in result.stdout and "raw STRtree" in result.stdout
    assert "/locate p50 / bare async p50" in result.stdout
    assert "/locate rps / bare async rps" in result.stdout
