"""Tagging (which grids a point is in) and assignment (who works it).

One PostGIS query finds every current grid covering the point: the grid the point belongs to
(:mod:`geogrid.rules.covering`: deepest general grid, smallest code on ties, boundary points
covered), the general chain above it and every dedicated grid. :func:`deepest_grid_ids` is the
same query for many points in one statement (bulk tagging, and the test that holds the SQL,
the in-memory index and the cell raster to one answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.rules.covering import deepest_first_sql, deepest_general
from geogrid.rules.in_force import in_force_sql

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
