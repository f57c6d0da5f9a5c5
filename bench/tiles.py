"""Benchmark of vector tiles on the demo district: a geogrid tile vs bare ``ST_AsMVT`` on the
same envelope, in the same run.

For every tile of a layer over the district at a few zooms, interleaved in rounds:

* ``bare``: the least a tile can be: ``ST_AsMVT`` of ``ST_AsMVTGeom(ST_Transform(geom, 3857))``
  of the current grids whose box meets the envelope, on a warm connection (no simplification,
  no properties but the code);
* ``tile``: :func:`geogrid.tiles.tile_bytes` (simplified per zoom, every property, exact
  intersection, the sliver fallbacks) in a session transaction, as the endpoint runs it;
* ``http``: ``GET /tiles/...`` through the app in-process (revision read, ETag, headers).

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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--layer", default="grids-level2")
    parser.add_argument("--zooms", type=int, nargs="+", default=[10, 12, 14])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tiles", type=int, default=40, help="per zoom, evenly spread")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    from fastapi.testclient import TestClient
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from api.main import create_app
    from geogrid.settings import Settings
    from geogrid.storage.database import create_db_engine
    from geogrid.tiles import TILE_LAYERS, district_bounds, tile_bytes

    settings = Settings(database_url=database_url())
    engine = create_db_engine(settings)
    layer = TILE_LAYERS[args.layer]
    if not layer.is_grids:
        sys.exit("bench/tiles.py compares grid layers (the bare query is a grids query)")
    with Session(engine) as session:
        bounds = district_bounds(session, DISTRICT)
    results: dict[str, Any] = {"layer": layer.name, "district": DISTRICT, "zooms": {}}
    with TestClient(create_app(settings)) as client, engine.connect() as conn:
        conn.execute(text("SET jit = off"))  # as the tile transaction does: same footing
        for z in args.zooms:
            tiles = tiles_over(bounds, z)
            step = max(1, len(tiles) // args.max_tiles)
            tiles = tiles[::step][: args.max_tiles]
            times: dict[str, list[float]] = {"bare": [], "tile": [], "http": []}
            sizes = {"bare": 0, "tile": 0}
            for _ in range(args.rounds):
                for _, x, y in tiles:
                    params = {
                        "layer": layer.name,
                        "z": z,
                        "x": x,
                        "y": y,
                        "d": DISTRICT,
                        "kind": layer.kind,
                        "levels": list(layer.levels),
                    }
                    t0 = time.perf_counter()
                    bare = conn.execute(text(BARE), params).scalar_one()
                    t1 = time.perf_counter()
                    with Session(engine) as session, session.begin():
                        tile = tile_bytes(session, layer, z, x, y, district_adcode=DISTRICT)
                    t2 = time.perf_counter()
                    r = client.get(f"/tiles/{layer.name}/{z}/{x}/{y}.mvt")
                    t3 = time.perf_counter()
                    assert r.status_code in (200, 204), r.text
                    times["bare"].append(t1 - t0)
                    times["tile"].append(t2 - t1)
                    times["http"].append(t3 - t2)
                    sizes["bare"] += len(bytes(bare or b""))
                    sizes["tile"] += len(tile)
            med = {k: statistics.median(v) * 1000 for k, v in times.items()}
            results["zooms"][z] = {
                "tiles": len(tiles),
                "median_ms": med,
                "tile_vs_bare": med["tile"] / med["bare"],
                "http_vs_bare": med["http"] / med["bare"],
                "bytes_tile_vs_bare": sizes["tile"] / max(sizes["bare"], 1),
            }
            print(
                f"{layer.name} z{z:<2} {len(tiles):3} tiles  bare {med['bare']:6.2f} ms  "
                f"tile {med['tile']:6.2f} ms ({med['tile'] / med['bare']:.2f}x)  "
                f"http {med['http']:6.2f} ms ({med['http'] / med['bare']:.2f}x)  "
                f"bytes tile/bare {sizes['tile'] / max(sizes['bare'], 1):.2f}"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    engine.dispose()


if __name__ == "__main__":
    main()
