"""Coverage gaps on the demo and on deliberately broken grids (inside the rolled-back
transaction of the ``client`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import shapely
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely import wkt
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.deps import get_session
from geogrid.analysis.gaps import GAP_KINDS, coverage_gaps

HUAZHOU = "610503"


@contextmanager
def session_of(client: TestClient) -> Iterator[Session]:
    """A session in the client's test transaction: what it writes, requests see, and all of it
    is rolled back after the test."""
    make = client.app.dependency_overrides[get_session]  # type: ignore[attr-defined]
    generator = make()
    session = next(generator)
    try:
        yield session
    finally:
        next(generator, None)


def _leaf_level2_grid(session: Session) -> tuple[int, str, shapely.Geometry]:
    row = session.execute(
        text(
            """
            SELECT g.id, g.code, ST_AsText(v.geom) FROM grids g
            JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL
            WHERE g.district_adcode = :a AND g.level = 2 AND g.kind = 'general'
              AND NOT EXISTS (SELECT 1 FROM grids c WHERE c.parent_id = g.id)
            ORDER BY g.code LIMIT 1 OFFSET 40
            """
        ),
        {"a": HUAZHOU},
    ).one()
    return row[0], row[1], wkt.loads(row[2])


def _geodesic_area(polygon: shapely.Geometry) -> float:
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(shapely.segmentize(polygon, 1e-4))
    return abs(area)


def test_the_demo_has_no_uncovered_territory_and_no_overlap(demo: Engine) -> None:
    with Session(demo) as session:
        gaps = coverage_gaps(session, district_adcode=HUAZHOU)
    totals = gaps.totals()
    assert totals["uncovered"] == 0 and totals["overlap"] == 0
    assert totals["no_a_post"] == 0 and totals["no_b_post"] == 0
    assert totals["dedicated_unstaffed"] == 0
    assert set(totals) >= set(GAP_KINDS)


def test_a_hole_and_a_missing_b_post_show_on_analysis_gaps(
    client: TestClient, demo: Engine
) -> None:
    with session_of(client) as session:
        grid_id, code, geom = _leaf_level2_grid(session)
        centre = geom.representative_point()
        hole = shapely.box(centre.x - 4e-4, centre.y - 3e-4, centre.x + 4e-4, centre.y + 3e-4)
        assert geom.contains(hole)
        session.execute(
            text(
                "UPDATE grid_versions SET geom = ST_Multi(ST_Difference(geom, "
                "ST_GeomFromText(:hole, 4326))) WHERE grid_id = :g AND valid_to IS NULL"
            ),
            {"hole": hole.wkt, "g": grid_id},
        )
        b_code = session.execute(
            text(
                """
                UPDATE grid_assignments a SET valid_to = now() FROM grids g
                WHERE g.id = a.grid_id AND g.code = :c AND a.post = 'B' AND a.valid_to IS NULL
                RETURNING g.code
                """
            ),
            {"c": code},
        ).scalar_one()
        parent_code = code[:12]

    response = client.get("/analysis/gaps")

    assert response.status_code == 200, response.text
    body = response.json()
    rows = [f["properties"] for f in body["features"]]
    uncovered = [r for r in rows if r["kind"] == "uncovered"]
    assert len(uncovered) == 1
    assert uncovered[0]["code"] == parent_code and uncovered[0]["level"] == 2
    assert code in uncovered[0]["near_codes"]
    assert abs(uncovered[0]["area_m2"] - _geodesic_area(hole)) <= 1.0
    assert body["properties"]["totals"]["uncovered"] == 1
    no_b = [r for r in rows if r["kind"] == "no_b_post"]
    assert [r["code"] for r in no_b] == [b_code]
    feature = next(f for f in body["features"] if f["properties"]["kind"] == "uncovered")
    assert abs(shapely.geometry.shape(feature["geometry"]).area - hole.area) < 1e-12


def test_households_norm_and_inactive_days_are_parameters(client: TestClient, demo: Engine) -> None:
    strict = client.get("/analysis/gaps", params={"households_norm": 100}).json()
    lax = client.get("/analysis/gaps", params={"households_norm": 10_000}).json()
    assert strict["properties"]["totals"]["over_norm"] > 0
    assert lax["properties"]["totals"]["over_norm"] == 0
    row = next(
        f["properties"] for f in strict["features"] if f["properties"]["kind"] == "over_norm"
    )
    assert row["households_per_worker"] is None or row["households_per_worker"] > 100

    week = client.get("/analysis/gaps", params={"inactive_days": 7}).json()
    year = client.get("/analysis/gaps", params={"inactive_days": 400}).json()
    assert week["properties"]["totals"]["inactive"] > year["properties"]["totals"]["inactive"]
    assert client.get("/analysis/gaps", params={"households_norm": 0}).status_code == 422


def test_an_away_a_post_without_b_is_a_gap(client: TestClient, demo: Engine) -> None:
    with session_of(client) as session:
        code = session.execute(
            text(
                """
                WITH target AS (
                    SELECT g.id, g.code FROM grids g
                    WHERE g.district_adcode = :a AND g.level = 3 ORDER BY g.code LIMIT 1
                ), a AS (
                    UPDATE staff s SET availability = 'away' FROM grid_assignments ga, target t
                    WHERE ga.grid_id = t.id AND ga.post = 'A' AND ga.valid_to IS NULL
                      AND s.id = ga.staff_id RETURNING t.code
                )
                SELECT code FROM a
                """
            ),
            {"a": HUAZHOU},
        ).scalar_one()
        session.execute(
            text(
                "UPDATE grid_assignments SET valid_to = now() FROM grids g WHERE g.id = "
                "grid_assignments.grid_id AND g.code = :c AND post = 'B'"
            ),
            {"c": code},
        )
    rows = [f["properties"] for f in client.get("/analysis/gaps").json()["features"]]
    kinds = {r["kind"] for r in rows if r["code"] == code}
    assert {"a_away_no_b", "no_b_post"} <= kinds
