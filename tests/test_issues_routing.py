"""Reporting an issue: tagging to the deepest grid and the dedicated grids, assignment to the
on-duty post (A, or B when A is away), the district queue, idempotency and photos."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geogrid.settings import Settings
from geogrid.spatial.crs import from_wgs84
from tests.rolled_back import rolled_back_app


@dataclass
class IssuesApi:
    """The app and a session on the same rolled-back transaction: the test sees the app's
    writes and the app sees the test's (e.g. a worker marked away)."""

    client: TestClient
    db: Session
    app: FastAPI


@pytest.fixture
def issues_api(settings: Settings, demo: Engine) -> Iterator[IssuesApi]:
    with rolled_back_app(settings, demo) as (client, conn, app):
        db = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            yield IssuesApi(client, db, app)
        finally:
            db.close()


def leaf_grid(db: Session, offset: int = 0) -> dict[str, Any]:
    """A level-2 general grid without level-3 children, a point inside it, and its A/B staff."""
    row = (
        db.execute(
            text(
                """
            SELECT g.id, g.code, ST_X(p) AS lon, ST_Y(p) AS lat,
                   (SELECT staff_id FROM grid_assignments a WHERE a.grid_id = g.id
                      AND a.post = 'A' AND a.valid_to IS NULL) AS a_staff,
                   (SELECT staff_id FROM grid_assignments a WHERE a.grid_id = g.id
                      AND a.post = 'B' AND a.valid_to IS NULL) AS b_staff
            FROM grids g
            JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL,
                 ST_PointOnSurface(v.geom) AS p
            WHERE g.level = 2 AND g.kind = 'general' AND g.retired_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM grids c WHERE c.parent_id = g.id AND c.kind = 'general')
              AND NOT EXISTS (SELECT 1 FROM grids d JOIN grid_versions dv
                                ON dv.grid_id = d.id AND dv.valid_to IS NULL
                              WHERE d.kind = 'dedicated' AND ST_Covers(dv.geom, p))
            ORDER BY g.code OFFSET :offset LIMIT 1
            """
            ),
            {"offset": offset},
        )
        .mappings()
        .one()
    )
    return dict(row)


def set_on_duty(db: Session, *staff_ids: int) -> None:
    db.execute(
        text("UPDATE staff SET availability = 'on_duty', away_until = NULL WHERE id = ANY(:ids)"),
        {"ids": list(staff_ids)},
    )
    db.flush()


def report(client: TestClient, **fields: Any) -> Any:
    body = {"category": "1201", "description": "楼下垃圾三天没人清运", **fields}
    return client.post("/issues", json=body, headers={"X-Actor": "resident"})


def test_gcj02_point_lands_on_its_grid_and_the_a_post_then_b_when_a_is_away(
    issues_api: IssuesApi,
) -> None:
    grid = leaf_grid(issues_api.db)
    set_on_duty(issues_api.db, grid["a_staff"], grid["b_staff"])
    gcj_lon, gcj_lat = from_wgs84(grid["lon"], grid["lat"], "gcj02")
    point = {"lon": float(gcj_lon), "lat": float(gcj_lat), "crs": "gcj02"}

    first = report(issues_api.client, **point)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["grid"]["code"] == grid["code"]
    assert body["grid"]["version"] >= 1
    assert body["assignee"]["id"] == grid["a_staff"]
    assert body["assignee"]["post"] == "A"
    assert abs(body["lon"] - grid["lon"]) < 1e-7 and abs(body["lat"] - grid["lat"]) < 1e-7
    codes = {g["code"] for g in body["grids"]}
    assert {grid["code"], grid["code"][:12]} <= codes  # the general chain
    assert body["status"] == "reported" and body["timeline"][0]["to_status"] == "reported"

    issues_api.db.execute(
        text("UPDATE staff SET availability = 'away' WHERE id = :id"), {"id": grid["a_staff"]}
    )
    issues_api.db.flush()
    second = report(issues_api.client, **point)
    assert second.status_code == 201, second.text
    assert second.json()["assignee"]["id"] == grid["b_staff"]
    assert second.json()["assignee"]["post"] == "B"
    assert "B post" in second.json()["routing_note"]
    # the first report is now a possible duplicate of the second (same place, category, week)
    assert body["id"] in [d["id"] for d in second.json()["possible_duplicates"]]


def test_point_in_a_dedicated_grid_is_tagged_to_it_too(issues_api: IssuesApi) -> None:
    ded = (
        issues_api.db.execute(
            text(
                """
            SELECT g.code, ST_X(ST_PointOnSurface(v.geom)) AS lon,
                   ST_Y(ST_PointOnSurface(v.geom)) AS lat
            FROM grids g JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL
            WHERE g.kind = 'dedicated' ORDER BY g.code LIMIT 1
            """
            )
        )
        .mappings()
        .one()
    )
    response = report(issues_api.client, lon=ded["lon"], lat=ded["lat"])
    assert response.status_code == 201, response.text
    tagged = {(g["code"], g["kind"]) for g in response.json()["grids"]}
    assert (ded["code"], "dedicated") in tagged
    assert response.json()["grid"]["code"] != ded["code"]  # assigned by the general grid


def test_point_in_no_grid_goes_to_the_district_queue(issues_api: IssuesApi) -> None:
    response = report(issues_api.client, lon=116.404, lat=39.915)  # Beijing
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["grid"] is None and body["assignee"] is None and body["grids"] == []
    assert body["handling_level"] == "district"
    assert "district queue" in body["routing_note"]


def test_reporter_phone_is_masked_and_never_public(issues_api: IssuesApi) -> None:
    grid = leaf_grid(issues_api.db, 3)
    response = report(
        issues_api.client,
        lon=grid["lon"],
        lat=grid["lat"],
        reporter_name="王秀英",
        reporter_phone="13812345678",
    )
    assert response.status_code == 201
    text_body = response.text
    assert "13812345678" not in text_body and "王秀英" not in text_body
    assert response.json()["reporters"] == [
        {"name": "王**", "phone": "138****5678", "email": None, "purged": False}
    ]
    # encrypted at rest: the column holds no digit of the number
    stored = issues_api.db.execute(
        text("SELECT phone, name FROM issue_reporters WHERE issue_id = :i"),
        {"i": response.json()["id"]},
    ).one()
    assert "13812345678" not in stored.phone and "王秀英" not in stored.name


def test_report_at_a_demo_address(issues_api: IssuesApi) -> None:
    """By address, through geogrid.addresses.match: the matched point's grid and worker."""
    address = (
        issues_api.db.execute(
            text(
                "SELECT full_text, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM addresses "
                "ORDER BY id LIMIT 1"
            )
        )
        .mappings()
        .one()
    )
    response = report(issues_api.client, address=address["full_text"])
    assert response.status_code == 201, response.text
    expected = issues_api.db.execute(
        text(
            """
            SELECT g.code FROM grids g JOIN grid_versions v ON v.grid_id = g.id
            WHERE v.valid_to IS NULL AND g.retired_at IS NULL AND g.kind = 'general'
              AND ST_Covers(v.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
            ORDER BY g.level DESC, g.code LIMIT 1
            """
        ),
        {"lon": address["lon"], "lat": address["lat"]},
    ).scalar_one()
    body = response.json()
    assert body["grid"]["code"] == expected
    assert body["address_text"] == address["full_text"]
    assert body["assignee"] is not None
    unknown = report(issues_api.client, address="火星市不存在路999号")
    assert unknown.status_code == 404


def test_unknown_category_and_bad_crs_are_refused(issues_api: IssuesApi) -> None:
    grid = leaf_grid(issues_api.db)
    bad = report(issues_api.client, lon=grid["lon"], lat=grid["lat"], category="9999")
    assert bad.status_code == 422 and "9999" in bad.json()["detail"]
    crs = report(issues_api.client, lon=grid["lon"], lat=grid["lat"], crs="bd09mc")
    assert crs.status_code == 422
    server_owned = report(issues_api.client, lon=grid["lon"], lat=grid["lat"], status="closed")
    assert server_owned.status_code == 422


def test_same_key_five_times_is_one_issue(issues_api: IssuesApi) -> None:
    grid = leaf_grid(issues_api.db)
    key = f"test-{uuid.uuid4()}"
    body = {"category": "1201", "description": "重复提交", "lon": grid["lon"], "lat": grid["lat"]}
    answers = [
        issues_api.client.post("/issues", json=body, headers={"Idempotency-Key": key})
        for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 200]
    assert len({a.json()["id"] for a in answers}) == 1
    count = issues_api.db.execute(
        text("SELECT count(*) FROM issues WHERE idempotency_key = :k"), {"k": key}
    ).scalar_one()
    assert count == 1


def test_same_key_five_times_concurrently_is_one_issue(
    committing_client: TestClient, demo: Engine
) -> None:
    with demo.connect() as conn:
        point = conn.execute(
            text(
                "SELECT ST_X(ST_PointOnSurface(v.geom)), ST_Y(ST_PointOnSurface(v.geom)) "
                "FROM grids g JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL "
                "WHERE g.level = 2 ORDER BY g.code LIMIT 1"
            )
        ).one()
    key = f"test-concurrent-{uuid.uuid4()}"
    body = {"category": "1201", "description": "并发重复提交", "lon": point[0], "lat": point[1]}

    def send(_: int) -> Any:
        return committing_client.post("/issues", json=body, headers={"Idempotency-Key": key})

    try:
        with ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(send, range(5)))
        assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201], [
            a.text for a in answers
        ]
        assert len({a.json()["id"] for a in answers}) == 1
        with demo.connect() as conn:
            count = conn.execute(
                text("SELECT count(*) FROM issues WHERE idempotency_key = :k"), {"k": key}
            ).scalar_one()
        assert count == 1
    finally:
        with demo.begin() as conn:
            conn.execute(text("DELETE FROM issues WHERE idempotency_key = :k"), {"k": key})


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def test_photo_upload_checks_type_and_size(issues_api: IssuesApi, tmp_path: Path) -> None:
    from api.routers.issues import get_photo_store
    from geogrid.issues.photos import PhotoStore

    issues_api.app.dependency_overrides[get_photo_store] = lambda: PhotoStore(tmp_path)
    grid = leaf_grid(issues_api.db)
    issue_id = report(issues_api.client, lon=grid["lon"], lat=grid["lat"]).json()["id"]
    url = f"/issues/{issue_id}/photos"

    ok = issues_api.client.post(url, files={"file": ("a.png", PNG, "image/png")})
    assert ok.status_code == 201, ok.text
    assert ok.json()["content_type"] == "image/png"
    assert len(list(tmp_path.rglob("*.png"))) == 1
    assert len(issues_api.client.get(f"/issues/{issue_id}").json()["photos"]) == 1

    fake = issues_api.client.post(url, files={"file": ("a.jpg", b"<html>not</html>", "image/jpeg")})
    assert fake.status_code == 422
    big = issues_api.client.post(
        url, files={"file": ("b.jpg", b"\xff\xd8\xff" + b"0" * (5 * 1024 * 1024), "image/jpeg")}
    )
    assert big.status_code == 422 and "limit" in big.json()["detail"]
    missing = issues_api.client.post("/issues/999999999/photos", files={"file": ("a.png", PNG)})
    assert missing.status_code == 404
