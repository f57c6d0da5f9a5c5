"""Benchmark of locate on the demo district: HTTP lookups and bulk points.

(a) GET /locate (lon/lat) with N concurrent clients against uvicorn in a subprocess, next to a
    bare FastAPI endpoint returning a constant (same app, same server; a ``def`` one, which runs
    in the thread pool like the live /locate path, and an ``async def`` one), in interleaved
    rounds; once through the declared endpoint's SQLAlchemy-session path; and next to the same
    lookup as one SQL query (ST_Covers) from psycopg on warm connections.
(b) Bulk locate of random points over the district's bounding box through
    ``geogrid.locate.batch.locate_points``, next to raw ``STRtree.query(points,
    predicate="intersects")`` and ``geopandas.sjoin``.

Reads GEOGRID_DATABASE_URL, else GEOGRID_TEST_DATABASE_URL. Prints figures and ratios; asserts
nothing (the machine decides the numbers).

    .venv/bin/python bench/locate.py              # 1 000 000 points, 6 rounds of 2 000 requests
    .venv/bin/python bench/locate.py --points 2000 --requests 50
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
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

    # The baselines: trivial endpoints returning a constant. The sync one runs in the thread
    # pool, as the live /locate path does (like with like); the async one is shown too.
    @app.get("/__bench/constant", include_in_schema=False)
    def constant() -> dict[str, str]:
        return {"answer": "constant"}

    @app.get("/__bench/constant-async", include_in_schema=False)
    async def constant_async() -> dict[str, str]:
        return {"answer": "constant"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    env = {**os.environ, "GEOGRID_DATABASE_URL": database_url()}
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/__bench/constant", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("the benchmark server did not start")


# -- measuring -------------------------------------------------------------------------------


def run_concurrent(
    clients: int, per_client: int, make_worker: Callable[[], Callable[[int], None]]
) -> tuple[float, list[float]]:
    """Run ``per_client`` calls in each of ``clients`` threads; (wall seconds, latencies)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    workers = [make_worker() for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def run(k: int) -> None:
        call = workers[k]
        barrier.wait()
        for i in range(per_client):
            t = time.perf_counter()
            call(k * per_client + i)
            latencies[k].append(time.perf_counter() - t)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - started, [x for lat in latencies for x in lat]


def summary(name: str, wall: float, lat: list[float], cpu: float | None = None) -> dict[str, float]:
    lat_ms = sorted(x * 1000 for x in lat)
    p50 = statistics.median(lat_ms)
    p99 = lat_ms[min(len(lat_ms) - 1, int(len(lat_ms) * 0.99))]
    rps = len(lat_ms) / wall
    out = {"rps": rps, "p50": p50, "p99": p99}
    line = f"  {name:<42} {rps:>6.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
    if cpu is not None:
        out["cpu_us"] = cpu / len(lat_ms) * 1e6
        line += f"   server CPU {out['cpu_us']:5.0f} us/req"
    print(line)
    return out


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc; None elsewhere). Less
    sensitive than latency to other load on a shared machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(
    pid: int, clients: int, per_client: int, make_worker: Callable[[], Callable[[int], None]]
) -> tuple[float, list[float], float | None]:
    """:func:`run_concurrent`, plus the server's CPU seconds spent meanwhile."""
    before = process_cpu(pid)
    wall, latencies = run_concurrent(clients, per_client, make_worker)
    after = process_cpu(pid)
    return wall, latencies, None if before is None or after is None else after - before


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


def bench_http(requests: int, clients: int, rounds: int) -> None:
    import httpx
    import psycopg

    print(
        f"(a) HTTP, {clients} concurrent clients, {requests} requests per endpoint and round, "
        f"{rounds} rounds (endpoints interleaved, so load from elsewhere hits them alike)"
    )
    # Points inside grids, so every /locate answers 200 with a full signboard.
    x, y, index = sample_points(requests * 4, seed=2)
    inside = index.deepest_many(len(x), *index.covering_pairs(x, y, use_cells=False)) >= 0  # type: ignore[attr-defined]
    x, y = x[inside][:requests], y[inside][:requests]
    per_client = max(1, len(x) // clients)
    proc, base = start_server()
    try:

        def http_worker(path: Callable[[int], str]) -> Callable[[], Callable[[int], None]]:
            def make() -> Callable[[int], None]:
                client = httpx.Client(base_url=base, timeout=30)

                def call(i: int) -> None:
                    r = client.get(path(i))
                    if r.status_code != 200:
                        raise RuntimeError(f"{r.status_code} {r.text[:200]}")

                return call

            return make

        def locate_path(i: int) -> str:
            return f"/locate?lon={x[i % len(x)]:.7f}&lat={y[i % len(y)]:.7f}"

        def session_path(i: int) -> str:
            # A parameter the live path does not know sends the request to the declared
            # endpoint: the SQLAlchemy-session path every lookup took before.
            return locate_path(i) + "&via=session"

        endpoints = {
            "bare": ("bare FastAPI constant endpoint (def)", lambda i: "/__bench/constant"),
            "bare_async": (
                "bare FastAPI constant endpoint (async)",
                lambda i: "/__bench/constant-async",
            ),
            "locate": ("GET /locate (live: probe + memory)", locate_path),
        }
        # Warm up: index, signboards, rendered answers, probe connections, thread pool.
        for _, path in endpoints.values():
            run_concurrent(clients, 20, http_worker(path))
        run_concurrent(clients, 5, http_worker(session_path))
        results: dict[str, list[dict[str, float]]] = {key: [] for key in endpoints}
        for number in range(1, rounds + 1):
            print(f"  round {number}")
            for key, (label, path) in endpoints.items():
                results[key].append(
                    summary(label, *measured(proc.pid, clients, per_client, http_worker(path)))
                )
            print(
                f"    round ratio: /locate p50 / bare p50 = "
                f"{results['locate'][-1]['p50'] / results['bare'][-1]['p50']:.2f}x"
            )
        print("  once, for comparison")
        session = summary(
            "GET /locate (declared endpoint, session)",
            *measured(proc.pid, clients, max(1, per_client // 4), http_worker(session_path)),
        )
    finally:
        proc.terminate()
        proc.wait(10)

    conninfo = database_url().replace("postgresql+psycopg://", "postgresql://")
    query = (
        "SELECT g.id, g.code, g.level, g.kind, gv.version, gv.name, gv.area_m2 FROM grids g "
        "JOIN grid_versions gv ON gv.grid_id = g.id AND gv.valid_to IS NULL "
        "WHERE g.district_adcode = %s AND g.retired_at IS NULL "
        "AND ST_Covers(gv.geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) ORDER BY g.code"
    )

    def sql_worker() -> Callable[[int], None]:
        conn = psycopg.connect(conninfo, autocommit=True)
        conn.execute(query, (DISTRICT, float(x[0]), float(y[0]))).fetchall()  # warm, prepared

        def call(i: int) -> None:
            conn.execute(query, (DISTRICT, float(x[i % len(x)]), float(y[i % len(y)]))).fetchall()

        return call

    sql = summary("one SQL query (psycopg, warm)", *run_concurrent(clients, per_client, sql_worker))

    def median(key: str, field: str) -> float:
        return statistics.median(r[field] for r in results[key])

    pairs = zip(results["locate"], results["bare"], strict=True)
    ratios = [loc["p50"] / bare["p50"] for loc, bare in pairs]
    print(
        f"  ratios: /locate p50 / bare p50 = {statistics.median(ratios):.2f}x median of rounds "
        f"({', '.join(f'{r:.2f}' for r in ratios)}; target <= 1.5x); "
        f"vs the async bare endpoint {median('locate', 'p50') / median('bare_async', 'p50'):.2f}x; "
        f"/locate rps / bare rps = {median('locate', 'rps') / median('bare', 'rps'):.2f}; "
        f"/locate p50 / SQL p50 = {median('locate', 'p50') / sql['p50']:.2f}x; "
        f"session path p50 / bare p50 = {session['p50'] / median('bare', 'p50'):.2f}x"
    )
    if "cpu_us" in session and all("cpu_us" in r for r in results["locate"] + results["bare"]):
        print(
            f"  server CPU per request (median of rounds): bare {median('bare', 'cpu_us'):.0f} us, "
            f"async bare {median('bare_async', 'cpu_us'):.0f} us, "
            f"/locate {median('locate', 'cpu_us'):.0f} us "
            f"({median('locate', 'cpu_us') / median('bare', 'cpu_us'):.2f}x bare), "
            f"session path {session['cpu_us']:.0f} us (PostgreSQL's share not included)"
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
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    print(f"geogrid locate benchmark, district {DISTRICT}")
    bench_http(args.requests, args.clients, args.rounds)
    bench_bulk(args.points)


if __name__ == "__main__":
    main()
