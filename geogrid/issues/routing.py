"""Tagging (which grids a point is in) and assignment (who works it).

One PostGIS query finds every current grid covering the point: the grid the point belongs to
(:mod:`geogrid.rules.covering`: deepest general grid, smallest code on ties, boundary points
covered), the general chain above it and every dedicated grid. :func:`deepest_grid_ids` is the
same query for many points in one statement (bulk tagging, and the test that holds the SQL,
the in-memory index and the cell raster to one answer).

Where an issue is assigned to a worker: :func:`on_duty_post`, and nowhere else. Intake calls it
for a new report (:func:`geogrid.issues.intake.create_issue`), and :mod:`geogrid.grids.followups`
calls it when a boundary change re-tags open issues; a person's explicit reassignment is a
transition (:mod:`geogrid.issues.transitions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.rules.covering import deepest_first_sql, deepest_general
from geogrid.rules.in_force import in_force_sql
from geogrid.rules.on_duty import load_post_holders

__all__ = ["Assignment", "GridHit", "Tagging", "deepest_grid_ids", "on_duty_post", "tag_point"]


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


def _covering(lon: str, lat: str) -> str:
    """FROM and WHERE of "the current grids covering the point (lon, lat)", then the rule's
    order: the one query shape of :func:`tag_point` and :func:`deepest_grid_ids`."""
    return f"""
    FROM grid_versions v
    JOIN grids g ON g.id = v.grid_id
    WHERE {in_force_sql(None, version="v", grid="g")}
      AND ST_Covers(v.geom, ST_SetSRID(ST_MakePoint({lon}, {lat}), 4326))
    """


_TAG_SQL = text(
    "SELECT g.id, g.code, v.name, g.level, g.kind, v.version, g.district_adcode"
    f"{_covering(':lon', ':lat')} ORDER BY {deepest_first_sql('g')}"
)

_DEEPEST_MANY_SQL = text(
    f"""
    SELECT t.id
    FROM unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[])) WITH ORDINALITY AS p(lon, lat, i)
    LEFT JOIN LATERAL (
        SELECT g.id {_covering("p.lon", "p.lat")} AND g.kind = 'general'
        ORDER BY {deepest_first_sql("g")} LIMIT 1
    ) t ON true
    ORDER BY p.i
    """
)


def tag_point(session: Session, lon: float, lat: float) -> Tagging:
    """The current grids covering a WGS 84 point (general ones deepest first)."""
    rows = [GridHit(*row) for row in session.execute(_TAG_SQL, {"lon": lon, "lat": lat})]
    general = [r for r in rows if r.kind == "general"]
    dedicated = [r for r in rows if r.kind == "dedicated"]
    return Tagging(deepest=deepest_general(general), general=general, dedicated=dedicated)


def deepest_grid_ids(
    session: Session, lon: Sequence[float], lat: Sequence[float]
) -> list[int | None]:
    """The id of the grid each WGS 84 point belongs to (None where no current general grid
    covers it), in the order given: :func:`tag_point`'s query for many points, one statement."""
    if len(lon) != len(lat):
        raise ValueError(f"{len(lon)} longitudes but {len(lat)} latitudes: give one of each")
    params = {"lon": [float(x) for x in lon], "lat": [float(y) for y in lat]}
    return [row.id for row in session.execute(_DEEPEST_MANY_SQL, params)]


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
