"""The answer for one point: admin areas, grid chain, dedicated grids and signboard.

Public functions (the issue tagger calls these):

:func:`deepest_general_grid`
    The general grid an issue at a point belongs to (or None): deepest level, smallest code.
:func:`locate_point`
    Everything: district → street/town → community/village (``admin_areas``), level-1 →
    level-2 → level-3 grid (as deep as the point goes), every dedicated grid covering the
    point, and the signboard of the deepest grid (plus one per dedicated grid). Raises
    :class:`~geogrid.errors.NotFoundError` with the nearest grid and its distance in metres
    when no general grid covers the point.

Both answer from the in-memory :class:`~geogrid.locate.index.IndexCache` when one is given
and ``at`` is None, and otherwise from one PostGIS query with ``ST_Covers``; the two give the
same answer (tests compare them). The rule for a point on a shared edge is
:mod:`geogrid.rules.covering`: deepest level first, then the smallest code; the chain above the
winner follows ``parent_id``.

``at`` answers for a past moment (:mod:`geogrid.rules.in_force`: ``valid_from <= at <
valid_to``, grid not yet retired). A
bare date means the end of that day in China Standard Time, so "today" includes grids created
this morning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.locate.index import GridIndex, IndexCache, read_revision
from geogrid.locate.signboard import (
    Signboard,
    SignboardData,
    build_signboard,
    fetch_signboard_data,
)
from geogrid.locate.types import AdminAreaRef, GridRef
from geogrid.rules.covering import deepest_general
from geogrid.rules.in_force import in_force_sql
from geogrid.spatial.crs import CoordinateSystem, to_wgs84

__all__ = [
    "EDGE_RULE",
    "PointLocation",
    "deepest_general_grid",
    "grids_at_point",
    "locate_point",
    "location_at_positions",
    "resolve_at",
    "to_wgs84_point",
]

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
EDGE_RULE = (
    "ST_Covers(grid, point); among the general grids covering the point the deepest level "
    "wins, then the smallest code; the chain follows parent_id"
)


@dataclass(frozen=True)
class PointLocation:
    """Where a point is and who looks after it."""

    lon: float
    lat: float
    district_adcode: str
    admin_areas: list[AdminAreaRef]
    chain: list[GridRef]
    dedicated: list[GridRef]
    signboard: Signboard | None
    dedicated_signboards: list[Signboard] = field(default_factory=list)
    at: datetime | None = None
    revision: str | None = None

    @property
    def deepest(self) -> GridRef | None:
        return self.chain[-1] if self.chain else None


# -- input -----------------------------------------------------------------------------------


def resolve_at(value: date | datetime | str | None) -> datetime | None:
    """The instant a past-date query answers for: a datetime as is (naive = China time), a
    date (or ``YYYY-MM-DD``) as the last microsecond of that day in China time.

    >>> resolve_at("2026-01-31").isoformat()
    '2026-01-31T23:59:59.999999+08:00'
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidInputError(
                f"at={value!r} is not an ISO date (2026-01-31) or date-time "
                "(2026-01-31T08:00:00+08:00).",
                value=value,
            ) from exc
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=CHINA_STANDARD_TIME)
    end = datetime.combine(value + timedelta(days=1), time(0), CHINA_STANDARD_TIME)
    return end - timedelta(microseconds=1)


def to_wgs84_point(
    lon: float, lat: float, crs: str | CoordinateSystem = "wgs84"
) -> tuple[float, float]:
    """Check a coordinate pair and convert it to WGS 84."""
    system = CoordinateSystem.parse(crs)
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lon) > 180 or abs(lat) > 90:
        raise InvalidInputError(
            f"({lon}, {lat}) is not a longitude/latitude pair: longitude -180..180 and "
            "latitude -90..90, longitude first.",
            lon=lon,
            lat=lat,
        )
    if system is CoordinateSystem.WGS84:
        # Already WGS 84: what to_wgs84 would return, without its array round trip (most of
        # a live lookup's CPU once the rest is cached).
        return float(lon), float(lat)
    x, y = to_wgs84(lon, lat, system)
    return float(x), float(y)


# -- the SQL path ----------------------------------------------------------------------------

_POINT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"


def _grid_ref(row: Any) -> GridRef:
    return GridRef(
        id=int(row.id),
        code=row.code,
        name=row.name,
        level=int(row.level),
        kind=row.kind,
        dedicated_type=row.dedicated_type,
        version=int(row.version),
        area_m2=float(row.area_m2),
        parent_id=None if row.parent_id is None else int(row.parent_id),
    )


_GRID_COLUMNS = (
    "g.id, g.code, g.level, g.kind, g.dedicated_type, g.parent_id, gv.version, gv.name, gv.area_m2"
)


def grids_at_point(
    session: Session, lon: float, lat: float, *, district_adcode: str, at: datetime | None = None
) -> list[GridRef]:
    """Every grid (general and dedicated) whose version in force covers the WGS 84 point, by
    code: one PostGIS query with ``ST_Covers``."""
    sql = text(
        f"SELECT {_GRID_COLUMNS} FROM grids g JOIN grid_versions gv ON gv.grid_id = g.id "
        f"WHERE g.district_adcode = :d AND {in_force_sql(at)} AND ST_Covers(gv.geom, {_POINT}) "
        "ORDER BY g.code"
    )
    params: dict[str, Any] = {"d": district_adcode, "lon": lon, "lat": lat, "at": at}
    return [_grid_ref(r) for r in session.execute(sql, params)]


def _chain_sql(
    session: Session, deepest: GridRef, covering: list[GridRef], at: datetime | None
) -> list[GridRef]:
    by_id = {g.id: g for g in covering}
    chain = [deepest]
    while chain[-1].parent_id is not None:
        parent = by_id.get(chain[-1].parent_id)
        if parent is None:  # a parent that does not cover the point: inconsistent data
            sql = text(
                f"SELECT {_GRID_COLUMNS} FROM grids g JOIN grid_versions gv ON gv.grid_id = g.id "
                f"WHERE g.id = :id AND {in_force_sql(at)}"
            )
            row = session.execute(sql, {"id": chain[-1].parent_id, "at": at}).one_or_none()
            if row is None:
                break
            parent = _grid_ref(row)
        chain.append(parent)
    return chain[::-1]


def _admin_sql(
    session: Session, lon: float, lat: float, district_adcode: str
) -> list[AdminAreaRef]:
    sql = text(
        "SELECT id, code, name, level FROM admin_areas "
        f"WHERE district_adcode = :d AND ST_Covers(geom, {_POINT}) ORDER BY code"
    )
    chosen: dict[str, AdminAreaRef] = {}
    for r in session.execute(sql, {"d": district_adcode, "lon": lon, "lat": lat}):
        chosen.setdefault(r.level, AdminAreaRef(int(r.id), r.code, r.name, r.level))
    order = ("district", "street", "town", "community", "village")
    return [chosen[level] for level in order if level in chosen]


# -- the index path --------------------------------------------------------------------------


def _grid_ref_at(index: GridIndex, pos: int) -> GridRef:
    parent = int(index.parent[pos])
    return GridRef(
        id=int(index.grid_id[pos]),
        code=str(index.code[pos]),
        name=str(index.name[pos]),
        level=int(index.level[pos]),
        kind="dedicated" if index.dedicated[pos] else "general",
        dedicated_type=index.dedicated_type[pos],
        version=int(index.version[pos]),
        area_m2=float(index.area_m2[pos]),
        parent_id=None if parent < 0 else int(index.grid_id[parent]),
    )


def _from_index(
    index: GridIndex, lon: float, lat: float
) -> tuple[list[GridRef], list[GridRef], list[AdminAreaRef]]:
    covering = index.covering(lon, lat)
    deepest = index.deepest(covering)
    dedicated = [int(p) for p in covering if index.dedicated[p]]
    return _refs_at(index, deepest, dedicated, index.admin_areas(lon, lat))


def _refs_at(
    index: GridIndex, deepest: int | None, dedicated: Sequence[int], admin: Sequence[int]
) -> tuple[list[GridRef], list[GridRef], list[AdminAreaRef]]:
    chain = [] if deepest is None else [_grid_ref_at(index, p) for p in index.chain(deepest)]
    admin_refs = [
        AdminAreaRef(
            int(index.admin_id[p]),
            str(index.admin_code[p]),
            str(index.admin_name[p]),
            str(index.admin_level[p]),
        )
        for p in admin
    ]
    return chain, [_grid_ref_at(index, p) for p in dedicated], admin_refs


def location_at_positions(
    index: GridIndex,
    *,
    deepest: int,
    dedicated: Sequence[int],
    admin: Sequence[int],
    data: SignboardData,
    lon: float,
    lat: float,
    now: datetime | None = None,
) -> PointLocation:
    """The answer :func:`locate_point` gives for a point whose deepest general grid, dedicated
    grids and admin areas are these positions of ``index``, with signboards from ``data``
    (which must hold those grids' staff and party rows; ``data.revision`` is reported)."""
    chain, dedicated_refs, admin_refs = _refs_at(index, deepest, dedicated, admin)
    return _assemble(
        lon, lat, index.district_adcode, admin_refs, chain, dedicated_refs, data, None, now
    )


# -- public functions ------------------------------------------------------------------------


def deepest_general_grid(
    session: Session,
    lon: float,
    lat: float,
    *,
    district_adcode: str,
    at: date | datetime | str | None = None,
    cache: IndexCache | None = None,
) -> GridRef | None:
    """The general grid a WGS 84 point belongs to: the deepest level covering it, smallest code
    on ties; None outside every grid. ``GridRef.version`` is the version that answered.

    With ``cache`` (and no ``at``) the answer comes from memory after one revision check;
    otherwise from one ``ST_Covers`` query.
    """
    when = resolve_at(at)
    if cache is not None and when is None:
        index = cache.get(session, district_adcode)
        pos = index.deepest(index.covering(lon, lat))
        return None if pos is None else _grid_ref_at(index, pos)
    return deepest_general(
        grids_at_point(session, lon, lat, district_adcode=district_adcode, at=when)
    )


def locate_point(
    session: Session,
    lon: float,
    lat: float,
    *,
    district_adcode: str,
    crs: str | CoordinateSystem = "wgs84",
    at: date | datetime | str | None = None,
    cache: IndexCache | None = None,
    now: datetime | None = None,
) -> PointLocation:
    """Admin areas, grid chain, dedicated grids and signboards of a point given in ``crs``.

    Costs one database round trip with ``cache`` (the signboard query, which also validates the
    index's revision; a stale index is rebuilt and the lookup redone), a few without.

    Raises
    ------
    InvalidInputError
        Coordinates out of range, unknown ``crs``, unreadable ``at``.
    NotFoundError
        No general grid covers the point; ``extra`` names the nearest grid and the distance.
    """
    wlon, wlat = to_wgs84_point(lon, lat, crs)
    when = resolve_at(at)
    if cache is None or when is not None:
        covering = grids_at_point(session, wlon, wlat, district_adcode=district_adcode, at=when)
        deepest = deepest_general(covering)
        if deepest is None:
            raise nowhere_error(session, wlon, wlat, district_adcode=district_adcode, at=when)
        chain = _chain_sql(session, deepest, covering, when)
        dedicated = [g for g in covering if g.kind == "dedicated"]
        admin = _admin_sql(session, wlon, wlat, district_adcode)
        data = _signboard_data(session, district_adcode, chain, dedicated, when)
        return _assemble(wlon, wlat, district_adcode, admin, chain, dedicated, data, when, now)

    index = cache.peek(district_adcode) or cache.refresh(session, district_adcode)
    for _ in range(3):
        chain, dedicated, admin = _from_index(index, wlon, wlat)
        if chain:
            data = _signboard_data(session, district_adcode, chain, dedicated, None)
            if data.revision == index.revision:
                return _assemble(
                    wlon, wlat, district_adcode, admin, chain, dedicated, data, None, now
                )
            revision = data.revision
        else:
            revision = read_revision(session, district_adcode)
            if revision == index.revision:
                raise nowhere_error(session, wlon, wlat, district_adcode=district_adcode)
        index = cache.refresh(session, district_adcode, revision=revision)
    raise NotFoundError(  # boundaries changing faster than we can read them
        "Grid boundaries are being changed right now; try again in a moment.",
        lon=wlon,
        lat=wlat,
    )


def _signboard_data(
    session: Session,
    district_adcode: str,
    chain: list[GridRef],
    dedicated: list[GridRef],
    at: datetime | None,
) -> SignboardData:
    return fetch_signboard_data(
        session,
        district_adcode=district_adcode,
        staff_grid_ids=[chain[-1].id, *(g.id for g in dedicated)],
        party_grid_ids=[g.id for g in chain],
        at=at,
    )


def _assemble(
    lon: float,
    lat: float,
    district_adcode: str,
    admin: list[AdminAreaRef],
    chain: list[GridRef],
    dedicated: list[GridRef],
    data: SignboardData,
    at: datetime | None,
    now: datetime | None,
) -> PointLocation:
    signboard = build_signboard(chain[-1], data, party_chain=chain, at=at, now=now)
    dedicated_boards = [build_signboard(g, data, at=at, now=now) for g in dedicated]
    return PointLocation(
        lon=lon,
        lat=lat,
        district_adcode=district_adcode,
        admin_areas=admin,
        chain=chain,
        dedicated=dedicated,
        signboard=signboard,
        dedicated_signboards=dedicated_boards,
        at=at,
        revision=data.revision,
    )


def nowhere_error(
    session: Session,
    lon: float,
    lat: float,
    *,
    district_adcode: str,
    at: datetime | None = None,
) -> NotFoundError:
    """The 404 for a point in no general grid: the nearest grid (geodesic metres) and whether
    the point is inside the district at all (then it is a coverage gap)."""
    sql = text(
        f"""
        WITH near AS (
          SELECT {_GRID_COLUMNS}, ST_Distance(gv.geom::geography, {_POINT}::geography) AS metres
          FROM grids g JOIN grid_versions gv ON gv.grid_id = g.id
          WHERE g.district_adcode = :d AND g.kind = 'general' AND {in_force_sql(at)}
          ORDER BY gv.geom <-> {_POINT} LIMIT 24
        )
        SELECT * FROM near ORDER BY metres, level DESC, code LIMIT 1
        """
    )
    params = {"d": district_adcode, "lon": lon, "lat": lat, "at": at}
    row = session.execute(sql, params).one_or_none()
    inside = session.execute(
        text(
            "SELECT name FROM admin_areas WHERE district_adcode = :d AND level = 'district' "
            f"AND ST_Covers(geom, {_POINT})"
        ),
        params,
    ).scalar_one_or_none()
    where = (
        f"inside district {district_adcode} ({inside}) but in no grid: a coverage gap"
        if inside
        else f"outside district {district_adcode}"
    )
    if row is None:
        return NotFoundError(
            f"The point ({lon:.6f}, {lat:.6f}) is {where}, and the district has no grids.",
            lon=lon,
            lat=lat,
            district_adcode=district_adcode,
            inside_district=inside is not None,
        )
    metres = round(float(row.metres), 1)
    return NotFoundError(
        f"The point ({lon:.6f}, {lat:.6f}) is {where}. The nearest grid is {row.name} "
        f"({row.code}), {metres:.0f} m away. Check the coordinates and their system "
        "(crs=wgs84, cgcs2000, gcj02 or bd09).",
        lon=lon,
        lat=lat,
        district_adcode=district_adcode,
        inside_district=inside is not None,
        nearest_grid={"code": row.code, "name": row.name, "level": int(row.level)},
        distance_m=metres,
    )
