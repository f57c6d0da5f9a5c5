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

The national rows are not typed in by hand: :func:`seed_national_days` copies them from the
maintained ``chinese-calendar`` package (PyPI ``chinesecalendar``), which follows the State
Council notices, for the years the data needs (the demo load and ``geogrid up`` call it). Rows
already in the table win, so a correction made through the API survives the next seeding. A
year the package does not know yet is reported as counting weekends only, never silently.

China has a single time zone without daylight saving: UTC+8 is a fixed offset.

>>> from datetime import datetime
>>> friday = datetime(2026, 11, 27, 17, 0, tzinfo=CHINA_TZ)
>>> WorkingCalendar().add_working_hours(friday, 2).isoformat()
'2026-11-30T09:30:00+08:00'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from importlib.metadata import version
from typing import Any

import chinese_calendar
import psycopg
from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geogrid.errors import InvalidInputError
from geogrid.storage.models import CalendarDay

__all__ = [
    "CHINA_TZ",
    "DEFAULT_PERIODS",
    "DEFAULT_WEEKDAYS",
    "CalendarSeedReport",
    "WorkingCalendar",
    "YearSeed",
    "delete_calendar_day",
    "issue_deadline",
    "list_calendar_days",
    "load_calendar",
    "national_days_from_package",
    "package_years",
    "seed_national_days",
    "upsert_calendar_days",
    "years_around",
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


# -- national days from the chinese-calendar package -------------------------------------------

#: The package's short names, as the State Council notices spell the holidays.
_FULL_NAMES = {"清明": "清明节", "端午": "端午节", "中秋": "中秋节"}
_PACKAGE = f"chinesecalendar {version('chinesecalendar')}"


def package_years() -> range:
    """The years whose arrangement the installed ``chinese-calendar`` knows (its data starts in
    2004 and ends with the last notice it shipped)."""
    years = [d.year for d in chinese_calendar.holidays]
    return range(min(years), max(years) + 1)


def _chinese_name(english: str) -> str:
    short = chinese_calendar.Holiday(english).chinese
    return _FULL_NAMES.get(short, short)


def national_days_from_package(year: int) -> list[dict[str, Any]] | None:
    """The national days of ``year`` (``date``, ``is_workday``, ``name``) as the package has
    them: every day off of a holiday (weekend days included, as the notices list them) and
    every make-up working day (调休上班). None when the package does not know the year.

    >>> days = national_days_from_package(2026)
    >>> len(days), sum(d["is_workday"] for d in days)
    (39, 6)
    >>> days[0]
    {'date': datetime.date(2026, 1, 1), 'is_workday': False, 'name': '元旦'}
    >>> national_days_from_package(1999) is None
    True
    """
    if year not in package_years():
        return None
    days = [
        {"date": d, "is_workday": False, "name": _chinese_name(n)}
        for d, n in chinese_calendar.holidays.items()
        if d.year == year
    ]
    days += [
        {"date": d, "is_workday": True, "name": f"{_chinese_name(n)}调休上班"}
        for d, n in chinese_calendar.workdays.items()
        if d.year == year
    ]
    return sorted(days, key=lambda d: d["date"])


def years_around(moment: datetime) -> range:
    """The previous, current and next year of ``moment`` in China time: the years whose
    holidays deadlines set around ``moment`` can reach.

    >>> years_around(datetime(2026, 12, 31, 17, tzinfo=UTC))  # already 2027 in Beijing
    range(2026, 2029)
    """
    year = moment.astimezone(CHINA_TZ).year
    return range(year - 1, year + 2)


@dataclass(frozen=True)
class YearSeed:
    """What one year's national calendar holds after seeding, and where it came from:
    ``source`` is the package (``chinesecalendar X.Y``), ``calendar_days`` (rows entered
    through the API for a year the package does not know), or ``weekends only``."""

    year: int
    source: str
    days: int
    added: int

    @property
    def weekends_only(self) -> bool:
        return self.source == "weekends only"

    def describe(self) -> str:
        if self.weekends_only:
            return (
                f"{self.year}: no holiday arrangement ({_PACKAGE} knows "
                f"{package_years().start}–{package_years().stop - 1}, and calendar_days has no "
                f"national day): working-hour deadlines in {self.year} skip weekends only "
                "(weekends-only fallback) until the State Council's days are added with "
                "POST /calendar/days or a newer chinesecalendar is installed"
            )
        return f"{self.year}: {self.days} national days from {self.source} ({self.added} added)"


@dataclass(frozen=True)
class CalendarSeedReport:
    """One :class:`YearSeed` per year asked for, in year order."""

    years: tuple[YearSeed, ...]

    @property
    def weekends_only(self) -> list[int]:
        """The years whose deadlines count weekends only: say so where they are used."""
        return [y.year for y in self.years if y.weekends_only]

    def lines(self) -> list[str]:
        return [y.describe() for y in self.years]


_SEED_SQL = """
INSERT INTO calendar_days (district_adcode, day, is_workday, name)
SELECT NULL, t.day, t.is_workday, t.name
FROM unnest(%s::date[], %s::boolean[], %s::text[]) AS t(day, is_workday, name)
ON CONFLICT ON CONSTRAINT uq_calendar_days_district_adcode_day DO NOTHING
RETURNING day
"""
_COUNT_SQL = """
SELECT extract(year FROM day)::int, count(*) FROM calendar_days
WHERE district_adcode IS NULL AND day >= %s AND day < %s GROUP BY 1
"""


def seed_national_days(
    connection: Session | psycopg.Connection[Any], years: Iterable[int]
) -> CalendarSeedReport:
    """Add the package's national days of ``years`` that the table does not hold yet.

    Idempotent (a second call adds nothing) and part of the caller's transaction, in one
    statement: either every missing day of every year goes in or, if the caller rolls back,
    none. A day already in the table is kept, whoever put it there (the 2026 rows of migration
    0009, or a correction through the API). Takes a SQLAlchemy session or the raw psycopg
    connection of the demo load, so both write through the same statement.
    """
    wanted = sorted(set(years))
    if not wanted:
        return CalendarSeedReport(years=())
    conn: psycopg.Connection[Any]
    if isinstance(connection, Session):
        driver = connection.connection().connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        conn = driver
    else:
        conn = connection
    from_package = {y: national_days_from_package(y) for y in wanted}
    rows = [d for days in from_package.values() for d in days or ()]
    added: dict[int, int] = {}
    with conn.cursor() as cur:
        if rows:
            cur.execute(
                _SEED_SQL,
                (
                    [d["date"] for d in rows],
                    [d["is_workday"] for d in rows],
                    [d["name"] for d in rows],
                ),
            )
            for (day,) in cur.fetchall():
                added[day.year] = added.get(day.year, 0) + 1
        cur.execute(_COUNT_SQL, (date(wanted[0], 1, 1), date(wanted[-1] + 1, 1, 1)))
        held = {int(year): int(n) for year, n in cur.fetchall()}
    seeds = []
    for year in wanted:
        if from_package[year] is not None:
            source = _PACKAGE
        elif held.get(year):
            source = "calendar_days"
        else:
            source = "weekends only"
        seeds.append(YearSeed(year, source, held.get(year, 0), added.get(year, 0)))
    return CalendarSeedReport(years=tuple(seeds))
