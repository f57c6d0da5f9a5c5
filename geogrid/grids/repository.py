"""Reading and writing grids and their versions. Functions only flush: the caller commits.

Every function takes the session first and keyword-only options after the code; readers take
``reach``, the grid-code prefixes the caller may see (``None``: everything), so access control
is a filter here and not a second query layer. ``at`` reads the boundaries as they stood at a
moment, from the validity of ``grid_versions``; without it, only current grids are read
(current version, not retired).

Concurrency: writers lock, in this order, the district's boundaries against reports being tagged
(:mod:`geogrid.storage.locks`), the *family* of a grid (a transaction-scoped advisory
lock on its parent, or on its district for level-1 grids), then the grid rows (``SELECT ... FOR
UPDATE``). The family lock makes "no overlap with siblings" hold when two siblings are edited at
once; the row lock makes "If-Match" exact: of two edits from the same version, the second waits
and then sees the version the first wrote.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    JSON,
    ColumnElement,
    CursorResult,
    DateTime,
    Float,
    Integer,
    Numeric,
    String,
    Text,
    and_,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session, aliased

from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.grids.geojson import GridRecord
from geogrid.grids.validation import GridContext
from geogrid.rules.in_force import in_force_clause
from geogrid.spatial.partition import as_multipolygon
from geogrid.storage.locks import lock_boundaries_for_edit
from geogrid.storage.models import (
    AdminArea,
    Grid,
    GridAssignment,
    GridRetirement,
    GridVersion,
    Staff,
)

__all__ = [
    "CHINA_TZ",
    "PARENT_GRID",
    "GeoJSONPage",
    "LockedGrid",
    "add_version",
    "ancestors",
    "children",
    "current_children_codes",
    "district_geometry",
    "end_assignments",
    "get_current",
    "get_version",
    "history",
    "insert_grid",
    "list_grids",
    "list_grids_geojson",
    "lock_family",
    "lock_grid",
    "next_child_code",
    "now",
    "parse_at",
    "retire_grid",
    "retirements",
    "unretire_grid",
    "validation_context",
]

#: Dates and datetimes without an offset are read as China Standard Time, as users write them.
CHINA_TZ = timezone(timedelta(hours=8), "CST")

_Parent = aliased(Grid, name="parent_grid")
#: The parent grid as joined by the grids queries, for conditions on the parent's code.
PARENT_GRID = _Parent


def parse_at(value: str | datetime | date | None) -> datetime | None:
    """Read ``at``: an ISO date (start of that day) or datetime; no offset means UTC+8.

    >>> parse_at("2026-03-01").isoformat()
    '2026-03-01T00:00:00+08:00'
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            parsed: datetime | date = (
                date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
            )
        except ValueError:
            raise InvalidInputError(
                f"at={value!r} is not an ISO date (2026-03-01) or datetime "
                "(2026-03-01T09:30:00+08:00).",
                rule="at",
            ) from None
    else:
        parsed = value
    if not isinstance(parsed, datetime):
        parsed = datetime(parsed.year, parsed.month, parsed.day)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA_TZ)


def now(session: Session) -> datetime:
    """The database clock *now* (not the transaction start), so that successive edits in one
    transaction get increasing validity bounds."""
    value: datetime = session.execute(select(func.clock_timestamp())).scalar_one()
    return value


# -- reading ---------------------------------------------------------------------------------


def _columns() -> Any:
    return select(
        Grid.id,
        Grid.code,
        Grid.level,
        Grid.kind,
        Grid.dedicated_type,
        Grid.district_adcode,
        Grid.current_version,
        Grid.retired_at,
        _Parent.code.label("parent_code"),
        GridVersion.version,
        GridVersion.name,
        GridVersion.estate_type,
        GridVersion.households,
        GridVersion.population,
        GridVersion.attributes,
        GridVersion.area_m2,
        GridVersion.valid_from,
        GridVersion.valid_to,
        GridVersion.changed_by,
        GridVersion.change_reason,
        func.ST_AsBinary(GridVersion.geom).label("wkb"),
    ).select_from(
        select(Grid)
        .join(GridVersion, GridVersion.grid_id == Grid.id)
        .outerjoin(_Parent, _Parent.id == Grid.parent_id)
        .get_final_froms()[0]
    )


def _in_force(at: datetime | ColumnElement[datetime] | None) -> ColumnElement[bool]:
    return in_force_clause(at, version=GridVersion, grid=Grid)


def _within_reach(reach: Sequence[str] | None) -> ColumnElement[bool] | None:
    if reach is None:
        return None
    if not reach:
        return Grid.id.is_(None)  # sees nothing
    return or_(*[Grid.code.startswith(prefix, autoescape=True) for prefix in reach])


def _filtered(stmt: Any, reach: Sequence[str] | None) -> Any:
    cond = _within_reach(reach)
    return stmt if cond is None else stmt.where(cond)


def _record(row: Any) -> GridRecord:
    return GridRecord(
        grid_id=row.id,
        code=row.code,
        name=row.name,
        level=row.level,
        kind=row.kind,
        parent=row.parent_code,
        district_adcode=row.district_adcode,
        version=row.version,
        current_version=row.current_version,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        retired_at=row.retired_at,
        geom=as_multipolygon(shapely.from_wkb(bytes(row.wkb))),
        area_m2=row.area_m2,
        dedicated_type=row.dedicated_type,
        estate_type=row.estate_type,
        households=row.households,
        population=row.population,
        attributes=dict(row.attributes or {}),
        changed_by=row.changed_by,
        change_reason=row.change_reason,
    )


def get_current(
    session: Session,
    code: str,
    *,
    at: datetime | None = None,
    reach: Sequence[str] | None = None,
) -> GridRecord:
    """The grid ``code`` as it is now (or stood at ``at``). 404 if unknown, retired or hidden."""
    stmt = _filtered(_columns().where(Grid.code == code, _in_force(at)), reach)
    row = session.execute(stmt).first()
    if row is None:
        known = session.execute(
            _filtered(select(Grid.retired_at).where(Grid.code == code), reach)
        ).first()
        if known is None:
            raise NotFoundError(f"There is no grid {code}.", code=code)
        if at is not None:
            raise NotFoundError(
                f"Grid {code} had no boundary in force at {at.isoformat()}.", code=code
            )
        raise NotFoundError(
            f"Grid {code} was retired at {known.retired_at.isoformat()}; its history is at "
            f"/grids/{code}/history.",
            code=code,
            retired_at=known.retired_at.isoformat(),
        )
    return _record(row)


def list_grids(
    session: Session,
    *,
    level: int | None = None,
    kind: str | None = None,
    parent: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    at: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    reach: Sequence[str] | None = None,
    where: Sequence[ColumnElement[bool]] = (),
) -> tuple[list[GridRecord], int]:
    """Grids in force (now or at ``at``) matching the filters, in code order, and the count.

    ``where`` adds conditions on the grids query's columns (``Grid``, ``GridVersion`` and
    :data:`PARENT_GRID`): the OGC API's CQL2 filter arrives that way, already translated.
    """
    if bbox is not None:
        _check_bbox(bbox)
    base = _list_base(_columns(), level, kind, parent, bbox, at, reach, where)
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = session.execute(base.order_by(Grid.code).limit(limit).offset(offset)).all()
    return [_record(r) for r in rows], int(total)


def _feature_json() -> Any:
    """The SQL counterpart of :func:`geogrid.grids.geojson.grid_feature` for a current grid
    version: the Feature as JSON text, written by PostgreSQL. Parsed, it equals the reference
    (``tests/test_grids_api.py`` compares whole pages): same members in the same order,
    timestamps as ISO 8601 in the session's time zone as ``isoformat`` writes them, the area
    rounded to centimetres, coordinates to 15 decimals (every stored double round-trips)."""
    current = and_(GridVersion.valid_to.is_(None), Grid.retired_at.is_(None))
    properties = func.json_build_object(
        *("code", Grid.code, "name", GridVersion.name, "level", Grid.level),
        *("kind", Grid.kind, "parent", _Parent.code, "district_adcode", Grid.district_adcode),
        *("version", GridVersion.version, "valid_from", GridVersion.valid_from),
        *("valid_to", GridVersion.valid_to, "retired_at", Grid.retired_at, "current", current),
        *("area_m2", func.round(cast(GridVersion.area_m2, Numeric), 2)),
        *("dedicated_type", Grid.dedicated_type, "estate_type", GridVersion.estate_type),
        *("households", GridVersion.households, "population", GridVersion.population),
        *("attributes", func.coalesce(GridVersion.attributes, text("'{}'::jsonb"))),
    )
    feature = func.json_build_object(
        *("type", "Feature", "id", Grid.code),
        *("geometry", cast(func.ST_AsGeoJSON(GridVersion.geom, 15, 0), JSON)),
        *("properties", properties),
    )
    return select(cast(feature, Text).label("feature")).select_from(
        select(Grid)
        .join(GridVersion, GridVersion.grid_id == Grid.id)
        .outerjoin(_Parent, _Parent.id == Grid.parent_id)
        .get_final_froms()[0]
    )


@dataclass(frozen=True, slots=True)
class GeoJSONPage:
    """A page of grid Features written by PostgreSQL: their texts joined with commas (the
    inside of a ``features`` array), how many there are, and how many match in all."""

    features_text: str
    returned: int
    matched: int


def list_grids_geojson(
    session: Session,
    *,
    level: int | None = None,
    kind: str | None = None,
    parent: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    at: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    reach: Sequence[str] | None = None,
) -> GeoJSONPage:
    """:func:`list_grids` as GeoJSON written by PostgreSQL (:func:`_feature_json`), the page
    and the count in one statement. ``GET /grids`` serves its pages this way
    (:func:`geogrid.grids.geojson.feature_collection_json`): building the shapes, records and
    JSON of a 1 000-grid page in Python took six times as long as PostGIS writing it, and
    fetching the page as 1 000 rows and a second statement for the count cost a round trip,
    a plan and the rows' handling on every page."""
    if bbox is not None:
        _check_bbox(bbox)
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    for name, value in (("level", level), ("kind", kind), ("parent", parent), ("at", at)):
        if value is not None:
            params[name] = value
    if bbox is not None:
        params.update(zip(("minx", "miny", "maxx", "maxy"), bbox, strict=True))
    shape = tuple(n in params for n in ("level", "kind", "parent", "minx", "at"))
    stmt = _geojson_page(*shape) if reach is None else _geojson_page.__wrapped__(*shape, reach)
    text_, returned, total = session.execute(stmt, params).one()
    return GeoJSONPage(str(text_), int(returned), int(total))


@functools.cache
def _geojson_page(
    level: bool,
    kind: bool,
    parent: bool,
    bbox: bool,
    at: bool,
    reach: Sequence[str] | None = None,
) -> Any:
    """The statement of :func:`list_grids_geojson` for the filters given (their values are
    bound parameters): built once per combination, as building it took a tenth of a page.
    Called unwrapped for a ``reach``, which is written into the statement."""

    def bound(name: str, type_: Any, given: bool) -> Any:
        return bindparam(name, type_=type_) if given else None

    minx, miny, maxx, maxy = (bindparam(n, type_=Float) for n in ("minx", "miny", "maxx", "maxy"))
    base = _list_base(
        _feature_json(),
        bound("level", Integer, level),
        bound("kind", String, kind),
        bound("parent", String, parent),
        (minx, miny, maxx, maxy) if bbox else None,
        bound("at", DateTime(timezone=True), at),
        reach,
    ).add_columns(Grid.code.label("sort_code"))
    page = (
        base.order_by(Grid.code)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
        .subquery("page")
    )
    matched = select(func.count()).select_from(base.subquery("matching")).scalar_subquery()
    return select(
        func.coalesce(
            func.string_agg(page.c.feature, aggregate_order_by(literal(","), page.c.sort_code)),
            "",
        ),
        func.count(),
        matched,
    ).select_from(page)


def _check_bbox(bbox: tuple[float, float, float, float]) -> None:
    minx, miny, maxx, maxy = bbox
    if not (minx <= maxx and miny <= maxy):
        raise InvalidInputError(
            f"bbox {bbox} must be minlon,minlat,maxlon,maxlat with min ≤ max.", rule="bbox"
        )


def _list_base(
    columns: Any,
    level: Any,
    kind: Any,
    parent: Any,
    bbox: tuple[Any, Any, Any, Any] | None,
    at: Any,
    reach: Sequence[str] | None,
    where: Sequence[ColumnElement[bool]] = (),
) -> Any:
    """``columns`` of the grids in force that match the filters (unordered, every page). Each
    filter is a value or a bound parameter (:func:`_geojson_page`), ``None`` for none; a
    ``bbox`` of values is checked by the caller (:func:`_check_bbox`)."""
    conds: list[ColumnElement[bool]] = [_in_force(at), *where]
    if level is not None:
        conds.append(Grid.level == level)
    if kind is not None:
        conds.append(Grid.kind == kind)
    if parent is not None:
        conds.append(_Parent.code == parent)
    if bbox is not None:
        envelope = func.ST_MakeEnvelope(*bbox, 4326)
        conds.append(func.ST_Intersects(GridVersion.geom, envelope))
    return _filtered(columns.where(*conds), reach)


def children(
    session: Session,
    code: str,
    *,
    at: datetime | None = None,
    kind: str | None = None,
    reach: Sequence[str] | None = None,
) -> list[GridRecord]:
    """The grids whose parent is ``code``, in force now or at ``at``."""
    get_current(session, code, at=at, reach=reach)
    records, _ = list_grids(session, parent=code, kind=kind, at=at, limit=10_000, reach=reach)
    return records


def ancestors(
    session: Session,
    code: str,
    *,
    at: datetime | None = None,
    reach: Sequence[str] | None = None,
) -> list[GridRecord]:
    """The chain above ``code``, nearest first (parent, grandparent...), as in force at ``at``."""
    record = get_current(session, code, at=at, reach=reach)
    chain: list[GridRecord] = []
    while record.parent is not None:
        try:
            record = get_current(session, record.parent, at=at, reach=reach)
        except NotFoundError:
            break  # outside the caller's reach, or retired above a grid still in force
        chain.append(record)
    return chain


def history(session: Session, code: str, *, reach: Sequence[str] | None = None) -> list[GridRecord]:
    """Every version of ``code``, oldest first, retired or not."""
    rows = session.execute(
        _filtered(_columns().where(Grid.code == code), reach).order_by(GridVersion.version)
    ).all()
    if not rows:
        raise NotFoundError(f"There is no grid {code}.", code=code)
    records = [_record(r) for r in rows]
    ended = {r["version"]: r for r in retirements(session, records[0].grid_id)}
    for record in records:
        record.retirement = ended.get(record.version)
    return records


def retirements(session: Session, grid_id: int) -> list[dict[str, Any]]:
    """Every retirement of a grid, oldest first: who, when, why, how, and any restoration."""
    rows = session.execute(
        select(GridRetirement).where(GridRetirement.grid_id == grid_id).order_by(GridRetirement.id)
    ).scalars()
    return [
        {
            "version": r.version,
            "operation": r.operation,
            "retired_at": r.retired_at.isoformat(),
            "retired_by": r.retired_by,
            "reason": r.reason,
            "restored_at": r.restored_at.isoformat() if r.restored_at else None,
            "restored_by": r.restored_by,
            "restore_reason": r.restore_reason,
        }
        for r in rows
    ]


def get_version(
    session: Session, code: str, version: int, *, reach: Sequence[str] | None = None
) -> GridRecord:
    """Version ``version`` of ``code``, whatever its validity."""
    row = session.execute(
        _filtered(_columns().where(Grid.code == code, GridVersion.version == version), reach)
    ).first()
    if row is None:
        raise NotFoundError(f"Grid {code} has no version {version}.", code=code, version=version)
    return _record(row)


def current_children_codes(session: Session, grid_id: int) -> list[str]:
    """Codes of the current (not retired) children of a grid, general and dedicated."""
    return list(
        session.execute(
            select(Grid.code)
            .where(Grid.parent_id == grid_id, Grid.retired_at.is_(None))
            .order_by(Grid.code)
        ).scalars()
    )


def district_geometry(session: Session, district_adcode: str) -> BaseGeometry | None:
    """The district polygon (admin_areas level 'district'), or None if it is not set up."""
    wkb = session.execute(
        select(func.ST_AsBinary(AdminArea.geom)).where(
            AdminArea.code == district_adcode, AdminArea.level == "district"
        )
    ).scalar_one_or_none()
    return None if wkb is None else shapely.from_wkb(bytes(wkb))


def validation_context(
    session: Session,
    *,
    level: int,
    kind: str,
    district_adcode: str,
    parent_code: str | None,
    near: BaseGeometry | None = None,
    exclude: Sequence[str] = (),
    code: str | None = None,
    dedicated_type: str | None = None,
) -> GridContext:
    """What a grid of this level/kind under this parent is checked against, from the database.

    ``near`` (WGS84) limits the neighbours read to those whose box meets it (pass the new
    boundary); ``exclude`` names grids that do not count (the grid itself, grids being merged).
    A general grid's neighbours are its general siblings; a dedicated grid's are the current
    dedicated grids of the same ``dedicated_type`` in the district (two school grids must not
    overlap; a school inside a park may).
    """
    district = district_geometry(session, district_adcode)
    if district is None:
        raise InvalidInputError(
            f"District {district_adcode} is not set up (no admin_areas row of level 'district'): "
            "load its boundary first.",
            rule="district",
        )
    parent_geom: BaseGeometry | None = None
    if parent_code is not None:
        parent_geom = get_current(session, parent_code).geom
    neighbours: tuple[tuple[str, BaseGeometry], ...] = ()
    conds: list[ColumnElement[bool]] = [_in_force(None), Grid.district_adcode == district_adcode]
    if kind == "general":
        conds += [Grid.kind == "general", Grid.level == level]
        conds.append(_Parent.code == parent_code if parent_code else Grid.parent_id.is_(None))
    elif dedicated_type is not None:
        conds += [Grid.kind == "dedicated", Grid.dedicated_type == dedicated_type]
    if kind == "general" or dedicated_type is not None:
        if exclude:
            conds.append(Grid.code.not_in(list(exclude)))
        if near is not None:
            minx, miny, maxx, maxy = near.bounds
            conds.append(
                GridVersion.geom.op("&&")(
                    func.ST_MakeEnvelope(minx - 1e-4, miny - 1e-4, maxx + 1e-4, maxy + 1e-4, 4326)
                )
            )
        rows = session.execute(_columns().where(*conds).order_by(Grid.code)).all()
        neighbours = tuple((r.code, shapely.from_wkb(bytes(r.wkb))) for r in rows)
    return GridContext(
        level=level,
        kind=kind,
        district_adcode=district_adcode,
        district=district,
        parent_code=parent_code,
        parent=parent_geom,
        neighbours=neighbours,
        code=code,
        dedicated_type=dedicated_type,
    )


# -- locking ---------------------------------------------------------------------------------


def lock_family(session: Session, *, district_adcode: str, parent_code: str | None) -> None:
    """Serialise edits among siblings (children of ``parent_code``, or level-1 grids of the
    district) until the transaction ends; first, keep the district's reports from being tagged
    meanwhile (:mod:`geogrid.storage.locks`)."""
    lock_boundaries_for_edit(session, district_adcode)
    key = f"geogrid.grids:{parent_code or district_adcode}"
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})


@dataclass(frozen=True, slots=True)
class LockedGrid:
    """A grid's identity row, locked FOR UPDATE: the version read here is the one to compare."""

    id: int
    code: str
    level: int
    kind: str
    dedicated_type: str | None
    parent_id: int | None
    parent_code: str | None
    district_adcode: str
    current_version: int
    retired_at: datetime | None


def lock_grid(
    session: Session, code: str, *, reach: Sequence[str] | None = None, family: bool = True
) -> LockedGrid:
    """Lock ``code`` for an edit (its family first, unless ``family`` is False because the
    caller holds it) and return its identity with the current version."""
    ident = session.execute(
        _filtered(
            select(Grid.district_adcode, _Parent.code.label("parent_code"))
            .select_from(Grid)
            .outerjoin(_Parent, _Parent.id == Grid.parent_id)
            .where(Grid.code == code),
            reach,
        )
    ).first()
    if ident is None:
        raise NotFoundError(f"There is no grid {code}.", code=code)
    if family:
        lock_family(session, district_adcode=ident.district_adcode, parent_code=ident.parent_code)
    row = session.execute(
        select(
            Grid.id,
            Grid.code,
            Grid.level,
            Grid.kind,
            Grid.dedicated_type,
            Grid.parent_id,
            Grid.district_adcode,
            Grid.current_version,
            Grid.retired_at,
        )
        .where(Grid.code == code)
        .with_for_update()
    ).one()
    return LockedGrid(
        id=row.id,
        code=row.code,
        level=row.level,
        kind=row.kind,
        dedicated_type=row.dedicated_type,
        parent_id=row.parent_id,
        parent_code=ident.parent_code,
        district_adcode=row.district_adcode,
        current_version=row.current_version,
        retired_at=row.retired_at,
    )


# -- writing ---------------------------------------------------------------------------------


def next_child_code(session: Session, parent_code: str, *, dedicated: bool = False) -> str:
    """The next free code under ``parent_code``: one past the highest sequence ever issued
    there, retired grids included, so codes are never reused. Call it holding the family lock."""
    from geogrid.grids.codes import DEDICATED_SEQUENCES, GENERAL_SEQUENCES, parse_grid_code

    parent = parse_grid_code(parent_code)
    width = len(parent_code) + 3
    codes = session.execute(
        select(Grid.code).where(
            Grid.code.startswith(parent_code, autoescape=True), func.length(Grid.code) == width
        )
    ).scalars()
    sequences = [int(c[-3:]) for c in codes]
    allowed = DEDICATED_SEQUENCES if dedicated else GENERAL_SEQUENCES
    if parent.level == 2:
        allowed = range(1, 1000)
    used = [s for s in sequences if s in allowed]
    seq = (max(used) + 1) if used else allowed.start
    if seq not in allowed:
        raise InvalidInputError(
            f"Grid {parent_code} has used every {'dedicated ' if dedicated else ''}child "
            f"sequence ({allowed.start:03d}-{allowed.stop - 1:03d}); codes are never reused.",
            rule="codes_exhausted",
        )
    return parent.child(seq, dedicated=dedicated)


def _write_version(
    session: Session,
    *,
    grid_id: int,
    version: int,
    fields: dict[str, Any],
    geom: MultiPolygon,
    area_m2: float,
    actor: str,
    reason: str | None,
    valid_from: datetime,
) -> None:
    """Add version ``version`` of a grid, in force from ``valid_from``, and flush."""
    session.add(
        GridVersion(
            grid_id=grid_id,
            version=version,
            name=fields["name"],
            estate_type=fields.get("estate_type"),
            households=fields.get("households"),
            population=fields.get("population"),
            attributes=fields.get("attributes") or {},
            geom=from_shape(as_multipolygon(geom), srid=4326),
            area_m2=area_m2,
            valid_from=valid_from,
            changed_by=actor,
            change_reason=reason,
        )
    )
    session.flush()


def _close_current_version(session: Session, grid_id: int, at: datetime) -> None:
    """End the validity of a grid's current version at ``at``."""
    session.execute(
        update(GridVersion)
        .where(GridVersion.grid_id == grid_id, GridVersion.valid_to.is_(None))
        .values(valid_to=at)
    )


def insert_grid(
    session: Session,
    *,
    code: str,
    district_adcode: str,
    level: int,
    kind: str,
    parent_id: int | None,
    fields: dict[str, Any],
    geom: MultiPolygon,
    area_m2: float,
    actor: str,
    reason: str | None,
    valid_from: datetime,
    admin_area_id: int | None = None,
) -> int:
    """Write a new grid and its version 1; returns the grid id."""
    grid = Grid(
        code=code,
        district_adcode=district_adcode,
        level=level,
        kind=kind,
        dedicated_type=fields.get("dedicated_type") if kind == "dedicated" else None,
        parent_id=parent_id,
        admin_area_id=admin_area_id,
        current_version=1,
        created_at=valid_from,
    )
    session.add(grid)
    session.flush()
    _write_version(
        session,
        grid_id=grid.id,
        version=1,
        fields=fields,
        geom=geom,
        area_m2=area_m2,
        actor=actor,
        reason=reason,
        valid_from=valid_from,
    )
    return grid.id


def add_version(
    session: Session,
    locked: LockedGrid,
    *,
    fields: dict[str, Any],
    geom: MultiPolygon,
    area_m2: float,
    actor: str,
    reason: str | None,
    at: datetime,
) -> int:
    """Close the current version at ``at`` and write version+1 from ``at``; returns it.

    The identity update is conditional on the version ``locked`` read, a second guard should a
    caller ever skip the row lock: a lost race then fails loudly instead of forking history.
    """
    new = locked.current_version + 1
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Grid)
        .where(Grid.id == locked.id, Grid.current_version == locked.current_version)
        .values(current_version=new)
    )
    bumped = result.rowcount
    if bumped != 1:
        raise RuntimeError(f"grid {locked.code} changed under a lock: version race")
    _close_current_version(session, locked.id, at)
    _write_version(
        session,
        grid_id=locked.id,
        version=new,
        fields=fields,
        geom=geom,
        area_m2=area_m2,
        actor=actor,
        reason=reason,
        valid_from=at,
    )
    return new


def retire_grid(
    session: Session,
    locked: LockedGrid,
    *,
    at: datetime,
    actor: str = "system",
    reason: str | None = None,
    operation: str = "retire",
) -> None:
    """End the current version's validity and mark the grid retired; history stays, and a
    ``grid_retirements`` row records who retired it, why and by which operation."""
    _close_current_version(session, locked.id, at)
    session.execute(update(Grid).where(Grid.id == locked.id).values(retired_at=at))
    session.add(
        GridRetirement(
            grid_id=locked.id,
            version=locked.current_version,
            operation=operation,
            retired_at=at,
            retired_by=actor,
            reason=reason,
        )
    )
    session.flush()


def unretire_grid(
    session: Session,
    locked: LockedGrid,
    *,
    fields: dict[str, Any],
    geom: MultiPolygon,
    area_m2: float,
    actor: str,
    reason: str | None,
    at: datetime,
) -> int:
    """Bring a retired grid back, same code, as a new version from ``at``; returns it.

    The open ``grid_retirements`` row is closed with who restored it and why, so the history
    shows the period the grid was out of force.
    """
    new = add_version(
        session,
        locked,
        fields=fields,
        geom=geom,
        area_m2=area_m2,
        actor=actor,
        reason=reason,
        at=at,
    )
    session.execute(update(Grid).where(Grid.id == locked.id).values(retired_at=None))
    session.execute(
        update(GridRetirement)
        .where(GridRetirement.grid_id == locked.id, GridRetirement.restored_at.is_(None))
        .values(restored_at=at, restored_by=actor, restore_reason=reason)
    )
    session.flush()
    return new


def end_assignments(session: Session, grid_ids: Sequence[int], *, at: datetime) -> list[Any]:
    """End every current staff assignment on ``grid_ids`` at ``at``; returns what was ended
    (grid code, post, staff id, name, role), for the people who decide where they go next."""
    rows = session.execute(
        select(
            GridAssignment.id,
            Grid.code,
            GridAssignment.post,
            Staff.id.label("staff_id"),
            Staff.name,
            Staff.role,
        )
        .join(Grid, Grid.id == GridAssignment.grid_id)
        .join(Staff, Staff.id == GridAssignment.staff_id)
        .where(GridAssignment.grid_id.in_(list(grid_ids)), GridAssignment.valid_to.is_(None))
        .order_by(Grid.code, GridAssignment.post.nulls_last(), Staff.id)
    ).all()
    if rows:
        session.execute(
            update(GridAssignment)
            .where(GridAssignment.id.in_([r.id for r in rows]))
            .values(valid_to=at)
        )
        session.flush()
    return list(rows)
