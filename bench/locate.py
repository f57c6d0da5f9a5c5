"""Benchmark of locate on the demo district: HTTP lookups and bulk points.

(a) GET /locate (lon/lat) with N concurrent clients against uvicorn in a subprocess, next to a
    bare FastAPI endpoint returning a constant (same app, same server) and next to the same
    lookup as one SQL query (ST_Covers) from psycopg on warm connections.
(b) Bulk locate of random points over the district's bounding box through
    ``geogrid.locate.batch.locate_points``, next to raw ``STRtree.query(points,
    predicate="intersects")`` and ``geopandas.sjoin``.

Reads GEOGRID_DATABASE_URL, else GEOGRID_TEST_DATABASE_URL. Prints figures and ratios; asserts
nothing (the machine decides the numbers).

    .venv/bin/python bench/locate.py                       # 1 000 000 points, 4 000 requests
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

    @app.get("/__bench/constant", include_in_schema=False)
    def constant() -> dict[str, str]:
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


def summary(name: str, wall: float, lat: list[float]) -> dict[str, float]:
    lat_ms = sorted(x * 1000 for x in lat)
    p50 = statistics.median(lat_ms)
    p99 = lat_ms[min(len(lat_ms) - 1, int(len(lat_ms) * 0.99))]
    rps = len(lat_ms) / wall
    print(f"  {name:<34} {rps:>9.0f} req/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    return {"rps": rps, "p50": p50, "p99": p99}


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


def bench_http(requests: int, clients: int) -> None:
    import httpx
    import psycopg

    print(f"(a) HTTP, {clients} concurrent clients, {requests} requests per endpoint")
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

        # Warm up: index, cells, pools, JIT-free but caches.
        run_concurrent(clients, 20, http_worker(locate_path))
        run_concurrent(clients, 20, http_worker(lambda i: "/__bench/constant"))
        bare = summary(
            "bare FastAPI constant endpoint",
            *run_concurrent(clients, per_client, http_worker(lambda i: "/__bench/constant")),
        )
        locate = summary(
            "GET /locate (index + signboard)",
            *run_concurrent(clients, per_client, http_worker(locate_path)),
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
    print(
        f"  ratios: /locate p50 / bare p50 = {locate['p50'] / bare['p50']:.2f}x (target <= 1.5x); "
        f"/locate rps / bare rps = {locate['rps'] / bare['rps']:.2f}; "
        f"/locate p50 / SQL p50 = {locate['p50'] / sql['p50']:.2f}x"
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
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    print(f"geogrid locate benchmark, district {DISTRICT}")
    bench_http(args.requests, args.clients)
    bench_bulk(args.points)


if __name__ == "__main__":
    main()
