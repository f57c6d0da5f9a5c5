"""Performance indicators (考核指标) per grid and per street/town over a period.

Over the cohort of issues filed (立案, ``accepted_at``) in ``[date_from, date_to)``:

* ``filed`` 立案数: the cohort;
* ``closed`` 结案数: of them, closed before ``date_to``;
* ``closure_rate`` 结案率 = closed / filed;
* ``due`` 应结案数: of them, those whose deadline fell before ``date_to`` or that were closed
  before it (an issue closed early counts even if its deadline is later);
* ``on_time`` 按期结案数: closed before ``date_to`` and no later than the deadline;
* ``on_time_rate`` 按期结案率 = on_time / due;
* ``median_hours_to_close`` from report to closure, over the closed ones;
* ``satisfaction_rate`` 满意率 = (satisfied + basically satisfied) / rated, over the closed ones.

Rates are None when their denominator is zero. Grouping ``by``: ``grid`` (the issue's deepest
grid), ``level1`` (its community/village grid, the first 12 digits of the code) or ``street``
(its street/town, the first 9 digits).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.errors import InvalidInputError

__all__ = ["GROUPINGS", "indicators"]

GROUPINGS = {"grid": None, "level1": 12, "street": 9}

_SQL = """
WITH cohort AS (
    SELECT {key} AS unit_code, i.reported_at, i.closed_at, i.deadline_at, i.rating,
           (i.status = 'closed' AND i.closed_at < :date_to) AS is_closed
    FROM issues i
    LEFT JOIN grids g ON g.id = i.grid_id
    WHERE i.accepted_at >= :date_from AND i.accepted_at < :date_to
      AND (CAST(:adcode AS text) IS NULL OR i.district_adcode = :adcode)
      AND (CAST(:prefix AS text) IS NULL OR g.code LIKE :prefix || '%')
)
SELECT unit_code,
       count(*) AS filed,
       count(*) FILTER (WHERE is_closed) AS closed,
       count(*) FILTER (WHERE is_closed OR deadline_at < :date_to) AS due,
       count(*) FILTER (WHERE is_closed AND closed_at <= deadline_at) AS on_time,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM closed_at - reported_at) / 3600.0
       ) FILTER (WHERE is_closed) AS median_hours_to_close,
       count(*) FILTER (WHERE is_closed AND rating IS NOT NULL) AS rated,
       count(*) FILTER (
           WHERE is_closed AND rating IN ('satisfied', 'basically_satisfied')
       ) AS satisfied
FROM cohort
GROUP BY unit_code
ORDER BY unit_code NULLS LAST
"""


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def indicators(
    session: Session,
    *,
    date_from: datetime,
    date_to: datetime,
    by: str = "street",
    district_adcode: str | None = None,
    grid_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """One row per unit (grid / level-1 grid / street-town) with counts and rates."""
    if by not in GROUPINGS:
        raise InvalidInputError(f"Unknown grouping {by!r}.", value=by, allowed=list(GROUPINGS))
    if date_to <= date_from:
        raise InvalidInputError("The period is empty: 'to' must be after 'from'.")
    width = GROUPINGS[by]
    key = "g.code" if width is None else f"left(g.code, {width})"
    rows = session.execute(
        text(_SQL.format(key=key)),
        {
            "date_from": date_from,
            "date_to": date_to,
            "adcode": district_adcode,
            "prefix": grid_prefix,
        },
    ).mappings()
    out = [dict(r) for r in rows]
    names = _unit_names(session, by, [r["unit_code"] for r in out if r["unit_code"]])
    for r in out:
        r["unit_name"] = names.get(r["unit_code"]) if r["unit_code"] else "区级队列（不在网格内）"
        r["closure_rate"] = _rate(r["closed"], r["filed"])
        r["on_time_rate"] = _rate(r["on_time"], r["due"])
        r["satisfaction_rate"] = _rate(r["satisfied"], r["rated"])
        if r["median_hours_to_close"] is not None:
            r["median_hours_to_close"] = round(float(r["median_hours_to_close"]), 2)
    return out


def _unit_names(session: Session, by: str, codes: list[str]) -> dict[str, str]:
    if not codes:
        return {}
    if by == "street":
        sql = "SELECT code, name FROM admin_areas WHERE code = ANY(:codes)"
    else:
        sql = (
            "SELECT g.code, v.name FROM grids g JOIN grid_versions v "
            "ON v.grid_id = g.id AND v.valid_to IS NULL WHERE g.code = ANY(:codes)"
        )
    return dict(session.execute(text(sql), {"codes": codes}).all())
