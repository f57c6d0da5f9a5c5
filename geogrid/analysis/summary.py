"""Dashboard numbers per grid and per street/town for a period: issues opened, closed, overdue,
median time to close and satisfaction rate, the figures read out on deliberation day. A city
or a province (an adcode prefix) gets the same numbers per district.

Definitions (all over ``[start, end)``):

* ``opened``: issues reported in the period;
* ``closed``: issues closed in the period;
* ``overdue``: issues reported in the period that missed their deadline (resolved after it, or
  still unresolved when it passed before the end of the period or ``now``); rejected issues and
  duplicates are never overdue;
* ``median_hours_to_close``: median of closed minus reported, over issues closed in the period;
* ``satisfaction_rate``: satisfied or basically satisfied among the closed issues rated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.analysis.stores import AREA_DISTRICTS
from geogrid.errors import InvalidInputError, NotFoundError

__all__ = ["SummaryRow", "issue_summary"]

# The units of a district's rows: its grids of one level, or its streets/towns (through the
# communities of its level-1 grids), each as (grid_id, code, name).
_UNITS_GRID = """
SELECT g.id AS grid_id, g.code, v.name FROM grids g
JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL
WHERE g.district_adcode = :adcode AND g.level = :level AND g.kind = 'general'
"""
_UNITS_TOWN = """
SELECT g.id AS grid_id, t.code, t.name FROM grids g
JOIN admin_areas c ON c.id = g.admin_area_id
JOIN admin_areas t ON t.id = c.parent_id
WHERE g.district_adcode = :adcode AND g.level = 1 AND g.kind = 'general'
"""
# What every summary row counts, over the issues ``i`` of its unit (see the module's docstring).
_MEASURES = """
  count(*) FILTER (WHERE i.reported_at >= :start AND i.reported_at < :end) AS opened,
  count(*) FILTER (WHERE i.closed_at >= :start AND i.closed_at < :end) AS closed,
  count(*) FILTER (
    WHERE i.reported_at >= :start AND i.reported_at < :end AND i.deadline_at IS NOT NULL
      AND i.status NOT IN ('rejected', 'duplicate')
      AND i.deadline_at < coalesce(i.resolved_at, i.closed_at, least(:end, :now))
  ) AS overdue,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM i.closed_at - i.reported_at))
    FILTER (WHERE i.closed_at >= :start AND i.closed_at < :end) / 3600.0 AS median_hours,
  count(*) FILTER (
    WHERE i.closed_at >= :start AND i.closed_at < :end
      AND i.rating IN ('satisfied', 'basically_satisfied')
  ) AS satisfied,
  count(*) FILTER (WHERE i.closed_at >= :start AND i.closed_at < :end AND i.rating IS NOT NULL)
    AS rated
"""
# The issues of the period: those reported in it, and those closed in it that were reported
# before or after it. Each half is an index-only range of one covering index (migration 0020),
# per district, so a province's month reads the month's issues and nothing else.
_PERIOD_COLUMNS = (
    "i.id, i.district_adcode, i.reported_at, i.closed_at, i.deadline_at, i.resolved_at, "
    "i.status, i.rating"
)
_PERIOD = f"""
  SELECT {_PERIOD_COLUMNS} FROM issues i
  WHERE i.district_adcode {{districts}} AND i.reported_at >= :start AND i.reported_at < :end
  UNION ALL
  SELECT {_PERIOD_COLUMNS} FROM issues i
  WHERE i.district_adcode {{districts}} AND i.closed_at >= :start AND i.closed_at < :end
    AND NOT (i.reported_at >= :start AND i.reported_at < :end)
"""
# The district's issues of the period first, then their tags (primary-key probes), then the
# units (a hash of ~2 000 grids): each step is the district's own size however many districts
# the database holds. Written as one join, the planner misjudged the district's share of a
# 5-million-issue province and nested a scan of every current grid version inside the tags:
# past the 60 s statement timeout.
_SUMMARY = f"""
WITH period AS MATERIALIZED ({_PERIOD.format(districts="= :adcode")}
), tagged AS MATERIALIZED (
  SELECT ig.grid_id, p.* FROM period p JOIN issue_grids ig ON ig.issue_id = p.id
), units AS MATERIALIZED ({{units}})
SELECT u.code, min(u.name) AS name, {_MEASURES}
FROM tagged i JOIN units u ON u.grid_id = i.grid_id
GROUP BY u.code ORDER BY u.code
"""
# A city or a province: one row per district, straight from the period's issues.
_AREA_SUMMARY = f"""
SELECT i.district_adcode AS code, '' AS name, {_MEASURES}
FROM ({_PERIOD.format(districts="= ANY(:districts)")}) AS i
GROUP BY i.district_adcode ORDER BY i.district_adcode
"""


@dataclass(frozen=True)
class SummaryRow:
    code: str
    name: str
    opened: int
    closed: int
    overdue: int
    median_hours_to_close: float | None
    satisfaction_rate: float | None
    satisfied: int
    rated: int

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _rows(session: Session, sql: str, params: dict[str, Any]) -> list[SummaryRow]:
    out = []
    for code, name, opened, closed, overdue, median, satisfied, rated in session.execute(
        text(sql), params
    ):
        out.append(
            SummaryRow(
                code=code,
                name=name,
                opened=opened,
                closed=closed,
                overdue=overdue,
                median_hours_to_close=None if median is None else round(float(median), 1),
                satisfaction_rate=round(satisfied / rated, 4) if rated else None,
                satisfied=satisfied,
                rated=rated,
            )
        )
    return out


def issue_summary(
    session: Session,
    *,
    district_adcode: str,
    start: datetime | None = None,
    end: datetime | None = None,
    level: int = 2,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The dashboard numbers per grid of ``level`` and per street/town, and district totals.

    The period defaults to the 30 days up to ``now`` (default: the clock). ``now`` is also the
    moment an unresolved issue is judged overdue at, taken from the caller's clock rather than
    the database's, so that one request (or one test) reads time from one place.
    """
    if level not in (1, 2, 3):
        raise InvalidInputError(f"grid level must be 1, 2 or 3, got {level}", value=level)
    now = now or datetime.now(UTC)
    end = end or now
    start = start or end - timedelta(days=30)
    if end <= start:
        raise InvalidInputError("the period is empty: end must be after start")
    params = {"adcode": district_adcode, "start": start, "end": end, "level": level, "now": now}
    if len(district_adcode) != 6:
        return _area_summary(session, district_adcode, params)
    grids = _rows(session, _SUMMARY.format(units=_UNITS_GRID), params)
    towns = _rows(session, _SUMMARY.format(units=_UNITS_TOWN), params)
    return {
        "district_adcode": district_adcode,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "level": level,
        "totals": _totals(towns),
        "towns": [r.as_dict() for r in towns],
        "grids": [r.as_dict() for r in grids],
    }


def _totals(rows: list[SummaryRow]) -> dict[str, Any]:
    totals: dict[str, Any] = {
        key: sum(getattr(r, key) for r in rows)
        for key in ("opened", "closed", "overdue", "satisfied", "rated")
    }
    totals["satisfaction_rate"] = (
        round(totals["satisfied"] / totals["rated"], 4) if totals["rated"] else None
    )
    return totals


def _area_summary(session: Session, area: str, params: dict[str, Any]) -> dict[str, Any]:
    """The summary of a city (4-digit prefix) or a province (2 digits): a row per district of
    this installation in it, and their totals (the grid level does not apply)."""
    if len(area) not in (2, 4) or not area.isdigit():
        raise InvalidInputError(
            f"district={area!r}: give a district (6 digits, 610503), a city (4, 6105) or a "
            "province (2, 61)",
            rule="district",
            value=area,
        )
    names: dict[str, str] = dict(
        session.execute(text(f"{AREA_DISTRICTS} ORDER BY code"), {"n": len(area), "d": area}).all()
    )
    if not names:
        raise NotFoundError(f"No district of this installation lies in {area}.", code=area)
    rows = [
        dataclasses.replace(r, name=names.get(r.code, r.code))
        for r in _rows(session, _AREA_SUMMARY, {**params, "districts": list(names)})
    ]
    return {
        "area": area,
        "start": params["start"].isoformat(),
        "end": params["end"].isoformat(),
        "totals": _totals(rows),
        "districts": [r.as_dict() for r in rows],
    }
