"""The Huazhou demo district: counts, posts and topology, checked in PostGIS.

Areas are measured on the ellipsoid after densifying edges (``ST_Segmentize`` to ~10 m), because
stored edges are straight in lon/lat: measuring a 7 km edge as a geodesic would invent
metre-wide slivers that are not there.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from geogrid.demo.load import load_demo

AREA = "ST_Area(ST_Segmentize({g}, 0.0001)::geography)"


def scalar(engine: Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


CURRENT = (
    "grids g JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL "
    "WHERE g.retired_at IS NULL"
)


@pytest.mark.parametrize(
    ("what", "sql", "low", "high"),
    [
        (
            "streets/towns",
            "SELECT count(*) FROM admin_areas WHERE level IN ('street','town')",
            10,
            10,
        ),
        ("street", "SELECT count(*) FROM admin_areas WHERE level = 'street'", 1, 1),
        (
            "communities/villages",
            "SELECT count(*) FROM admin_areas WHERE level IN ('community','village')",
            159,
            159,
        ),
        ("level-1 grids", f"SELECT count(*) FROM {CURRENT} AND g.level = 1", 159, 159),
        (
            "level-2 general",
            f"SELECT count(*) FROM {CURRENT} AND g.level = 2 AND g.kind = 'general'",
            1200,
            1900,
        ),
        ("level-3", f"SELECT count(*) FROM {CURRENT} AND g.level = 3", 72, 72),
        ("dedicated", f"SELECT count(*) FROM {CURRENT} AND g.kind = 'dedicated'", 245, 245),
        ("staff", "SELECT count(*) FROM staff", 3440, 3440),
        ("departments", "SELECT count(*) FROM departments", 75, 75),
        (
            "party branches",
            "SELECT count(*) FROM party_organisations WHERE kind = 'branch'",
            159,
            159,
        ),
        ("issues", "SELECT count(*) FROM issues", 50_000, 10**7),
        ("addresses", "SELECT count(*) FROM addresses", 20_000, 10**7),
    ],
)
def test_demo_counts(demo: Engine, what: str, sql: str, low: int, high: int) -> None:
    count = scalar(demo, sql)
    assert low <= count <= high, f"{what}: {count} not in [{low}, {high}]"


def test_staff_roles_match_the_source(demo: Engine) -> None:
    with demo.connect() as conn:
        roles = dict(conn.execute(text("SELECT role, count(*) FROM staff GROUP BY role")).all())
    assert roles == {"grid_chief": 1224, "grid_worker": 1899 + 72, "dedicated_worker": 245}


def test_every_general_grid_has_an_a_and_a_b_post(demo: Engine) -> None:
    missing = scalar(
        demo,
        f"""
        SELECT count(*) FROM {CURRENT} AND g.kind = 'general' AND (
            NOT EXISTS (SELECT 1 FROM grid_assignments a WHERE a.grid_id = g.id
                        AND a.post = 'A' AND a.valid_to IS NULL)
         OR NOT EXISTS (SELECT 1 FROM grid_assignments a WHERE a.grid_id = g.id
                        AND a.post = 'B' AND a.valid_to IS NULL))
        """,
    )
    assert missing == 0
    same_person = scalar(
        demo,
        """SELECT count(*) FROM grid_assignments a JOIN grid_assignments b
           ON a.grid_id = b.grid_id AND a.post = 'A' AND b.post = 'B'
           AND a.staff_id = b.staff_id""",
    )
    assert same_person == 0, "A and B of a grid must be different people"


def test_district_area_matches_the_official_figure(demo: Engine) -> None:
    area = scalar(demo, f"SELECT {AREA.format(g='geom')} FROM admin_areas WHERE level='district'")
    assert abs(area / 1e6 - 1127) / 1127 < 0.02, f"district area {area / 1e6:.1f} km²"


def test_general_grids_lie_within_their_parent(demo: Engine) -> None:
    # 0.5 m tolerance: densify (edges are straight in lon/lat), project to UTM 49N (108-114°E)
    outside = scalar(
        demo,
        """
        SELECT count(*) FROM grids c
        JOIN grid_versions cv ON cv.grid_id = c.id AND cv.valid_to IS NULL
        JOIN grid_versions pv ON pv.grid_id = c.parent_id AND pv.valid_to IS NULL
        WHERE c.kind = 'general' AND NOT ST_CoveredBy(
            ST_Transform(ST_Segmentize(cv.geom, 0.0001), 32649),
            ST_Buffer(ST_Transform(ST_Segmentize(pv.geom, 0.0001), 32649), 0.5))
        """,
    )
    assert outside == 0


def test_dedicated_grids_lie_in_the_district(demo: Engine) -> None:
    outside = scalar(
        demo,
        f"""SELECT count(*) FROM {CURRENT} AND g.kind = 'dedicated' AND NOT ST_CoveredBy(v.geom,
            (SELECT geom FROM admin_areas WHERE level = 'district'))""",
    )
    assert outside == 0


def test_siblings_do_not_overlap(demo: Engine) -> None:
    worst = scalar(
        demo,
        f"""
        SELECT coalesce(max({AREA.format(g="ST_Intersection(a.geom, b.geom)")}), 0)
        FROM grids ga JOIN grid_versions a ON a.grid_id = ga.id AND a.valid_to IS NULL
        JOIN grids gb ON gb.id > ga.id AND gb.parent_id IS NOT DISTINCT FROM ga.parent_id
             AND gb.level = ga.level AND gb.kind = 'general'
        JOIN grid_versions b ON b.grid_id = gb.id AND b.valid_to IS NULL
        WHERE ga.kind = 'general' AND a.geom && b.geom AND ST_Relate(a.geom, b.geom, '2********')
        """,
    )
    assert worst < 1.0, f"largest sibling overlap {worst} m²"


@pytest.mark.parametrize("level", [1, 2])
def test_each_level_covers_the_district(demo: Engine, level: int) -> None:
    uncovered, district = (
        scalar(
            demo,
            f"""
            WITH d AS (SELECT geom FROM admin_areas WHERE level = 'district'),
                 u AS (SELECT ST_Union(v.geom) AS geom FROM {CURRENT}
                       AND g.kind = 'general' AND g.level = :level)
            SELECT {AREA.format(g=expr)} FROM d, u
            """,
            level=level,
        )
        for expr in ("ST_Difference(d.geom, u.geom)", "d.geom")
    )
    assert uncovered / district < 1e-4, f"level {level}: {uncovered:.0f} m² uncovered"


def test_level3_grids_tile_their_parents(demo: Engine) -> None:
    worst = scalar(
        demo,
        f"""
        SELECT max({AREA.format(g="ST_Difference(pv.geom, u.geom)")} / pv.area_m2)
        FROM (SELECT g.parent_id, ST_Union(v.geom) AS geom FROM {CURRENT} AND g.level = 3
              GROUP BY g.parent_id) u
        JOIN grid_versions pv ON pv.grid_id = u.parent_id AND pv.valid_to IS NULL
        """,
    )
    assert worst < 1e-4


def test_codes_are_consistent_with_the_hierarchy(demo: Engine) -> None:
    bad = scalar(
        demo,
        """SELECT count(*) FROM grids c JOIN grids p ON p.id = c.parent_id
           WHERE left(c.code, length(p.code)) <> p.code OR length(c.code) <> length(p.code) + 3""",
    )
    assert bad == 0
    dedicated_out_of_range = scalar(
        demo,
        "SELECT count(*) FROM grids WHERE kind = 'dedicated' AND right(code, 3)::int < 900",
    )
    assert dedicated_out_of_range == 0


def test_issues_are_tagged_to_the_deepest_grid_covering_them(demo: Engine) -> None:
    wrong = scalar(
        demo,
        """
        SELECT count(*) FROM (SELECT * FROM issues ORDER BY id LIMIT 2000) i
        JOIN grid_versions v ON v.grid_id = i.grid_id AND v.valid_to IS NULL
        WHERE NOT ST_Covers(v.geom, i.geom)
           OR EXISTS (SELECT 1 FROM grids g2 JOIN grid_versions v2 ON v2.grid_id = g2.id
                      AND v2.valid_to IS NULL WHERE g2.parent_id = i.grid_id
                      AND g2.kind = 'general' AND ST_Covers(v2.geom, i.geom))
        """,
    )
    assert wrong == 0


def test_issues_span_twelve_months_and_planted_hotspots_are_dense(demo: Engine) -> None:
    from geogrid.demo.hotspots import PLANTED_HOTSPOTS

    months = scalar(demo, "SELECT count(DISTINCT date_trunc('month', reported_at)) FROM issues")
    assert months >= 12
    for spot in PLANTED_HOTSPOTS:
        near = scalar(
            demo,
            """SELECT count(*) FROM issues WHERE ST_DWithin(geom::geography,
               ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, :r)""",
            x=spot.centre[0],
            y=spot.centre[1],
            r=spot.sigma_m,
        )
        assert near >= 0.3 * spot.count, spot.key


def test_second_load_changes_nothing(demo: Engine) -> None:
    before = scalar(demo, "SELECT count(*) FROM issues")
    report = load_demo(demo, seed=1, progress=False)
    assert not report.loaded
    assert scalar(demo, "SELECT count(*) FROM issues") == before
