"""Appointing and ending a grid's A/B posts (issue 11, the office): the refusals in words,
reach, what the signboard, /locate and report routing then say, the audit trail, and two real
connections racing for one vacant post. Through the real app; the race commits and cleans up."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geogrid.settings import Settings
from tests.concurrency import race_behind_row_lock
from tests.logins import TestLogin

NOW = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)

AsRole = Callable[[str | None], TestClient]


@dataclass(frozen=True)
class PostedGrid:
    """A leaf general grid in the street officer's reach with A and B on duty, a point inside
    it, and two more active staff of its district who hold nothing on it."""

    code: str
    grid_id: int
    a_id: int
    b_id: int
    lon: float
    lat: float
    others: tuple[int, int]


def _posted_grid(session: Session | Engine, street: str) -> PostedGrid:
    sql = text(
        "SELECT g.code, g.id, a.staff_id, b.staff_id, ST_X(p), ST_Y(p), g.district_adcode "
        "FROM grids g "
        "JOIN grid_assignments a ON a.grid_id = g.id AND a.post = 'A' AND a.valid_to IS NULL "
        "JOIN grid_assignments b ON b.grid_id = g.id AND b.post = 'B' AND b.valid_to IS NULL "
        "JOIN staff sa ON sa.id = a.staff_id AND sa.active AND sa.availability = 'on_duty' "
        "JOIN staff sb ON sb.id = b.staff_id AND sb.active AND sb.availability = 'on_duty' "
        "JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL, "
        "LATERAL ST_PointOnSurface(v.geom) p "
        "WHERE g.code LIKE :street AND g.retired_at IS NULL AND g.kind = 'general' "
        "AND NOT EXISTS (SELECT 1 FROM grids c WHERE c.parent_id = g.id "
        "AND c.retired_at IS NULL) ORDER BY g.code LIMIT 1"
    )
    others_sql = text(
        "SELECT s.id FROM staff s WHERE s.district_adcode = :d AND s.active "
        "AND s.availability = 'on_duty' AND NOT EXISTS (SELECT 1 FROM grid_assignments x "
        "WHERE x.staff_id = s.id AND x.grid_id = :g AND x.valid_to IS NULL) ORDER BY s.id LIMIT 2"
    )
    if isinstance(session, Engine):
        with session.connect() as conn:
            row = conn.execute(sql, {"street": street + "%"}).one()
            others = conn.execute(others_sql, {"d": row[6], "g": row[1]}).scalars().all()
    else:
        row = session.execute(sql, {"street": street + "%"}).one()
        others = session.execute(others_sql, {"d": row[6], "g": row[1]}).scalars().all()
    return PostedGrid(
        str(row[0]), row[1], row[2], row[3], float(row[4]), float(row[5]), (others[0], others[1])
    )


@pytest.fixture
def as_role(
    settings: Settings, engine: Engine, logins: dict[str, TestLogin]
) -> Iterator[tuple[AsRole, Session]]:
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


@pytest.fixture
def posted(as_role: tuple[AsRole, Session], logins: dict[str, TestLogin]) -> PostedGrid:
    street = logins["street_officer"].principal.reach
    assert street
    return _posted_grid(as_role[1], street[0])


def _category(session: Session) -> str:
    return str(
        session.execute(
            text(
                "SELECT code FROM issue_categories WHERE parent_id IS NOT NULL ORDER BY code "
                "LIMIT 1"
            )
        ).scalar_one()
    )


def test_appoint_with_replace_and_every_place_names_the_new_holder(
    as_role: tuple[AsRole, Session], posted: PostedGrid
) -> None:
    switch, session = as_role
    officer = switch("street_officer")
    newcomer = posted.others[0]
    refused = officer.post(f"/grids/{posted.code}/posts", json={"staff_id": newcomer, "post": "A"})
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["rule"] == "post_taken" and "replace" in problem["detail"]
    assert problem["holder_staff_id"] == posted.a_id

    made = officer.post(
        f"/grids/{posted.code}/posts", json={"staff_id": newcomer, "post": "A", "replace": True}
    )
    assert made.status_code == 201, made.text
    answer = made.json()
    assert answer["holder"]["staff_id"] == newcomer and answer["ended"]["staff_id"] == posted.a_id
    assert answer["holder"]["valid_from"] == answer["ended"]["valid_to"] == NOW.isoformat()
    again = officer.post(f"/grids/{posted.code}/posts", json={"staff_id": newcomer, "post": "A"})
    assert again.status_code == 200 and again.json()["ended"] is None

    public = switch(None)
    board = public.get(f"/grids/{posted.code}/signboard").json()
    assert board["on_duty"]["staff_id"] == newcomer and board["post_a"]["staff_id"] == newcomer
    located = public.get("/locate", params={"lon": posted.lon, "lat": posted.lat}).json()
    assert located["signboard"]["on_duty"]["staff_id"] == newcomer
    report = public.post(
        "/report/submit",
        json={
            "key": str(uuid.uuid4()),
            "category": _category(session),
            "description": "路灯不亮",
            "lon": posted.lon,
            "lat": posted.lat,
        },
    ).json()
    assignee = session.execute(
        text("SELECT assignee_staff_id FROM issues WHERE id = :id"), {"id": report["issue_id"]}
    ).scalar_one()
    assert assignee == newcomer
    audited = session.execute(
        text(
            "SELECT count(*) FROM audit_log WHERE table_name = 'grid_assignments' "
            "AND actor = 'test-street_officer'"
        )
    ).scalar_one()
    assert audited >= 2  # the ended row and the new one


def test_end_a_post_then_b_answers_and_ending_twice_is_404(
    as_role: tuple[AsRole, Session], posted: PostedGrid
) -> None:
    switch, _ = as_role
    officer = switch("street_officer")
    ended = officer.post(f"/grids/{posted.code}/posts/A/end")
    assert ended.status_code == 200, ended.text
    assert ended.json()["ended"]["staff_id"] == posted.a_id and ended.json()["holder"] is None
    board = switch(None).get(f"/grids/{posted.code}/signboard").json()
    assert board["on_duty"]["staff_id"] == posted.b_id
    located = switch(None).get("/locate", params={"lon": posted.lon, "lat": posted.lat}).json()
    assert located["signboard"]["on_duty"]["staff_id"] == posted.b_id
    twice = switch("street_officer").post(f"/grids/{posted.code}/posts/A/end")
    assert twice.status_code == 404 and twice.json()["rule"] == "post_vacant"
    # the vacant post takes an appointment without replace
    made = switch("street_officer").post(
        f"/grids/{posted.code}/posts", json={"staff_id": posted.others[0], "post": "A"}
    )
    assert made.status_code == 201 and made.json()["ended"] is None


def test_refusals_say_what_to_do(as_role: tuple[AsRole, Session], posted: PostedGrid) -> None:
    switch, session = as_role
    officer = switch("street_officer")
    url = f"/grids/{posted.code}/posts"
    other = officer.post(url, json={"staff_id": posted.b_id, "post": "A", "replace": True})
    assert other.status_code == 409 and other.json()["rule"] == "other_post"
    assert "already holds post B" in other.json()["detail"]

    unknown = officer.post(url, json={"staff_id": 2_000_000_000, "post": "A"})
    assert unknown.status_code == 422 and unknown.json()["rule"] == "staff"
    inactive, foreign = session.execute(
        text(
            "INSERT INTO staff (district_adcode, name, role, active) VALUES "
            "('610503', '离职者', 'grid_worker', false), ('110101', '外区人', 'grid_worker', true) "
            "RETURNING id"
        )
    ).scalars()
    session.commit()  # a savepoint of the test's transaction: the requests see the rows
    gone = officer.post(url, json={"staff_id": inactive, "post": "A", "replace": True})
    assert gone.status_code == 422 and "no longer active" in gone.json()["detail"]
    away = officer.post(url, json={"staff_id": foreign, "post": "A", "replace": True})
    assert away.status_code == 422 and "110101" in away.json()["detail"]

    server_owned = officer.post(
        url, json={"staff_id": posted.others[0], "post": "A", "valid_from": "2020-01-01T00:00Z"}
    )
    assert server_owned.status_code == 422
    bad_post = officer.post(url, json={"staff_id": posted.others[0], "post": "C"})
    assert bad_post.status_code == 422
    assert officer.post(f"/grids/{posted.code}/posts/C/end").status_code == 422


def test_reach_and_roles(
    as_role: tuple[AsRole, Session], posted: PostedGrid, logins: dict[str, TestLogin]
) -> None:
    switch, session = as_role
    body = {"staff_id": posted.others[0], "post": "A", "replace": True}
    url = f"/grids/{posted.code}/posts"
    assert switch(None).post(url, json=body).status_code == 401
    assert switch("grid_worker").post(url, json=body).status_code == 403
    community = logins["community_officer"].principal.reach
    street = logins["street_officer"].principal.reach
    assert community and street
    beyond = session.execute(
        text(
            "SELECT code FROM grids WHERE code LIKE :street AND code NOT LIKE :community "
            "AND length(code) > 12 AND retired_at IS NULL ORDER BY code LIMIT 1"
        ),
        {"street": street[0] + "%", "community": community[0] + "%"},
    ).scalar_one()
    outside = switch("community_officer").post(f"/grids/{beyond}/posts", json=body)
    assert outside.status_code == 404 and "within your reach" in outside.json()["detail"]
    assert switch("admin").post(url, json=body).status_code == 201


def test_two_connections_racing_for_a_vacant_post_exactly_one_wins(
    committing_client: TestClient, demo: Engine, logins: dict[str, TestLogin]
) -> None:
    street = logins["street_officer"].principal.reach
    assert street
    posted = _posted_grid(demo, street[0])
    committing_client.app.state.clock = lambda: NOW  # type: ignore[attr-defined]
    with demo.connect() as conn:
        a_row = conn.execute(
            text(
                "SELECT id FROM grid_assignments WHERE grid_id = :g AND post = 'A' "
                "AND valid_to IS NULL"
            ),
            {"g": posted.grid_id},
        ).scalar_one()
    try:
        assert committing_client.post(f"/grids/{posted.code}/posts/A/end").status_code == 200
        results = race_behind_row_lock(
            demo,
            "SELECT 1 FROM grids WHERE code = :c FOR UPDATE",
            {"c": posted.code},
            {
                str(s): (
                    lambda s=s: committing_client.post(
                        f"/grids/{posted.code}/posts", json={"staff_id": s, "post": "A"}
                    )
                )
                for s in posted.others
            },
        )
        statuses = sorted(r.status_code for r in results.values())
        assert statuses == [201, 409], {k: r.text for k, r in results.items()}
        loser = next(r for r in results.values() if r.status_code == 409).json()
        assert loser["rule"] == "post_taken"
        with demo.connect() as conn:
            holders = (
                conn.execute(
                    text(
                        "SELECT staff_id FROM grid_assignments WHERE grid_id = :g AND post = 'A' "
                        "AND valid_to IS NULL"
                    ),
                    {"g": posted.grid_id},
                )
                .scalars()
                .all()
            )
        winner = next(int(k) for k, r in results.items() if r.status_code == 201)
        assert holders == [winner]
    finally:
        with demo.begin() as conn:
            conn.execute(
                text(
                    "DELETE FROM grid_assignments WHERE grid_id = :g AND valid_from = :now "
                    "AND staff_id = ANY(:s)"
                ),
                {"g": posted.grid_id, "now": NOW, "s": list(posted.others)},
            )
            conn.execute(
                text("UPDATE grid_assignments SET valid_to = NULL WHERE id = :id"), {"id": a_row}
            )
