"""Retiring a grid: who/when/why recorded and shown in the history; open issues move by location
(to the deepest current general grid, or the district queue); staff assignments end and are
listed; a retired grid comes back with POST /restore when its boundary still fits."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from geogrid.settings import Settings
from tests.test_grids_support import (
    Leaf,
    etag,
    feature,
    inner_square,
    pick_leaf,
    rolled_back_client,
)

OPEN = "i.status NOT IN ('closed', 'rejected', 'duplicate')"


@pytest.fixture(scope="module")
def leaf(demo: Engine) -> Leaf:
    return pick_leaf(demo, skip=3)


@pytest.fixture
def grids_client(settings: Settings, engine: Engine) -> Iterator[tuple[TestClient, Connection]]:
    yield from rolled_back_client(settings, engine)


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


def _current_staff(conn: Connection, code: str) -> list[tuple[int, str | None]]:
    return [
        (r.staff_id, r.post)
        for r in conn.execute(
            text(
                "SELECT a.staff_id, a.post FROM grid_assignments a JOIN grids g ON g.id = a.grid_id "
                "WHERE g.code = :c AND a.valid_to IS NULL ORDER BY a.staff_id"
            ),
            {"c": code},
        )
    ]


def _retire(client: TestClient, code: str, **headers: str) -> dict:
    r = client.delete(
        f"/grids/{code}",
        headers={"If-Match": etag(client, code), **headers},
        params={"reason": "test retirement"},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_retire_records_who_when_why_moves_issues_and_ends_assignments(
    grids_client: tuple[TestClient, Connection], leaf: Leaf
) -> None:
    client, conn = grids_client
    issues = _open_issues(conn, leaf.code)
    staff = _current_staff(conn, leaf.code)
    assert len(issues) >= 2 and {p for _, p in staff} >= {"A", "B"}

    r = client.delete(
        f"/grids/{leaf.code}",
        headers={"If-Match": etag(client, leaf.code), "X-Actor": quote("华州街道办")},
        params={"reason": "estate demolished"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "Feature" and body["properties"]["retired_at"] is not None
    ret = body["retirement"]
    # the login signs the retirement, whatever X-Actor says
    assert (ret["retired_by"], ret["reason"], ret["operation"]) == (
        "test-admin",
        "estate demolished",
        "retire",
    )
    assert ret["retired_at"] == body["properties"]["retired_at"] and ret["version"] == 1

    # open issues went to the deepest current general grid at their point: the parent
    assert body["retagged_issues"] == len(issues) and body["district_queue"] == 0
    assert {t["to"] for t in body["retags"]} == {leaf.parent}
    assert _open_issues(conn, leaf.code) == []
    assert set(issues) <= set(_open_issues(conn, leaf.parent))
    notes = (
        conn.execute(
            text("SELECT note FROM issue_events WHERE kind = 'retag' AND issue_id = ANY(:ids)"),
            {"ids": issues},
        )
        .scalars()
        .all()
    )
    assert len(notes) == len(issues)
    assert all(n == f"grid {leaf.code} → {leaf.parent} (retirement of {leaf.code})" for n in notes)
    stale = conn.execute(
        text(
            "SELECT count(*) FROM issue_grids ig JOIN grids g ON g.id = ig.grid_id "
            "WHERE g.code = :c AND ig.issue_id = ANY(:ids)"
        ),
        {"c": leaf.code, "ids": issues},
    ).scalar_one()
    assert stale == 0

    # staff assignments ended and listed for a person to decide
    assert _current_staff(conn, leaf.code) == []
    (decision,) = body["staff_decisions"]
    assert decision["grid"] == leaf.parent and decision["retired_grid"] == leaf.code
    assert sorted((f["staff_id"], f["post"]) for f in decision["former_staff"]) == sorted(staff)
    assert all(f["ended_at"] == ret["retired_at"] for f in decision["former_staff"])
    assert len(decision["messages"]) >= len(staff)

    # the history says who, when and why
    hist = client.get(f"/grids/{leaf.code}/history").json()
    assert hist["retirements"] == [ret] and ret["restored_at"] is None
    last = hist["features"][-1]["properties"]
    assert last["retirement"]["retired_by"] == "test-admin"
    assert last["retirement"]["reason"] == "estate demolished"


def test_retiring_a_level1_grid_sends_its_issues_to_the_district_queue(
    grids_client: tuple[TestClient, Connection],
) -> None:
    client, conn = grids_client
    top = conn.execute(
        text(
            f"""SELECT p.code FROM grids p JOIN grids c ON c.parent_id = p.id
                WHERE p.level = 1 AND p.retired_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM grids gc JOIN grids c2 ON gc.parent_id = c2.id
                                  WHERE c2.parent_id = p.id)
                  AND EXISTS (SELECT 1 FROM issues i JOIN grids ig ON ig.id = i.grid_id
                              WHERE (ig.id = p.id OR ig.parent_id = p.id) AND {OPEN})
                GROUP BY p.code ORDER BY count(*), p.code LIMIT 1"""
        )
    ).scalar_one()
    kids = [f["id"] for f in client.get(f"/grids/{top}/children").json()["features"]]
    for kid in kids:
        _retire(client, kid)
    issues = _open_issues(conn, top)
    assert issues, "the children's open issues came up to the level-1 grid"
    body = _retire(client, top)
    assert body["district_queue"] == len(issues) == body["retagged_issues"]
    rows = conn.execute(
        text("SELECT grid_id, handling_level, routing_note FROM issues WHERE id = ANY(:ids)"),
        {"ids": issues},
    ).all()
    assert all(r.grid_id is None and r.handling_level == "district" for r in rows)
    assert all(f"grid {top} retired" in r.routing_note for r in rows)
    (decision,) = body["staff_decisions"]
    assert decision["grid"] is None and any("level-1" in m for m in decision["messages"])


def test_retiring_a_dedicated_grid_untags_its_issues(
    grids_client: tuple[TestClient, Connection],
) -> None:
    client, conn = grids_client
    code, issue, general = conn.execute(
        text(
            f"""SELECT g.code, i.id, i.grid_id FROM grids g
                JOIN issue_grids ig ON ig.grid_id = g.id JOIN issues i ON i.id = ig.issue_id
                WHERE g.kind = 'dedicated' AND {OPEN} ORDER BY g.code, i.id LIMIT 1"""
        )
    ).one()
    body = _retire(client, code)
    assert {"issue": issue, "from": code, "to": None, "operation": "retire", "untagged": True} in (
        body["retags"]
    )
    assert conn.execute(
        text("SELECT grid_id FROM issues WHERE id = :i"), {"i": issue}
    ).scalar() == (general)
    tags = (
        conn.execute(
            text(
                "SELECT g.code FROM issue_grids ig JOIN grids g ON g.id = ig.grid_id "
                "WHERE ig.issue_id = :i"
            ),
            {"i": issue},
        )
        .scalars()
        .all()
    )
    assert code not in tags
    assert body["staff_decisions"][0]["former_staff"]  # the dedicated-grid worker


def test_a_retired_grid_is_restored_with_its_code_and_its_issues_come_back(
    grids_client: tuple[TestClient, Connection], leaf: Leaf
) -> None:
    client, conn = grids_client
    issues = _open_issues(conn, leaf.code)
    _retire(client, leaf.code)
    assert client.get(f"/grids/{leaf.code}").status_code == 404
    assert client.post(f"/grids/{leaf.code}/restore", json={}).status_code == 428
    stale = client.post(
        f"/grids/{leaf.code}/restore", json={}, headers={"If-Match": f'"{leaf.code}-v9"'}
    )
    assert stale.status_code == 412
    r = client.post(
        f"/grids/{leaf.code}/restore",
        json={"reason": "demolition cancelled"},
        headers={"If-Match": f'"{leaf.code}-v1"', "X-Actor": "office"},
    )
    assert r.status_code == 200, r.text
    props = r.json()["properties"]
    assert (props["code"], props["version"], props["retired_at"]) == (leaf.code, 2, None)
    assert r.headers["ETag"] == f'"{leaf.code}-v2"'
    assert shapely.geometry.shape(r.json()["geometry"]).equals(leaf.geom)
    assert client.get(f"/grids/{leaf.code}").status_code == 200

    hist = client.get(f"/grids/{leaf.code}/history").json()
    (ret,) = hist["retirements"]
    assert ret["restored_by"] == "test-admin" and ret["restore_reason"] == "demolition cancelled"
    v1, v2 = (f["properties"] for f in hist["features"])
    assert v1["valid_to"] == ret["retired_at"] and v2["valid_from"] == ret["restored_at"]
    assert v2["change_reason"] == "demolition cancelled" and v2["retirement"] is None

    # the open issues that went up to the parent come back, each with a retag event
    assert set(issues) <= set(_open_issues(conn, leaf.code))
    restores = conn.execute(
        text(
            "SELECT count(*) FROM issue_events WHERE kind = 'retag' AND issue_id = ANY(:ids) "
            "AND data->>'operation' = 'restore'"
        ),
        {"ids": issues},
    ).scalar_one()
    assert restores == len(issues)
    # retired again, then restored again: two retirements in the history
    _retire(client, leaf.code)
    r = client.post(
        f"/grids/{leaf.code}/restore", json={"version": 1}, headers={"If-Match": etag_v(leaf, 2)}
    )
    assert r.status_code == 200, r.text
    assert len(client.get(f"/grids/{leaf.code}/history").json()["retirements"]) == 2


def etag_v(leaf: Leaf, version: int) -> str:
    return f'"{leaf.code}-v{version}"'


def test_restore_is_refused_when_the_ground_was_taken_or_the_parent_is_gone(
    grids_client: tuple[TestClient, Connection], leaf: Leaf
) -> None:
    client, _ = grids_client
    # a split gave the ground to new grids: restoring the old one would overlap them
    p = leaf.geom.representative_point()
    _, miny, _, maxy = leaf.geom.bounds
    line = {"type": "LineString", "coordinates": [[p.x, miny - 0.001], [p.x, maxy + 0.001]]}
    r = client.post(
        f"/grids/{leaf.code}/split", json=line, headers={"If-Match": etag(client, leaf.code)}
    )
    assert r.status_code == 201, r.text
    pieces = [f["id"] for f in r.json()["created"]["features"]]
    hist = client.get(f"/grids/{leaf.code}/history").json()
    assert hist["retirements"][0]["operation"] == "split"
    assert all(c in hist["retirements"][0]["reason"] for c in pieces)
    r = client.post(f"/grids/{leaf.code}/restore", json={}, headers={"If-Match": etag_v(leaf, 1)})
    assert r.status_code == 422, r.text
    assert r.json()["rule"] == "overlaps_sibling"
    assert all(c in r.json()["detail"] for c in pieces) and "merge" in r.json()["detail"]
    assert client.get(f"/grids/{leaf.code}").status_code == 404

    # a level-3 grid whose parent was retired cannot come back before its parent
    piece = pieces[0]
    piece_geom = shapely.geometry.shape(client.get(f"/grids/{piece}").json()["geometry"])
    r = client.post("/grids", json=feature(inner_square(piece_geom), name="楼栋", parent=piece))
    assert r.status_code == 201, r.text
    child = r.json()["id"]
    _retire(client, child)
    _retire(client, piece)
    r = client.post(f"/grids/{child}/restore", json={}, headers={"If-Match": f'"{child}-v1"'})
    assert r.status_code == 409, r.text
    assert f"parent {piece} is retired" in r.json()["detail"]
    # restoring the parent first, then the child, works
    r = client.post(f"/grids/{piece}/restore", json={}, headers={"If-Match": f'"{piece}-v1"'})
    assert r.status_code == 200, r.text
    r = client.post(f"/grids/{child}/restore", json={}, headers={"If-Match": f'"{child}-v1"'})
    assert r.status_code == 200, r.text
    # a current grid still needs a version to restore
    r = client.post(f"/grids/{child}/restore", json={}, headers={"If-Match": f'"{child}-v2"'})
    assert r.status_code == 422 and r.json()["rule"] == "version"
