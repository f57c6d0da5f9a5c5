"""Benchmark of vector tiles on the demo district: a geogrid tile vs bare ``ST_AsMVT`` on the
same envelope, in the same run.

For every tile of a layer over the district at a few zooms, interleaved in rounds:

* ``bare``: the least a tile can be: ``ST_AsMVT`` of ``ST_AsMVTGeom(ST_Transform(geom, 3857))``
  of the current grids whose box meets the envelope, on a warm connection (no simplification,
  no properties but the code), sent through the driver as a prepared statement, as the tile's
  own statement is (psycopg prepares any statement run five times; planning is half of a
  small tile's time, so an unprepared baseline would flatter the tile);
* ``tile``: :func:`geogrid.tiles.tile_bytes` (simplified per zoom, every property, exact
  intersection, the sliver fallbacks) in a session transaction, as the endpoint runs it, on
  the same warm connection as ``bare``;
* ``http``: ``GET /tiles/...`` through the app in-process (``TestClient``: pool checkout,
  auth, revision read, ETag, headers, and the test client's own thread hops, which are most
  of it: compare with ``/health`` through the same client, not with the server).

Reads GEOGRID_DATABASE_URL, else GEOGRID_TEST_DATABASE_URL. Prints medians per zoom and the
ratios to ``bare``; ``--json FILE`` writes them. Asserts nothing (the machine decides).

    .venv/bin/python bench/tiles.py                      # grids-level2, z 10/12/14, 5 rounds
    .venv/bin/python bench/tiles.py --layer grids-level1 --zooms 8 10 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DISTRICT = "610503"

BARE = """
SELECT ST_AsMVT(t, :layer, 4096, 'geom') FROM (
  SELECT g.code, ST_AsMVTGeom(ST_Transform(v.geom, 3857), ST_TileEnvelope(:z, :x, :y)) AS geom
  FROM grids g JOIN grid_versions v ON v.grid_id = g.id
  WHERE g.district_adcode = :d AND g.kind = :kind AND g.level = ANY(:levels)
    AND v.valid_to IS NULL AND g.retired_at IS NULL
    AND v.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326)) AS t
"""


#: :data:`BARE` in the driver's parameter style
BARE_DRIVER = re.sub(r":(\w+)", r"%(\1)s", BARE)


def database_url() -> str:
    url = os.environ.get("GEOGRID_DATABASE_URL") or os.environ.get("GEOGRID_TEST_DATABASE_URL")
    if not url:
        sys.exit(
            "Set GEOGRID_DATABASE_URL or GEOGRID_TEST_DATABASE_URL to a database with the demo."
        )
    return url


def tiles_over(bounds: tuple[float, float, float, float], z: int) -> list[tuple[int, int, int]]:
    """Every tile of zoom ``z`` over ``(west, south, east, north)``."""
    n = 1 << z

    def xy(lon: float, lat: float) -> tuple[int, int]:
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        return min(max(x, 0), n - 1), min(max(y, 0), n - 1)

    (x0, y1), (x1, y0) = xy(bounds[0], bounds[1]), xy(bounds[2], bounds[3])
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def measure_tiles(
    engine: Any,
    *,
    district: str,
    layer_name: str,
    zooms: list[int],
    rounds: int,
    max_tiles: int,
    client: Any = None,
) -> dict[str, Any]:
    """Medians per zoom of ``bare`` and ``tile`` (and ``http`` when a test ``client`` is
    given), interleaved tile by tile, and their ratios; also used by ``bench/run``.

    ``bare`` and ``tile`` run on the same warm connection, so the ratio is what building the
    tile adds over the bare query (the ``SET LOCAL jit``, simplification, every property,
    exact intersection, the session), not pool checkout, pre-ping or the ``COMMIT`` that ends
    the transaction, which every route pays alike and neither side is timed for (``http``
    includes them)."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from geogrid.tiles import TILE_LAYERS, district_bounds, tile_bytes

    layer = TILE_LAYERS[layer_name]
    if not layer.is_grids:
        sys.exit("bench/tiles.py compares grid layers (the bare query is a grids query)")
    with Session(engine) as session:
        bounds = district_bounds(session, district)
    results: dict[str, Any] = {"layer": layer.name, "district": district, "zooms": {}}
    with engine.connect() as conn:
        conn.execute(text("SET jit = off"))  # as the tile transaction does: same footing
        conn.commit()
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        driver = conn.connection.driver_connection
        for z in zooms:
            tiles = tiles_over(bounds, z)
            step = max(1, len(tiles) // max_tiles)
            tiles = tiles[::step][:max_tiles]
            times: dict[str, list[float]] = {"bare": [], "tile": [], "http": []}
            sizes = {"bare": 0, "tile": 0}
            for _ in range(rounds):
                for _, x, y in tiles:
                    params = {
                        "layer": layer.name,
                        "z": z,
                        "x": x,
                        "y": y,
                        "d": district,
                        "kind": layer.kind,
                        "levels": list(layer.levels),
                    }
                    t0 = time.perf_counter()
                    bare = driver.execute(BARE_DRIVER, params, prepare=True).fetchone()[0]
                    t1 = time.perf_counter()
                    conn.commit()  # untimed: the bare query pays no transaction
                    session.begin()
                    t1b = time.perf_counter()
                    tile = tile_bytes(session, layer, z, x, y, district_adcode=district)
                    t2 = time.perf_counter()
                    session.commit()  # untimed too, as the bare query's
                    times["bare"].append(t1 - t0)
                    times["tile"].append(t2 - t1b)
                    if client is not None:
                        r = client.get(f"/tiles/{layer.name}/{z}/{x}/{y}.mvt?district={district}")
                        times["http"].append(time.perf_counter() - t2)
                        assert r.status_code in (200, 204), r.text
                    sizes["bare"] += len(bytes(bare or b""))
                    sizes["tile"] += len(tile)
            med = {k: statistics.median(v) * 1000 for k, v in times.items() if v}
            row = {
                "tiles": len(tiles),
                "median_ms": med,
                "tile_vs_bare": med["tile"] / med["bare"],
                "bytes_tile_vs_bare": sizes["tile"] / max(sizes["bare"], 1),
            }
            if "http" in med:
                row["http_vs_bare"] = med["http"] / med["bare"]
            results["zooms"][z] = row
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--layer", default="grids-level2")
    parser.add_argument("--zooms", type=int, nargs="+", default=[10, 12, 14])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tiles", type=int, default=40, help="per zoom, evenly spread")
    parser.add_argument("--district", default=DISTRICT)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from api.main import create_app
    from geogrid.settings import Settings
    from geogrid.storage.database import create_db_engine

    settings = Settings(database_url=database_url())
    engine = create_db_engine(settings)
    with TestClient(create_app(settings)) as client:
        results = measure_tiles(
            engine,
            district=args.district,
            layer_name=args.layer,
            zooms=args.zooms,
            rounds=args.rounds,
            max_tiles=args.max_tiles,
            client=client,
        )
    for z, row in results["zooms"].items():
        med = row["median_ms"]
        print(
            f"{results['layer']} z{z:<2} {row['tiles']:3} tiles  bare {med['bare']:6.2f} ms  "
            f"tile {med['tile']:6.2f} ms ({row['tile_vs_bare']:.2f}x)  "
            f"http {med['http']:6.2f} ms ({row['http_vs_bare']:.2f}x)  "
            f"bytes tile/bare {row['bytes_tile_vs_bare']:.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    engine.dispose()


if __name__ == "__main__":
    main()
