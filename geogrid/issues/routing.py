"""Tagging (which grids a point is in) and assignment (who works it).

One PostGIS query finds every current grid covering the point: the deepest general grid (ties
broken by the smallest code, so a point on a shared edge always goes to the same grid), the
general chain above it and every dedicated grid. ``ST_Covers`` rather than ``ST_Contains`` so a
point exactly on a boundary is still in a grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["Assignment", "GridHit", "Tagging", "on_duty_post", "tag_point"]


@dataclass(frozen=True)
class GridHit:
    id: int
    code: str
    name: str
    level: int
    kind: str
    version: int
    district_adcode: str


@dataclass(frozen=True)
class Tagging:
    """The grids a point falls in; ``deepest`` is None for a point in no general grid."""

    deepest: GridHit | None
    general: list[GridHit] = field(default_factory=list)
    dedicated: list[GridHit] = field(default_factory=list)

    @property
    def all(self) -> list[GridHit]:
        return [*self.general, *self.dedicated]


_TAG_SQL = text(
    """
    SELECT g.id, g.code, v.name, g.level, g.kind, v.version, g.district_adcode
    FROM grid_versions v
    JOIN grids g ON g.id = v.grid_id
    WHERE v.valid_to IS NULL AND g.retired_at IS NULL
      AND ST_Covers(v.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
    ORDER BY g.kind DESC, g.level DESC, g.code
    """
)


def tag_point(session: Session, lon: float, lat: float) -> Tagging:
    """The current grids covering a WGS 84 point (general ones deepest first)."""
    rows = [GridHit(*row) for row in session.execute(_TAG_SQL, {"lon": lon, "lat": lat})]
    general = [r for r in rows if r.kind == "general"]
    dedicated = [r for r in rows if r.kind == "dedicated"]
    return Tagging(deepest=general[0] if general else None, general=general, dedicated=dedicated)


@dataclass(frozen=True)
class Assignment:
    staff_id: int | None
    post: str | None
    note: str | None


_POSTS_SQL = text(
    """
    SELECT a.post, s.id, s.name,
           (s.availability = 'away' AND (s.away_until IS NULL OR s.away_until > :now)
            OR NOT s.active) AS away
    FROM grid_assignments a JOIN staff s ON s.id = a.staff_id
    WHERE a.grid_id = :grid_id AND a.valid_to IS NULL AND a.post IN ('A', 'B')
    """
)


def on_duty_post(session: Session, grid_id: int, *, now: datetime) -> Assignment:
    """The A post, or B when A is away (AB岗). Both away: A keeps it, and the note says so."""
    posts = {row.post: row for row in session.execute(_POSTS_SQL, {"grid_id": grid_id, "now": now})}
    a, b = posts.get("A"), posts.get("B")
    if a is not None and not a.away:
        return Assignment(a.id, "A", None)
    if b is not None and not b.away:
        return Assignment(b.id, "B", "A post away: assigned to the B post")
    if a is not None:
        return Assignment(a.id, "A", "A and B posts both away: left with the A post")
    if b is not None:
        return Assignment(b.id, "B", "no A post on this grid: assigned to the B post")
    return Assignment(None, None, "grid has no A or B post: unassigned")
