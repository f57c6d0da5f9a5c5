"""Benchmark of ``/analysis/*`` and ``/maps/*`` at one district (the demo), warm.

For each route, in one run against the real app (its lifespan, its answer cache) in process:

* ``first``: the first request (stores current, the answer drawn and kept);
* ``warm p50``: repeated requests (the ETag probe and the kept answer);
* ``304 p50``: repeated requests with ``If-None-Match`` (the ETag probe only: nothing computed);
* ``304 SQL``: the statements a conditional request ran (the ETag probe is one: a 304 that
  recomputed anything would run more);
* ``changed p50``: the first request after a new issue was committed, ``--changes`` times (a
  write moves the issue revision: the answer is drawn again from the stores, territory is not
  recomputed);
* ``bare p50``: the bare PostGIS read of the stored result the route is drawn from (the rows
  of its stores, in one round trip), and the ratios warm / bare and changed / bare.

Reads GEOGRID_DATABASE_URL, else GEOGRID_TEST_DATABASE_URL. The new issue is deleted again at
the end. Prints figures; asserts nothing (the machine decides the numbers). The 107-district
figures of the acceptance come from the province benchmark: everything here is keyed by adcode.

    .venv/bin/python bench/analysis.py --repeat 20 --changes 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from api.main import create_app  # noqa: E402
from geogrid.settings import Settings  # noqa: E402

DISTRICT = "610503"
_DISPLAY = "SELECT grid_id, display FROM analysis_grid_display WHERE district_adcode = :d"
_COUNTS = (
    "SELECT c.grid_id, sum(c.n) FROM issue_grid_day_counts c JOIN grids g ON g.id = c.grid_id "
    "WHERE g.district_adcode = :d GROUP BY c.grid_id"
)
BARE = {
    "gaps": [
        "SELECT * FROM analysis_territory_gaps WHERE district_adcode = :d",
        _DISPLAY,
        "SELECT a.* FROM grid_activity a JOIN grids g ON g.id = a.grid_id "
        "WHERE g.district_adcode = :d",
        "SELECT row FROM analysis_misplaced WHERE district_adcode = :d",
    ],
    "rates": [_DISPLAY, _COUNTS],
    "hotspots": [_DISPLAY, _COUNTS],
    "grids": [_DISPLAY],
    "heatmap": ["SELECT ST_X(geom), ST_Y(geom) FROM issues WHERE district_adcode = :d"],
    "summary": [_COUNTS],
}
ROUTES = [
    ("/analysis/gaps", "gaps"),
    ("/analysis/rates?level=2", "rates"),
    ("/analysis/hotspots?level=2", "hotspots"),
    ("/analysis/grids", "grids"),
    ("/analysis/heatmap", "heatmap"),
    ("/analysis/summary?start=2025-01-01T00:00:00Z&end=2026-01-01T00:00:00Z", "summary"),
    ("/maps/gaps", "gaps"),
    ("/maps/rates", "rates"),
    ("/maps/hotspots", "hotspots"),
    ("/maps/grids", "grids"),
    ("/maps/heatmap", "heatmap"),
]


def _p50(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--changes", type=int, default=5, help="new issues per route")
    args = parser.parse_args()
    url = os.environ.get("GEOGRID_DATABASE_URL") or os.environ["GEOGRID_TEST_DATABASE_URL"]
    app = create_app(Settings(database_url=url, locate_live=False))
    with TestClient(app) as client:
        engine = app.state.engine
        # every analysis route needs a login since access control: the test admin's token
        from tests.logins import ensure_test_logins

        client.headers.update(ensure_test_logins(engine)["admin"].headers)

        def bare(store: str) -> None:
            with engine.connect() as conn:
                for sql in BARE[store]:
                    conn.execute(text(sql), {"d": DISTRICT}).all()

        first: dict[str, float] = {}
        for path, _ in ROUTES:
            t = time.perf_counter()
            assert client.get(path).status_code == 200, path
            first[path] = time.perf_counter() - t
        statements = [0]

        @event.listens_for(engine, "before_cursor_execute")
        def count(*_: object) -> None:
            statements[0] += 1

        rows = []
        for path, store in ROUTES:
            etag = client.get(path).headers["etag"]
            warm = _p50(lambda p=path: client.get(p), args.repeat)
            cond = _p50(
                lambda p=path, e=etag: client.get(p, headers={"If-None-Match": e}), args.repeat
            )
            statements[0] = 0
            assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
            cond_sql = statements[0]
            base = _p50(lambda s=store: bare(s), args.repeat)
            rows.append((path, warm, cond, cond_sql, base))
        issues: list[int] = []

        def change() -> None:
            with engine.begin() as conn:
                issues.append(
                    conn.execute(
                        text(
                            "INSERT INTO issues (district_adcode, category_id, description, "
                            "geom, reported_at) SELECT district_adcode, category_id, 'bench', "
                            "geom, reported_at FROM issues WHERE district_adcode = :d "
                            "ORDER BY id LIMIT 1 RETURNING id"
                        ),
                        {"d": DISTRICT},
                    ).scalar_one()
                )

        changed: dict[str, float] = {}
        try:
            for path, _ in ROUTES:
                times = []
                for _ in range(args.changes):
                    change()
                    t = time.perf_counter()
                    assert client.get(path).status_code == 200, path
                    times.append(time.perf_counter() - t)
                changed[path] = statistics.median(times)
        finally:
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM issues WHERE id = ANY(:i)"), {"i": issues})
    print(
        f"district {DISTRICT}, {args.repeat} requests per figure, {args.changes} changes per "
        "route, seconds"
    )
    print(
        f"{'route':<72} {'first':>7} {'warm p50':>9} {'304 p50':>8} {'304 SQL':>7} "
        f"{'changed p50':>11} {'bare p50':>9} {'warm/bare':>9} {'chg/bare':>8}"
    )
    for path, warm, cond, cond_sql, base in rows:
        print(
            f"{path:<72} {first[path]:7.3f} {warm:9.4f} {cond:8.4f} {cond_sql:7d} "
            f"{changed[path]:11.3f} {base:9.4f} {warm / base:9.2f} {changed[path] / base:8.1f}"
        )


if __name__ == "__main__":
    main()
