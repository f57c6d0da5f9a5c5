"""One covering rule: every engine that says which grid a point belongs to gives the same grid.

The engines: the in-memory index point by point (``covering`` + ``deepest``) and in bulk
(``covering_pairs`` + ``deepest_many``, with and without the cell raster), the issue router's
SQL (:func:`geogrid.issues.routing.deepest_grid_ids`, the query of ``tag_point`` run over an
unnest of the points) and, as the reference, plain ``ST_Covers`` pairs decided by the pure rule
:func:`geogrid.rules.covering.deepest_general`. The points: 100 000 uniform random points over
the demo district (fixed seed), plus grid vertices shared by several grids and midpoints of
grid edges, where ``ST_Covers`` puts a point in every grid it touches and the tie-break decides.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geogrid.issues.routing import deepest_grid_ids, tag_point
from geogrid.locate.index import GridIndex, load_grid_index
from geogrid.rules.covering import deepest_general, precedence, precedence_ranks

DISTRICT = "610503"
N_RANDOM = 100_000


@dataclass(frozen=True)
class _Cand:
    id: int
    level: int
    code: str
    kind: str


@pytest.fixture(scope="module")
def index(demo: Engine, owner_engine: Engine) -> GridIndex:
    # A freshly loaded demo has no planner statistics yet (autovacuum has not come round), and
    # without them PostgreSQL ANDs the partial "current version" index into every per-point
    # lookup, three times slower; production databases are analysed (by the tables' owner).
    with owner_engine.begin() as conn:
        conn.execute(text("ANALYZE grids"))
        conn.execute(text("ANALYZE grid_versions"))
    with Session(demo) as session:
        return load_grid_index(session, DISTRICT)


@pytest.fixture(scope="module")
def points(index: GridIndex) -> tuple[np.ndarray, np.ndarray, int]:
    """(lon, lat, number of random points): the random points first, then the edge points."""
    rng = np.random.default_rng(20261201)
    x0, y0, x1, y1 = shapely.total_bounds(index.geoms)
    pad = 0.01  # some points outside every grid too
    lon = rng.uniform(x0 - pad, x1 + pad, N_RANDOM)
    lat = rng.uniform(y0 - pad, y1 + pad, N_RANDOM)

    general = index.geoms[~index.dedicated]
    coords, owner = shapely.get_coordinates(general, return_index=True)
    # vertices that several grids share (a vertex repeats inside its own ring only as the
    # closing point, so count distinct owners)
    pairs = np.unique(np.c_[coords, owner], axis=0)
    uniq, counts = np.unique(pairs[:, :2], axis=0, return_counts=True)
    shared = uniq[counts >= 2]
    # midpoints of edges: on a shared edge both grids cover them (or, where the midpoint
    # rounds off the edge, one of them does): either way every engine must agree
    same = owner[1:] == owner[:-1]
    mids = ((coords[1:] + coords[:-1]) / 2)[same]
    pick = np.random.default_rng(7).choice(len(mids), size=min(10_000, len(mids)), replace=False)
    edge = np.vstack([shared, mids[pick]])
    return np.r_[lon, edge[:, 0]], np.r_[lat, edge[:, 1]], N_RANDOM


def _reference(db: Session, lon: np.ndarray, lat: np.ndarray) -> list[int | None]:
    """Plain ST_Covers pairs (no ordering in SQL), decided per point by the pure rule.

    The points go into an indexed temporary table and each grid looks up its points, a plan
    unlike the router's (one lookup per point), so the two SQL answers are independent."""
    db.execute(
        text(
            """
            CREATE TEMP TABLE rule_points ON COMMIT DROP AS
            SELECT i - 1 AS i, ST_SetSRID(ST_MakePoint(x, y), 4326) AS geom
            FROM unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[])) WITH ORDINALITY AS p(x, y, i)
            """
        ),
        {"lon": lon.tolist(), "lat": lat.tolist()},
    )
    db.execute(text("CREATE INDEX ON rule_points USING gist (geom)"))
    db.execute(text("ANALYZE rule_points"))
    rows = db.execute(
        text(
            """
            SELECT p.i, g.id, g.level, g.code, g.kind
            FROM grid_versions v
            JOIN grids g ON g.id = v.grid_id
            JOIN rule_points p ON ST_Covers(v.geom, p.geom)
            WHERE v.valid_to IS NULL AND g.retired_at IS NULL AND g.district_adcode = :d
            """
        ),
        {"d": DISTRICT},
    ).all()
    by_point: list[list[_Cand]] = [[] for _ in range(len(lon))]
    for r in rows:
        by_point[r.i].append(_Cand(int(r.id), int(r.level), r.code, r.kind))
    out: list[int | None] = []
    for cands in by_point:
        best = deepest_general(cands)
        out.append(None if best is None else best.id)
    return out


def _ids(index: GridIndex, positions: np.ndarray) -> list[int | None]:
    return [None if p < 0 else int(index.grid_id[p]) for p in positions]


def test_every_engine_gives_the_same_deepest_grid(
    db: Session, index: GridIndex, points: tuple[np.ndarray, np.ndarray, int]
) -> None:
    lon, lat, n_random = points
    n = len(lon)
    reference = _reference(db, lon, lat)

    # the engines must have something to disagree about: points in no grid, points in grids,
    # and edge points covered by several general grids of the same level (the tie-break)
    assert reference[:n_random].count(None) > 100
    assert sum(r is not None for r in reference[:n_random]) > N_RANDOM // 2
    edge_lon, edge_lat = lon[n_random:], lat[n_random:]
    pt, pos = index.covering_pairs(edge_lon, edge_lat, use_cells=False)
    general = ~index.dedicated[pos]
    key = pt[general] * 8 + index.level[pos[general]]
    _, per_level = np.unique(key, return_counts=True)
    assert (per_level >= 2).sum() > 1000, "too few edge points where the tie-break decides"

    routing = deepest_grid_ids(db, lon.tolist(), lat.tolist())
    assert routing == reference

    for use_cells in (False, True):
        pt, pos = index.covering_pairs(lon, lat, use_cells=use_cells)
        bulk = _ids(index, index.deepest_many(n, pt, pos))
        assert bulk == reference, f"covering_pairs(use_cells={use_cells}) + deepest_many"

    one_by_one = []
    for x, y in zip(lon.tolist(), lat.tolist(), strict=True):
        best = index.deepest(index.covering(x, y))
        one_by_one.append(None if best is None else int(index.grid_id[best]))
    assert one_by_one == reference


def test_tag_point_is_the_set_based_query_for_one_point(
    db: Session, index: GridIndex, points: tuple[np.ndarray, np.ndarray, int]
) -> None:
    """``tag_point`` and ``deepest_grid_ids`` are one query shape: same grid on edge points."""
    lon, lat, n_random = points
    sample = random.Random(3).sample(range(n_random, len(lon)), 200)
    many = deepest_grid_ids(db, lon[sample].tolist(), lat[sample].tolist())
    for i, expected in zip(sample, many, strict=True):
        tagging = tag_point(db, float(lon[i]), float(lat[i]))
        assert (None if tagging.deepest is None else tagging.deepest.id) == expected


def test_the_index_ranks_are_the_rule(index: GridIndex) -> None:
    """The index's rank is derived from the rule: its argmax over any set of grids (including
    dedicated ones, which never win) is the rule's choice."""
    kinds = ["dedicated" if d else "general" for d in index.dedicated]
    assert index.rank.tolist() == precedence_ranks(index.level.tolist(), index.code.tolist(), kinds)
    grids = [
        SimpleNamespace(level=int(lv), code=str(c), kind=k, pos=p)
        for p, (lv, c, k) in enumerate(zip(index.level, index.code, kinds, strict=True))
    ]
    rng = random.Random(11)
    for _ in range(2000):
        subset = rng.sample(grids, rng.randint(1, 6))
        expected = deepest_general(subset)
        got = index.deepest(np.array(sorted(g.pos for g in subset), dtype=np.int64))
        assert got == (None if expected is None else expected.pos)


def test_codes_order_the_same_in_python_and_in_sql(db: Session) -> None:
    """``deepest_first_sql`` sorts codes with COLLATE "C"; Python's str order is the same, so
    codes of different lengths (a level-2 code is a prefix of its level-3 children's) tie-break
    alike in both."""
    codes = ["610503001002", "610503001001001", "610503001001", "6105030010019"]
    sql = db.execute(
        text('SELECT c FROM unnest(CAST(:c AS text[])) AS c ORDER BY c COLLATE "C"'),
        {"c": codes},
    ).scalars()
    assert list(sql) == sorted(codes, key=lambda c: precedence(1, c, "general"))
