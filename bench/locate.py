"""Benchmark of locate on the demo district: HTTP lookups and bulk points.

(a) GET /locate (lon/lat, random points inside grids) against uvicorn in a subprocess (one
    worker, access log off, as production runs it), next to a bare ``async def`` endpoint of
    the same app returning a constant, and a bare ``def`` one (thread pool), in interleaved
    rounds. The load comes from ``wrk``, a compiled load generator (Debian:
    ``apt-get install -y wrk``): a Python client saturates before the server does and
    compresses the ratios. Its ``--latency`` histogram gives p50/p99; a Lua script cycles
    through the points.
(b) Bulk locate of random points over the district's bounding box through
    ``geogrid.locate.batch.locate_points``, next to raw ``STRtree.query(points,
    predicate="intersects")`` and ``geopandas.sjoin``.

Reads GEOGRID_DATABASE_URL, else GEOGRID_TEST_DATABASE_URL. Prints figures and ratios (the
goal: /locate p50 <= 1.5x the bare async endpoint's, in the same run); asserts nothing (the
machine decides the numbers).

    .venv/bin/python bench/locate.py              # 1 000 000 points, 6 rounds of 5 s each
    .venv/bin/python bench/locate.py --points 2000 --duration 1 --rounds 1
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DISTRICT = "610503"


def database_url() -> str:
    url = os.environ.get("GEOGRID_DATABASE_URL") or os.environ.get("GEOGRID_TEST_DATABASE_URL")
    if not url:
        sys.exit(
            "Set GEOGRID_DATABASE_URL or GEOGRID_TEST_DATABASE_URL to a database with the demo."
        )
    return url


# -- the server subprocess -------------------------------------------------------------------


def serve(port: int) -> None:
    import uvicorn

    from api.main import create_app
    from geogrid.settings import Settings

    app = create_app(Settings(database_url=database_url()))

    # The baselines: trivial endpoints returning a constant, served by the same app. The
    # async one is the yardstick; the sync one (thread pool) is shown for context. Built as
    # bare routes, without the app router's dependencies (the login check opens a session):
    # /locate's hot path answers before routing and pays none either.
    from fastapi.routing import APIRoute

    def constant() -> dict[str, str]:
        return {"answer": "constant"}

    async def constant_async() -> dict[str, str]:
        return {"answer": "constant"}

    bare = [
        APIRoute("/__bench/constant", constant, include_in_schema=False),
        APIRoute("/__bench/constant-async", constant_async, include_in_schema=False),
    ]
    # First in the routing table, so the baseline pays no route scan: the strictest yardstick.
    app.router.routes[:0] = bare
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    script: str = __file__, probe: str = "/__bench/constant"
) -> tuple[subprocess.Popen[bytes], str]:
    """``script --serve PORT`` in a subprocess on a free port, once ``probe`` answers 200
    (``bench/analysis.py`` starts its own server through this too)."""
    import httpx

    port = free_port()
    # The benchmark is one client at full speed: the per-client rate limit is off.
    env = {**os.environ, "GEOGRID_DATABASE_URL": database_url(), "GEOGRID_RATE_LIMIT_PUBLIC": "0"}
    proc = subprocess.Popen([sys.executable, script, "--serve", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}{probe}", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("the benchmark server did not start")


# -- measuring -------------------------------------------------------------------------------

# Cycles through the paths (one list per wrk thread) and reports exact figures in microseconds
# from wrk's histogram, on one line the bench parses.
_LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH p50_us=%%.0f p99_us=%%.0f requests=%%d duration_us=%%d errors=%%d\\n",
    latency:percentile(50), latency:percentile(99), summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""
_RESULT = re.compile(
    r"BENCH p50_us=(\d+) p99_us=(\d+) requests=(\d+) duration_us=(\d+) errors=(\d+)"
)


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc; None elsewhere). Less
    sensitive than latency to other load on a shared machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    wrk: str, base: str, script: Path, *, connections: int, duration: int, pid: int
) -> dict[str, float]:
    """One wrk run (one thread: the server has the other core); p50/p99 in ms, req/s and the
    server's CPU microseconds per request."""
    before = process_cpu(pid)
    run = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
    )
    after = process_cpu(pid)
    out = run.stdout
    found = _RESULT.search(out)
    if found is None:
        raise RuntimeError(f"wrk printed no result line:\n{out}\n{run.stderr}")
    p50, p99, requests, duration_us, errors = (int(g) for g in found.groups())
    if errors:
        raise RuntimeError(f"{errors} of {requests} requests failed:\n{out}")
    result = {"p50": p50 / 1000, "p99": p99 / 1000, "rps": requests / (duration_us / 1e6)}
    if before is not None and after is not None and requests:
        result["cpu_us"] = (after - before) / requests * 1e6
    return result


def show(label: str, r: dict[str, float]) -> None:
    line = f"  {label:<42} {r['rps']:>6.0f} req/s   p50 {r['p50']:6.2f} ms   p99 {r['p99']:6.2f} ms"
    if "cpu_us" in r:
        line += f"   server CPU {r['cpu_us']:5.0f} us/req"
    print(line)


def sample_points(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, object]:
    """Random points over the district's bounding box, and the loaded index."""
    from sqlalchemy.orm import Session

    from geogrid.locate.index import load_grid_index
    from geogrid.settings import Settings
    from geogrid.storage.database import create_db_engine

    engine = create_db_engine(Settings(database_url=database_url()))
    with Session(engine) as session:
        index = load_grid_index(session, DISTRICT)
    engine.dispose()
    x0, y0, x1, y1 = index.bounds
    rng = np.random.default_rng(seed)
    return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n), index


def bench_http(urls: int, connections: int, rounds: int, duration: int) -> None:
    import httpx

    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not installed: apt-get install -y wrk (Debian), then run again.")
    print(
        f"(a) HTTP with wrk, {connections} connections, {duration:g} s per endpoint and round, "
        f"{rounds} rounds (endpoints interleaved, so load from elsewhere hits them alike)"
    )
    # Points inside grids, so every /locate answers 200 with a full signboard.
    x, y, index = sample_points(urls * 4, seed=2)
    inside = index.deepest_many(len(x), *index.covering_pairs(x, y, use_cells=False)) >= 0  # type: ignore[attr-defined]
    x, y = x[inside][:urls], y[inside][:urls]
    locate_paths = [f"/locate?lon={a:.7f}&lat={b:.7f}" for a, b in zip(x, y, strict=True)]
    endpoints = {
        "bare_async": ("bare FastAPI constant endpoint (async)", ["/__bench/constant-async"]),
        "bare": ("bare FastAPI constant endpoint (def)", ["/__bench/constant"]),
        "locate": ("GET /locate (live: probe + memory)", locate_paths),
    }
    proc, base = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            scripts = {}
            for key, (_, paths) in endpoints.items():
                scripts[key] = Path(tmp) / f"{key}.lua"
                scripts[key].write_text(_LUA % ", ".join(f'"{p}"' for p in paths))
            # Warm up: every answer rendered once (and checked), probe connections, pools.
            with httpx.Client(base_url=base, timeout=30) as client:
                for path in locate_paths:
                    r = client.get(path)
                    if r.status_code != 200:
                        raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")
            for key in endpoints:
                run_wrk(wrk, base, scripts[key], connections=connections, duration=1, pid=proc.pid)
            results: dict[str, list[dict[str, float]]] = {key: [] for key in endpoints}
            for number in range(1, rounds + 1):
                print(f"  round {number}")
                for key, (label, _) in endpoints.items():
                    r = run_wrk(
                        wrk,
                        base,
                        scripts[key],
                        connections=connections,
                        duration=duration,
                        pid=proc.pid,
                    )
                    results[key].append(r)
                    show(label, r)
                print(
                    f"    round ratio: /locate p50 / bare async p50 = "
                    f"{results['locate'][-1]['p50'] / results['bare_async'][-1]['p50']:.2f}x"
                )
    finally:
        proc.terminate()
        proc.wait(10)

    def median(key: str, field: str) -> float:
        return statistics.median(r[field] for r in results[key])

    pairs = list(zip(results["locate"], results["bare_async"], strict=True))
    p50_ratios = [loc["p50"] / bare["p50"] for loc, bare in pairs]
    rps_ratios = [loc["rps"] / bare["rps"] for loc, bare in pairs]
    p50_ratio = statistics.median(p50_ratios)
    print(
        f"  ratios: /locate p50 / bare async p50 = {p50_ratio:.2f}x median of rounds "
        f"({', '.join(f'{r:.2f}' for r in p50_ratios)}; target <= 1.5x: "
        f"{'met' if p50_ratio <= 1.5 else 'NOT met'}); "
        f"/locate rps / bare async rps = {statistics.median(rps_ratios):.2f} "
        f"({', '.join(f'{r:.2f}' for r in rps_ratios)}); "
        f"vs the bare def endpoint: p50 {median('locate', 'p50') / median('bare', 'p50'):.2f}x, "
        f"rps {median('locate', 'rps') / median('bare', 'rps'):.2f}"
    )
    if all("cpu_us" in r for rs in results.values() for r in rs):
        print(
            f"  server CPU per request (median of rounds): "
            f"bare async {median('bare_async', 'cpu_us'):.0f} us, "
            f"bare def {median('bare', 'cpu_us'):.0f} us, "
            f"/locate {median('locate', 'cpu_us'):.0f} us "
            f"({median('locate', 'cpu_us') / median('bare_async', 'cpu_us'):.2f}x bare async; "
            f"PostgreSQL's share not included)"
        )


def bench_bulk(n: int) -> None:
    import geopandas as gpd
    import shapely

    from geogrid.locate.batch import locate_points

    print(f"(b) bulk, {n} random points over the district's bounding box")
    x, y, index = sample_points(n, seed=3)
    t = time.perf_counter()
    index.cells()  # type: ignore[attr-defined]
    build = time.perf_counter() - t
    t = time.perf_counter()
    result = locate_points(index, x, y)  # type: ignore[arg-type]
    ours = time.perf_counter() - t
    t = time.perf_counter()
    points = shapely.points(x, y)
    make_points = time.perf_counter() - t
    tree = shapely.STRtree(index.geoms)  # type: ignore[attr-defined]
    t = time.perf_counter()
    raw_pairs = tree.query(points, predicate="intersects")
    raw = time.perf_counter() - t
    grids = gpd.GeoDataFrame({"code": index.code}, geometry=index.geoms, crs=4326)  # type: ignore[attr-defined]
    pts = gpd.GeoDataFrame(geometry=points, crs=4326)
    t = time.perf_counter()
    joined = gpd.sjoin(pts, grids, predicate="intersects")
    sjoin = time.perf_counter() - t
    assert len(raw_pairs[0]) == len(result.pair_point) == len(joined), "answers differ"
    print(f"  cell raster build (once per boundary revision)  {build:8.3f} s")
    print(
        f"  locate_points (lon/lat → pairs + deepest)        {ours:8.3f} s"
        f"  {n / ours:>12,.0f} pts/s"
    )
    print(
        f"  raw STRtree.query(points, 'intersects')          {raw:8.3f} s  {n / raw:>12,.0f} pts/s"
    )
    print(f"    + shapely.points() to make its input           {make_points:8.3f} s")
    print(
        f"  geopandas.sjoin(points, grids, 'intersects')     {sjoin:8.3f} s"
        f"  {n / sjoin:>12,.0f} pts/s"
    )
    print(
        f"  ratios: ours vs raw STRtree throughput = {raw / ours:.2f}x (target >= 0.9x); "
        f"incl. point creation {(raw + make_points) / ours:.2f}x; "
        f"ours incl. raster build {raw / (ours + build):.2f}x; vs sjoin {sjoin / ours:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="bulk points")
    parser.add_argument("--urls", type=int, default=2000, help="distinct /locate points")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    print(f"geogrid locate benchmark, district {DISTRICT}")
    bench_http(args.urls, args.connections, args.rounds, args.duration)
    bench_bulk(args.points)


if __name__ == "__main__":
    main()
