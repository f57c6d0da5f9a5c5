"""Issue locations for heatmaps: raw points up to a limit, weighted ~100 m cells beyond it.

A browser draws 50 000 heat points comfortably; a year of a busy district has more, and a
province far more. Past :data:`MAX_POINTS` the points are snapped in PostGIS to a grid of
about 100 m (``ST_SnapToGrid``) and each cell is sent once with its count as the weight: at the
zooms a heatmap is read at, the picture is the same and the page stays small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.orm import Session

from geogrid.analysis.filters import IssueFilter
from geogrid.errors import InvalidInputError
from geogrid.storage.models import Issue

__all__ = ["CELL_M", "MAX_POINTS", "HeatFrame", "HeatmapData", "heatmap_data", "monthly_frames"]

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


def _cells(base: Select[Any], lat: float, cell_m: float) -> Select[Any]:
    dy = cell_m / _M_PER_DEG_LAT
    dx = dy / max(math.cos(math.radians(lat)), 0.01)
    snapped = func.ST_SnapToGrid(Issue.geom, dx, dy).label("cell")
    sub = base.add_columns(snapped).subquery()
    return select(
        func.ST_X(sub.c.cell), func.ST_Y(sub.c.cell), func.count(), *_extra(sub)
    ).group_by(sub.c.cell, *_extra(sub))


def _extra(sub: Any) -> list[Any]:
    return [sub.c.month] if "month" in sub.c else []


def _mean_lat(session: Session, clauses: list[Any]) -> float:
    lat = session.execute(select(func.avg(func.ST_Y(Issue.geom))).where(*clauses)).scalar()
    return float(lat) if lat is not None else 0.0


def _frame(
    session: Session, clauses: list[Any], max_points: int, cell_m: float
) -> tuple[HeatFrame, bool]:
    total = int(
        session.execute(select(func.count()).select_from(Issue).where(*clauses)).scalar_one()
    )
    frame = HeatFrame(label="", issues=total)
    if total <= max_points:
        rows = session.execute(select(func.ST_X(Issue.geom), func.ST_Y(Issue.geom)).where(*clauses))
        frame.points = [[round(x, 6), round(y, 6), 1.0] for x, y in rows]
        return frame, False
    query = _cells(select(Issue.id).where(*clauses), _mean_lat(session, clauses), cell_m)
    frame.points = [[round(x, 6), round(y, 6), float(n)] for x, y, n in session.execute(query)]
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
) -> tuple[list[HeatFrame], bool]:
    """One frame per calendar month (Beijing time) for the ``months`` months up to ``until``
    (default now), with the filter's category and statuses; aggregated into cells when all
    frames together exceed ``max_points``."""
    until = until or datetime.now(UTC)
    from zoneinfo import ZoneInfo

    local = until.astimezone(ZoneInfo(TIMEZONE))
    start = _month_start(local, months - 1)
    scoped = IssueFilter(category=issue_filter.category, statuses=issue_filter.statuses)
    clauses = [
        Issue.district_adcode == district_adcode,
        Issue.reported_at >= start,
        Issue.reported_at < until,
        *scoped.clauses(),
    ]
    month = func.to_char(
        func.timezone(TIMEZONE, Issue.reported_at), literal_column("'YYYY-MM'")
    ).label("month")
    labels = [_month_start(local, back).strftime("%Y-%m") for back in range(months - 1, -1, -1)]
    frames = {label: HeatFrame(label=label) for label in labels}
    total = int(
        session.execute(select(func.count()).select_from(Issue).where(*clauses)).scalar_one()
    )
    aggregated = total > max_points
    if aggregated:
        query = _cells(select(Issue.id, month).where(*clauses), _mean_lat(session, clauses), cell_m)
        for x, y, n, label in session.execute(query):
            frame = frames[label]
            frame.points.append([round(x, 6), round(y, 6), float(n)])
            frame.issues += int(n)
    else:
        for x, y, label in session.execute(
            select(func.ST_X(Issue.geom), func.ST_Y(Issue.geom), month).where(*clauses)
        ):
            frame = frames[label]
            frame.points.append([round(x, 6), round(y, 6), 1.0])
            frame.issues += 1
    return [frames[label] for label in labels], aggregated


def heatmap_data(
    session: Session,
    *,
    district_adcode: str,
    issue_filter: IssueFilter | None = None,
    months: int = 12,
    max_points: int = MAX_POINTS,
    cell_m: float = CELL_M,
    now: datetime | None = None,
) -> HeatmapData:
    """The filtered issues as heat points, and the monthly frames of the animation, which end
    at the filter's end or at ``now`` (default: the clock)."""
    if max_points < 1 or cell_m <= 0:
        raise InvalidInputError("max_points must be positive and cell_m above 0")
    if not 1 <= months <= 36:
        raise InvalidInputError(f"animate 1 to 36 months, got {months}", value=months)
    issue_filter = issue_filter or IssueFilter()
    clauses = [Issue.district_adcode == district_adcode, *issue_filter.clauses()]
    frame, aggregated = _frame(session, clauses, max_points, cell_m)
    frame.label = issue_filter.describe()
    frames, months_aggregated = monthly_frames(
        session,
        district_adcode=district_adcode,
        issue_filter=issue_filter,
        months=months,
        until=issue_filter.end or now,
        max_points=max_points,
        cell_m=cell_m,
    )
    return HeatmapData(
        frame=frame,
        aggregated=aggregated,
        cell_m=cell_m if aggregated or months_aggregated else None,
        months=frames,
        months_aggregated=months_aggregated,
    )
