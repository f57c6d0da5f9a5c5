"""National holidays seeded from the chinese-calendar package: equal to the hand-written 2026
rows of migration 0009 on every day, idempotent, keeping rows already in the table, a year the
package does not know named as weekends only, and demo deadlines counted on the seeded years.

No test reads the wall clock: years and moments are fixed here.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

import geogrid
from geogrid.demo import names
from geogrid.demo.load import _timelines, load_demo
from geogrid.issues.calendar import (
    CHINA_TZ,
    WorkingCalendar,
    issue_deadline,
    load_calendar,
    national_days_from_package,
    package_years,
    seed_national_days,
)

MIGRATION_0009 = (
    Path(geogrid.__file__).parent / "storage/migrations/versions/0009_issue_calendar_idempotency.py"
)


def migration_0009_rows() -> list[dict[str, Any]]:
    """The 2026 national rows as migration 0009 wrote them by hand."""
    spec = importlib.util.spec_from_file_location("migration_0009", MIGRATION_0009)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows: list[dict[str, Any]] = module._seed_rows()
    return rows


def overrides(days: list[dict[str, Any]], key: str = "date") -> dict[date, bool]:
    return {d[key]: d["is_workday"] for d in days}


def clear_national_year(db: Session, year: int) -> None:
    """Start a year from an empty national calendar (inside the rolled-back transaction), so a
    test does not depend on which years the demo load seeded on the day it ran."""
    db.execute(
        text(
            "DELETE FROM calendar_days WHERE district_adcode IS NULL "
            "AND day >= :first AND day < :next"
        ),
        {"first": date(year, 1, 1), "next": date(year + 1, 1, 1)},
    )


def test_package_agrees_with_the_2026_rows_on_all_365_days(db: Session) -> None:
    by_hand = migration_0009_rows()
    package = national_days_from_package(2026)
    assert package is not None
    from_migration = WorkingCalendar(overrides=overrides(by_hand, key="day"))
    from_package = WorkingCalendar(overrides=overrides(package))
    in_table = load_calendar(db, None)
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]
    assert days[-1] == date(2026, 12, 31)
    disagree = [
        d
        for d in days
        if not (
            from_package.is_workday(d) == from_migration.is_workday(d) == in_table.is_workday(d)
        )
    ]
    assert disagree == []
    # the same rows, down to the names (元旦, 春节调休上班, 清明节 ...)
    assert sorted((r["day"], r["is_workday"], r["name"]) for r in by_hand) == [
        (d["date"], d["is_workday"], d["name"]) for d in package
    ]


def test_seeding_adds_the_missing_days_once_and_keeps_rows_already_there(db: Session) -> None:
    clear_national_year(db, 2015)
    # An operator's correction, made before the seeding: it must survive it.
    db.execute(
        text(
            "INSERT INTO calendar_days (district_adcode, day, is_workday, name) "
            "VALUES (NULL, '2015-10-01', true, '手工更正')"
        )
    )
    package = national_days_from_package(2015)
    assert package is not None
    (victory_day,) = [d for d in package if d["date"] == date(2015, 9, 3)]  # a one-off holiday
    assert not victory_day["is_workday"] and "胜利70周年" in victory_day["name"]

    first = seed_national_days(db, [2015])
    (year,) = first.years
    assert (year.year, year.days, year.added) == (2015, len(package), len(package) - 1)
    assert year.source.startswith("chinesecalendar ") and not year.weekends_only
    second = seed_national_days(db, [2015])
    assert second.years[0].added == 0 and second.years[0].days == len(package)

    row = db.execute(
        text(
            "SELECT is_workday, name FROM calendar_days WHERE district_adcode IS NULL AND day = '2015-10-01'"
        )
    ).one()
    assert tuple(row) == (True, "手工更正")
    national = load_calendar(db, None)
    assert not national.is_workday(date(2015, 10, 2))  # 国庆, from the package
    assert national.is_workday(date(2015, 10, 10))  # Saturday, 国庆调休上班


def test_a_year_the_package_does_not_know_is_named_weekends_only(db: Session) -> None:
    assert 2099 not in package_years() and national_days_from_package(2099) is None
    clear_national_year(db, 2099)
    report = seed_national_days(db, [2099, 2026])
    assert report.weekends_only == [2099]
    known, unknown = report.years  # in year order
    assert unknown.source == "weekends only" and unknown.days == 0
    assert "weekends-only fallback" in unknown.describe() and "2099" in unknown.describe()
    assert "POST /calendar/days" in unknown.describe()
    assert known.days == 39 and known.added == 0
    # Days entered through the API make the year known, though not from the package.
    db.execute(
        text(
            "INSERT INTO calendar_days (district_adcode, day, is_workday, name) "
            "VALUES (NULL, '2099-01-01', false, '元旦')"
        )
    )
    again = seed_national_days(db, [2099])
    assert again.weekends_only == [] and again.years[0].source == "calendar_days"


def test_loading_names_the_years_without_holidays(demo: Engine) -> None:
    """What ``geogrid up`` prints: the load checks the years around its moment (here 2100)
    even when the district is there already, and names those counting weekends only."""
    report = load_demo(demo, seed=1, progress=False, now=datetime(2100, 6, 1, tzinfo=UTC))
    assert not report.loaded and report.calendar is not None
    assert report.calendar.weekends_only == [2099, 2100, 2101]
    summary = report.summary()
    assert summary.count("weekends-only fallback") == 3 and "already loaded" in summary


def test_demo_deadlines_follow_the_2025_holidays(db: Session) -> None:
    """An issue accepted on Tuesday 30 September 2025 at 16:00 with three working days
    (72 working hours, 7 a day): 2 h that day, then 国庆 and 中秋 (1–8 October) off, Saturday
    11 October a make-up working day, due Tuesday 21 October at 18:00."""
    clear_national_year(db, 2025)
    seed_national_days(db, [2025])
    reported = datetime(2025, 9, 30, 15, tzinfo=CHINA_TZ).astimezone(UTC).replace(tzinfo=None)
    issue = SimpleNamespace(
        issues={
            "x": np.array([109.76]),
            "reported_at": np.array([np.datetime64(reported, "s")]),
            "status": np.array(["accepted"]),
            "resolve_h": np.array([1.0]),
            "deadline_h": np.array([names.WORKING_TIME_FROM_HOURS]),
        }
    )
    conn = db.connection().connection.driver_connection
    (timeline,) = _timelines(conn, issue)  # type: ignore[arg-type]

    assert timeline["accepted"] == datetime(2025, 9, 30, 16, tzinfo=CHINA_TZ)
    assert timeline["deadline"] == datetime(2025, 10, 21, 18, tzinfo=CHINA_TZ)
    weekends_only = WorkingCalendar().add_working_hours(
        datetime(2025, 9, 30, 16, tzinfo=CHINA_TZ), 72
    )
    assert weekends_only == datetime(2025, 10, 14, 18, tzinfo=CHINA_TZ)  # what it was before


def test_every_demo_deadline_is_counted_on_the_calendar_in_the_table(demo: Engine) -> None:
    """Whatever day the demo was loaded, each working-time deadline it wrote equals the one the
    live code computes on the district's calendar now in the table."""
    with Session(demo) as session:
        calendar = load_calendar(session, names.DISTRICT_ADCODE)
        rows = session.execute(
            text(
                "SELECT i.accepted_at, i.deadline_at, c.deadline_hours, c.deadline_working_time "
                "FROM issues i JOIN issue_categories c ON c.id = i.category_id "
                "WHERE i.description LIKE '%（演示数据）' AND i.accepted_at IS NOT NULL "
                "AND i.deadline_at IS NOT NULL"
            )
        ).all()
    assert len(rows) > 10_000
    working = [r for r in rows if r.deadline_working_time]
    assert len(working) > 1_000
    wrong = [
        r
        for r in rows
        if issue_deadline(
            r.accepted_at, r.deadline_hours, working_time=r.deadline_working_time, calendar=calendar
        )
        != r.deadline_at
    ]
    assert wrong == []
