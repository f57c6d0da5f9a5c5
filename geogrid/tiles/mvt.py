"""Vector tiles (Mapbox Vector Tile 2.1) of grids and issues, built entirely in PostGIS.

One statement per tile: the tile's envelope (``ST_TileEnvelope``, EPSG:3857) turned into a
lon/lat box selects the features through the GiST indexes on the stored WGS 84 geometries; each
geometry is transformed, simplified to half a pixel of its zoom, clipped and quantised
(``ST_AsMVTGeom``) and the rows are encoded by ``ST_AsMVT``. Python never sees a coordinate.

Freshness is read from two single-row counters bumped by triggers whoever writes:
``boundary_revisions`` (migration 0002) for grid layers and ``issue_revisions`` (migration
0015) for the issues layer. The tag built from them (:func:`tile_tag`) lets an unchanged tile
answer 304 after one index lookup, without building it.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session, aliased

from geogrid.analysis.filters import IssueFilter
from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.locate.index import revision_token
from geogrid.storage.models import Grid, GridVersion, Issue, IssueCategory
from geogrid.tiles.layers import (
    BUFFER,
    EXTENT,
    ISSUE_CELL_UNITS,
    ISSUE_POINTS_MINZOOM,
    TileLayer,
    check_tile,
)

__all__ = [
    "TILE_FORMAT",
    "DistrictTiles",
    "district_tiles",
    "grids_tile_query",
    "issues_tile_query",
    "simplify_tolerance_m",
    "tile_bytes",
    "tile_tag",
]

TILE_FORMAT = "1"
"""Part of every tag: bump it when what a tile holds changes, so caches drop the old ones."""
WORLD_M = 40075016.685578488
"""Width of the EPSG:3857 square, in metres."""
SIMPLIFY_PX = 0.5
"""Simplification per zoom: vertices closer than half a 256-px pixel to the line are dropped."""


def simplify_tolerance_m(z: int) -> float:
    """The simplification tolerance at zoom ``z``, in EPSG:3857 metres.

    >>> round(simplify_tolerance_m(10), 2)
    76.44
    """
    return SIMPLIFY_PX * WORLD_M / (256 * (1 << z))


@dataclass(frozen=True)
class DistrictTiles:
    """What a tile request needs to know of its district before building anything."""

    district_adcode: str
    boundary_revision: str
    issue_revision: str


def _check_district(district_adcode: str) -> None:
    if len(district_adcode) != 6 or not district_adcode.isdigit():
        raise InvalidInputError(
            f"district={district_adcode!r} is not a 6-digit adcode (华州区 is 610503)",
            rule="district",
            value=district_adcode,
        )


def district_tiles(session: Session, district_adcode: str) -> DistrictTiles:
    """The district's revisions, or :class:`NotFoundError` for a district this installation does
    not hold (no admin area and no grid: its tiles would all be empty, which would hide a typo)."""
    _check_district(district_adcode)
    row = session.execute(
        text(
            """
            SELECT EXISTS (SELECT 1 FROM admin_areas WHERE code = :d)
                   OR EXISTS (SELECT 1 FROM grids WHERE district_adcode = :d),
                   b.revision, b.changed_at, r.revision, r.changed_at
            FROM (SELECT CAST(:d AS text) AS d) AS k
            LEFT JOIN boundary_revisions b ON b.district_adcode = k.d
            LEFT JOIN issue_revisions r ON r.district_adcode = k.d
            """
        ),
        {"d": district_adcode},
    ).one()
    if not row[0]:
        raise NotFoundError(
            f"district {district_adcode} is not served by this installation; "
            "add it (geogrid districts add) or ask for one it holds",
            value=district_adcode,
        )
    return DistrictTiles(
        district_adcode, revision_token(row[1], row[2]), revision_token(row[3], row[4])
    )


def _filter_key(issue_filter: IssueFilter | None) -> str:
    if issue_filter is None:
        return ""
    start = issue_filter.start.isoformat() if issue_filter.start else ""
    end = issue_filter.end.isoformat() if issue_filter.end else ""
    statuses = ",".join(sorted(issue_filter.statuses))
    return f"{start}|{end}|{issue_filter.category or ''}|{statuses}"


def tile_tag(
    district: DistrictTiles,
    layer: TileLayer,
    z: int,
    x: int,
    y: int,
    *,
    at: datetime | None = None,
    issue_filter: IssueFilter | None = None,
) -> str:
    """A strong entity tag for one tile (without quotes): it changes when the layer's revision
    counter moves, and with every parameter that changes the content.

    >>> from geogrid.tiles.layers import TILE_LAYERS
    >>> d = DistrictTiles("610503", "7@1", "3@2")
    >>> t = tile_tag(d, TILE_LAYERS["grids-level1"], 10, 1, 2)
    >>> t == tile_tag(DistrictTiles("610503", "7@1", "4@9"), TILE_LAYERS["grids-level1"], 10, 1, 2)
    True
    """
    revision = district.boundary_revision if layer.is_grids else district.issue_revision
    parts = [
        TILE_FORMAT,
        layer.name,
        district.district_adcode,
        revision,
        f"{z}/{x}/{y}",
        at.isoformat() if at else "",
        _filter_key(issue_filter) if not layer.is_grids else "",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _envelope(z: Any, x: Any, y: Any) -> tuple[Any, Any]:
    env = func.ST_TileEnvelope(z, x, y)
    return env, func.ST_Transform(env, 4326)


def _in_force(at: Any) -> ColumnElement[bool]:
    """The grid versions shown: current ones of grids not retired, or those in force at ``at``
    (the same rule as :mod:`geogrid.grids.repository`)."""
    if at is None:
        return and_(GridVersion.valid_to.is_(None), Grid.retired_at.is_(None))
    return and_(
        GridVersion.valid_from <= at,
        or_(GridVersion.valid_to.is_(None), GridVersion.valid_to > at),
    )


@functools.cache
def _grids_statement(kind: str, levels: tuple[int, ...], historic: bool) -> Any:
    """The grids tile statement of one layer, built once: what varies per tile (the tile, its
    simplification, the district, ``at``) is a bound parameter, so a tile costs no statement
    building and SQLAlchemy compiles it once per process (building it was a third of a tile's
    time, more than the query of a small tile)."""
    z, x, y = (bindparam(n, None, type_=Integer) for n in ("z", "x", "y"))
    env, box = _envelope(z, x, y)
    parent = aliased(Grid, name="parent")
    at = bindparam("at", None, type_=DateTime(timezone=True)) if historic else None
    # The district's grids whose box meets the envelope, fenced (OFFSET 0) so the exact test
    # and the geometry below run on them only: unfenced, the planner ran ST_Intersects in the
    # index scan on every grid of the envelope, the neighbouring districts' included, before
    # the join dropped them (at the province, a level-1 tile at z10 took 4x its one-district
    # time).
    candidates = (
        select(
            Grid.code,
            GridVersion.name,
            Grid.level,
            Grid.kind,
            Grid.dedicated_type,
            parent.code.label("parent_code"),
            GridVersion.households,
            GridVersion.population,
            GridVersion.area_m2,
            GridVersion.geom,
        )
        .join(GridVersion, GridVersion.grid_id == Grid.id)
        .outerjoin(parent, parent.id == Grid.parent_id)
        .where(
            Grid.district_adcode == bindparam("district_adcode", None, type_=String),
            # read from ix_grid_versions_district_geom: the district's part of the envelope
            GridVersion.district_adcode == bindparam("district_adcode", None, type_=String),
            Grid.kind == kind,
            Grid.level.in_(levels),
            _in_force(at),
            GridVersion.geom.op("&&")(box),
        )
        .offset(0)
        .subquery("candidates")
    )
    c = candidates.c
    mercator = func.ST_Transform(c.geom, 3857)

    def clipped(geom: Any) -> Any:
        return func.ST_AsMVTGeom(geom, env, EXTENT, BUFFER, True)

    # Simplifying can flatten a narrow grid into a sliver that quantisation then drops; such a
    # grid is drawn unsimplified, and one smaller than a tile unit as a one-unit square, so
    # every grid of the envelope is in the tile (a client counting or clicking finds it).
    geometry = func.coalesce(
        clipped(func.ST_Simplify(mercator, bindparam("tolerance_m", None, type_=Float), True)),
        clipped(mercator),
        clipped(func.ST_Expand(func.ST_Envelope(mercator), bindparam("unit_m", None, type_=Float))),
    )
    features = (
        select(
            c.code,
            c.name,
            c.level,
            c.kind,
            c.dedicated_type,
            c.parent_code,
            c.households,
            c.population,
            func.round(c.area_m2).label("area_m2"),
            geometry.label("geom"),
        )
        .where(func.ST_Intersects(c.geom, box))
        .subquery("features")
    )
    # No `WHERE geom IS NOT NULL` around it: the planner pushed that filter into the scan and
    # computed every geometry twice; ST_AsMVT skips rows whose geometry is NULL by itself.
    return select(
        func.ST_AsMVT(
            literal_column("features"), bindparam("layer_name", None, type_=String), EXTENT, "geom"
        )
    ).select_from(features)


def grids_tile_query(
    layer: TileLayer, z: int, x: int, y: int, *, district_adcode: str, at: datetime | None = None
) -> tuple[Any, dict[str, Any]]:
    """The statement returning the tile (one ``bytea``) of a grids layer, and its parameters.

    A feature is every grid whose stored geometry intersects the tile's envelope, so a tile
    holds exactly the grids a client expects there; ``ST_AsMVTGeom`` clips with a
    :data:`BUFFER` margin, so a grid that only touches the edge still keeps a drawable part.
    """
    assert layer.kind is not None
    stmt = _grids_statement(layer.kind, layer.levels, at is not None)
    params: dict[str, Any] = {
        "z": z,
        "x": x,
        "y": y,
        "tolerance_m": simplify_tolerance_m(z),
        "unit_m": WORLD_M / (1 << z) / EXTENT,
        "district_adcode": district_adcode,
        "layer_name": layer.name,
    }
    if at is not None:
        params["at"] = at
    return stmt, params


def issues_tile_query(
    layer: TileLayer,
    z: int,
    x: int,
    y: int,
    *,
    district_adcode: str,
    issue_filter: IssueFilter | None = None,
) -> Any:
    """The statement returning the tile of the issues layer: points from
    :data:`ISSUE_POINTS_MINZOOM`, counts per :data:`ISSUE_CELL_UNITS` cell below it."""
    env, box = _envelope(z, x, y)
    clauses = [
        Issue.district_adcode == district_adcode,
        # ST_Intersects, not a bare &&: the index compares single-precision boxes, which let
        # points a few metres outside the tile in.
        func.ST_Intersects(Issue.geom, box),
        *(issue_filter.clauses() if issue_filter else []),
    ]
    if z >= ISSUE_POINTS_MINZOOM:
        features = (
            select(
                literal_column("1").label("count"),
                Issue.id,
                Issue.status,
                IssueCategory.code.label("category"),
                func.to_char(func.timezone("Asia/Shanghai", Issue.reported_at), "YYYY-MM-DD").label(
                    "reported_at"
                ),
                func.ST_AsMVTGeom(func.ST_Transform(Issue.geom, 3857), env, EXTENT, 0, True).label(
                    "geom"
                ),
            )
            .join(IssueCategory, IssueCategory.id == Issue.category_id)
            .where(*clauses)
            .subquery("features")
        )
    else:
        # Cells are computed from the EPSG:3857 coordinates with the tile's bounds known here,
        # not through ST_AsMVTGeom: a province-wide tile counts a few hundred thousand points,
        # and per-point clipping would be most of its time. Issues on the east or south edge
        # (or a rounding error outside it) go to the nearest cell of this tile.
        size = WORLD_M / (1 << z)
        west, north = -WORLD_M / 2 + x * size, WORLD_M / 2 - y * size
        per_side = EXTENT // ISSUE_CELL_UNITS
        scale = per_side / size
        mercator = func.ST_Transform(Issue.geom, 3857)

        def cell(offset: Any) -> Any:
            return func.greatest(0, func.least(func.floor(offset * scale), per_side - 1))

        points = (
            select(
                cell(func.ST_X(mercator) - west).label("cx"),
                cell(north - func.ST_Y(mercator)).label("cy"),
            )
            .where(*clauses)
            .subquery("points")
        )
        cells = (
            select(points.c.cx, points.c.cy, func.count().label("n"))
            .group_by(points.c.cx, points.c.cy)
            .subquery("cells")
        )
        half = ISSUE_CELL_UNITS / 2
        features = select(
            cells.c.n.label("count"),
            func.ST_MakePoint(
                cells.c.cx * ISSUE_CELL_UNITS + half, cells.c.cy * ISSUE_CELL_UNITS + half
            ).label("geom"),
        ).subquery("features")
    # ST_AsMVT skips NULL geometries itself (see _grids_statement)
    return select(
        func.ST_AsMVT(literal_column("features"), layer.name, EXTENT, "geom")
    ).select_from(features)


def tile_bytes(
    session: Session,
    layer: TileLayer,
    z: int,
    x: int,
    y: int,
    *,
    district_adcode: str,
    at: datetime | None = None,
    issue_filter: IssueFilter | None = None,
) -> bytes:
    """The encoded tile; ``b""`` when no feature of the layer touches it."""
    check_tile(layer, z, x, y)
    _check_district(district_adcode)
    if layer.is_grids:
        if issue_filter is not None:
            raise InvalidInputError(
                f"layer {layer.name} holds grids: start, end, category and status filter the "
                "issues layer only",
                rule="tile_parameters",
            )
        stmt, params = grids_tile_query(layer, z, x, y, district_adcode=district_adcode, at=at)
    else:
        if at is not None:
            raise InvalidInputError(
                "the issues layer has no at=: choose the issues with start and end",
                rule="tile_parameters",
            )
        stmt = issues_tile_query(
            layer, z, x, y, district_adcode=district_adcode, issue_filter=issue_filter
        )
        params = {}
    # A tile is a short query whose PostGIS functions carry high planner costs, which switches
    # on JIT compilation: ~1 s of compiling for a 50 ms query; off for this transaction. A
    # grids statement is the same text for every tile of its layer, so it is prepared, and its
    # generic plan is forced: planning was half of a small tile's time, and the plan is the
    # same for every tile (the district's part of the envelope, ix_grid_versions_district_geom).
    # Left to choose, PostgreSQL kept planning each tile at the province (the generic plan's
    # estimate for "one district of 107" looked costlier): z14 0.9 ms there against 0.4 ms at
    # one district, 0.6 ms both with the generic plan. The SETs travel in one pipeline with the
    # query (and the BEGIN when the tile opens the transaction): one round trip.
    connection = session.connection()
    sql, values = _compiled(stmt, connection.dialect, params, keep=layer.is_grids)
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.pipeline(), driver.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        if layer.is_grids:
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(sql, values, prepare=layer.is_grids)
        row = cursor.fetchone()
    data = row[0] if row else None
    return bytes(data) if data else b""


def _compiled(
    stmt: Any, dialect: Any, params: dict[str, Any], *, keep: bool
) -> tuple[str, dict[str, Any]]:
    """The driver's SQL text of ``stmt`` and its parameters; ``keep`` for the grids
    statements, built once per layer (:func:`_grids_statement`), so compiled once too."""
    cached = _COMPILED.get(id(stmt))
    if cached is None or cached[0] is not stmt:
        compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        cached = (stmt, str(compiled), dict(compiled.params))
        if keep:
            _COMPILED[id(stmt)] = cached
    return cached[1], {**cached[2], **params}


_COMPILED: dict[int, tuple[Any, str, dict[str, Any]]] = {}
