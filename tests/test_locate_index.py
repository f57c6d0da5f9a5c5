"""The in-memory index answers exactly what PostGIS ST_Covers answers, and stays fresh."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geogrid.locate.batch import locate_points
from geogrid.locate.cells import CellLookup
from geogrid.locate.chain import deepest_general_grid, grids_at_point, locate_point
from geogrid.locate.index import GridIndex, IndexCache, load_grid_index

DISTRICT = "610503"


@pytest.fixture(scope="module")
def index(demo: Engine) -> GridIndex:
    with Session(demo) as session:
        return load_grid_index(session, DISTRICT)


def _sql_pairs(db: Session, x: np.ndarray, y: np.ndarray) -> set[tuple[int, int]]:
    """(point number, grid id) for every grid whose current version ST_Covers the point: one
    SQL query for all points."""
    rows = db.execute(
        text(
            """
            SELECT u.i - 1 AS i, g.id
            FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS u(x, y, i)
            JOIN grid_versions gv
              ON ST_Covers(gv.geom, ST_SetSRID(ST_MakePoint(u.x, u.y), 4326))
             AND gv.valid_to IS NULL
            JOIN grids g ON g.id = gv.grid_id AND g.retired_at IS NULL AND g.district_adcode = :d
            """
        ),
        {"xs": x.tolist(), "ys": y.tolist(), "d": DISTRICT},
    ).all()
    return {(int(i), int(g)) for i, g in rows}


def _sql_deepest(db: Session, x: np.ndarray, y: np.ndarray) -> dict[int, str]:
    rows = db.execute(
        text(
            """
            SELECT DISTINCT ON (u.i) u.i - 1 AS i, g.code
            FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS u(x, y, i)
            JOIN grid_versions gv
              ON ST_Covers(gv.geom, ST_SetSRID(ST_MakePoint(u.x, u.y), 4326))
             AND gv.valid_to IS NULL
            JOIN grids g ON g.id = gv.grid_id AND g.retired_at IS NULL AND g.district_adcode = :d
                        AND g.kind = 'general'
            ORDER BY u.i, g.level DESC, g.code
            """
        ),
        {"xs": x.tolist(), "ys": y.tolist(), "d": DISTRICT},
    ).all()
    return {int(i): code for i, code in rows}


def _index_pairs(index: GridIndex, pt: np.ndarray, pos: np.ndarray) -> set[tuple[int, int]]:
    return {(int(p), int(index.grid_id[g])) for p, g in zip(pt, pos, strict=True)}


def test_10000_random_points_equal_st_covers(index: GridIndex, db: Session) -> None:
    """★ The CI sample of the 100 000-point check: tree path and cell raster both equal SQL."""
    rng = np.random.default_rng(610503)
    x0, y0, x1, y1 = index.bounds
    x = rng.uniform(x0, x1, 10_000)
    y = rng.uniform(y0, y1, 10_000)
    expected = _sql_pairs(db, x, y)
    assert len(expected) > 10_000  # most points are in 2-3 nested grids
    assert _index_pairs(index, *index.covering_pairs(x, y, use_cells=False)) == expected
    assert _index_pairs(index, *index.covering_pairs(x, y, use_cells=True)) == expected

    deepest = locate_points(index, x, y).codes(index)
    sql_deepest = _sql_deepest(db, x, y)
    assert {i: c for i, c in enumerate(deepest) if c is not None} == sql_deepest


def test_boundary_vertices_belong_to_every_grid_sharing_them(index: GridIndex, db: Session) -> None:
    """Points exactly on shared edges (grid vertices) are covered by all adjacent grids, as
    ST_Covers says, and the deepest/smallest-code rule gives one answer."""
    rng = np.random.default_rng(7)
    chosen = rng.choice(len(index), 150, replace=False)
    coords = shapely.get_coordinates(index.geoms[chosen])
    coords = np.unique(coords, axis=0)
    x, y = coords[:, 0], coords[:, 1]
    expected = _sql_pairs(db, x, y)
    tree_pairs = _index_pairs(index, *index.covering_pairs(x, y, use_cells=False))
    cell_pairs = _index_pairs(index, *index.covering_pairs(x, y, use_cells=True))
    assert tree_pairs == expected
    assert cell_pairs == expected
    shared = sum(1 for i in range(len(x)) if sum(1 for p, _ in expected if p == i) > 2)
    assert shared > 100  # vertices really are shared by several grids
    deepest = locate_points(index, x, y).codes(index)
    assert {i: c for i, c in enumerate(deepest) if c is not None} == _sql_deepest(db, x, y)


def test_cell_raster_is_exact_with_coarse_and_fine_cells(index: GridIndex) -> None:
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = index.bounds
    x = rng.uniform(x0, x1, 20_000)
    y = rng.uniform(y0, y1, 20_000)
    expected = index.covering_pairs(x, y, use_cells=False)
    for target in (2_000, 300_000):
        cells = CellLookup.build(index.geoms, target_cells=target)
        pt, pos = cells.pairs(x, y)
        assert np.array_equal(pt, expected[0]) and np.array_equal(pos, expected[1])


def test_index_path_equals_sql_path(demo: Engine, db: Session, index: GridIndex) -> None:
    cache = IndexCache()
    rng = np.random.default_rng(11)
    x0, y0, x1, y1 = index.bounds
    checked = 0
    for lon, lat in zip(rng.uniform(x0, x1, 60), rng.uniform(y0, y1, 60), strict=True):
        from_sql = deepest_general_grid(db, lon, lat, district_adcode=DISTRICT)
        from_index = deepest_general_grid(db, lon, lat, district_adcode=DISTRICT, cache=cache)
        assert from_sql == from_index
        if from_sql is None:
            continue
        checked += 1
        a = locate_point(db, lon, lat, district_adcode=DISTRICT)
        b = locate_point(db, lon, lat, district_adcode=DISTRICT, cache=cache)
        assert a.chain == b.chain and a.dedicated == b.dedicated
        assert a.admin_areas == b.admin_areas and a.signboard == b.signboard
        assert [g.level for g in a.chain] == list(range(1, len(a.chain) + 1))
        assert len(a.admin_areas) == 3
    assert checked > 20


def test_stale_index_is_rebuilt_when_revision_moves(db: Session, demo: Engine) -> None:
    """An edit in the same transaction bumps the revision: the cached index notices."""
    cache = IndexCache()
    grid = db.execute(
        text(
            "SELECT g.id, ST_X(ST_PointOnSurface(gv.geom)) AS x, ST_Y(ST_PointOnSurface(gv.geom)) AS y "
            "FROM grids g JOIN grid_versions gv ON gv.grid_id = g.id AND gv.valid_to IS NULL "
            "WHERE g.level = 2 AND g.kind = 'general' ORDER BY g.code LIMIT 1"
        )
    ).one()
    before = locate_point(db, grid.x, grid.y, district_adcode=DISTRICT, cache=cache)
    assert before.deepest is not None and before.deepest.id == grid.id
    db.execute(
        text(
            "UPDATE grid_versions SET geom = ST_Multi(ST_CollectionExtract(ST_Difference(geom, "
            "ST_Buffer(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 0.0003)), 3)) "
            "WHERE grid_id = :id AND valid_to IS NULL"
        ),
        {"x": grid.x, "y": grid.y, "id": grid.id},
    )
    after = locate_point(db, grid.x, grid.y, district_adcode=DISTRICT, cache=cache)
    assert after.deepest is not None and after.deepest.id != grid.id
    assert after.deepest.level == 1  # its level-1 parent still covers the hole
    assert cache.rebuilds == 2


def test_at_answers_from_version_validity(db: Session, demo: Engine) -> None:
    """A boundary that changed on 2024-01-01: a 2023 date gets the old version."""
    grid = db.execute(
        text(
            "SELECT g.id, g.code, ST_X(ST_PointOnSurface(gv.geom)) AS x, "
            "ST_Y(ST_PointOnSurface(gv.geom)) AS y FROM grids g "
            "JOIN grid_versions gv ON gv.grid_id = g.id AND gv.valid_to IS NULL "
            "WHERE g.level = 2 AND g.kind = 'general' ORDER BY g.code DESC LIMIT 1"
        )
    ).one()
    db.execute(
        text(
            "UPDATE grid_versions SET valid_from = '2020-01-01', valid_to = '2024-01-01' "
            "WHERE grid_id = :id AND valid_to IS NULL"
        ),
        {"id": grid.id},
    )
    db.execute(
        text(
            """
            INSERT INTO grid_versions (grid_id, version, name, attributes, geom, area_m2, valid_from)
            SELECT grid_id, version + 1, name || '（调整后）', attributes,
                   ST_Multi(ST_CollectionExtract(ST_Difference(geom, ST_Buffer(
                       ST_SetSRID(ST_MakePoint(:x, :y), 4326), 0.0003)), 3)),
                   area_m2, '2024-01-01'
            FROM grid_versions WHERE grid_id = :id AND valid_to = '2024-01-01'
            """
        ),
        {"id": grid.id, "x": grid.x, "y": grid.y},
    )
    past = locate_point(db, grid.x, grid.y, district_adcode=DISTRICT, at="2023-06-01")
    assert past.deepest is not None and past.deepest.code == grid.code
    assert past.deepest.version == 1 and past.signboard is not None
    assert past.signboard.on_duty is None  # availability is not historical
    now = locate_point(db, grid.x, grid.y, district_adcode=DISTRICT)
    assert now.deepest is not None and now.deepest.code != grid.code
    on_the_day = grids_at_point(db, grid.x, grid.y, district_adcode=DISTRICT, at=None)
    assert grid.code not in {g.code for g in on_the_day}


def test_b_post_is_on_duty_when_a_is_away(db: Session, demo: Engine, index: GridIndex) -> None:
    pos = int(np.flatnonzero((index.level == 2) & ~index.dedicated)[5])
    point = shapely.point_on_surface(index.geoms[pos])
    before = locate_point(db, point.x, point.y, district_adcode=DISTRICT)
    board = before.signboard
    assert board is not None and board.post_a is not None and board.post_b is not None
    db.execute(
        text("UPDATE staff SET availability = 'away', away_until = NULL WHERE id = :id"),
        {"id": board.post_a.staff_id},
    )
    after = locate_point(db, point.x, point.y, district_adcode=DISTRICT)
    assert after.signboard is not None and after.signboard.on_duty is not None
    assert after.signboard.on_duty.staff_id == board.post_b.staff_id
    assert "B" in after.signboard.on_duty_reason
    assert {o.kind for o in after.signboard.party_organisations} == {"branch", "group"}
