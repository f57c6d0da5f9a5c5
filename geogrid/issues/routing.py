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

from geogrid.rules.on_duty import load_post_holders

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
    """Who gets a new report: ``reason`` is the on-duty rule's code
    (:data:`geogrid.rules.on_duty.REASONS`), ``note`` what the issue's routing note says."""

    staff_id: int | None
    post: str | None
    note: str | None
    reason: str | None = None


def on_duty_post(session: Session, grid_id: int, *, now: datetime) -> Assignment:
    """Who gets a new report on ``grid_id``: whoever :func:`geogrid.rules.on_duty.on_duty` names
    (A, or B when A is away: AB岗). With nobody on duty a report still needs an owner, so the
    rule's fallback keeps it (the holder who is merely away, A first); both posts vacant leaves
    it unassigned. The note starts with the rule's reason, so the office sees why."""
    answer = load_post_holders(session, [grid_id])[grid_id].on_duty(now=now)
    owner = answer.fallback
    if owner is None:
        return Assignment(None, None, f"{answer.label_en}: unassigned", answer.reason)
    if answer.reason == "a_on_duty":
        return Assignment(owner.staff_id, "A", None, answer.reason)
    verb = "assigned to" if answer.holder is not None else "left with"
    note = f"{answer.label_en}: {verb} the {answer.fallback_post} post"
    return Assignment(owner.staff_id, answer.fallback_post, note, answer.reason)
