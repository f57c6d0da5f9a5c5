"""The derived stores behind the analysis answers, one read function per store.

What changes an answer already has a counter: boundaries (``boundary_revisions``), staff
(``staff_revisions``) and issues (``issue_revisions``, migration 0019, bumped by triggers on
issues, their grid tags and their events). The stores are keyed by district (adcode):

``analysis_territory_gaps``
    uncovered territory and sibling overlaps per district and level, recomputed when a read
    finds the boundary revision moved (:func:`ensure_territory`), read by index afterwards;
``analysis_grid_display``
    the simplified display geometry of every current grid, same revision;
``analysis_misplaced``
    open issues on the wrong grid, recomputed when boundaries or issues moved;
``grid_activity`` / ``issue_grid_day_counts``
    the last issue and event per grid, and issues per grid, Beijing day, category and status,
    kept by triggers in the writing transaction (so never stale).

Every store is derived: :func:`rebuild` recomputes all of a district from scratch
(``geogrid analysis rebuild [--district]``). Reads go through one function per store
(:func:`territory_rows`, :func:`grid_display`, :func:`misplaced_rows`,
:func:`grid_activity_rows`, :func:`stored_issue_counts`), so a filter applied to every read
(access reach) has one place per store to go.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, cast, column, func, insert, select, table, text
from sqlalchemy.orm import Session

from geogrid.analysis.filters import IssueFilter

__all__ = [
    "AnalysisRevisions",
    "TerritoryRow",
    "answer_key",
    "clock_marks",
    "ensure_misplaced",
    "ensure_territory",
    "grid_activity_rows",
    "grid_display",
    "misplaced_rows",
    "read_revisions",
    "rebuild",
    "stored_cell_counts",
    "stored_issue_counts",
    "stored_issue_total",
    "territory_rows",
]

BEIJING = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class AnalysisRevisions:
    """The three counters of a district with the instant each last moved. The instants make a
    key unique even where a counter value is reused (a transaction that bumped it rolled back,
    and the next one bumped it to the same number)."""

    boundary: str
    staff: str
    issues: str


_REVISIONS = text(
    """
    SELECT (SELECT revision || '@' || changed_at FROM boundary_revisions
            WHERE district_adcode = :d),
           (SELECT revision || '@' || changed_at FROM staff_revisions
            WHERE district_adcode = :d),
           (SELECT revision || '@' || changed_at FROM issue_revisions
            WHERE district_adcode = :d)
    """
)


def read_revisions(session: Session, *, district_adcode: str) -> AnalysisRevisions:
    """The district's three revisions, in one round trip (a district with none yet reads 0)."""
    b, s, i = session.execute(_REVISIONS, {"d": district_adcode}).one()
    return AnalysisRevisions(b or "0", s or "0", i or "0")


def _lock(session: Session, district_adcode: str, store: str) -> None:
    """Serialise refreshes of one store of one district: two readers that find it stale at once
    compute it once (the second waits, then finds it current)."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('geogrid-analysis'), hashtext(:k))"),
        {"k": f"{district_adcode}/{store}"},
    )


def _source(session: Session, district_adcode: str, store: str) -> str | None:
    source: str | None = session.execute(
        text("SELECT source FROM analysis_store_state WHERE district_adcode = :d AND store = :s"),
        {"d": district_adcode, "s": store},
    ).scalar()
    return source


def _set_source(session: Session, district_adcode: str, store: str, source: str) -> None:
    session.execute(
        text(
            "INSERT INTO analysis_store_state (district_adcode, store, source, computed_at) "
            "VALUES (:d, :s, :src, clock_timestamp()) ON CONFLICT (district_adcode, store) "
            "DO UPDATE SET source = excluded.source, computed_at = excluded.computed_at"
        ),
        {"d": district_adcode, "s": store, "src": source},
    )


# -- territory: uncovered, overlaps, display geometries (boundary revision) ----------------------


@dataclass(frozen=True)
class TerritoryRow:
    """One stored territorial gap, as :mod:`geogrid.analysis.gaps` computed it."""

    kind: str
    code: str
    level: int
    area_m2: float
    geometry: str
    extra: dict[str, Any]


def compute_territory(session: Session, *, district_adcode: str) -> list[TerritoryRow]:
    """Uncovered territory and overlaps from scratch (every area above 0; the caller's
    ``min_area_m2`` filters at read)."""
    from geogrid.analysis.gaps import _OVERLAPS, _UNCOVERED

    params = {"adcode": district_adcode, "min_area": 0.0}
    rows = [
        TerritoryRow(
            "uncovered",
            parent,
            level,
            float(area),
            geometry,
            {"parent_code": parent, "near_codes": list(near)},
        )
        for parent, level, area, geometry, near in session.execute(text(_UNCOVERED), params)
    ]
    rows += [
        TerritoryRow("overlap", a, level, float(area), geometry, {"codes": [a, b]})
        for a, b, level, area, geometry in session.execute(text(_OVERLAPS), params)
    ]
    return rows


def _write_territory(session: Session, district_adcode: str) -> None:
    from geogrid.analysis.layers import DISPLAY_TOLERANCE_DEG

    session.execute(
        text("DELETE FROM analysis_territory_gaps WHERE district_adcode = :d"),
        {"d": district_adcode},
    )
    rows = compute_territory(session, district_adcode=district_adcode)
    if rows:
        session.execute(
            text(
                "INSERT INTO analysis_territory_gaps "
                "(district_adcode, level, kind, seq, code, area_m2, geometry, extra) "
                "VALUES (:d, :level, :kind, :seq, :code, :area, :geometry, CAST(:extra AS jsonb))"
            ),
            [
                {
                    "d": district_adcode,
                    "level": r.level,
                    "kind": r.kind,
                    "seq": seq,
                    "code": r.code,
                    "area": r.area_m2,
                    "geometry": r.geometry,
                    "extra": json.dumps(r.extra),
                }
                for seq, r in enumerate(rows)
            ],
        )
    session.execute(
        text("DELETE FROM analysis_grid_display WHERE district_adcode = :d"),
        {"d": district_adcode},
    )
    session.execute(
        text(
            """
            INSERT INTO analysis_grid_display (grid_id, district_adcode, code, display)
            SELECT g.id, g.district_adcode, g.code,
                   ST_AsGeoJSON(ST_SimplifyPreserveTopology(v.geom, :tol), 6)
            FROM grids g JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL
            WHERE g.district_adcode = :d AND g.retired_at IS NULL
            """
        ),
        {"d": district_adcode, "tol": DISPLAY_TOLERANCE_DEG},
    )


def ensure_territory(session: Session, *, district_adcode: str) -> str:
    """Make the territory stores current for the district's boundary revision (recomputing
    them if it moved) and return that revision."""
    boundary = read_revisions(session, district_adcode=district_adcode).boundary
    if _source(session, district_adcode, "territory") == boundary:
        return boundary
    _lock(session, district_adcode, "territory")
    boundary = read_revisions(session, district_adcode=district_adcode).boundary
    if _source(session, district_adcode, "territory") != boundary:
        _write_territory(session, district_adcode)
        _set_source(session, district_adcode, "territory", boundary)
    return boundary


def territory_rows(
    session: Session, *, district_adcode: str, min_area_m2: float
) -> list[TerritoryRow]:
    """The stored territorial gaps of at least ``min_area_m2``: uncovered first (by parent,
    largest first), then overlaps (by pair), as computed."""
    ensure_territory(session, district_adcode=district_adcode)
    return [
        TerritoryRow(kind, code, level, area, geometry, extra)
        for kind, code, level, area, geometry, extra in session.execute(
            text(
                "SELECT kind, code, level, area_m2, geometry, extra FROM analysis_territory_gaps "
                "WHERE district_adcode = :d AND area_m2 >= :min "
                "ORDER BY kind = 'overlap', seq"
            ),
            {"d": district_adcode, "min": min_area_m2},
        )
    ]


def grid_display(session: Session, *, district_adcode: str) -> dict[int, dict[str, Any]]:
    """The stored display geometry (GeoJSON, simplified) of every current grid, by grid id."""
    ensure_territory(session, district_adcode=district_adcode)
    return {
        int(grid_id): json.loads(display)
        for grid_id, display in session.execute(
            text("SELECT grid_id, display FROM analysis_grid_display WHERE district_adcode = :d"),
            {"d": district_adcode},
        )
    }


# -- misplaced open issues (boundary and issue revisions) ----------------------------------------


def ensure_misplaced(session: Session, *, district_adcode: str) -> None:
    """Recompute the misplaced-issue rows when boundaries or issues moved since last time."""
    from geogrid.analysis.gaps import misplaced_gap_rows

    revisions = read_revisions(session, district_adcode=district_adcode)
    source = f"{revisions.boundary}|{revisions.issues}"
    if _source(session, district_adcode, "misplaced") == source:
        return
    _lock(session, district_adcode, "misplaced")
    if _source(session, district_adcode, "misplaced") == source:
        return
    session.execute(
        text("DELETE FROM analysis_misplaced WHERE district_adcode = :d"), {"d": district_adcode}
    )
    rows = misplaced_gap_rows(session, district_adcode)
    if rows:
        session.execute(
            text(
                "INSERT INTO analysis_misplaced (district_adcode, seq, row) "
                "VALUES (:d, :seq, CAST(:row AS jsonb))"
            ),
            [
                {"d": district_adcode, "seq": seq, "row": json.dumps(row)}
                for seq, row in enumerate(rows)
            ],
        )
    _set_source(session, district_adcode, "misplaced", source)


def misplaced_rows(session: Session, *, district_adcode: str) -> list[dict[str, Any]]:
    """The stored misplaced-issue rows (plain dicts of :class:`~geogrid.analysis.gaps.GapRow`
    fields), in the order computed."""
    ensure_misplaced(session, district_adcode=district_adcode)
    return [
        row
        for (row,) in session.execute(
            text("SELECT row FROM analysis_misplaced WHERE district_adcode = :d ORDER BY seq"),
            {"d": district_adcode},
        )
    ]


# -- activity and counts (triggers) --------------------------------------------------------------


def grid_activity_rows(
    session: Session, *, district_adcode: str
) -> dict[int, tuple[datetime | None, datetime | None]]:
    """``grid id -> (last issue reported, last event)`` for the district's grids with any."""
    return {
        int(g): (issue_at, event_at)
        for g, issue_at, event_at in session.execute(
            text(
                "SELECT a.grid_id, a.last_issue_at, a.last_event_at FROM grid_activity a "
                "JOIN grids g ON g.id = a.grid_id WHERE g.district_adcode = :d"
            ),
            {"d": district_adcode},
        )
    }


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BEIJING)


def _whole_days(start: datetime | None, end: datetime | None) -> tuple[date | None, date | None]:
    """The Beijing days lying wholly inside ``[start, end)`` as ``[first, stop)`` (None: open)."""
    first = None
    if start is not None:
        local = start.astimezone(BEIJING)
        first = local.date() if local == _day_start(local.date()) else local.date() + timedelta(1)
    stop = None if end is None else end.astimezone(BEIJING).date()
    return first, stop


@dataclass(frozen=True)
class _Window:
    """A filter's period split for a day store: ``where``/``params`` select its whole Beijing
    days in the store (``whole`` False: the period lies within one day, none), ``edges`` are
    the partial days at its ends, counted from the issues themselves."""

    whole: bool
    where: list[str]
    params: dict[str, Any]
    edges: list[IssueFilter]


def _split(f: IssueFilter) -> _Window:
    first, stop = _whole_days(f.start, f.end)
    if first is not None and stop is not None and stop < first:
        first = stop = None  # the period lies within one day: no whole day in it
        whole = False
    else:
        whole = True
    where: list[str] = []
    params: dict[str, Any] = {"statuses": list(f.statuses)}
    if f.statuses:
        where.append("status = ANY(:statuses)")
    if f.category:
        where.append(
            "category_id IN (SELECT id FROM issue_categories WHERE code = :cat OR parent_id IN "
            "(SELECT id FROM issue_categories WHERE code = :cat))"
        )
        params["cat"] = f.category
    if first is not None:
        where.append("day >= :first")
        params["first"] = first
    if stop is not None:
        where.append("day < :stop")
        params["stop"] = stop
    edges: list[IssueFilter] = []
    if whole:
        if f.start is not None and first is not None and _day_start(first) > f.start:
            edges.append(
                IssueFilter(
                    start=f.start, end=_day_start(first), category=f.category, statuses=f.statuses
                )
            )
        if f.end is not None and stop is not None and _day_start(stop) < f.end:
            low = _day_start(stop) if f.start is None else max(_day_start(stop), f.start)
            edges.append(
                IssueFilter(start=low, end=f.end, category=f.category, statuses=f.statuses)
            )
    else:
        edges.append(f)
    return _Window(whole, where, params, edges)


def stored_issue_counts(
    session: Session, grid_ids: Sequence[int], issue_filter: IssueFilter | None = None
) -> dict[int, int]:
    """Issues per grid as :func:`geogrid.analysis.layers.issue_counts` counts them, summed
    from ``issue_grid_day_counts``: whole Beijing days of the period come from the store, and
    only the partial days at its edges (a period that does not start or end at midnight) are
    counted from the issues themselves."""
    if not grid_ids:
        return {}
    w = _split(issue_filter or IssueFilter())
    counts: dict[int, int] = {}
    if w.whole:
        where = " AND ".join(["grid_id = ANY(:grids)", *w.where])
        for g, n in session.execute(
            text(f"SELECT grid_id, sum(n) FROM issue_grid_day_counts WHERE {where} GROUP BY 1"),
            {**w.params, "grids": list(grid_ids)},
        ):
            counts[int(g)] = int(n)
    from geogrid.analysis.layers import issue_counts

    for edge in w.edges:
        for g, n in issue_counts(session, grid_ids, edge).items():
            counts[g] = counts.get(g, 0) + n
    return {g: n for g, n in counts.items() if n}


def stored_cell_counts(
    session: Session, *, district_adcode: str, issue_filter: IssueFilter | None = None
) -> dict[tuple[int, int], int]:
    """Issues per ~100 m heatmap cell ``(cx, cy)`` as
    :func:`geogrid.analysis.heatmap.fresh_cell_counts` counts them, summed from
    ``issue_cell_day_counts`` for the whole Beijing days of the period (a range of its primary
    key) and from the issues for the partial days at its edges."""
    from geogrid.analysis.heatmap import fresh_cell_counts

    w = _split(issue_filter or IssueFilter())
    counts: dict[tuple[int, int], int] = {}
    if w.whole:
        where = " AND ".join(["district_adcode = :d", *w.where])
        for x, y, n in session.execute(
            text(f"SELECT cx, cy, sum(n) FROM issue_cell_day_counts WHERE {where} GROUP BY 1, 2"),
            {**w.params, "d": district_adcode},
        ):
            counts[(int(x), int(y))] = int(n)
    for edge in w.edges:
        for cell, n in fresh_cell_counts(
            session, district_adcode=district_adcode, issue_filter=edge
        ).items():
            counts[cell] = counts.get(cell, 0) + n
    return {c: n for c, n in counts.items() if n}


def stored_issue_total(
    session: Session, *, district_adcode: str, issue_filter: IssueFilter | None = None
) -> int:
    """The district's issues in the filter, as the sum of :func:`stored_cell_counts` (one row
    read back rather than one per cell: a heatmap's monthly frames need only their totals to
    tell whether they are drawn as points)."""
    w = _split(issue_filter or IssueFilter())
    total = 0
    if w.whole:
        where = " AND ".join(["district_adcode = :d", *w.where])
        total += int(
            session.execute(
                text(f"SELECT coalesce(sum(n), 0) FROM issue_cell_day_counts WHERE {where}"),
                {**w.params, "d": district_adcode},
            ).scalar_one()
        )
    from geogrid.analysis.heatmap import fresh_issue_total

    for edge in w.edges:
        total += fresh_issue_total(session, district_adcode=district_adcode, issue_filter=edge)
    return total


# -- rebuild -------------------------------------------------------------------------------------


def _rebuild_cells(session: Session, district_adcode: str) -> None:
    """Refill the district's heatmap cell counts from its issues."""
    from geogrid.analysis.heatmap import CELL_M, cell_columns
    from geogrid.storage.models import Issue

    session.execute(
        text("DELETE FROM issue_cell_day_counts WHERE district_adcode = :d"),
        {"d": district_adcode},
    )
    cx, cy = cell_columns(Issue.geom, CELL_M)
    day = cast(func.timezone("Asia/Shanghai", Issue.reported_at), Date)
    keys = (Issue.district_adcode, day, cx, cy, Issue.category_id, Issue.status)
    counted = select(*keys, func.count()).where(Issue.district_adcode == district_adcode)
    store = table(
        "issue_cell_day_counts",
        *(column(c) for c in ("district_adcode", "day", "cx", "cy", "category_id", "status", "n")),
    )
    session.execute(insert(store).from_select(list(store.c), counted.group_by(*keys)))


def rebuild(session: Session, *, district_adcode: str | None = None) -> list[str]:
    """Recompute every store from scratch, for one district or all; returns the districts.

    The trigger-kept stores (activity, counts, issue revisions) are refilled from the issues;
    the territory and misplaced stores are recomputed now rather than at the next read.
    """
    districts: list[str] = (
        [district_adcode]
        if district_adcode
        else list(session.execute(text("SELECT DISTINCT district_adcode FROM grids")).scalars())
    )
    for d in districts:
        grids = "SELECT id FROM grids WHERE district_adcode = :d"
        session.execute(
            text(f"DELETE FROM issue_grid_day_counts WHERE grid_id IN ({grids})"), {"d": d}
        )
        session.execute(
            text(
                f"""
                INSERT INTO issue_grid_day_counts (grid_id, day, category_id, status, n)
                SELECT ig.grid_id, (timezone('Asia/Shanghai', i.reported_at))::date,
                       i.category_id, i.status, count(*)
                FROM issue_grids ig JOIN issues i ON i.id = ig.issue_id
                WHERE ig.grid_id IN ({grids}) GROUP BY 1, 2, 3, 4
                """
            ),
            {"d": d},
        )
        _rebuild_cells(session, d)
        session.execute(text(f"SELECT geogrid_refresh_grid_activity(ARRAY({grids}))"), {"d": d})
        session.execute(
            text(
                "INSERT INTO issue_revisions AS r (district_adcode, revision, changed_at) "
                "VALUES (:d, 1, clock_timestamp()) ON CONFLICT (district_adcode) "
                "DO UPDATE SET revision = r.revision + 1, changed_at = clock_timestamp()"
            ),
            {"d": d},
        )
        session.execute(
            text("DELETE FROM analysis_store_state WHERE district_adcode = :d"), {"d": d}
        )
        ensure_territory(session, district_adcode=d)
        ensure_misplaced(session, district_adcode=d)
    return districts


# -- what time changes in an answer --------------------------------------------------------------

# Every count is a range of one index (migration 0021): the away by (district, away_until),
# activity by (district, last_at), issues by (district, reported_at). The revisions are
# primary-key reads. So the whole probe is one statement of index reads.
_AWAY_SQL = """
    (SELECT count(*) FROM staff
     WHERE district_adcode {d} AND availability = 'away' AND away_until <= :now)
"""
_MARKS_SQL = (
    _AWAY_SQL
    + """,
    (SELECT count(*) FROM grid_activity WHERE district_adcode {d} AND last_at >= :since),
    (SELECT count(*) FROM issues WHERE district_adcode {d} AND reported_at >= :now)
"""
)
_ONE = "= :d"
_CLOCK_MARKS = text(f"SELECT {_MARKS_SQL.format(d=_ONE)}")
_REVISIONS_SQL = """
    SELECT (SELECT revision || '@' || changed_at FROM boundary_revisions
            WHERE district_adcode = :d),
           (SELECT revision || '@' || changed_at FROM staff_revisions
            WHERE district_adcode = :d),
           (SELECT revision || '@' || changed_at FROM issue_revisions
            WHERE district_adcode = :d),
"""
_ANSWER_KEY = text(_REVISIONS_SQL + _MARKS_SQL.format(d=_ONE))
# An answer that reads no issue (grids and signboards) changes with time only through the
# passed "away until": its key leaves out the activity and issue counts (half the probe's cost).
_ISSUE_FREE_KEY = text(_REVISIONS_SQL + _AWAY_SQL.format(d=_ONE) + ", NULL, NULL")
# A city or a province (an adcode prefix): its districts' revisions summed (each only grows,
# so the sum moves whenever one of them does) with the latest change, and the marks over all.
#: The districts of this installation in a city or province: prefix ``:d`` of length ``:n``.
AREA_DISTRICTS = (
    "SELECT code, name FROM admin_areas WHERE level = 'district' AND left(code, :n) = :d"
)
_AREA = f"IN (SELECT code FROM ({AREA_DISTRICTS}) AS area)"
_AREA_KEY = text(
    f"""
    SELECT (SELECT sum(revision) || '@' || max(changed_at) FROM boundary_revisions
            WHERE district_adcode {_AREA}),
           (SELECT sum(revision) || '@' || max(changed_at) FROM staff_revisions
            WHERE district_adcode {_AREA}),
           (SELECT sum(revision) || '@' || max(changed_at) FROM issue_revisions
            WHERE district_adcode {_AREA}),
           {_MARKS_SQL.format(d=_AREA)}
    """
)


def _marks(now: datetime, back: int, active: int, ahead: int) -> str:
    return f"{back}/{active}/{ahead}/{now.astimezone(BEIJING):%Y-%m}"


def clock_marks(session: Session, *, district_adcode: str, now: datetime, window_days: int) -> str:
    """What the passing of time has changed in the district's answers at ``now``, as a short
    string for a cache key: how many "away until" have passed (each one flips a post back),
    how many grids were active in the last ``window_days`` (a grid falling out of the window
    becomes inactive), how many issues lie ahead of ``now`` (windows ending now), and the
    Beijing month (the heatmap's frames). For fixed data each count only moves one way as
    time goes on, so equal marks mean equal answers."""
    back, active, ahead = session.execute(
        _CLOCK_MARKS,
        {"d": district_adcode, "now": now, "since": now - timedelta(days=window_days)},
    ).one()
    return _marks(now, back, active, ahead)


def answer_key(
    session: Session, *, district_adcode: str, now: datetime, window_days: int, issues: bool = True
) -> tuple[AnalysisRevisions, str]:
    """:func:`read_revisions` and :func:`clock_marks` in one round trip of index reads: what
    an ETag check costs, so it is paid on every request, 304 or not. ``issues=False``: for an
    answer that reads no issue, the marks are the passed "away until" alone, and for one
    district only that is read (the issue revision is still returned; the caller leaves it
    out). A city or province prefix (2 or 4 digits) keys on all its districts."""
    area = len(district_adcode) != 6
    b, s, i, back, active, ahead = session.execute(
        _AREA_KEY if area else _ANSWER_KEY if issues else _ISSUE_FREE_KEY,
        {
            "d": district_adcode,
            "n": len(district_adcode),
            "now": now,
            "since": now - timedelta(days=window_days),
        },
    ).one()
    marks = _marks(now, back, active, ahead) if issues else str(back)
    return AnalysisRevisions(b or "0", s or "0", i or "0"), marks
