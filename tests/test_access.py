"""Access (issue 10): logins, roles × routes from the OpenAPI schema, reach enforced by the
database, reporters' contacts seen only by those who need them, logs without personal data.

The matrix is generated from the app's own OpenAPI schema, so a new route is covered the day
it is added (and is closed by default: reads need a login, writes an admin, until
``api.auth.ACCESS`` says otherwise).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, access_of
from api.main import create_app
from geogrid.auth.principal import Principal, apply_principal
from geogrid.settings import Settings
from tests.logins import TEST_PASSWORD, TestLogin
from tests.rolled_back import rolled_back_app

ROLES: list[str | None] = [
    None,
    "admin",
    "district_officer",
    "street_officer",
    "community_officer",
    "grid_worker",
    "department",
]
OFFICERS = {"admin", "district_officer", "street_officer", "community_officer"}
PHONE = "13987654321"
EMAIL = "wang.xiuying@example.org"


def _operations() -> list[tuple[str, str]]:
    schema = create_app(Settings(locate_live=False)).openapi()
    return sorted(
        (method.upper(), path)
        for path, ops in schema["paths"].items()
        for method in ops
        if method.upper() in {"GET", "POST", "PATCH", "PUT", "DELETE"}
    )


OPERATIONS = _operations()


@dataclass
class World:
    client: TestClient
    conn: Connection
    app: FastAPI
    logins: dict[str, TestLogin]
    inside: dict[str, Any]  # an issue in every test login's reach, assigned to the test worker
    outside: dict[str, Any]  # an issue in another street, dispatched nowhere

    def as_role(self, role: str | None) -> TestClient:
        self.client.headers.pop("Authorization", None)
        self.client.cookies.clear()
        if role is not None:
            self.client.headers.update(self.logins[role].headers)
        return self.client


def _point_in(conn: Connection, where: str, params: dict[str, Any]) -> dict[str, Any]:
    row = conn.execute(
        text(
            "SELECT g.code, ST_X(p) AS lon, ST_Y(p) AS lat FROM grids g "
            "JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL, "
            "ST_PointOnSurface(v.geom) AS p "
            f"WHERE g.retired_at IS NULL AND g.kind = 'general' AND {where} "
            "AND NOT EXISTS (SELECT 1 FROM grids c WHERE c.parent_id = g.id) "
            "ORDER BY g.code LIMIT 1"
        ),
        params,
    ).one()
    return dict(row._mapping)


@pytest.fixture
def world(settings: Settings, engine: Engine, logins: dict[str, TestLogin]) -> Iterator[World]:
    with rolled_back_app(settings, engine) as (client, conn, app):
        community = logins["community_officer"].principal.reach
        street = logins["street_officer"].principal.reach
        assert community and street
        here = _point_in(conn, "g.code LIKE :p", {"p": community[0] + "%"})
        there = _point_in(conn, "g.code NOT LIKE :p", {"p": street[0] + "%"})
        made = []
        for where in (here, there):
            answer = client.post(
                "/issues",
                json={
                    "category": "1201",
                    "description": "楼道堆放杂物",
                    "lon": where["lon"],
                    "lat": where["lat"],
                    "reporter_name": "王秀英",
                    "reporter_phone": PHONE,
                    "reporter_email": EMAIL,
                },
            )
            assert answer.status_code == 201, answer.text
            made.append(answer.json())
        worker = logins["grid_worker"].principal
        conn.execute(
            text("UPDATE issues SET assignee_staff_id = :s WHERE id = :i"),
            {"s": worker.staff_id, "i": made[0]["id"]},
        )
        # the worker's reach is their posts: give them a post on the grid
        conn.execute(
            text(
                "INSERT INTO grid_assignments (grid_id, staff_id, post) "
                "SELECT g.id, :s, NULL FROM grids g WHERE g.code = :c "
                "AND NOT EXISTS (SELECT 1 FROM grid_assignments a WHERE a.grid_id = g.id "
                "AND a.staff_id = :s AND a.valid_to IS NULL)"
            ),
            {"s": worker.staff_id, "c": here["code"]},
        )
        conn.execute(
            text("UPDATE issues SET department_id = :d WHERE id = :i"),
            {"d": logins["department"].principal.department_id, "i": made[0]["id"]},
        )
        yield World(client, conn, app, logins, made[0] | {"code": here["code"]}, made[1])


#: Public writes that need a client application's Open311 api_key instead of a login; they
#: answer in Open311's error shape, which 311 clients parse.
API_KEY_ROUTES = {("POST", "/open311/v2/requests.{fmt}")}


#: The pages of people at work (issue 11) are open routes that check the role themselves: a
#: browser without a session is sent to the login (303), a wrong role gets a page saying who
#: may (403, HTML).
_PAGE_ROLES: dict[tuple[str, str], set[str]] = {
    ("GET", "/work"): {"grid_worker", "admin"},
    ("GET", "/office"): set(OFFICERS),
    ("GET", "/dept"): {"department"},
    ("GET", "/office/categories"): {"admin"},
    ("GET", "/office/departments"): {"admin"},
    ("GET", "/office/calendar"): {"admin"},
}


def _expected_refusal(role: str | None, method: str, path: str) -> int | None:
    if (method, path) in _PAGE_ROLES:
        if role is None:
            return 303
        return None if role in _PAGE_ROLES[method, path] else 403
    if (method, path) in API_KEY_ROUTES:
        return 401 if role is None else None
    access = access_of(method, path)
    if access.level == "public":
        return None
    if role is None:
        return 401
    if access.level == "officer" and role not in OFFICERS:
        return 403
    if access.level == "admin" and role != "admin":
        return 403
    return None


def _fill(path: str, world: World) -> str:
    values = {
        "code": world.inside["code"],
        "issue_id": str(world.inside["id"]),
        "request_id": str(world.inside["id"]),
        "featureId": world.inside["code"],
        "collectionId": "grids",
        "rule": "not_found",
        "fmt": "json",
        "service_code": "1201",
        "token": "1",
        "day": "2026-10-01",
        "photo_id": "1",
        "proposal_id": "1",
        "index": "0",
        "patrol_id": "1",
        "staff_id": "1",
        "post": "A",
        # a grid layer: public; the issues layer's own access is tested in tests/test_tiles.py
        "layer": "grids-level2",
        "z": "12",
        "x": "3300",
        "y": "1600",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


#: Heavy analyses get small parameters: the matrix is about who may call, not about load.
_QUERY = {"/analysis/hotspots": {"permutations": "9"}, "/maps/hotspots": {"permutations": "9"}}


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_role_on_every_route_gets_the_expected_status(
    world: World, method: str, path: str
) -> None:
    for role in ROLES:
        client = world.as_role(role)
        answer = client.request(
            method,
            _fill(path, world),
            params=_QUERY.get(path),
            json={} if method in {"POST", "PATCH", "PUT"} else None,
            follow_redirects=False,
        )
        refusal = _expected_refusal(role, method, path)
        who = role or "anonymous"
        if refusal is not None:
            assert answer.status_code == refusal, (who, answer.status_code, answer.text[:300])
            if (method, path) not in API_KEY_ROUTES and (method, path) not in _PAGE_ROLES:
                assert answer.headers["content-type"].startswith("application/problem+json")
        else:
            assert answer.status_code not in (401, 403), (who, answer.text[:300])
            assert answer.status_code < 500, (who, answer.status_code, answer.text[:300])


def test_anonymous_writes_answer_401_problem_json(world: World) -> None:
    client = world.as_role(None)
    writes = [(m, p) for m, p in OPERATIONS if m != "GET" and access_of(m, p).level != "public"]
    assert len(writes) >= 19
    for method, path in writes:
        answer = client.request(method, _fill(path, world), json={})
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json()["rule"] == "login_required"


@pytest.mark.parametrize(
    "role", ["street_officer", "community_officer", "grid_worker", "department"]
)
def test_objects_outside_reach_answer_404_and_are_in_no_list(world: World, role: str) -> None:
    client = world.as_role(role)
    inside, outside = world.inside["id"], world.outside["id"]
    assert client.get(f"/issues/{inside}").status_code == 200
    for answer in (
        client.get(f"/issues/{outside}"),
        client.post(f"/issues/{outside}/transitions", json={"to": "accepted"}),
        client.post(f"/issues/{outside}/escalate"),
    ):
        assert answer.status_code == 404, answer.text
    listed = client.get("/issues", params={"limit": 1000}).json()
    ids = {i["id"] for i in listed["items"]} if "items" in listed else set()
    text_of_list = str(listed)
    assert outside not in ids and f"'id': {outside}," not in text_of_list
    export = client.get("/issues/export", params={"format": "csv"}).text
    assert not re.search(rf"(^|\n){outside},", export)
    heat = client.get("/analysis/summary")
    assert heat.status_code == 200, heat.text


def test_a_query_without_any_filter_cannot_return_an_out_of_reach_row(
    db: Session, logins: dict[str, TestLogin]
) -> None:
    street = logins["street_officer"].principal
    assert street.reach
    total = db.execute(text("SELECT count(*) FROM issues")).scalar_one()
    inside = db.execute(
        text(
            "SELECT count(*) FROM issues i JOIN grids g ON g.id = i.grid_id "
            "WHERE starts_with(g.code, :p)"
        ),
        {"p": street.reach[0]},
    ).scalar_one()
    assert 0 < inside < total
    apply_principal(db, street)
    # no WHERE clause at all: row-level security answers for the reach
    assert db.execute(text("SELECT count(*) FROM issues")).scalar_one() == inside
    assert (
        db.execute(
            text(
                "SELECT count(*) FROM issues i JOIN grids g ON g.id = i.grid_id "
                "WHERE NOT starts_with(g.code, :p)"
            ),
            {"p": street.reach[0]},
        ).scalar_one()
        == 0
    )
    assert (
        db.execute(
            text(
                "SELECT count(*) FROM issue_events e WHERE NOT EXISTS "
                "(SELECT 1 FROM issues i JOIN grids g ON g.id = i.grid_id "
                "WHERE i.id = e.issue_id AND starts_with(g.code, :p))"
            ),
            {"p": street.reach[0]},
        ).scalar_one()
        == 0
    )
    # a write outside reach touches nothing; grids stay readable (they are public)
    changed = db.execute(
        text("UPDATE grids SET retired_at = now() WHERE NOT starts_with(code, :p)"),
        {"p": street.reach[0]},
    ).rowcount
    assert changed == 0
    assert db.execute(text("SELECT count(*) FROM grids")).scalar_one() > 0
    apply_principal(db, Principal("nobody", None, ()))
    assert db.execute(text("SELECT count(*) FROM issues")).scalar_one() == 0


def test_page_login_sets_a_safe_cookie_and_writes_need_the_csrf_token(world: World) -> None:
    client = world.as_role(None)
    page = client.get("/login")
    assert page.status_code == 200 and "用户名" in page.text and "密码" in page.text
    answer = client.post(
        "/login",
        data={"username": "test-admin", "password": TEST_PASSWORD, "next": "//evil.example"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookies = answer.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session_cookie and "samesite=lax" in session_cookie.lower()
    csrf = client.cookies[CSRF_COOKIE]
    assert client.get("/me").json()["username"] == "test-admin"
    body = {"day": "2026-10-09", "is_workday": False, "name": "测试假日"}
    refused = client.post("/calendar/days", json=body)
    assert refused.status_code == 403 and refused.json()["rule"] == "csrf"
    accepted = client.post("/calendar/days", json=body, headers={CSRF_HEADER: csrf})
    assert accepted.status_code not in (401, 403), accepted.text
    assert client.post("/logout", headers={CSRF_HEADER: csrf}).status_code == 204
    assert client.get("/me").status_code == 401


def test_failed_logins_are_throttled_per_account(world: World) -> None:
    client = world.as_role(None)
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    world.app.state.clock = lambda: now
    json_accept = {"Accept": "application/json"}
    for _ in range(5):
        wrong = client.post(
            "/login", data={"username": "test-admin", "password": "x" * 12}, headers=json_accept
        )
        assert wrong.status_code == 401 and wrong.json()["rule"] == "login_failed"
    blocked = client.post(
        "/login", data={"username": "test-admin", "password": TEST_PASSWORD}, headers=json_accept
    )
    assert blocked.status_code == 429 and blocked.json()["rule"] == "login_throttled"
    assert int(blocked.headers["Retry-After"]) > 0
    now = now + timedelta(minutes=16)  # the window has moved on
    again = client.post(
        "/login", data={"username": "test-admin", "password": TEST_PASSWORD}, headers=json_accept
    )
    assert again.status_code == 200 and again.json()["csrf_token"]


def test_open311_writes_need_an_api_key(world: World) -> None:
    from geogrid.auth.accounts import create_open311_key

    session = Session(bind=world.conn, join_transaction_mode="create_savepoint")
    key = create_open311_key(session, "微信小程序")
    session.flush()
    client = world.as_role(None)
    form = {"service_code": "1201", "lat": "34.51", "long": "109.77", "description": "路灯不亮"}
    refused = client.post("/open311/v2/requests.json", data=form)
    assert refused.status_code == 401 and "api_key" in refused.json()[0]["description"]
    posted = client.post("/open311/v2/requests.json", data={**form, "api_key": key})
    assert posted.status_code == 201, posted.text


def test_reporters_in_full_only_for_those_above_the_grid_and_logs_hold_none(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    may_see = {"admin", "district_officer", "street_officer", "community_officer", "grid_worker"}
    caplog.set_level(logging.DEBUG)
    gets = [p for m, p in OPERATIONS if m == "GET"]
    for role in ROLES:
        client = world.as_role(role)
        for path in gets:
            body = client.get(_fill(path, world), params=_QUERY.get(path)).text
            full = PHONE in body or EMAIL in body
            allowed = path == "/issues/{issue_id}" and role in may_see
            assert full == allowed if path == "/issues/{issue_id}" else not full, (role, path)
    # an error on a write carrying personal data: the log keeps none of it
    client = world.as_role("admin")
    broken = client.post(
        "/issues",
        json={
            "category": "1201",
            "description": "NUL \x00 in the text",
            "lon": world.inside["lon"],
            "lat": world.inside["lat"],
            "reporter_name": "王秀英",
            "reporter_phone": PHONE,
            "reporter_email": EMAIL,
        },
    )
    assert broken.status_code >= 400
    assert PHONE not in broken.text and EMAIL not in broken.text
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    logged += caplog.text
    assert PHONE not in logged and EMAIL not in logged and "秀英" not in logged
    assert TEST_PASSWORD not in logged


def test_the_audit_trail_records_the_login_and_cannot_be_rewritten(
    world: World, engine: Engine
) -> None:
    client = world.as_role("street_officer")
    moved = client.post(f"/issues/{world.inside['id']}/transitions", json={"to": "accepted"})
    assert moved.status_code == 200, moved.text
    trail = client.get("/audit", params={"table": "issues"}).json()["entries"]
    mine = [e for e in trail if e["row"] == str(world.inside["id"]) and e["operation"] == "UPDATE"]
    assert mine and mine[0]["actor"] == "test-street_officer"
    assert mine[0]["before"]["status"] == "reported" and mine[0]["after"]["status"] == "accepted"
    # an officer reads only entries about grids in reach
    street = world.logins["street_officer"].principal.reach
    assert street
    assert all(e["grid"] and e["grid"].startswith(street[0]) for e in trail)
    assert world.as_role("grid_worker").get("/audit").status_code == 403
    # refused to the application role (no right; tests/test_deployment.py) and to the owner (the
    # trigger), whichever the suite connects as
    refused = "append-only|permission denied for table audit_log"
    with pytest.raises(DBAPIError, match=refused), world.conn.begin_nested():
        world.conn.execute(text("UPDATE audit_log SET actor = 'nobody'"))
    with pytest.raises(DBAPIError, match=refused), world.conn.begin_nested():
        world.conn.execute(text("DELETE FROM audit_log"))
