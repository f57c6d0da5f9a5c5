"""Issue locations for heatmaps: raw points up to a limit, weighted ~100 m cells beyond it.

A browser draws 50 000 heat points comfortably; a year of a busy district has more, and a
province far more. Past :data:`MAX_POINTS` the points are counted in cells of about 100 m
(:func:`cell_columns`) and each cell is sent once, at its centre, with its count as the weight:
at the zooms a heatmap is read at, the picture is the same and the page stays small. The cells
are fixed by each point alone, so they are counted as issues are written
(``issue_cell_day_counts``, per cell, Beijing day, category and status) and a window is a sum
over that small table (:func:`geogrid.analysis.stores.stored_cell_counts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Float, Integer, cast, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from geogrid.analysis.filters import IssueFilter
from geogrid.errors import InvalidInputError
from geogrid.storage.models import Issue

__all__ = [
    "CELL_M",
    "MAX_POINTS",
    "HeatFrame",
    "HeatmapData",
    "cell_columns",
    "cell_point",
    "cell_points",
    "fresh_cell_counts",
    "fresh_issue_total",
    "heatmap_data",
    "monthly_frames",
]

MAX_POINTS = 50_000
CELL_M = 100.0
_M_PER_DEG_LAT = 111_320.0
TIMEZONE = "Asia/Shanghai"  # months are the district office's months


@dataclass
class HeatFrame:
    """Points as ``[lon, lat, weight]`` (weight 1 for a single issue, the count for a cell)."""

    label: str
    points: list[list[float]] = field(default_factory=list)
    issues: int = 0


@dataclass
class HeatmapData:
    frame: HeatFrame
    aggregated: bool
    cell_m: float | None
    months: list[HeatFrame]
    months_aggregated: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "issues": self.frame.issues,
            "aggregated": self.aggregated,
            "cell_m": self.cell_m,
            "points": self.frame.points,
            "months": [
                {"month": f.label, "issues": f.issues, "points": f.points} for f in self.months
            ],
            "months_aggregated": self.months_aggregated,
            "point_format": ["lon", "lat", "weight"],
        }


def cell_columns(geom: Any, cell_m: float) -> tuple[Any, Any]:
    """The cell of a point as integers ``(cx, cy)``: ``cy`` the latitude in steps of
    ``cell_m``, ``cx`` the longitude in steps ``cell_m`` wide at that row's latitude. Fixed by
    the point alone (not by the issues around it), so cells can be counted as issues are
    written (``issue_cell_day_counts``, migration 0021, the same expressions at 100 m)."""
    dy = literal(cell_m / _M_PER_DEG_LAT, Float)
    cy = func.round(func.ST_Y(geom) / dy)
    cx = func.round(func.ST_X(geom) * func.greatest(func.cos(func.radians(cy * dy)), 0.01) / dy)
    return cast(cx, Integer).label("cx"), cast(cy, Integer).label("cy")


def cell_point(cx: int, cy: int, n: int, cell_m: float) -> list[float]:
    """A cell's centre ``[lon, lat, weight]``."""
    dy = cell_m / _M_PER_DEG_LAT
    dx = dy / max(math.cos(math.radians(cy * dy)), 0.01)
    return [round(cx * dx, 6), round(cy * dy, 6), float(n)]


def cell_points(cells: dict[tuple[int, int], int], cell_m: float) -> list[list[float]]:
    """:func:`cell_point` of every cell, ordered by cell, computed over arrays (a district's
    year is tens of thousands of cells)."""
    if not cells:
        return []
    keys = sorted(cells)
    xy = np.asarray(keys, dtype=float)
    dy = cell_m / _M_PER_DEG_LAT
    dx = dy / np.maximum(np.cos(np.radians(xy[:, 1] * dy)), 0.01)
    n = np.asarray([cells[k] for k in keys], dtype=float)
    rows: list[list[float]] = np.column_stack(
        [np.round(xy[:, 0] * dx, 6), np.round(xy[:, 1] * dy, 6), n]
    ).tolist()
    return rows


def fresh_cell_counts(
    session: Session, *, district_adcode: str, issue_filter: IssueFilter, cell_m: float = CELL_M
) -> dict[tuple[int, int], int]:
    """Issues per cell from the issues themselves."""
    cx, cy = cell_columns(Issue.geom, cell_m)
    query = (
        select(cx, cy, func.count())
        .where(Issue.district_adcode == district_adcode, *issue_filter.clauses())
        .group_by(cx, cy)
    )
    return {(int(x), int(y)): int(n) for x, y, n in session.execute(query)}


def fresh_issue_total(session: Session, *, district_adcode: str, issue_filter: IssueFilter) -> int:
    """The district's issues in the filter, counted from the issues themselves."""
    query = (
        select(func.count())
        .select_from(Issue)
        .where(Issue.district_adcode == district_adcode, *issue_filter.clauses())
    )
    return int(session.execute(query).scalar_one())


def _issue_total(
    session: Session, district_adcode: str, issue_filter: IssueFilter, cell_m: float, fresh: bool
) -> int:
    if fresh or cell_m != CELL_M:
        return fresh_issue_total(
            session, district_adcode=district_adcode, issue_filter=issue_filter
        )
    from geogrid.analysis.stores import stored_issue_total

    return stored_issue_total(session, district_adcode=district_adcode, issue_filter=issue_filter)


def _cell_counts(
    session: Session,
    district_adcode: str,
    issue_filter: IssueFilter,
    cell_m: float,
    fresh: bool,
) -> dict[tuple[int, int], int]:
    if fresh or cell_m != CELL_M:
        return fresh_cell_counts(
            session, district_adcode=district_adcode, issue_filter=issue_filter, cell_m=cell_m
        )
    from geogrid.analysis.stores import stored_cell_counts

    return stored_cell_counts(session, district_adcode=district_adcode, issue_filter=issue_filter)


def _raw_points(session: Session, clauses: list[Any]) -> list[list[float]]:
    rows = session.execute(
        select(func.ST_X(Issue.geom), func.ST_Y(Issue.geom)).where(*clauses).order_by(Issue.id)
    )
    return [[round(x, 6), round(y, 6), 1.0] for x, y in rows]


def _frame(
    session: Session,
    district_adcode: str,
    issue_filter: IssueFilter,
    max_points: int,
    cell_m: float,
    fresh: bool,
) -> tuple[HeatFrame, bool]:
    """The issues of the filter: raw points up to ``max_points``, cells beyond (counted from
    the cell store unless ``fresh``; its total tells which)."""
    cells = _cell_counts(session, district_adcode, issue_filter, cell_m, fresh)
    total = sum(cells.values())
    frame = HeatFrame(label="", issues=total)
    if total <= max_points:
        clauses = [Issue.district_adcode == district_adcode, *issue_filter.clauses()]
        frame.points = _raw_points(session, clauses)
        return frame, False
    frame.points = cell_points(cells, cell_m)
    return frame, True


def _month_start(at: datetime, back: int) -> datetime:
    month = at.year * 12 + at.month - 1 - back
    return datetime(month // 12, month % 12 + 1, 1, tzinfo=at.tzinfo)


def monthly_frames(
    session: Session,
    *,
    district_adcode: str,
    issue_filter: IssueFilter,
    months: int = 12,
    until: datetime | None = None,
    max_points: int = MAX_POINTS,
    cell_m: float = CELL_M,
    fresh: bool = False,
) -> tuple[list[HeatFrame], bool]:
    """One frame per calendar month (Beijing time) for the ``months`` months up to ``until``
    (default now), with the filter's category and statuses; aggregated into cells when all
    frames together exceed ``max_points``. Each month's cells are a sum over the cell store
    (whole days) and the issues of its partial last day, unless ``fresh``."""
    until = until or datetime.now(UTC)
    from zoneinfo import ZoneInfo

    local = until.astimezone(ZoneInfo(TIMEZONE))
    windows = []
    for back in range(months - 1, -1, -1):
        start = _month_start(local, back)
        end = min(_month_start(local, back - 1), until)
        if end > start:
            window = IssueFilter(
                start=start, end=end, category=issue_filter.category, statuses=issue_filter.statuses
            )
        else:
            window = None
        windows.append((start.strftime("%Y-%m"), window))
    # The windows are consecutive: the total of their span (one row) tells whether they are
    # drawn as cells (read per window) or as points (read at once, the totals counted from them)
    bounded = [(label, w) for label, w in windows if w is not None]
    points: dict[str, list[list[float]]] = {label: [] for label, _ in windows}
    aggregated = False
    if bounded:
        first = bounded[0][1]
        span = IssueFilter(
            start=first.start,
            end=bounded[-1][1].end,
            category=first.category,
            statuses=first.statuses,
        )
        aggregated = _issue_total(session, district_adcode, span, cell_m, fresh) > max_points
    totals = dict.fromkeys(points, 0)
    if aggregated:
        for label, window in bounded:
            cells = _cell_counts(session, district_adcode, window, cell_m, fresh)
            points[label] = cell_points(cells, cell_m)
            totals[label] = sum(cells.values())
    elif bounded:
        points.update(_raw_points_by_window(session, district_adcode, bounded))
        totals.update({label: len(p) for label, p in points.items()})
    frames = [
        HeatFrame(label=label, issues=totals[label], points=points[label]) for label, _ in windows
    ]
    return frames, aggregated


def _raw_points_by_window(
    session: Session, district_adcode: str, windows: list[tuple[str, IssueFilter]]
) -> dict[str, list[list[float]]]:
    """The raw points of each window (bounded, of one category and statuses), read in one
    query over the span of them all rather than one per window."""
    first = windows[0][1]
    starts = [w.start for _, w in windows]
    ends = [w.end for _, w in windows]
    span = IssueFilter(
        start=min(s for s in starts if s is not None),
        end=max(e for e in ends if e is not None),
        category=first.category,
        statuses=first.statuses,
    )
    # three arrays in one row: tens of thousands of rows cost more to fetch one by one
    epoch = func.extract("epoch", Issue.reported_at).cast(Float)
    arrays = session.execute(
        select(
            func.array_agg(aggregate_order_by(epoch, Issue.id)),
            func.array_agg(aggregate_order_by(func.ST_X(Issue.geom), Issue.id)),
            func.array_agg(aggregate_order_by(func.ST_Y(Issue.geom), Issue.id)),
        ).where(Issue.district_adcode == district_adcode, *span.clauses())
    ).one()
    out: dict[str, list[list[float]]] = {label: [] for label, _ in windows}
    if arrays[0] is None:
        return out
    table = np.column_stack([np.asarray(a, dtype=float) for a in arrays])
    # epoch seconds, over arrays: a year of a district is tens of thousands of points
    bounds = sorted(
        (w.start.timestamp(), w.end.timestamp(), label) for label, w in windows if w.start and w.end
    )
    if not bounds:
        return out
    opens = np.asarray([b[0] for b in bounds])
    closes = np.asarray([b[1] for b in bounds])
    at = np.searchsorted(opens, table[:, 0], side="right") - 1
    inside = (at >= 0) & (table[:, 0] < closes[np.maximum(at, 0)])
    xy = np.round(table[:, 1:], 6)
    for i, (_, _, label) in enumerate(bounds):
        chosen = xy[inside & (at == i)]
        points: list[list[float]] = np.column_stack([chosen, np.ones(len(chosen))]).tolist()
        out[label] = points
    return out


def heatmap_data(
    session: Session,
    *,
    district_adcode: str,
    issue_filter: IssueFilter | None = None,
    months: int = 12,
    max_points: int = MAX_POINTS,
    cell_m: float = CELL_M,
    now: datetime | None = None,
    fresh: bool = False,
) -> HeatmapData:
    """The filtered issues as heat points, and the monthly frames of the animation, which end
    at the filter's end or at ``now`` (default: the clock). ``fresh``: count the cells from
    the issues rather than the cell store (the property test compares the two)."""
    if max_points < 1 or cell_m <= 0:
        raise InvalidInputError("max_points must be positive and cell_m above 0")
    if not 1 <= months <= 36:
        raise InvalidInputError(f"animate 1 to 36 months, got {months}", value=months)
    issue_filter = issue_filter or IssueFilter()
    frame, aggregated = _frame(
        session, district_adcode, issue_filter, max_points, cell_m, fresh=fresh
    )
    frame.label = issue_filter.describe()
    frames, months_aggregated = monthly_frames(
        session,
        district_adcode=district_adcode,
        issue_filter=issue_filter,
        months=months,
        until=issue_filter.end or now,
        max_points=max_points,
        cell_m=cell_m,
        fresh=fresh,
    )
    return HeatmapData(
        frame=frame,
        aggregated=aggregated,
        cell_m=cell_m if aggregated or months_aggregated else None,
        months=frames,
        months_aggregated=months_aggregated,
    )
