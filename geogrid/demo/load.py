"""``geogrid demo load``: write the generated Huazhou district into PostGIS.

One transaction, holding an advisory lock: a crash or a concurrent second load leaves nothing
half-written, and a database that already holds the district is left as it is. Rows go in with
``COPY`` (hex EWKB geometries), which keeps the whole load well under a minute.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from pyproj import Geod
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from geogrid.demo import names
from geogrid.demo.boundary import read_boundary
from geogrid.demo.generate import HUAZHOU, DemoData, DistrictSpec, GridRow, generate_demo
from geogrid.issues.calendar import (
    CHINA_TZ,
    CalendarSeedReport,
    WorkingCalendar,
    issue_deadline,
    seed_national_days,
    years_around,
)
from geogrid.settings import Settings

__all__ = ["ADVISORY_LOCK_KEY", "DemoReport", "Stages", "analyze_owned", "load_demo", "write_demo"]

ADVISORY_LOCK_KEY = 610_503_001
_LOG = logging.getLogger(__name__)
_GEOD = Geod(ellps="WGS84")


@dataclass(slots=True)
class DemoReport:
    """What a load did, and the holiday calendar it made sure of (also when the district was
    there already: a server started in a new year gets that year's national days)."""

    loaded: bool
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    calendar: CalendarSeedReport | None = None

    def summary(self) -> str:
        if not self.loaded:
            head = f"demo district {names.DISTRICT_ADCODE} already loaded: nothing to do"
        else:
            parts = ", ".join(f"{v} {k}" for k, v in self.counts.items())
            head = f"demo district {names.DISTRICT_ADCODE} loaded in {self.seconds:.1f} s: {parts}"
        lines = self.calendar.lines() if self.calendar else []
        return "\n".join([head, *(f"  holidays {line}" for line in lines)])


def _ewkb(geoms: Sequence[Any]) -> list[str]:
    arr = shapely.set_srid(np.asarray(geoms, dtype=object), 4326)
    return list(shapely.to_wkb(arr, hex=True, include_srid=True))


def _area_m2(geom: Any) -> float:
    """Area on the ellipsoid of a polygon whose edges are straight in lon/lat (as PostGIS
    geometry reads them): densified first, so long edges are not taken as geodesics."""
    return abs(_GEOD.geometry_area_perimeter(shapely.segmentize(geom, 1e-4))[0])


class Stages:
    """A rich progress bar, or nothing when ``progress`` is off (tests, CI logs)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self._progress = (
            Progress(
                TextColumn("[bold]{task.description:<28}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
            )
            if enabled
            else None
        )
        self._task = self._progress.add_task("demo", total=total) if self._progress else None

    @contextmanager
    def running(self) -> Iterator[Stages]:
        if self._progress is None:
            yield self
            return
        with self._progress:
            yield self

    def step(self, description: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=description, advance=1)


def already_loaded(conn: Any, adcode: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM admin_areas WHERE code = %s AND level = 'district'", (adcode,)
    ).fetchone()
    return row is not None


def load_demo(
    engine: Engine,
    *,
    seed: int,
    progress: bool = True,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> DemoReport:
    """Load the demo district unless it is there already. Returns what was done.

    ``now`` (default: the clock, read once) is the load time every generated date is relative
    to: the issues' report times, the boundaries' validity and the staff who are away until
    three days later. One reading keeps them consistent with each other, and a caller (a test)
    can fix it. Either way, the national holidays of the years around ``now`` are seeded first
    (and, when loading, of every year the generated issues span), in the same transaction: the
    deadlines written below are counted on them. Years without a known arrangement are logged
    and named in the report as counting weekends only.
    """
    settings = settings or Settings()
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
            if already_loaded(conn, names.DISTRICT_ADCODE):
                return DemoReport(loaded=False, calendar=_seed_calendar(conn, years_around(now)))
            stages = Stages(progress, total=11)
            with stages.running():
                stages.step("generating the district")
                district = read_boundary(
                    names.DISTRICT_ADCODE, names.DISTRICT_NAME, settings.boundaries_dir
                )
                data = generate_demo(district, seed=seed, now=now)
                calendar = seed_demo_calendar(conn, data, now)
                counts = write_demo(conn, data, HUAZHOU, stages, now=now)
                # Planner statistics now, not whenever autovacuum comes by (it may be off): on
                # a freshly loaded district without them, point lookups and tiles pick
                # sequential scans and run three to a hundred times slower.
                analyze_owned(conn)
    finally:
        raw.close()
    return DemoReport(
        loaded=True, seconds=time.perf_counter() - started, counts=counts, calendar=calendar
    )


def seed_demo_calendar(conn: Any, data: DemoData, now: datetime) -> CalendarSeedReport:
    """The national days of the years around ``now`` and of every year ``data`` spans: the
    deadlines :func:`write_demo` counts are counted on them."""
    first_year = data.valid_from.astimezone(CHINA_TZ).year
    return _seed_calendar(conn, set(years_around(now)) | set(range(first_year, now.year + 1)))


def _seed_calendar(conn: Any, years: Iterable[int]) -> CalendarSeedReport:
    report = seed_national_days(conn, years)
    for year in report.years:
        if year.weekends_only:
            _LOG.warning("holidays %s", year.describe())
    return report


def _copy(conn: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write ``rows`` into ``table`` with ``COPY``; the number of rows.

    PostgreSQL refuses ``COPY FROM`` into a table whose row-level security binds the current
    role. The owner lifts it first (:func:`_row_security_lifted`); the application role, which
    owns no table (a district added with its demo through the API), cannot: it copies into a
    temporary table of the same columns and inserts from there in one statement, which the
    policies check as any insert.
    """
    cols = ", ".join(columns)
    bound = conn.execute("SELECT row_security_active(%s::regclass)", (table,)).fetchone()[0]
    target = f'"_load_{table}"' if bound else table
    if bound:
        conn.execute(
            f"CREATE TEMPORARY TABLE {target} ON COMMIT DROP AS "
            f"SELECT {cols} FROM {table} WITH NO DATA"
        )
    n = 0
    with conn.cursor() as cur, cur.copy(f"COPY {target} ({cols}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)
            n += 1
    if bound:
        conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {target}")
        conn.execute(f"DROP TABLE {target}")
    return n


def analyze_owned(conn: Any, tables: Iterable[str] | None = None) -> None:
    """Fresh planner statistics for ``tables`` (default: every table of the schema) that the
    current role owns: only an owner may ``ANALYZE`` (the application role, adding a district
    through the API, leaves it to autovacuum)."""
    owned = [
        row[0]
        for row in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'm') "
            "AND pg_has_role(current_user, c.relowner, 'USAGE') ORDER BY c.relname"
        ).fetchall()
    ]
    wanted = owned if tables is None else [t for t in tables if t in owned]
    for table in wanted:
        conn.execute(f'ANALYZE "{table}"')


@contextmanager
def _row_security_lifted(conn: Any) -> Iterator[None]:
    """PostgreSQL refuses ``COPY FROM`` into a table under *forced* row-level security
    (migration 0014 forces it on grids and issues, so that their owner is bound by the reach
    policies too). The owner (the CLI's loads) lifts the force for this transaction and puts it
    back before committing; the ALTERs hold the tables' locks to the commit, so no
    other session ever sees them unforced. The loader sets no reach, under which every policy
    lets everything through anyway. Deferred checks (migration 0011's grid state) are run
    before each ALTER (PostgreSQL cannot alter a table with pending trigger events) and are
    deferred again while the rows go in."""
    if not conn.execute(
        "SELECT bool_and(pg_has_role(current_user, c.relowner, 'USAGE')) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relforcerowsecurity"
    ).fetchone()[0]:
        yield  # not the owner (the application role): _copy goes through temporary tables
        return
    forced = [
        row[0]
        for row in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' "
            "AND c.relrowsecurity AND c.relforcerowsecurity ORDER BY c.relname"
        ).fetchall()
    ]
    conn.execute("SET CONSTRAINTS ALL IMMEDIATE")  # what this transaction wrote before
    for table in forced:
        conn.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
    conn.execute("SET CONSTRAINTS ALL DEFERRED")
    yield
    conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table in forced:
        conn.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
    # back to deferred for the rest of the transaction (every deferrable check of the schema
    # is initially deferred): a second district written next is checked at commit again
    conn.execute("SET CONSTRAINTS ALL DEFERRED")


_ID_TABLES = ("admin_areas", "grids", "staff", "departments", "issues")


def _shift(d: DemoData, base: dict[str, int]) -> DemoData:
    """``d`` with its ids (generated from 1) moved past the rows already in the database, so a
    district is added next to others without touching them. Categories are matched by code
    later: they are shared by all districts."""
    a, g, s, dp, i = (base[t] for t in _ID_TABLES)
    if not any((a, g, s, dp, i)):
        return d

    def opt(value: int | None, by: int) -> int | None:
        return None if value is None else value + by

    areas = [replace(r, id=r.id + a, parent_id=opt(r.parent_id, a)) for r in d.areas]
    grids: list[GridRow] = [
        replace(
            r, id=r.id + g, parent_id=opt(r.parent_id, g), admin_area_id=opt(r.admin_area_id, a)
        )
        for r in d.grids
    ]
    issues = dict(d.issues)
    issues["grid_id"] = np.where(issues["grid_id"] > 0, issues["grid_id"] + g, issues["grid_id"])
    issues["assignee"] = np.where(issues["assignee"] > 0, issues["assignee"] + s, 0)
    issues["department_id"] = np.where(issues["department_id"] > 0, issues["department_id"] + dp, 0)
    return replace(
        d,
        areas=areas,
        grids=grids,
        staff=[(sid + s, *rest) for sid, *rest in d.staff],  # type: ignore[misc]
        assignments=[(gid + g, sid + s, post) for gid, sid, post in d.assignments],
        party_orgs=[(gid + g, *rest) for gid, *rest in d.party_orgs],  # type: ignore[misc]
        departments=[(did + dp, *rest) for did, *rest in d.departments],  # type: ignore[misc]
        categories=[(*c[:6], opt(c[6], dp)) for c in d.categories],
        issues=issues,
        issue_grids=[(iid + i, gid + g) for iid, gid in d.issue_grids],
        addresses=[{**x, "admin_area_id": opt(x["admin_area_id"], a)} for x in d.addresses],
    )


def write_demo(
    conn: Any, d: DemoData, spec: DistrictSpec, stages: Stages, *, now: datetime
) -> dict[str, int]:
    """Write one generated district with ``COPY`` inside the caller's transaction (a psycopg
    connection); ids continue after the rows already there, categories are shared."""
    base = {
        t: int(conn.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0])
        for t in _ID_TABLES
    }
    d = _shift(d, base)
    with _row_security_lifted(conn):
        return _write_rows(conn, d, spec, stages, now=now, base=base)


def _write_rows(
    conn: Any,
    d: DemoData,
    spec: DistrictSpec,
    stages: Stages,
    *,
    now: datetime,
    base: dict[str, int],
) -> dict[str, int]:
    adcode = spec.adcode
    counts: dict[str, int] = {}

    stages.step("administrative areas")
    area_geoms = _ewkb([a.geom for a in d.areas])
    seat_geoms = _ewkb([a.seat for a in d.areas])
    _copy(
        conn,
        "admin_areas",
        ("id", "code", "name", "level", "parent_id", "district_adcode", "geom", "source", "seat"),
        (
            (a.id, a.code, a.name, a.level, a.parent_id, adcode, g, a.source, s if a.seat else None)
            for a, g, s in zip(d.areas, area_geoms, seat_geoms, strict=True)
        ),
    )

    stages.step("grids and their versions")
    counts["grids"] = _copy(
        conn,
        "grids",
        (
            "id",
            "code",
            "district_adcode",
            "level",
            "kind",
            "dedicated_type",
            "parent_id",
            "admin_area_id",
            "current_version",
            "created_at",
        ),
        (
            (
                g.id,
                g.code,
                adcode,
                g.level,
                g.kind,
                g.dedicated_type,
                g.parent_id,
                g.admin_area_id,
                1,
                d.valid_from,
            )
            for g in d.grids
        ),
    )
    grid_geoms = _ewkb([g.geom for g in d.grids])
    _copy(
        conn,
        "grid_versions",
        (
            "grid_id",
            "district_adcode",  # a trigger copies it from the grid, but not in a replica-mode load
            "version",
            "name",
            "estate_type",
            "households",
            "population",
            "attributes",
            "geom",
            "area_m2",
            "valid_from",
            "changed_by",
            "change_reason",
        ),
        (
            (
                g.id,
                adcode,
                1,
                g.name,
                g.estate_type,
                g.households,
                g.population,
                json.dumps(g.attributes, ensure_ascii=False),
                geom,
                _area_m2(g.geom),
                d.valid_from,
                "demo",
                spec.change_reason,
            )
            for g, geom in zip(d.grids, grid_geoms, strict=True)
        ),
    )

    stages.step("staff and A/B posts")
    counts["staff"] = _copy(
        conn,
        "staff",
        ("id", "district_adcode", "name", "role", "phone", "availability", "away_until"),
        (
            (
                sid,
                adcode,
                name,
                role,
                phone,
                avail,
                now + timedelta(days=3) if avail == "away" else None,
            )
            for sid, name, role, phone, avail in d.staff
        ),
    )
    _copy(
        conn,
        "grid_assignments",
        ("grid_id", "staff_id", "post", "valid_from"),
        ((gid, sid, post, d.valid_from) for gid, sid, post in d.assignments),
    )
    _copy(
        conn,
        "party_organisations",
        ("grid_id", "name", "kind", "secretary"),
        ((gid, name, kind, sec or None) for gid, name, kind, sec in d.party_orgs),
    )

    stages.step("departments and categories")
    counts["departments"] = _copy(
        conn,
        "departments",
        ("id", "district_adcode", "code", "name", "kind", "phone"),
        ((i, adcode, code, name, kind, phone) for i, code, name, kind, phone in d.departments),
    )
    category_ids = _write_categories(conn, d)

    stages.step("standard addresses")
    addr_geoms = _ewkb(shapely.points([(a["x"], a["y"]) for a in d.addresses]))
    counts["addresses"] = _copy(
        conn,
        "addresses",
        (
            "district_adcode",
            "full_text",
            "normalized",
            "town",
            "community",
            "road",
            "road_number",
            "estate",
            "building",
            "unit",
            "admin_area_id",
            "geom",
            "source",
        ),
        (
            (
                adcode,
                a["full_text"],
                a["normalized"],
                a["town"],
                a["community"],
                a["road"],
                a["road_number"],
                a["estate"],
                a["building"],
                a["unit"],
                a["admin_area_id"],
                g,
                "demo",
            )
            for a, g in zip(d.addresses, addr_geoms, strict=True)
        ),
    )

    stages.step("issues")
    timelines = _timelines(conn, d, adcode)
    counts["issues"] = _write_issues(conn, d, timelines, adcode, category_ids, base["issues"])
    stages.step("issue grids")
    _copy(
        conn,
        "issue_grids",
        ("issue_id", "grid_id", "grid_version"),
        ((i, g, 1) for i, g in d.issue_grids),
    )
    stages.step("issue timelines")
    counts["issue events"] = _write_events(conn, d, timelines, base["issues"])

    stages.step("sequences and statistics")
    for table in (
        "admin_areas",
        "grids",
        "grid_versions",
        "staff",
        "grid_assignments",
        "party_organisations",
        "departments",
        "issue_categories",
        "addresses",
        "issues",
        "issue_events",
    ):
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
        )
    stages.step("done")
    return counts


def _write_categories(conn: Any, d: DemoData) -> dict[str, int]:
    """The shared issue categories, written by the first district loaded (with its departments
    as the default dispatch targets) and reused by the next: code → id."""
    existing = dict(conn.execute("SELECT code, id FROM issue_categories").fetchall())
    missing = [c for c in d.categories if c[1] not in existing]
    if missing:
        first = int(conn.execute("SELECT coalesce(max(id), 0) FROM issue_categories").fetchone()[0])
        local_code = {c[0]: c[1] for c in d.categories}
        new_id = {c[0]: first + k + 1 for k, c in enumerate(missing)}

        def parent(local: int | None) -> int | None:
            if local is None:
                return None
            return new_id.get(local) or existing[local_code[local]]

        _copy(
            conn,
            "issue_categories",
            (
                "id",
                "code",
                "name",
                "parent_id",
                "default_level",
                "deadline_hours",
                "department_id",
                "deadline_working_time",
            ),
            (
                (
                    new_id[c[0]],
                    c[1],
                    c[2],
                    parent(c[3]),
                    c[4],
                    c[5],
                    c[6],
                    c[5] >= names.WORKING_TIME_FROM_HOURS,
                )
                for c in missing
            ),
        )
        existing.update({c[1]: new_id[c[0]] for c in missing})
    return existing


Timeline = dict[str, datetime | None]


def _timelines(conn: Any, d: DemoData, adcode: str = names.DISTRICT_ADCODE) -> list[Timeline]:
    """Each issue's timestamps. Deadlines follow the category's rule as live reports do:
    working hours on the district's calendar (weekends, holidays and make-up workdays from
    ``calendar_days``) for deadlines of three days or more, clock hours below that."""
    overrides = {
        day: workday
        for day, workday in conn.execute(
            "SELECT day, is_workday FROM calendar_days "
            "WHERE district_adcode IS NULL OR district_adcode = %s "
            "ORDER BY district_adcode NULLS FIRST",
            (adcode,),
        )
    }
    calendar = WorkingCalendar(overrides=overrides)
    return [_timeline(i, d, calendar) for i in range(len(d.issues["x"]))]


def _timeline(i: int, d: DemoData, calendar: WorkingCalendar) -> Timeline:
    iss = d.issues
    reported = iss["reported_at"][i].astype(datetime).replace(tzinfo=UTC)
    status = iss["status"][i]
    resolve = timedelta(hours=float(iss["resolve_h"][i]))
    t: dict[str, datetime | None] = {
        "reported": reported,
        "accepted": None,
        "resolved": None,
        "closed": None,
        "deadline": None,
    }
    if status != "reported":
        accepted = reported + timedelta(hours=1 + (i % 7))
        t["accepted"] = accepted
        hours = int(iss["deadline_h"][i])
        t["deadline"] = issue_deadline(
            accepted,
            hours,
            working_time=hours >= names.WORKING_TIME_FROM_HOURS,
            calendar=calendar,
        )
    if status in ("resolved", "verified", "evaluated", "closed"):
        t["resolved"] = reported + resolve
    if status == "closed":
        t["closed"] = reported + resolve + timedelta(hours=24 + (i % 24))
    return t


def _write_issues(
    conn: Any,
    d: DemoData,
    timelines: list[Timeline],
    adcode: str,
    category_ids: dict[str, int],
    first_id: int,
) -> int:
    iss = d.issues
    n = len(iss["x"])
    geoms = _ewkb(shapely.points(iss["x"], iss["y"]))

    def rows() -> Iterator[tuple[Any, ...]]:
        for i in range(n):
            t = timelines[i]
            status = iss["status"][i]
            grid_id = int(iss["grid_id"][i])
            dept = int(iss["department_id"][i]) or None
            yield (
                first_id + i + 1,
                adcode,
                category_ids[str(iss["category_code"][i])],
                f"{iss['category_name'][i]}：居民反映的问题（演示数据）",
                geoms[i],
                str(iss["source"][i]),
                status,
                str(iss["handling_level"][i]),
                grid_id if grid_id > 0 else None,
                1 if grid_id > 0 else None,
                None if grid_id > 0 else "point in no grid: district queue",
                int(iss["assignee"][i]) or None,
                dept if status not in ("reported", "rejected") else None,
                iss["rating"][i],
                "rejected as out of scope (demo)" if status == "rejected" else None,
                t["reported"],
                t["accepted"],
                t["deadline"],
                t["resolved"],
                t["closed"],
                t["closed"] or t["resolved"] or t["accepted"] or t["reported"],
            )

    return _copy(
        conn,
        "issues",
        (
            "id",
            "district_adcode",
            "category_id",
            "description",
            "geom",
            "source",
            "status",
            "handling_level",
            "grid_id",
            "grid_version",
            "routing_note",
            "assignee_staff_id",
            "department_id",
            "rating",
            "resolution",
            "reported_at",
            "accepted_at",
            "deadline_at",
            "resolved_at",
            "closed_at",
            "updated_at",
        ),
        rows(),
    )


_PATH = ("reported", "accepted", "discussing", "decided", "in_progress", "resolved")
_CLOSE = ("verified", "evaluated", "closed")


def _write_events(conn: Any, d: DemoData, timelines: list[Timeline], first_id: int) -> int:
    """The workflow log of each demo issue, consistent with its state and timestamps."""
    iss = d.issues

    def rows() -> Iterator[tuple[Any, ...]]:
        for i in range(len(iss["x"])):
            t = timelines[i]
            status = iss["status"][i]
            issue_id = first_id + i + 1
            reported = t["reported"]
            assert reported is not None
            yield (issue_id, reported, "reporter", "reported", None, "reported", None)
            if status == "rejected":
                yield (
                    issue_id,
                    reported + timedelta(hours=2),
                    "grid worker",
                    "transition",
                    "reported",
                    "rejected",
                    "不属于受理范围",
                )
                continue
            if status == "reported":
                continue
            final = "resolved" if status == "closed" else status
            steps = _PATH[: _PATH.index(final) + 1]
            accepted = t["accepted"]
            assert accepted is not None
            end = t["resolved"] or accepted + timedelta(hours=2 * len(steps))
            span = (end - accepted) / max(len(steps) - 1, 1)
            for k in range(1, len(steps)):
                at = accepted + span * (k - 1)
                yield (issue_id, at, "grid worker", "transition", steps[k - 1], steps[k], None)
            if status == "closed":
                closed = t["closed"]
                assert closed is not None and end is not None
                prev = "resolved"
                for k, step in enumerate(_CLOSE):
                    at = end + (closed - end) * (k + 1) / len(_CLOSE)
                    note = f"rating: {iss['rating'][i]}" if step == "evaluated" else None
                    yield (issue_id, at, "grid worker", "transition", prev, step, note)
                    prev = step

    return _copy(
        conn,
        "issue_events",
        ("issue_id", "at", "actor", "kind", "from_status", "to_status", "note"),
        rows(),
    )
