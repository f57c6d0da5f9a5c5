"""Benchmark of ``/analysis/*`` and ``/maps/*`` at one district (the demo), warm.

Two parts, in one run:

(a) Over HTTP, as production serves it: uvicorn in a subprocess (one worker, access log off),
    driven by ``wrk`` (one connection: latency, not throughput; a Python client costs more
    than the answers it times and would hide the ratio), rounds interleaved so that load from
    elsewhere on the machine hits every figure alike. For each route:

    * ``warm p50``: repeated requests as the admin (the login check, the ETag probe and the
      kept answer); every answer checked 200;
    * ``304 p50``: the same with ``If-None-Match``; every answer checked 304;
    * ``bare p50``: an endpoint of the same server whose only work is the bare PostGIS read
      of the stored result the route is drawn from (the rows of its stores, fetched whole on
      one pooled connection), answering a constant; and the ratio warm / bare.

(b) In process, the app (its lifespan and answer cache) through its test client:

    * ``first``: the first request (stores current, the answer drawn and kept);
    * ``304 SQL``: the statements a conditional request ran (the login check, the caller's
      reach, the ETag probe: a 304 that recomputed anything would run more);
    * ``changed p50``: the first request after a new issue was committed, ``--changes`` times
      (a write moves the issue revision: the answer is drawn again from the stores, territory
      is not recomputed), against the in-process bare read.

Reads GEOGRID_DATABASE_URL, else GEOGRID_TEST_DATABASE_URL. Logs in with the test suite's
admin (``tests/logins.py``: ``test-admin``, a fresh token). The new issues are deleted again at
the end. Prints figures; asserts nothing (the machine decides the numbers). The 107-district
figures of the acceptance come from the province benchmark: everything here is keyed by adcode.

    .venv/bin/python bench/analysis.py                       # 3 rounds of 3 s per figure
    .venv/bin/python bench/analysis.py --rounds 1 --duration 1 --changes 2
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from fastapi import Request  # noqa: E402
from locate import database_url, run_wrk, start_server  # noqa: E402
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


# -- (a) over HTTP -----------------------------------------------------------------------------


def serve(port: int) -> None:
    """The app as production runs it, plus ``/__bench/bare/{store}``: the bare reads, as bare
    routes first in the routing table (no login check, no route scan: the strictest
    yardstick)."""
    import uvicorn
    from fastapi.routing import APIRoute

    app = create_app(Settings(database_url=database_url(), locate_live=False))

    def bare(store: str, request: Request) -> dict[str, int]:
        rows = 0
        with request.app.state.engine.connect() as conn:
            for sql in BARE[store]:
                rows += len(conn.execute(text(sql), {"d": DISTRICT}).all())
        return {"rows": rows}

    app.router.routes[:0] = [APIRoute("/__bench/bare/{store}", bare, include_in_schema=False)]
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# One path, fixed headers, every answer's status checked against the expected one (a warm
# figure made of 401s or a 304 figure made of 200s would be worthless): wrk runs the request
# and response functions in its thread's Lua state, so done() collects the counts from there.
_LUA = """
wrk.headers = {%(headers)s}
local path = "%(path)s"
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function() expected, unexpected = 0, 0 end
request = function() return wrk.format("GET", path) end
response = function(status, headers, body)
  if status == %(status)d then expected = expected + 1 else unexpected = unexpected + 1 end
end
done = function(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("unexpected") end
  local e = summary.errors
  io.write(string.format(
    "BENCH p50_us=%%.0f p99_us=%%.0f requests=%%d duration_us=%%d errors=%%d\\n",
    latency:percentile(50), latency:percentile(99), summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout + bad))
end
"""


def lua(path: str, headers: dict[str, str], status: int) -> str:
    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    pairs = ", ".join(f"[{quoted(k)}] = {quoted(v)}" for k, v in headers.items())
    return _LUA % {"headers": pairs, "path": path, "status": status}


def bench_http(login: dict[str, str], rounds: int, duration: int) -> dict[str, dict[str, float]]:
    """Warm, 304 and bare p50 in ms (medians over the rounds) and the answer sizes."""
    import httpx

    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not installed: apt-get install -y wrk (Debian), then run again.")
    proc, base = start_server(__file__, "/__bench/bare/grids")
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            httpx.Client(base_url=base, headers=login, timeout=120) as client,
        ):
            scripts: dict[tuple[str, str], Path] = {}
            size: dict[str, int] = {}
            for path, _ in ROUTES:
                answer = client.get(path)  # drawn once in this server, then kept
                if answer.status_code != 200:
                    raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
                size[path] = len(answer.content)
                conditional = {**login, "If-None-Match": answer.headers["etag"]}
                for kind, headers, status in (("warm", login, 200), ("304", conditional, 304)):
                    scripts[(path, kind)] = Path(tmp) / f"{len(scripts)}.lua"
                    scripts[(path, kind)].write_text(lua(path, headers, status))
            for store in BARE:
                scripts[(store, "bare")] = Path(tmp) / f"{len(scripts)}.lua"
                scripts[(store, "bare")].write_text(lua(f"/__bench/bare/{store}", {}, 200))
            for script in scripts.values():  # warm-up: pools, plans, kept answers
                run_wrk(wrk, base, script, connections=1, duration=1, pid=proc.pid)
            runs: dict[tuple[str, str], list[float]] = {key: [] for key in scripts}
            for number in range(1, rounds + 1):
                print(f"  round {number} of {rounds}", flush=True)
                for key, script in scripts.items():
                    r = run_wrk(wrk, base, script, connections=1, duration=duration, pid=proc.pid)
                    runs[key].append(r["p50"])
    finally:
        proc.terminate()
        proc.wait(10)
    out: dict[str, dict[str, float]] = {}
    for path, store in ROUTES:
        out[path] = {
            "warm": statistics.median(runs[(path, "warm")]),
            "304": statistics.median(runs[(path, "304")]),
            "bare": statistics.median(runs[(store, "bare")]),
            "bytes": size[path],
        }
    return out


# -- (b) in process ----------------------------------------------------------------------------


def bench_in_process(
    changes: int, repeat: int
) -> tuple[dict[str, str], dict[str, dict[str, float]]]:
    """The admin's login headers (for part a) and, per route: the first request, the
    statements of a 304 and the first request after a write, in seconds."""
    from fastapi.testclient import TestClient

    from tests.logins import ensure_test_logins

    app = create_app(Settings(database_url=database_url(), locate_live=False))
    out: dict[str, dict[str, float]] = {path: {} for path, _ in ROUTES}
    with TestClient(app) as client:
        engine = app.state.engine
        login = ensure_test_logins(engine)["admin"].headers
        client.headers.update(login)

        def bare(store: str) -> None:
            with engine.connect() as conn:
                for sql in BARE[store]:
                    conn.execute(text(sql), {"d": DISTRICT}).all()

        for path, _ in ROUTES:
            t = time.perf_counter()
            assert client.get(path).status_code == 200, path
            out[path]["first"] = time.perf_counter() - t
        statements = [0]

        @event.listens_for(engine, "before_cursor_execute")
        def count(*_: object) -> None:
            statements[0] += 1

        for path, store in ROUTES:
            etag = client.get(path).headers["etag"]
            statements[0] = 0
            assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
            out[path]["304_sql"] = statements[0]
            out[path]["bare"] = _p50(lambda s=store: bare(s), repeat)
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

        try:
            for path, _ in ROUTES:
                times = []
                for _ in range(changes):
                    change()
                    t = time.perf_counter()
                    assert client.get(path).status_code == 200, path
                    times.append(time.perf_counter() - t)
                out[path]["changed"] = statistics.median(times)
        finally:
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM issues WHERE id = ANY(:i)"), {"i": issues})
    return dict(login), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="wrk rounds (interleaved)")
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--changes", type=int, default=5, help="new issues per route")
    parser.add_argument("--repeat", type=int, default=20, help="in-process bare reads")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    print(f"district {DISTRICT}", flush=True)
    print(f"(b) in process: first request, 304 statements, {args.changes} changes per route")
    login, inproc = bench_in_process(args.changes, args.repeat)
    print(
        f"(a) HTTP: wrk, 1 connection, {args.duration} s per figure and round, "
        f"{args.rounds} rounds interleaved"
    )
    http = bench_http(login, args.rounds, args.duration)
    print("milliseconds; warm/bare is the acceptance ratio (<= 2x, and warm <= 300 ms)")
    print(
        f"{'route':<72} {'bytes':>9} {'warm p50':>9} {'304 p50':>8} {'bare p50':>9} "
        f"{'warm/bare':>9} {'first':>8} {'304 SQL':>7} {'changed':>8} {'chg/bare':>8}"
    )
    for path, _ in ROUTES:
        h, b = http[path], inproc[path]
        print(
            f"{path:<72} {h['bytes']:9.0f} {h['warm']:9.2f} {h['304']:8.2f} {h['bare']:9.2f} "
            f"{h['warm'] / h['bare']:8.2f}x {b['first'] * 1000:8.0f} {b['304_sql']:7.0f} "
            f"{b['changed'] * 1000:8.0f} {b['changed'] / b['bare']:7.1f}x"
        )
    worst = max(http[p]["warm"] / http[p]["bare"] for p, _ in ROUTES)
    slowest = max(http[p]["warm"] for p, _ in ROUTES)
    print(
        f"worst warm/bare {worst:.2f}x (target <= 2x), slowest warm p50 {slowest:.1f} ms (<= 300)"
    )


if __name__ == "__main__":
    main()
