"""The office's admin pages (issue 11): the catalogue, departments and the holiday calendar,
for admins only, and the district switcher's filter on the queues and lists, through the real
app in a rolled-back transaction. The browser side is in ``test_office_admin_browser.py``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geogrid.settings import Settings
from tests.logins import TestLogin

NOW = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 China time
OTHER = "510703"  # 涪城区, added with a small generated demo where a test needs two districts
ADMIN_PAGES = ("/office/categories", "/office/departments", "/office/calendar")

AsRole = Callable[[str | None], TestClient]


@pytest.fixture
def as_role(
    settings: Settings, engine: Engine, logins: dict[str, TestLogin]
) -> Iterator[tuple[AsRole, Session]]:
    """The rolled-back app at ``NOW``, a client switched between roles (cookies kept), and a
    session on the test's transaction."""
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


# -- admin pages ------------------------------------------------------------------------------


def test_admin_pages_list_what_the_api_lists(as_role: tuple[AsRole, Session]) -> None:
    switch, _ = as_role
    client = switch("admin")
    page = client.get("/office/categories")
    assert page.status_code == 200
    for category in client.get("/categories").json():
        assert f'data-action="/categories/{category["code"]}?district=' in page.text
    page = client.get("/office/departments")
    assert page.status_code == 200
    for department in client.get("/departments").json():
        assert f'data-action="/departments/{department["code"]}?district=' in page.text
    # the year shown is the request's (injected) year, with its national days
    page = client.get("/office/calendar")
    days = client.get("/calendar/days", params={"from": "2026-01-01", "to": "2026-12-31"}).json()
    assert page.status_code == 200 and "2026年已登记的日子" in page.text
    assert page.text.count('class="day"') == len(days["days"]) > 0
    assert "2025年已登记" in client.get("/office/calendar?year=2025").text


def test_only_admins_see_the_links_and_the_pages(as_role: tuple[AsRole, Session]) -> None:
    switch, _ = as_role
    assert 'href="/office/categories"' in switch("admin").get("/office").text
    officer = switch("street_officer")
    assert 'href="/office/categories"' not in officer.get("/office").text
    for path in ADMIN_PAGES:
        refused = officer.get(path)
        assert refused.status_code == 403 and "管理员" in refused.text
    # the API behind the pages refuses the officer's write the same way
    write = officer.patch("/categories/1001", json={"deadline_hours": 1})
    assert write.status_code == 403
    assert write.headers["content-type"].startswith("application/problem+json")
    assert write.json()["type"].endswith("/role")
    public = switch(None)
    for path in ADMIN_PAGES:
        answer = public.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_page_writes_are_the_apis_with_its_audit(as_role: tuple[AsRole, Session]) -> None:
    """What office_admin.js sends, checked and audited as any API client's write."""
    switch, _ = as_role
    client = switch("admin")
    changed = client.patch(
        "/categories/1001?district=610503",
        json={"name": "惠民政策咨询", "deadline_hours": 24, "department_code": None},
    )
    assert changed.status_code == 200
    assert (
        '<span class="code">1001</span> 惠民政策咨询 · 24小时'
        in client.get("/office/categories").text
    )
    audit = client.get("/audit", params={"table": "issue_categories"}).json()
    entry = audit["entries"][0]
    assert (entry["operation"], entry["actor"]) == ("UPDATE", "test-admin")
    refused = client.patch("/categories/1001", json={"deadline_hours": 0})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"].endswith("deadline_hours")
    assert client.post("/categories", json={"code": "1001", "name": "重复"}).status_code == 409
    day = {
        "district": "610503",
        "days": [{"date": "2026-06-12", "is_workday": False, "name": "区庆"}],
    }
    assert client.post("/calendar/days", json=day).status_code == 200
    assert "区庆 · 本区" in client.get("/office/calendar").text


# -- the district switcher --------------------------------------------------------------------


@pytest.fixture
def two_districts(as_role: tuple[AsRole, Session]) -> tuple[AsRole, Session]:
    from geogrid.districts.catalog import division
    from geogrid.districts.repository import add_district

    switch, session = as_role
    report = add_district(session, division(OTHER), demo=True, seed=3, scale=0.02, now=NOW)
    assert report.added and report.counts["issues"] > 0
    session.flush()
    return switch, session


def _queue_ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'class="issue[^"]*" data-id="(\d+)"', html)}


def _districts_of(session: Session, ids: set[int]) -> set[str]:
    rows = session.execute(
        text("SELECT DISTINCT district_adcode FROM issues WHERE id = ANY(:ids)"),
        {"ids": list(ids)},
    )
    return set(rows.scalars())


def test_switcher_filters_the_queues_and_keeps_the_choice(
    two_districts: tuple[AsRole, Session], settings: Settings
) -> None:
    switch, session = two_districts
    client = switch("admin")
    home = client.get("/office")
    assert 'id="district-switch"' in home.text
    assert _districts_of(session, _queue_ids(home.text)) == {settings.district_adcode}

    other = client.get("/office", params={"district": OTHER})
    assert other.cookies.get("geogrid_district") == OTHER
    assert f'<option value="{OTHER}" selected' in other.text
    assert _districts_of(session, _queue_ids(other.text)) == {OTHER}
    # the choice is kept by the cookie on the next pages
    for path in ("/office", "/work"):
        kept = client.get(path)
        assert _districts_of(session, _queue_ids(kept.text)) == {OTHER}, path
    assert f"district={OTHER}" in client.get("/office").text  # the ledger export link
    # an adcode the installation does not hold changes nothing
    assert _districts_of(session, _queue_ids(client.get("/office?district=999999").text)) == {OTHER}
    back = client.get("/office", params={"district": settings.district_adcode})
    assert _districts_of(session, _queue_ids(back.text)) == {settings.district_adcode}


def test_lists_take_the_district(two_districts: tuple[AsRole, Session], settings: Settings) -> None:
    switch, session = two_districts
    client = switch("admin")
    listed = client.get("/issues", params={"district": OTHER, "limit": 1000}).json()
    assert listed["items"] and {i["id"] for i in listed["items"]} == set(
        session.execute(
            text("SELECT id FROM issues WHERE district_adcode = :d"), {"d": OTHER}
        ).scalars()
    )
    departments = client.get("/departments", params={"district": OTHER}).json()
    assert departments and {d["district_adcode"] for d in departments} == {OTHER}
    page = client.get("/office/departments", params={"district": OTHER})
    assert all(f'/departments/{d["code"]}?district={OTHER}"' in page.text for d in departments)


def test_department_queue_is_filtered_to_the_district(
    two_districts: tuple[AsRole, Session], logins: dict[str, TestLogin]
) -> None:
    switch, session = two_districts
    department = logins["department"].principal.department_id
    assert department is not None
    dispatched = session.execute(
        text(
            "UPDATE issues SET department_id = :d, status = 'in_progress' WHERE id = ("
            "SELECT id FROM issues WHERE district_adcode = '610503' AND status = 'accepted' "
            "ORDER BY id LIMIT 1) RETURNING id"
        ),
        {"d": department},
    ).scalar_one()
    session.flush()
    client = switch("department")
    assert dispatched in _queue_ids(client.get("/dept").text)
    assert _queue_ids(client.get("/dept", params={"district": OTHER}).text) == set()
