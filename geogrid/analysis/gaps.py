"""Coverage gaps: where the grid system leaves territory, people or duties uncovered.

Six kinds, each a list of rows with the grid code a district office acts on:

``uncovered``
    territory inside a parent that none of its child grids covers (the district for level 1,
    a grid for its children), with its area in m² measured on the ellipsoid after densifying
    the edges (stored edges are straight in lon/lat);
``overlap``
    area claimed by two sibling general grids (dedicated grids may overlap by design);
``no_a_post`` / ``no_b_post`` / ``a_away_no_b``
    A/B posts (AB岗) vacant (nobody assigned, or a holder whose staff record is inactive), or
    A away with nobody on duty as B — all as :mod:`geogrid.rules.on_duty` decides at ``now``
    (``away_until`` in the past means back), so the gaps map names the same person, or the
    same nobody with the same reason, as the signboard and report routing. These rows carry
    ``on_duty_staff_id`` and ``on_duty_code``;
``over_norm``
    households per worker above the norm (default 300), level 2 and 3 general grids;
``inactive``
    no issue reported, no workflow event, no visit (走访) and no patrol (巡查) in the last N
    days (default 30): the trace of a worker's rounds (visits and patrols: ``geogrid.rounds``);
``dedicated_unstaffed``
    a dedicated grid with no dedicated-grid worker;
``misplaced_issue``
    an open issue whose grid is retired, no longer covers its point or is not the deepest grid
    there (:func:`geogrid.grids.followups.misplaced_open_issues`, what ``geogrid issues
    check-tags`` lists): boundary changes re-tag issues as they commit, so any row here is a
    fault to fix with ``check-tags --fix``; its geometry is the issue's point.

Slivers below ``min_area_m2`` (default 1 m²) are floating-point noise of clipped boundaries,
not gaps, and are left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.analysis.layers import GridRecord, current_grids
from geogrid.analysis.stores import (
    compute_territory,
    grid_activity_rows,
    grid_display,
    misplaced_rows,
    territory_rows,
)
from geogrid.errors import InvalidInputError
from geogrid.grids.followups import misplaced_open_issues
from geogrid.rules.on_duty import GridPosts, OnDutyAnswer, load_post_holders

__all__ = ["GAP_KINDS", "CoverageGaps", "GapRow", "coverage_gaps", "post_gaps"]

GAP_KINDS = (
    "uncovered",
    "overlap",
    "no_a_post",
    "no_b_post",
    "a_away_no_b",
    "over_norm",
    "inactive",
    "dedicated_unstaffed",
    "misplaced_issue",
)
GAP_LABELS = {
    "uncovered": "无网格覆盖区域",
    "overlap": "同级网格重叠",
    "no_a_post": "缺A岗",
    "no_b_post": "缺B岗",
    "a_away_no_b": "A岗外出且无B岗在岗",
    "over_norm": "户数/网格员超标",
    "inactive": "近期无走访记录",
    "dedicated_unstaffed": "专属网格无专属网格员",
    "misplaced_issue": "问题所属网格有误",
}
DEFAULT_HOUSEHOLDS_NORM = 300
DEFAULT_INACTIVE_DAYS = 30
SEGMENT_DEG = 0.0001

_CURRENT = """
cur AS (
    SELECT g.id, g.code, g.level, g.kind, g.parent_id, v.name, v.households, v.geom
    FROM grids g JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL
    WHERE g.district_adcode = :adcode AND g.retired_at IS NULL
)"""

_UNCOVERED = f"""
WITH {_CURRENT},
parents AS (
    SELECT NULL::int AS id, code, 0 AS level, geom FROM admin_areas
    WHERE code = :adcode AND level = 'district'
    UNION ALL
    SELECT p.id, p.code, p.level, p.geom FROM cur p
    WHERE p.kind = 'general'
      AND EXISTS (SELECT 1 FROM cur c WHERE c.parent_id = p.id AND c.kind = 'general')
),
diff AS (
    SELECT p.code AS parent_code, p.level + 1 AS level,
           ST_Difference(p.geom, (
               SELECT ST_Union(c.geom) FROM cur c
               WHERE c.kind = 'general'
                 AND ((p.id IS NULL AND c.level = 1) OR c.parent_id = p.id)
           )) AS geom
    FROM parents p
),
parts AS (
    SELECT parent_code, level, (ST_Dump(ST_CollectionExtract(geom, 3))).geom AS geom
    FROM diff WHERE geom IS NOT NULL AND NOT ST_IsEmpty(geom)
),
measured AS (
    SELECT parent_code, level, geom,
           ST_Area(ST_Segmentize(geom, {SEGMENT_DEG})::geography) AS area_m2
    FROM parts
)
SELECT m.parent_code, m.level, m.area_m2, ST_AsGeoJSON(m.geom, 7),
       ARRAY(SELECT c.code FROM cur c
             WHERE c.kind = 'general' AND c.level = m.level
               AND ST_DWithin(c.geom, m.geom, 1e-7) ORDER BY c.code) AS near
FROM measured m WHERE m.area_m2 >= :min_area ORDER BY m.parent_code, m.area_m2 DESC
"""

_OVERLAPS = f"""
WITH {_CURRENT},
pairs AS (
    SELECT a.code AS a_code, b.code AS b_code, a.level,
           ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3) AS geom
    FROM cur a JOIN cur b
      ON a.level = b.level AND a.code < b.code AND a.geom && b.geom
     AND a.parent_id IS NOT DISTINCT FROM b.parent_id
    WHERE a.kind = 'general' AND b.kind = 'general' AND ST_Relate(a.geom, b.geom, '2********')
)
SELECT a_code, b_code, level, area_m2, ST_AsGeoJSON(geom, 7) FROM (
    SELECT *, ST_Area(ST_Segmentize(geom, {SEGMENT_DEG})::geography) AS area_m2 FROM pairs
) p WHERE area_m2 >= :min_area ORDER BY a_code, b_code
"""

_WORKLOAD = f"""
WITH {_CURRENT},
workers AS (
    SELECT a.grid_id, count(DISTINCT a.staff_id) AS n
    FROM grid_assignments a JOIN staff s ON s.id = a.staff_id AND s.active
    WHERE a.valid_to IS NULL
      AND (a.post = 'A' OR (a.post IS NULL AND s.role IN ('grid_worker', 'auxiliary')))
    GROUP BY a.grid_id
)
SELECT g.code, g.name, g.level, g.households, coalesce(w.n, 0)
FROM cur g LEFT JOIN workers w ON w.grid_id = g.id
WHERE g.kind = 'general' AND g.level >= 2 AND g.households IS NOT NULL
  AND g.households > :norm * coalesce(w.n, 0)
ORDER BY g.code
"""

_INACTIVE = f"""
WITH {_CURRENT},
active AS (
    SELECT ig.grid_id FROM issue_grids ig JOIN issues i ON i.id = ig.issue_id
    WHERE i.reported_at >= :since
    UNION
    SELECT ig.grid_id FROM issue_events e JOIN issue_grids ig ON ig.issue_id = e.issue_id
    WHERE e.at >= :since
    UNION
    SELECT grid_id FROM visits WHERE visited_at >= :since
    UNION
    SELECT grid_id FROM patrols WHERE coalesce(ended_at, started_at) >= :since
),
last_seen AS (
    SELECT grid_id, max(at) AS at FROM (
        SELECT ig.grid_id, i.reported_at AS at
        FROM issue_grids ig JOIN issues i ON i.id = ig.issue_id
        UNION ALL
        SELECT grid_id, visited_at FROM visits
        UNION ALL
        SELECT grid_id, coalesce(ended_at, started_at) FROM patrols
    ) seen GROUP BY grid_id
)
SELECT g.code, g.name, g.level, g.kind, l.at
FROM cur g LEFT JOIN last_seen l ON l.grid_id = g.id
WHERE g.id NOT IN (SELECT grid_id FROM active)
ORDER BY g.code
"""

_DEDICATED = f"""
WITH {_CURRENT}
SELECT g.code, g.name, g.level, g.kind FROM cur g
WHERE g.kind = 'dedicated' AND NOT EXISTS (
    SELECT 1 FROM grid_assignments a JOIN staff s ON s.id = a.staff_id
    WHERE a.grid_id = g.id AND a.valid_to IS NULL AND s.active AND s.role = 'dedicated_worker'
)
ORDER BY g.code
"""


@dataclass
class GapRow:
    """One gap: its ``kind``, the grid ``code`` it concerns (for ``uncovered``: the parent whose
    children leave it; for ``overlap``: the first of the pair) and details."""

    kind: str
    code: str
    name: str | None
    level: int
    detail: str
    area_m2: float | None = None
    geometry: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": GAP_LABELS[self.kind],
            "code": self.code,
            "name": self.name,
            "level": self.level,
            "detail": self.detail,
            "area_m2": None if self.area_m2 is None else round(self.area_m2, 2),
            **self.extra,
        }


@dataclass
class CoverageGaps:
    rows: list[GapRow]
    households_norm: int
    inactive_days: int
    min_area_m2: float

    def by_kind(self, kind: str) -> list[GapRow]:
        return [r for r in self.rows if r.kind == kind]

    def totals(self) -> dict[str, Any]:
        out: dict[str, Any] = {kind: len(self.by_kind(kind)) for kind in GAP_KINDS}
        out["uncovered_area_m2"] = round(sum(r.area_m2 or 0 for r in self.by_kind("uncovered")), 2)
        out["overlap_area_m2"] = round(sum(r.area_m2 or 0 for r in self.by_kind("overlap")), 2)
        return out

    def as_json(self) -> dict[str, Any]:
        features = [
            {"type": "Feature", "properties": r.as_dict(), "geometry": r.geometry}
            for r in self.rows
        ]
        return {
            "type": "FeatureCollection",
            "features": features,
            "properties": {
                "totals": self.totals(),
                "households_norm": self.households_norm,
                "inactive_days": self.inactive_days,
                "min_area_m2": self.min_area_m2,
                "labels": GAP_LABELS,
            },
        }


def _posts_problems(posts: GridPosts, answer: OnDutyAnswer) -> list[tuple[str, str]]:
    """The AB-post gaps of one grid, read off the rule's answer: a vacant post is a gap
    whatever the other post does; A away with nobody on duty (``both_away``,
    ``a_away_no_b``) is one more."""
    out = []
    for kind, post, holder, state in (
        ("no_a_post", "A", posts.a, answer.a_state),
        ("no_b_post", "B", posts.b, answer.b_state),
    ):
        if state == "vacant":
            out.append((kind, f"{post}岗 {holder.name} 已停用" if holder else f"没有{post}岗"))
    if answer.holder is None and answer.a_state == "away" and posts.a is not None:
        other = (
            "无B岗"
            if posts.b is None or answer.b_state == "vacant"
            else f"B岗 {posts.b.name} 也不在岗"
        )
        out.append(("a_away_no_b", f"A岗 {posts.a.name} 外出, {other}"))
    return out


def _area_row(
    kind: str, code: str, level: int, detail: str, area: float, geometry: str, **extra: Any
) -> GapRow:
    """A gap that is an area (``uncovered``, ``overlap``), its geometry as PostGIS wrote it."""
    return GapRow(
        kind,
        code,
        None,
        level,
        detail,
        area_m2=float(area),
        geometry=json.loads(geometry),
        extra=extra,
    )


def _post_rows(session: Session, grids: list[GridRecord], now: datetime) -> list[GapRow]:
    holders = load_post_holders(session, [g.id for g in grids])
    rows = []
    for g in grids:
        answer = holders[g.id].on_duty(now=now)
        for problem, detail in _posts_problems(holders[g.id], answer):
            rows.append(
                GapRow(
                    problem,
                    g.code,
                    g.name,
                    g.level,
                    detail,
                    geometry=g.display,
                    extra={
                        "grid_kind": g.kind,
                        "on_duty_staff_id": answer.holder.staff_id if answer.holder else None,
                        "on_duty_code": answer.reason,
                    },
                )
            )
    return rows


def post_gaps(
    session: Session, *, district_adcode: str, now: datetime | None = None
) -> list[GapRow]:
    """Only the AB-post gaps (``no_a_post``, ``no_b_post``, ``a_away_no_b``) of
    :func:`coverage_gaps`, the same rows, without the costly territory queries: for callers
    that ask who is on duty across a district (and the tests that check it over every grid)."""
    grids = current_grids(session, district_adcode=district_adcode, kinds=("general", "dedicated"))
    return _post_rows(session, grids, now or datetime.now(UTC))


def misplaced_gap_rows(session: Session, district_adcode: str) -> list[dict[str, Any]]:
    """The ``misplaced_issue`` rows computed from scratch, as plain dicts (what the
    ``analysis_misplaced`` store keeps; :func:`_gap_row` reads them back)."""
    found = misplaced_open_issues(session, district_adcode=district_adcode)
    if not found:
        return []
    points: dict[int, str] = dict(
        session.execute(
            text("SELECT id, ST_AsGeoJSON(geom, 7) FROM issues WHERE id = ANY(:ids)"),
            {"ids": [m.issue for m in found]},
        ).all()
    )
    return [
        {
            "code": m.grid or m.expected or district_adcode,
            "detail": f"问题 {m.issue}: 在 {m.grid or '区级队列'}, 应在 {m.expected or '区级队列'} "
            "(geogrid issues check-tags --fix)",
            "geometry": json.loads(points[m.issue]),
            "extra": {"issue": m.issue, "expected": m.expected, "reason": m.reason},
        }
        for m in found
    ]


def _gap_row(row: dict[str, Any]) -> GapRow:
    return GapRow(
        "misplaced_issue",
        row["code"],
        None,
        0,
        row["detail"],
        geometry=row["geometry"],
        extra=row["extra"],
    )


def _territory(
    session: Session, district_adcode: str, min_area: float, fresh: bool
) -> list[GapRow]:
    """Uncovered territory and overlaps: from the store, or (``fresh``) computed now."""
    if fresh:
        found = [
            r
            for r in compute_territory(session, district_adcode=district_adcode)
            if r.area_m2 >= min_area
        ]
    else:
        found = territory_rows(session, district_adcode=district_adcode, min_area_m2=min_area)
    rows = []
    for r in found:
        if r.kind == "uncovered":
            detail = f"{r.area_m2:,.0f} m² 不在任何{r.level}级网格内"
        else:
            a, b = r.extra["codes"]
            detail = f"{a} 与 {b} 重叠 {r.area_m2:,.0f} m²"
        rows.append(_area_row(r.kind, r.code, r.level, detail, r.area_m2, r.geometry, **r.extra))
    return rows


def _inactive_rows(
    session: Session,
    district_adcode: str,
    grids: list[GridRecord],
    since: datetime,
    fresh: bool,
) -> list[tuple[str, str, int, str, datetime | None]]:
    """``(code, name, level, kind, last issue)`` of grids with no issue and no event since
    ``since``: from ``grid_activity`` (kept by triggers), or (``fresh``) scanning issues."""
    if fresh:
        return [
            tuple(row)  # type: ignore[misc]
            for row in session.execute(text(_INACTIVE), {"adcode": district_adcode, "since": since})
        ]
    activity = grid_activity_rows(session, district_adcode=district_adcode)
    # visits and patrols (走访, 巡查) count as activity too; their tables are small and indexed
    # by grid, so they are read as they are rather than kept in a store
    rounds: dict[int, datetime] = dict(
        session.execute(
            text(
                "SELECT grid_id, max(at) FROM ("
                " SELECT grid_id, visited_at AS at FROM visits"
                " UNION ALL SELECT grid_id, coalesce(ended_at, started_at) FROM patrols"
                ") r WHERE grid_id IN (SELECT id FROM grids WHERE district_adcode = :d) "
                "GROUP BY grid_id"
            ),
            {"d": district_adcode},
        ).all()
    )
    out = []
    for g in grids:
        issue_at, event_at = activity.get(g.id, (None, None))
        times = (issue_at, event_at, rounds.get(g.id))
        latest = max((t for t in times if t is not None), default=None)
        if latest is None or latest < since:
            out.append((g.code, g.name, g.level, g.kind, issue_at))
    return out


def coverage_gaps(
    session: Session,
    *,
    district_adcode: str,
    households_norm: int = DEFAULT_HOUSEHOLDS_NORM,
    inactive_days: int = DEFAULT_INACTIVE_DAYS,
    min_area_m2: float = 1.0,
    now: datetime | None = None,
    fresh: bool = False,
) -> CoverageGaps:
    """Every coverage gap of the district's current grids (see the module docstring).

    The territory, display geometries, activity and misplaced issues come from the derived
    stores (:mod:`geogrid.analysis.stores`), the AB posts are judged at ``now`` on the live
    holders, so an "away until" that passes flips a gap without any geometry being computed.
    ``fresh`` computes everything from the base tables instead: the reference the stores are
    tested equal to, and seconds slower on a real district.
    """
    if households_norm <= 0:
        raise InvalidInputError(f"households norm must be positive, got {households_norm}")
    if inactive_days <= 0:
        raise InvalidInputError(f"inactive days must be positive, got {inactive_days}")
    params = {"adcode": district_adcode}
    rows = _territory(session, district_adcode, min_area_m2, fresh)
    grids = current_grids(
        session,
        district_adcode=district_adcode,
        kinds=("general", "dedicated"),
        with_display=fresh,
    )
    if not fresh:
        shapes = grid_display(session, district_adcode=district_adcode)
        for g in grids:
            g.display = shapes[g.id]
    display: dict[str, GridRecord] = {g.code: g for g in grids}

    def grid_row(kind: str, code: str, name: str, level: int, detail: str, **extra: Any) -> GapRow:
        record = display.get(code)
        return GapRow(
            kind,
            code,
            name,
            level,
            detail,
            geometry=record.display if record else None,
            extra=extra,
        )

    clock = now or datetime.now(UTC)
    rows += _post_rows(session, grids, clock)
    for code, name, level, households, workers in session.execute(
        text(_WORKLOAD), {**params, "norm": households_norm}
    ):
        per = households / workers if workers else None
        detail = (
            f"{households} 户, 无网格员"
            if per is None
            else f"{households} 户 / {workers} 名网格员 = {per:.0f} 户/人 (标准 {households_norm})"
        )
        rows.append(
            grid_row(
                "over_norm",
                code,
                name,
                level,
                detail,
                households=households,
                workers=workers,
                households_per_worker=None if per is None else round(per, 1),
            )
        )
    since = clock - timedelta(days=inactive_days)
    for code, name, level, kind, last in _inactive_rows(
        session, district_adcode, grids, since, fresh
    ):
        detail = f"{inactive_days} 天内无问题记录或处理" + (
            f", 最近一次 {last.date().isoformat()}" if last else ", 从无记录"
        )
        rows.append(
            grid_row(
                "inactive",
                code,
                name,
                level,
                detail,
                grid_kind=kind,
                last_issue_at=last.isoformat() if last else None,
            )
        )
    for code, name, level, _kind in session.execute(text(_DEDICATED), params):
        rows.append(grid_row("dedicated_unstaffed", code, name, level, "没有专属网格员"))
    misplaced = (
        misplaced_gap_rows(session, district_adcode)
        if fresh
        else misplaced_rows(session, district_adcode=district_adcode)
    )
    rows += [_gap_row(r) for r in misplaced]
    return CoverageGaps(rows, households_norm, inactive_days, min_area_m2)
