"""Pages for people (issue 11), through the real app in a rolled-back transaction: the
resident's report and tracking page, the worker's rounds, the office's "away", and who may
open which page. The browser tests are in ``test_people_browser.py``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geogrid.analysis.gaps import coverage_gaps, post_gaps
from geogrid.settings import Settings
from tests.logins import TestLogin

NOW = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 China time

AsRole = Callable[[str | None], TestClient]


@pytest.fixture
def as_role(
    settings: Settings, engine: Engine, logins: dict[str, TestLogin]
) -> Iterator[tuple[AsRole, Session]]:
    """The rolled-back app at ``NOW``, a client switched between roles, and a session on the
    test's transaction (to read what the requests wrote)."""
    from tests.rolled_back import rolled_back_app

    with rolled_back_app(settings, engine, role=None) as (client, conn, app):
        app.state.clock = lambda: NOW

        def switch(role: str | None) -> TestClient:
            client.headers.pop("Authorization", None)
            if role is not None:
                client.headers.update(logins[role].headers)
            return client

        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            yield switch, session
        finally:
            session.close()


def _worker_grid(session: Session, staff_id: int) -> tuple[str, float, float]:
    """The worker's A-post grid and a point inside it."""
    row = session.execute(
        text(
            "SELECT g.code, ST_X(p), ST_Y(p) FROM grid_assignments a "
            "JOIN grids g ON g.id = a.grid_id "
            "JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL, "
            "LATERAL ST_PointOnSurface(v.geom) p "
            "WHERE a.staff_id = :s AND a.post = 'A' AND a.valid_to IS NULL "
            "AND g.retired_at IS NULL ORDER BY g.level DESC, g.code LIMIT 1"
        ),
        {"s": staff_id},
    ).one()
    return str(row[0]), float(row[1]), float(row[2])


@pytest.fixture
def category(as_role: tuple[AsRole, Session]) -> str:
    _, session = as_role
    code = session.execute(
        text("SELECT code FROM issue_categories WHERE parent_id IS NOT NULL ORDER BY code LIMIT 1")
    ).scalar_one()
    return str(code)


def test_report_track_work_rate(
    as_role: tuple[AsRole, Session], logins: dict[str, TestLogin], category: str
) -> None:
    switch, session = as_role
    staff_id = logins["grid_worker"].principal.staff_id
    assert staff_id is not None
    code, lon, lat = _worker_grid(session, staff_id)
    public = switch(None)
    key = str(uuid.uuid4())
    body = {"key": key, "category": category, "description": "路灯不亮", "lon": lon, "lat": lat}
    first = public.post("/report/submit", json=body)
    second = public.post("/report/submit", json=body)  # the second tap
    assert first.status_code == 201, first.text
    assert second.status_code == 200
    assert second.json()["issue_id"] == first.json()["issue_id"]
    issue_id = first.json()["issue_id"]
    assert (
        session.execute(
            text("SELECT count(*) FROM issues WHERE idempotency_key = :k"), {"k": "report:" + key}
        ).scalar_one()
        == 1
    )
    # the public reads the tracking page, never the issue itself
    track = public.get(first.json()["track_url"])
    assert track.status_code == 200 and "已上报" in track.text
    assert public.get(f"/issues/{issue_id}").status_code == 401

    # the worker on duty sees it in the queue and works it with the page's buttons' calls
    worker = switch("grid_worker")
    page = worker.get("/work")
    assert page.status_code == 200
    assert f'data-id="{issue_id}"' in page.text and code in page.text
    for step in (
        {"to": "accepted"},
        {"to": "in_progress"},
        {"to": "resolved", "resolution": "已修复"},
    ):
        answer = worker.post(f"/issues/{issue_id}/transitions", json=step)
        assert answer.status_code == 200, answer.text

    public = switch(None)
    track = public.get(f"/track/{key}")
    assert "已处置" in track.text and "已修复" in track.text and 'id="rate-form"' in track.text
    rated = public.post(f"/track/{key}/rating", json={"rating": "satisfied"})
    assert rated.status_code == 200, rated.text
    assert rated.json()["status"] == "closed" and rated.json()["rating"] == "satisfied"
    again = public.post(f"/track/{key}/rating", json={"rating": "unsatisfied"})
    assert again.status_code == 409 and again.json()["rule"] == "rating_not_open"
    assert "已结案" in public.get(f"/track/{key}").text


def test_unsatisfied_rating_reopens(
    as_role: tuple[AsRole, Session], logins: dict[str, TestLogin], category: str
) -> None:
    switch, session = as_role
    staff_id = logins["grid_worker"].principal.staff_id
    assert staff_id is not None
    _, lon, lat = _worker_grid(session, staff_id)
    key = str(uuid.uuid4())
    body = {"key": key, "category": category, "description": "垃圾未清运", "lon": lon, "lat": lat}
    issue_id = switch(None).post("/report/submit", json=body).json()["issue_id"]
    worker = switch("grid_worker")
    for step in (
        {"to": "accepted"},
        {"to": "in_progress"},
        {"to": "resolved", "resolution": "已清运"},
    ):
        assert worker.post(f"/issues/{issue_id}/transitions", json=step).status_code == 200
    rated = switch(None).post(f"/track/{key}/rating", json={"rating": "unsatisfied"})
    assert rated.status_code == 200
    assert rated.json()["status"] == "in_progress"


def test_report_refusals_say_what_to_do(as_role: tuple[AsRole, Session], category: str) -> None:
    switch, _ = as_role
    public = switch(None)
    weak = public.post(
        "/report/submit",
        json={"key": "x" * 32, "category": category, "description": "x", "address": "某地"},
    )
    assert weak.status_code == 422 and weak.json()["rule"] == "tracking_token"
    no_consent = public.post(
        "/report/submit",
        json={
            "key": str(uuid.uuid4()),
            "category": category,
            "description": "x",
            "address": "某地",
            "reporter_phone": "13800000000",
        },
    )
    assert no_consent.status_code == 422 and "个人信息保护" in no_consent.json()["detail"]
    assert public.get(f"/track/{uuid.uuid4()}").status_code == 404


def test_patrol_of_200_points_in_pieces(
    as_role: tuple[AsRole, Session], logins: dict[str, TestLogin], settings: Settings
) -> None:
    """Pieces of 20 points; piece 3 is sent twice; piece 6 is lost (the phone keeps it) and
    sent after the others; the track is stored once and in order; the grid is active."""
    switch, session = as_role
    staff_id = logins["grid_worker"].principal.staff_id
    assert staff_id is not None
    code, lon, lat = _worker_grid(session, staff_id)
    # make the grid inactive first: its activity was all older than the window
    session.execute(
        text(
            "DELETE FROM issue_events WHERE issue_id IN (SELECT ig.issue_id FROM issue_grids ig "
            "JOIN grids g ON g.id = ig.grid_id WHERE g.code = :c)"
        ),
        {"c": code},
    )
    session.execute(
        text(
            "UPDATE issues SET reported_at = :old WHERE id IN (SELECT ig.issue_id FROM "
            "issue_grids ig JOIN grids g ON g.id = ig.grid_id WHERE g.code = :c)"
        ),
        {"c": code, "old": NOW - timedelta(days=400)},
    )
    session.flush()

    def inactive() -> bool:
        gaps = coverage_gaps(session, district_adcode=settings.district_adcode, now=NOW)
        return any(r.kind == "inactive" and r.code == code for r in gaps.rows)

    assert inactive()
    worker = switch("grid_worker")
    start = {"grid": code, "started_at": NOW.isoformat(), "key": "patrol-" + code}
    patrol = worker.post("/rounds/patrols", json=start)
    assert patrol.status_code == 201, patrol.text
    assert worker.post("/rounds/patrols", json=start).json()["id"] == patrol.json()["id"]
    patrol_id = patrol.json()["id"]
    points = [
        {
            "seq": i,
            "lon": lon + i * 1e-6,
            "lat": lat + i * 1e-6,
            "at": (NOW + timedelta(seconds=5 * i)).isoformat(),
        }
        for i in range(200)
    ]
    pieces = [points[i : i + 20] for i in range(0, 200, 20)]
    url = f"/rounds/patrols/{patrol_id}/points"
    answers = []
    for n, piece in enumerate(pieces):
        if n == 6:
            continue  # the connection dropped: the phone keeps the piece
        answers.append(worker.post(url, json={"points": piece}).json())
        if n == 3:
            repeat = worker.post(url, json={"points": piece}).json()
            assert repeat["stored"] == 0
    assert answers[-1]["missing"][:20] == list(range(120, 140))
    last = worker.post(url, json={"points": pieces[6]}).json()
    assert last["stored"] == 20 and last["points"] == 200 and last["missing"] == []
    ended = worker.post(
        f"/rounds/patrols/{patrol_id}/end",
        json={"ended_at": (NOW + timedelta(hours=1)).isoformat()},
    )
    assert ended.status_code == 200, ended.text
    track = worker.get(f"/rounds/patrols/{patrol_id}").json()
    assert track["seqs"] == list(range(200))
    assert track["track"]["coordinates"][0] == [lon, lat]
    assert not inactive()


def test_visit_counts_as_activity_and_is_idempotent(
    as_role: tuple[AsRole, Session], logins: dict[str, TestLogin]
) -> None:
    switch, session = as_role
    staff_id = logins["grid_worker"].principal.staff_id
    assert staff_id is not None
    code, _, _ = _worker_grid(session, staff_id)
    worker = switch("grid_worker")
    body = {
        "grid": code,
        "household": "3号楼2单元401",
        "note": "独居老人，身体好",
        "visited_at": NOW.isoformat(),
        "key": "visit-1",
    }
    assert worker.post("/rounds/visits", json=body).status_code == 201
    assert worker.post("/rounds/visits", json=body).status_code == 200
    count = session.execute(
        text("SELECT count(*) FROM visits WHERE client_key = 'visit-1'")
    ).scalar_one()
    assert count == 1
    # a grid out of the worker's reach: refused by row-level security, as not found
    other = session.execute(
        text(
            "SELECT g.code FROM grids g WHERE g.retired_at IS NULL AND g.level = 2 AND NOT "
            "EXISTS (SELECT 1 FROM grid_assignments a WHERE a.grid_id = g.id AND a.staff_id = :s) "
            "ORDER BY g.code DESC LIMIT 1"
        ),
        {"s": staff_id},
    ).scalar_one()
    refused = worker.post("/rounds/visits", json={**body, "grid": other, "key": "visit-2"})
    assert refused.status_code == 404


def test_officer_marks_a_away_and_every_place_names_b(
    as_role: tuple[AsRole, Session],
    logins: dict[str, TestLogin],
    settings: Settings,
    category: str,
) -> None:
    """One rule, asked from the signboard, the report routing and the gaps map."""
    switch, session = as_role
    street = logins["street_officer"].principal.reach
    assert street
    row = session.execute(
        text(
            "SELECT g.code, a.staff_id, b.staff_id, ST_X(p), ST_Y(p) FROM grids g "
            "JOIN grid_assignments a ON a.grid_id = g.id AND a.post = 'A' AND a.valid_to IS NULL "
            "JOIN grid_assignments b ON b.grid_id = g.id AND b.post = 'B' AND b.valid_to IS NULL "
            "JOIN staff sa ON sa.id = a.staff_id AND sa.active AND sa.availability = 'on_duty' "
            "JOIN staff sb ON sb.id = b.staff_id AND sb.active AND sb.availability = 'on_duty' "
            "JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL, "
            "LATERAL ST_PointOnSurface(v.geom) p "
            "WHERE g.code LIKE :street AND g.retired_at IS NULL AND g.kind = 'general' "
            "AND NOT EXISTS (SELECT 1 FROM grids c WHERE c.parent_id = g.id "
            "AND c.retired_at IS NULL) ORDER BY g.code LIMIT 1"
        ),
        {"street": street[0] + "%"},
    ).one()
    code, a_id, b_id, lon, lat = row
    officer = switch("street_officer")
    page = officer.get(f"/office?grid={code}")
    assert page.status_code == 200 and f'data-staff="{a_id}"' in page.text
    # away until further notice: the signboard route answers at the wall clock, which a test
    # must not depend on (the dated "away until" is the rule's own test, test_rules_on_duty)
    marked = officer.post(f"/office/staff/{a_id}/away", json={"away": True, "away_until": None})
    assert marked.status_code == 200, marked.text

    public = switch(None)
    board = public.get(f"/grids/{code}/signboard").json()
    assert board["on_duty"]["staff_id"] == b_id and board["on_duty"]["post"] == "B"
    report = public.post(
        "/report/submit",
        json={
            "key": str(uuid.uuid4()),
            "category": category,
            "description": "井盖缺失",
            "lon": lon,
            "lat": lat,
        },
    ).json()
    assignee = session.execute(
        text(
            "SELECT g.code, i.assignee_staff_id FROM issues i JOIN grids g ON g.id = i.grid_id "
            "WHERE i.id = :id"
        ),
        {"id": report["issue_id"]},
    ).one()
    assert tuple(assignee) == (code, b_id)
    rows = [
        r
        for r in post_gaps(session, district_adcode=settings.district_adcode, now=NOW)
        if r.code == code
    ]
    assert rows == []  # B covers: nothing missing
    # B away too: the gaps map names B as the one who is also away
    session.execute(
        text("UPDATE staff SET availability = 'away', away_until = NULL WHERE id = :id"),
        {"id": b_id},
    )
    session.flush()
    rows = [
        r
        for r in post_gaps(session, district_adcode=settings.district_adcode, now=NOW)
        if r.code == code
    ]
    b_name = session.execute(text("SELECT name FROM staff WHERE id = :id"), {"id": b_id}).scalar()
    assert [r.kind for r in rows] == ["a_away_no_b"] and f"B岗 {b_name}" in rows[0].detail


def test_who_may_open_which_page(as_role: tuple[AsRole, Session]) -> None:
    switch, _ = as_role
    public = switch(None)
    for path in ("/find", "/report"):
        page = public.get(path)
        assert page.status_code == 200 and 'lang="zh-CN"' in page.text
    for path in ("/work", "/office", "/dept"):
        answer = public.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert switch("grid_worker").get("/office").status_code == 403
    assert switch("department").get("/dept").status_code == 200
    assert switch("district_officer").get("/office?overdue=true").status_code == 200
