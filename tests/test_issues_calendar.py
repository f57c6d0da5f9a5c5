"""Working-time deadlines: a fixed clock through the calendar (nights, weekends, lunch, holidays,
make-up Saturdays, calendar-hour categories), the seeded 2026 national days, district
overrides, the /calendar/days API, and deadlines set at report / acceptance that the ledger and
escalate_overdue follow."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.errors import InvalidInputError
from geogrid.issues.calendar import (
    CHINA_TZ,
    WorkingCalendar,
    issue_deadline,
    load_calendar,
)
from geogrid.issues.ledger import LedgerFilter, ledger_page
from geogrid.issues.transitions import escalate_overdue
from tests.test_issues_routing import IssuesApi, issues_api, leaf_grid, report

__all__ = ["issues_api"]


def cst(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CHINA_TZ)


#: The 2026 days the tests rely on, as the State Council notice has them.
QINGMING = {date(2026, 4, 4): False, date(2026, 4, 5): False, date(2026, 4, 6): False}
SPRING = {date(2026, 2, 14): True, date(2026, 2, 28): True} | {
    date(2026, 2, 15) + timedelta(days=i): False for i in range(9)
}
PLAIN = WorkingCalendar()


@pytest.mark.parametrize(
    ("start", "hours", "expected", "why"),
    [
        (cst(2026, 11, 27, 17), 2, cst(2026, 11, 30, 9, 30), "Friday 17:00 + 2 h = Monday 09:30"),
        (cst(2026, 11, 27, 17), 1, cst(2026, 11, 27, 18), "ends exactly at closing time"),
        (cst(2026, 11, 25, 11), 2, cst(2026, 11, 25, 15, 30), "lunch 12:00-14:30 skipped"),
        (cst(2026, 11, 23, 7), 1, cst(2026, 11, 23, 9, 30), "before office hours"),
        (cst(2026, 11, 28, 10), 1, cst(2026, 11, 30, 9, 30), "reported on a Saturday"),
        (cst(2026, 11, 23, 8, 30), 7, cst(2026, 11, 23, 18), "seven working hours a day"),
        (cst(2026, 11, 23, 8, 30), 35, cst(2026, 11, 27, 18), "a working week"),
        (cst(2026, 11, 23, 20), 0, cst(2026, 11, 23, 20), "zero hours is now"),
    ],
)
def test_working_hours_skip_nights_weekends_and_lunch(
    start: datetime, hours: float, expected: datetime, why: str
) -> None:
    assert PLAIN.add_working_hours(start, hours) == expected, why


def test_a_holiday_is_skipped_and_a_make_up_saturday_counted() -> None:
    calendar = WorkingCalendar(overrides=QINGMING | SPRING)
    # 清明: Monday 6 April is off, so Friday 17:00 + 2 h is Tuesday 09:30
    assert calendar.add_working_hours(cst(2026, 4, 3, 17), 2) == cst(2026, 4, 7, 9, 30)
    # 春节调休: Saturday 28 February is a working day
    assert calendar.add_working_hours(cst(2026, 2, 27, 17), 2) == cst(2026, 2, 28, 9, 30)
    # Saturday 14 February works, then nine days off, back on Tuesday 24
    assert calendar.add_working_hours(cst(2026, 2, 13, 17), 2) == cst(2026, 2, 14, 9, 30)
    assert calendar.add_working_hours(cst(2026, 2, 14, 17), 2) == cst(2026, 2, 24, 9, 30)
    assert not calendar.is_workday(date(2026, 4, 6)) and calendar.is_workday(date(2026, 2, 28))


def test_calendar_mode_and_time_zones() -> None:
    friday = cst(2026, 11, 27, 17)
    calendar_hours = issue_deadline(friday, 2, working_time=False, calendar=PLAIN)
    assert calendar_hours == cst(2026, 11, 27, 19) and calendar_hours.tzinfo == UTC
    working = issue_deadline(friday, 2, working_time=True, calendar=PLAIN)
    assert working == cst(2026, 11, 30, 9, 30)
    # the same instant given in UTC: 09:00Z is 17:00 in China
    assert PLAIN.add_working_hours(datetime(2026, 11, 27, 9, tzinfo=UTC), 2) == working


def test_periods_and_weekdays_are_parameters() -> None:
    six_days = WorkingCalendar(
        periods=((time(9), time(17)),), weekdays=frozenset({0, 1, 2, 3, 4, 5})
    )
    assert six_days.add_working_hours(cst(2026, 11, 27, 16), 2) == cst(2026, 11, 28, 10)
    with pytest.raises(InvalidInputError):
        WorkingCalendar(periods=((time(14), time(18)), (time(8), time(12))))
    with pytest.raises(InvalidInputError):
        PLAIN.add_working_hours(datetime(2026, 11, 27, 17), 1)  # naive
    with pytest.raises(InvalidInputError):
        WorkingCalendar(weekdays=frozenset()).add_working_hours(cst(2026, 11, 27, 17), 1)


def test_seeded_2026_national_days_and_district_override(db: Session) -> None:
    national = load_calendar(db, None)
    assert national.add_working_hours(cst(2026, 4, 3, 17), 2) == cst(2026, 4, 7, 9, 30)
    assert national.add_working_hours(cst(2026, 9, 18, 17), 2) == cst(2026, 9, 20, 9, 30)
    assert national.add_working_hours(cst(2026, 9, 30, 17), 2) == cst(2026, 10, 8, 9, 30)
    db.execute(
        text(
            "INSERT INTO calendar_days (district_adcode, day, is_workday, name) "
            "VALUES ('610503', '2026-04-06', true, '区内调整')"
        )
    )
    district = load_calendar(db, "610503")
    assert district.add_working_hours(cst(2026, 4, 3, 17), 2) == cst(2026, 4, 6, 9, 30)
    other = load_calendar(db, "610502")
    assert other.add_working_hours(cst(2026, 4, 3, 17), 2) == cst(2026, 4, 7, 9, 30)


def test_calendar_days_api(issues_api: IssuesApi) -> None:
    client = issues_api.client
    year = client.get("/calendar/days", params={"from": "2026-01-01", "to": "2026-12-31"}).json()
    national = [d for d in year["days"] if d["scope"] == "national"]
    assert len(national) == 39  # 33 days off, 6 make-up working days
    assert {d["date"] for d in national if d["is_workday"]} == {
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    }
    body = {
        "district": "610503",
        "days": [{"date": "2026-12-31", "is_workday": False, "name": "区级调休"}],
    }
    posted = client.post("/calendar/days", json=body)
    assert posted.status_code == 200, posted.text
    assert posted.json()["days"][0]["scope"] == "district"
    body["days"][0]["name"] = "区级调休（更正）"
    again = client.post("/calendar/days", json=body)  # a day posted again is updated
    assert again.status_code == 200
    december = client.get("/calendar/days", params={"from": "2026-12-01"}).json()["days"]
    assert [(d["date"], d["name"]) for d in december] == [("2026-12-31", "区级调休（更正）")]

    assert (
        client.delete("/calendar/days/2026-12-31", params={"district": "610503"}).status_code == 204
    )
    missing = client.delete("/calendar/days/2026-12-31", params={"district": "610503"})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    bad = client.post("/calendar/days", json={"days": [{"date": "2026-13-01", "name": "x"}]})
    assert bad.status_code == 422
    twice = client.post(
        "/calendar/days",
        json={
            "days": [
                {"date": "2026-12-30", "is_workday": False, "name": "a"},
                {"date": "2026-12-30", "is_workday": True, "name": "b"},
            ]
        },
    )
    assert twice.status_code == 422


def _category(api: IssuesApi, code: str, hours: int, working: bool) -> None:
    made = api.client.post(
        "/categories",
        json={
            "code": code,
            "name": f"测试{code}",
            "deadline_hours": hours,
            "deadline_working_time": working,
        },
    )
    assert made.status_code == 201, made.text


def test_deadlines_at_report_and_acceptance_follow_the_category_rule(
    issues_api: IssuesApi,
) -> None:
    api = issues_api
    _category(api, "9911", 4, working=False)
    _category(api, "9912", 4, working=True)
    listed = {c["code"]: c for c in api.client.get("/categories").json()}
    assert listed["9911"]["deadline_working_time"] is False
    grid = leaf_grid(api.db, 20)
    calendar = load_calendar(api.db, "610503")
    for code, working in (("9911", False), ("9912", True)):
        issue = report(api.client, lon=grid["lon"], lat=grid["lat"], category=code).json()
        reported_at = datetime.fromisoformat(issue["reported_at"])
        expected = issue_deadline(reported_at, 4, working_time=working, calendar=calendar)
        assert datetime.fromisoformat(issue["deadline_at"]) == expected
        accepted = api.client.post(f"/issues/{issue['id']}/transitions", json={"to": "accepted"})
        body = accepted.json()
        accepted_at = datetime.fromisoformat(body["accepted_at"])
        expected = issue_deadline(accepted_at, 4, working_time=working, calendar=calendar)
        assert datetime.fromisoformat(body["deadline_at"]) == expected
        if not working:
            assert expected - accepted_at == timedelta(hours=4)


def test_ledger_overdue_and_escalation_follow_deadline_at(issues_api: IssuesApi) -> None:
    api = issues_api
    _category(api, "9913", 3, working=True)
    grid = leaf_grid(api.db, 21)
    issue = report(api.client, lon=grid["lon"], lat=grid["lat"], category="9913").json()
    deadline = datetime.fromisoformat(issue["deadline_at"])
    only_this = LedgerFilter(grid_code=grid["code"], category="9913", overdue=True)
    assert ledger_page(api.db, only_this, now=deadline - timedelta(minutes=1))["total"] == 0
    assert ledger_page(api.db, only_this, now=deadline + timedelta(minutes=1))["total"] == 1

    # a row written before deadlines were stored: judged from its report, in working hours
    api.db.execute(text("UPDATE issues SET deadline_at = NULL WHERE id = :i"), {"i": issue["id"]})
    reported_at = datetime.fromisoformat(issue["reported_at"])
    calendar = load_calendar(api.db, "610503")
    due = calendar.add_working_hours(reported_at, 3)
    assert issue["id"] not in escalate_overdue(api.db, due - timedelta(minutes=1))
    assert issue["id"] in escalate_overdue(api.db, due + timedelta(minutes=1))
    api.db.expire_all()
    row = api.db.execute(
        text("SELECT handling_level, deadline_at FROM issues WHERE id = :i"), {"i": issue["id"]}
    ).one()
    assert row.handling_level == "community"
    assert row.deadline_at == calendar.add_working_hours(due + timedelta(minutes=1), 3)
