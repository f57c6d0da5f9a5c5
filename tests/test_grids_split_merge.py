"""Split then merge a demo grid: areas conserved, history kept, `at` shows the old boundary,
open issues follow the new grids, staff posts are listed for a human to decide."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Connection, Engine, text

from geogrid.grids.validation import area_m2
from geogrid.settings import Settings
from tests.test_grids_support import Leaf, etag, pick_leaf, rolled_back_client


@pytest.fixture(scope="module")
def leaf(demo: Engine) -> Leaf:
    return pick_leaf(demo)


@pytest.fixture
def grids_client(settings: Settings, engine: Engine) -> Iterator[tuple[TestClient, Connection]]:
    yield from rolled_back_client(settings, engine)


OPEN = "status NOT IN ('closed', 'rejected', 'duplicate')"


def _open_issues(conn: Connection, code: str) -> list[int]:
    return list(
        conn.execute(
            text(
                f"SELECT i.id FROM issues i JOIN grids g ON g.id = i.grid_id "
                f"WHERE g.code = :c AND {OPEN} ORDER BY i.id"
            ),
            {"c": code},
        ).scalars()
    )


def _cut_line(geom: shapely.Geometry) -> dict[str, object]:
    p = geom.representative_point()
    _, miny, _, maxy = geom.bounds
    return {"type": "LineString", "coordinates": [[p.x, miny - 0.001], [p.x, maxy + 0.001]]}


def test_split_then_merge_of_a_demo_grid(
    grids_client: tuple[TestClient, Connection], leaf: Leaf
) -> None:
    client, conn = grids_client
    issues = _open_issues(conn, leaf.code)
    assert len(issues) >= 2
    closed_before = conn.execute(
        text(
            f"SELECT count(*) FROM issues i JOIN grids g ON g.id = i.grid_id "
            f"WHERE g.code = :c AND NOT ({OPEN})"
        ),
        {"c": leaf.code},
    ).scalar_one()

    # version 2 first, so the history has more than the demo version
    r = client.patch(
        f"/grids/{leaf.code}",
        json={"type": "Feature", "properties": {"name": "待拆分网格"}},
        headers={"If-Match": etag(client, leaf.code), "X-Actor": "office"},
    )
    assert r.status_code == 200, r.text

    # -- split -------------------------------------------------------------------------------
    line = _cut_line(leaf.geom)
    assert client.post(f"/grids/{leaf.code}/split", json=line).status_code == 428
    stale = client.post(
        f"/grids/{leaf.code}/split", json=line, headers={"If-Match": f'"{leaf.code}-v1"'}
    )
    assert stale.status_code == 412 and stale.json()["current_version"] == 2
    r = client.post(
        f"/grids/{leaf.code}/split",
        json=line,
        headers={"If-Match": f'"{leaf.code}-v2"', "X-Actor": "office"},
        params={"reason": "new estate road"},
    )
    assert r.status_code == 201, r.text
    split = r.json()
    pieces = [f["properties"]["code"] for f in split["created"]["features"]]
    assert len(pieces) >= 2 and split["retired"] == [leaf.code]
    assert all(c.startswith(leaf.parent) and len(c) == 15 and c != leaf.code for c in pieces)
    assert abs(split["area_after_m2"] - area_m2(leaf.geom)) < 1.0
    assert (
        abs(
            sum(area_m2(shape(f["geometry"])) for f in split["created"]["features"])
            - area_m2(leaf.geom)
        )
        < 1.0
    )
    decisions = {d["grid"]: d for d in split["staff_decisions"]}
    assert set(decisions) == set(pieces)
    assert any(
        m.startswith(f"grid {pieces[0]} has no A post: former A of {leaf.code} was")
        for m in decisions[pieces[0]]["messages"]
    )
    # the staff were not moved: the new grids have no posts yet
    posts = conn.execute(
        text(
            "SELECT count(*) FROM grid_assignments a JOIN grids g ON g.id = a.grid_id "
            "WHERE g.code = ANY(:c) AND a.valid_to IS NULL"
        ),
        {"c": pieces},
    ).scalar_one()
    assert posts == 0
    # ... and their assignments on the retired grid ended, each listed with when
    still = conn.execute(
        text(
            "SELECT count(*) FROM grid_assignments a JOIN grids g ON g.id = a.grid_id "
            "WHERE g.code = :c AND a.valid_to IS NULL"
        ),
        {"c": leaf.code},
    ).scalar_one()
    assert still == 0
    former = decisions[pieces[0]]["former_staff"]
    assert {f["post"] for f in former} >= {"A", "B"}
    assert all(f["grid"] == leaf.code and f["ended_at"] for f in former)

    # open issues moved to the piece containing their point, with a retag event each
    assert split["retagged_issues"] == len(issues)
    rows = conn.execute(
        text(
            "SELECT i.id, g.code, ST_Covers(v.geom, i.geom) AS inside FROM issues i "
            "JOIN grids g ON g.id = i.grid_id "
            "JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL "
            "WHERE i.id = ANY(:ids)"
        ),
        {"ids": issues},
    ).all()
    assert {r.code for r in rows} <= set(pieces) and all(r.inside for r in rows)
    notes = (
        conn.execute(
            text("SELECT note FROM issue_events WHERE kind = 'retag' AND issue_id = ANY(:ids)"),
            {"ids": issues},
        )
        .scalars()
        .all()
    )
    assert len(notes) == len(issues) and all(f"grid {leaf.code} → " in n for n in notes)
    stale_tags = conn.execute(
        text(
            "SELECT count(*) FROM issue_grids ig JOIN grids g ON g.id = ig.grid_id "
            "WHERE g.code = :c AND ig.issue_id = ANY(:ids)"
        ),
        {"c": leaf.code, "ids": issues},
    ).scalar_one()
    assert stale_tags == 0
    # closed issues stay with the grid they were handled in
    assert (
        conn.execute(
            text(
                "SELECT count(*) FROM issues i JOIN grids g ON g.id = i.grid_id WHERE g.code = :c"
            ),
            {"c": leaf.code},
        ).scalar_one()
        == closed_before
    )

    # the old grid is retired, not deleted; yesterday's map still shows it
    assert client.get(f"/grids/{leaf.code}").status_code == 404
    history = client.get(f"/grids/{leaf.code}/history").json()["features"]
    assert [h["properties"]["version"] for h in history] == [1, 2]
    assert history[-1]["properties"]["valid_to"] is not None
    assert history[-1]["properties"]["retired_at"] is not None
    # the day before the split, on the database's clock that stamped it
    split_at = datetime.fromisoformat(history[-1]["properties"]["valid_to"])
    yesterday = (split_at - timedelta(days=1)).date().isoformat()
    then = client.get("/grids", params={"parent": leaf.parent, "at": yesterday, "limit": 1000})
    then_codes = {f["id"]: f for f in then.json()["features"]}
    assert leaf.code in then_codes and not set(pieces) & set(then_codes)
    assert shape(then_codes[leaf.code]["geometry"]).equals(leaf.geom)
    now_codes = {
        f["id"]
        for f in client.get("/grids", params={"parent": leaf.parent, "limit": 1000}).json()[
            "features"
        ]
    }
    assert set(pieces) <= now_codes and leaf.code not in now_codes

    # -- merge the pieces back -----------------------------------------------------------------
    if_match = ", ".join(etag(client, c) for c in pieces)
    body = {"codes": pieces, "name": "合并网格"}
    assert client.post("/grids/merge", json=body).status_code == 428
    r = client.post("/grids/merge", json=body, headers={"If-Match": if_match})
    assert r.status_code == 201, r.text
    merged = r.json()
    (new,) = merged["created"]["features"]
    new_code = new["properties"]["code"]
    assert new_code not in pieces and new_code != leaf.code
    assert sorted(merged["retired"]) == sorted(pieces)
    assert abs(area_m2(shape(new["geometry"])) - area_m2(leaf.geom)) < 1.0
    assert area_m2(shapely.symmetric_difference(shape(new["geometry"]), leaf.geom)) < 1.0
    assert merged["retagged_issues"] == len(issues)
    on_new = conn.execute(
        text(
            "SELECT count(*) FROM issues i JOIN grids g ON g.id = i.grid_id "
            "WHERE g.code = :c AND i.id = ANY(:ids)"
        ),
        {"c": new_code, "ids": issues},
    ).scalar_one()
    assert on_new == len(issues)
    retags = conn.execute(
        text("SELECT count(*) FROM issue_events WHERE kind = 'retag' AND issue_id = ANY(:ids)"),
        {"ids": issues},
    ).scalar_one()
    assert retags == 2 * len(issues)
    for code in pieces:
        assert client.get(f"/grids/{code}/history").json()["features"][-1]["properties"][
            "retired_at"
        ]
    gaps = client.get(f"/grids/{leaf.parent}/gaps").json()
    assert gaps["gap_area_m2"] < 1.0 and gaps["overlap_area_m2"] < 1.0


def test_split_and_merge_refusals(grids_client: tuple[TestClient, Connection], leaf: Leaf) -> None:
    client, conn = grids_client
    # a line that misses the grid
    x0, y0, _, _ = leaf.geom.bounds
    miss = {"type": "LineString", "coordinates": [[x0 - 0.01, y0 - 0.01], [x0 - 0.02, y0 - 0.01]]}
    r = client.post(
        f"/grids/{leaf.code}/split", json=miss, headers={"If-Match": etag(client, leaf.code)}
    )
    assert r.status_code == 422 and r.json()["rule"] == "line_does_not_split"
    r = client.post(
        f"/grids/{leaf.code}/split",
        json={"type": "Point", "coordinates": [x0, y0]},
        headers={"If-Match": etag(client, leaf.code)},
    )
    assert r.status_code == 422 and r.json()["rule"] == "not_a_line"
    # a level-1 grid is not split
    r = client.post(
        f"/grids/{leaf.parent}/split",
        json=_cut_line(leaf.geom),
        headers={"If-Match": etag(client, leaf.parent)},
    )
    assert r.status_code == 422 and r.json()["rule"] == "level"
    # siblings that do not touch do not merge
    far = conn.execute(
        text("""SELECT b.code FROM grids a JOIN grid_versions av ON av.grid_id = a.id
                AND av.valid_to IS NULL JOIN grids b ON b.parent_id = a.parent_id
                AND b.kind = 'general' AND b.id <> a.id
                JOIN grid_versions bv ON bv.grid_id = b.id AND bv.valid_to IS NULL
                WHERE a.code = :c AND ST_Distance(av.geom, bv.geom) > 0.001
                ORDER BY b.code LIMIT 1"""),
        {"c": leaf.code},
    ).scalar_one()
    tags = f"{etag(client, leaf.code)}, {etag(client, far)}"
    r = client.post("/grids/merge", json={"codes": [leaf.code, far]}, headers={"If-Match": tags})
    assert r.status_code == 422 and r.json()["rule"] == "not_adjacent"
    # a merge needs the current version of every grid
    r = client.post(
        "/grids/merge",
        json={"codes": [leaf.code, far]},
        headers={"If-Match": etag(client, leaf.code)},
    )
    assert r.status_code == 412 and r.json()["code"] == far


def test_split_apportions_households_by_area_as_an_estimate(
    grids_client: tuple[TestClient, Connection], leaf: Leaf
) -> None:
    client, _ = grids_client
    r = client.patch(
        f"/grids/{leaf.code}",
        json={"type": "Feature", "properties": {"households": 1001, "population": 2999}},
        headers={"If-Match": etag(client, leaf.code)},
    )
    assert r.status_code == 200, r.text
    r = client.post(
        f"/grids/{leaf.code}/split",
        json=_cut_line(leaf.geom),
        headers={"If-Match": etag(client, leaf.code)},
    )
    assert r.status_code == 201, r.text
    pieces = [f["properties"] for f in r.json()["created"]["features"]]
    assert sum(p["households"] for p in pieces) == 1001
    assert sum(p["population"] for p in pieces) == 2999
    whole = sum(p["area_m2"] for p in pieces)
    for p in pieces:
        assert abs(p["households"] - 1001 * p["area_m2"] / whole) <= 1
        assert abs(p["population"] - 2999 * p["area_m2"] / whole) <= 1
        assert p["attributes"]["households_estimated"] is True
        assert p["attributes"]["population_estimated"] is True
        assert leaf.code in p["attributes"]["estimated_from"]
    # a merge of estimates is an estimate
    codes = [p["code"] for p in pieces]
    r = client.post(
        "/grids/merge",
        json={"codes": codes},
        headers={"If-Match": ", ".join(etag(client, c) for c in codes)},
    )
    assert r.status_code == 201, r.text
    merged = r.json()["created"]["features"][0]["properties"]
    assert (merged["households"], merged["population"]) == (1001, 2999)
    assert merged["attributes"]["households_estimated"] is True
    # a counted number replaces the estimate and its flag
    r = client.patch(
        f"/grids/{merged['code']}",
        json={"type": "Feature", "properties": {"households": 990}},
        headers={"If-Match": etag(client, merged["code"])},
    )
    assert r.status_code == 200, r.text
    attrs = r.json()["properties"]["attributes"]
    assert "households_estimated" not in attrs and attrs["population_estimated"] is True


def test_split_of_a_grid_without_counts_leaves_them_unknown(
    grids_client: tuple[TestClient, Connection], leaf: Leaf
) -> None:
    client, _ = grids_client
    r = client.patch(
        f"/grids/{leaf.code}",
        json={"type": "Feature", "properties": {"households": None, "population": None}},
        headers={"If-Match": etag(client, leaf.code)},
    )
    assert r.status_code == 200, r.text
    r = client.post(
        f"/grids/{leaf.code}/split",
        json=_cut_line(leaf.geom),
        headers={"If-Match": etag(client, leaf.code)},
    )
    assert r.status_code == 201, r.text
    for p in (f["properties"] for f in r.json()["created"]["features"]):
        assert p["households"] is None and p["population"] is None
        assert "households_estimated" not in p["attributes"]
