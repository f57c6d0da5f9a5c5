"""Working time (工作时间) for deadlines: China time, Mon–Fri, 08:30–12:00 and 14:30–18:00,
minus public holidays, plus make-up working days (调休上班).

A category's deadline is ``deadline_hours`` counted from the moment the issue reached its
current handling level (report, acceptance, escalation or dispatch). With
``deadline_working_time`` those are *working* hours: a report accepted on Friday at 17:00 with
a 2-hour deadline is due on Monday at 09:30, not on Friday at 19:00. Without it they are plain
calendar hours (emergencies: a collapsed manhole cover does not wait for Monday).

Holidays and make-up days change every year by State Council notice, so they are data
(table ``calendar_days``, ``GET/POST /calendar/days``): a national row has no district, and a
district's own row for the same day overrides it. The working periods and weekdays are
parameters of :class:`WorkingCalendar`, with the defaults of most Chinese government offices.

China has a single time zone without daylight saving: UTC+8 is a fixed offset.

>>> from datetime import datetime
>>> friday = datetime(2026, 11, 27, 17, 0, tzinfo=CHINA_TZ)
>>> WorkingCalendar().add_working_hours(friday, 2).isoformat()
'2026-11-30T09:30:00+08:00'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geogrid.errors import InvalidInputError
from geogrid.storage.models import CalendarDay

__all__ = [
    "CHINA_TZ",
    "DEFAULT_PERIODS",
    "DEFAULT_WEEKDAYS",
    "WorkingCalendar",
    "delete_calendar_day",
    "issue_deadline",
    "list_calendar_days",
    "load_calendar",
    "upsert_calendar_days",
]

CHINA_TZ = timezone(timedelta(hours=8), "CST")
#: 上午 08:30–12:00, 下午 14:30–18:00: seven working hours a day.
DEFAULT_PERIODS: tuple[tuple[time, time], ...] = (
    (time(8, 30), time(12, 0)),
    (time(14, 30), time(18, 0)),
)
#: Monday = 0 … Friday = 4 (``date.weekday()``).
DEFAULT_WEEKDAYS: frozenset[int] = frozenset({0, 1, 2, 3, 4})
#: A calendar with no working day for this long is a configuration mistake, not a deadline.
_MAX_SEARCH_DAYS = 3660


@dataclass(frozen=True)
class WorkingCalendar:
    """Working periods per day, working weekdays, and day overrides (``date → is_workday``)."""

    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS
    weekdays: frozenset[int] = DEFAULT_WEEKDAYS
    overrides: Mapping[date, bool] = field(default_factory=dict)
    tz: timezone = CHINA_TZ

    def __post_init__(self) -> None:
        previous_end = time.min
        for start, end in self.periods:
            if not (previous_end <= start < end):
                raise InvalidInputError(
                    "Working periods must be increasing and must not overlap, "
                    f"got {[(s.isoformat(), e.isoformat()) for s, e in self.periods]}.",
                )
            previous_end = end

    def is_workday(self, day: date) -> bool:
        """A holiday on a weekday is off; a make-up Saturday is on."""
        if day in self.overrides:
            return self.overrides[day]
        return day.weekday() in self.weekdays

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` working hours after ``start`` (aware), in China time.

        A deadline that ends exactly where a period ends is that end (Friday 17:00 + 1 h is
        Friday 18:00, not Monday 08:30).
        """
        if start.tzinfo is None:
            raise InvalidInputError("A deadline needs an aware start time (with its time zone).")
        if hours < 0:
            raise InvalidInputError(f"Working hours must not be negative, got {hours}.")
        cursor = start.astimezone(self.tz)
        remaining = timedelta(hours=hours)
        if not remaining:
            return cursor
        day = cursor.date()
        for _ in range(_MAX_SEARCH_DAYS):
            if self.is_workday(day):
                for begin, end in self.periods:
                    period_start = datetime.combine(day, begin, self.tz)
                    period_end = datetime.combine(day, end, self.tz)
                    segment_start = max(cursor, period_start)
                    if segment_start >= period_end:
                        continue
                    available = period_end - segment_start
                    if remaining <= available:
                        return segment_start + remaining
                    remaining -= available
            day += timedelta(days=1)
            cursor = datetime.combine(day, time.min, self.tz)
        raise InvalidInputError(
            f"No working time within {_MAX_SEARCH_DAYS} days of {start.isoformat()}: "
            "check the calendar (weekdays, periods, holidays)."
        )


def issue_deadline(
    start: datetime, hours: int, *, working_time: bool, calendar: WorkingCalendar
) -> datetime:
    """``hours`` after ``start``: working hours, or calendar hours when ``working_time`` is
    false. Returned in UTC, as the database stores it."""
    if working_time:
        return calendar.add_working_hours(start, hours).astimezone(UTC)
    return (start + timedelta(hours=hours)).astimezone(UTC)


def _district_clause(district_adcode: str | None) -> Any:
    if district_adcode is None:
        return CalendarDay.district_adcode.is_(None)
    return or_(
        CalendarDay.district_adcode.is_(None), CalendarDay.district_adcode == district_adcode
    )


def load_calendar(
    session: Session,
    district_adcode: str | None,
    *,
    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS,
    weekdays: frozenset[int] = DEFAULT_WEEKDAYS,
) -> WorkingCalendar:
    """The national calendar with the district's own days on top (one small query)."""
    rows = session.execute(
        select(CalendarDay.day, CalendarDay.is_workday, CalendarDay.district_adcode).where(
            _district_clause(district_adcode)
        )
    ).all()
    overrides: dict[date, bool] = {}
    for row in sorted(rows, key=lambda r: r.district_adcode is not None):  # national first
        overrides[row.day] = row.is_workday
    return WorkingCalendar(periods=periods, weekdays=weekdays, overrides=overrides)


def _day_dict(row: CalendarDay) -> dict[str, Any]:
    return {
        "date": row.day,
        "is_workday": row.is_workday,
        "name": row.name,
        "district_adcode": row.district_adcode,
        "scope": "national" if row.district_adcode is None else "district",
    }


def list_calendar_days(
    session: Session,
    *,
    district_adcode: str | None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[dict[str, Any]]:
    """National days and the district's own, by date (a district row after the national one)."""
    query = select(CalendarDay).where(_district_clause(district_adcode))
    if date_from is not None:
        query = query.where(CalendarDay.day >= date_from)
    if date_to is not None:
        query = query.where(CalendarDay.day <= date_to)
    query = query.order_by(CalendarDay.day, CalendarDay.district_adcode.nulls_first())
    return [_day_dict(r) for r in session.scalars(query)]


def upsert_calendar_days(
    session: Session, days: list[dict[str, Any]], *, district_adcode: str | None
) -> list[dict[str, Any]]:
    """Add or replace days (``date``, ``is_workday``, ``name``) for the district, or
    nationally when ``district_adcode`` is None. Idempotent: posting a day again updates it."""
    seen: set[date] = set()
    for d in days:
        if d["date"] in seen:
            raise InvalidInputError(
                f"{d['date']} appears twice in one request.", value=str(d["date"])
            )
        seen.add(d["date"])
    out = []
    for d in days:
        stmt = pg_insert(CalendarDay).values(
            district_adcode=district_adcode,
            day=d["date"],
            is_workday=d["is_workday"],
            name=d["name"],
        )
        stmt = stmt.on_conflict_do_update(
            constraint="uq_calendar_days_district_adcode_day",
            set_={"is_workday": stmt.excluded.is_workday, "name": stmt.excluded.name},
        )
        row_id = session.execute(stmt.returning(CalendarDay.id)).scalar_one()
        row = session.get(CalendarDay, row_id, populate_existing=True)
        assert row is not None
        out.append(_day_dict(row))
    return out


def delete_calendar_day(session: Session, day: date, *, district_adcode: str | None) -> bool:
    """Remove the district's (or the national) row for ``day``; True if there was one."""
    deleted = session.execute(
        delete(CalendarDay)
        .where(CalendarDay.day == day, _district_clause_exact(district_adcode))
        .returning(CalendarDay.id)
    ).all()
    return bool(deleted)


def _district_clause_exact(district_adcode: str | None) -> Any:
    if district_adcode is None:
        return CalendarDay.district_adcode.is_(None)
    return CalendarDay.district_adcode == district_adcode
