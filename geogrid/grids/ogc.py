"""OGC API – Features documents for grids (Part 1 Core, Part 2 CRS by reference, Part 3
filtering with CQL2): QGIS, GDAL and ArcGIS read grids directly.

This module builds the JSON documents (landing page, conformance, collections, items) from the
grids repository; :mod:`api.routers.ogc` only parses the request and picks the media type.
Every URL is made from the ``base`` the router passes (``http://host:port/ogc``), so links
work behind whatever address the client used.

Collections are fixed views of the versioned grids: one per level of general grids and one of
dedicated grids. ``datetime`` (an instant) reads the versions valid at that moment, the same
``at`` as the rest of the API. Feature ids are grid codes.

Part 2: ``crs`` picks the CRS of the returned geometries and ``bbox-crs`` the one of ``bbox``
(CRS84, EPSG:4490 CGCS2000, EPSG:3857; :mod:`geogrid.spatial.ogc_crs`). Part 3: ``filter`` in
``cql2-text`` or ``cql2-json`` over the ``/queryables`` (:mod:`geogrid.grids.ogc_filter`).

The conformance document does not claim Part 1's ``oas30`` class: the API definition FastAPI
serves is OpenAPI 3.1, which that class does not cover, and the landing page's ``service-desc``
link says 3.1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode

from shapely.geometry import mapping
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from geogrid.errors import GeogridError, InvalidInputError, NotFoundError
from geogrid.grids import ogc_filter, repository
from geogrid.grids.geojson import grid_feature
from geogrid.rules.in_force import in_force_clause
from geogrid.spatial import bbox as spatial_bbox
from geogrid.spatial import ogc_crs
from geogrid.storage.models import Grid, GridVersion

__all__ = [
    "COLLECTIONS",
    "CONFORMANCE",
    "CRS84",
    "GEOJSON",
    "MAX_LIMIT",
    "OgcBadRequestError",
    "OgcCollection",
    "check_parameters",
    "collection_document",
    "collection_id_known",
    "collections_document",
    "conformance_document",
    "item_document",
    "items_document",
    "landing_document",
    "parse_bbox",
    "parse_count",
    "parse_crs",
    "parse_datetime",
    "parse_format",
]

GEOJSON: Final = "application/geo+json"
JSON: Final = "application/json"
OPENAPI: Final = "application/vnd.oai.openapi+json;version=3.1"
CRS84: Final = ogc_crs.CRS84
TRS: Final = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 10_000

CONFORMANCE: Final = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
)


class OgcBadRequestError(InvalidInputError):
    """OGC API – Features answers a bad query parameter with 400, not 422.

    It is an :class:`InvalidInputError` (the same mistake as in the core API, with the same
    ``rule``); only the status differs, because the OGC standard fixes it.
    """

    status = 400
    title = "Bad request"
    default_rule = "invalid_parameter"


@dataclass(frozen=True)
class OgcCollection:
    """A collection: which grids it holds (level and/or kind) and how it is described."""

    id: str
    title: str
    description: str
    level: int | None
    kind: str


COLLECTIONS: Final[dict[str, OgcCollection]] = {
    c.id: c
    for c in (
        OgcCollection(
            "grids-level-1", "一级网格 Level-1 grids", "Communities and villages.", 1, "general"
        ),
        OgcCollection(
            "grids-level-2", "二级网格 Level-2 grids", "General grids inside level-1.", 2, "general"
        ),
        OgcCollection(
            "grids-level-3",
            "三级网格 Level-3 grids",
            "Building grids inside level-2.",
            3,
            "general",
        ),
        OgcCollection(
            "grids-dedicated",
            "专属网格 Dedicated grids",
            "Grids of one entity (school, hospital, market...); may overlap general grids.",
            None,
            "dedicated",
        ),
    )
}


def _collection(collection_id: str) -> OgcCollection:
    found = COLLECTIONS.get(collection_id)
    if found is None:
        raise NotFoundError(
            f"There is no collection {collection_id!r}; see /ogc/collections "
            f"({', '.join(COLLECTIONS)}).",
            collection=collection_id,
        )
    return found


def collection_id_known(collection_id: str) -> None:
    """404 unless ``collection_id`` is one of :data:`COLLECTIONS` (for documents that do not
    read the collection, such as its queryables)."""
    _collection(collection_id)


def _link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": media_type}
    if title:
        link["title"] = title
    return link


def landing_document(base: str, root: str) -> dict[str, Any]:
    """The landing page (``/ogc``); ``root`` is the app's root URL, for the API definition."""
    return {
        "title": "geogrid 网格 — OGC API – Features",
        "description": "Grid boundaries (网格化管理) as OGC API – Features collections.",
        "links": [
            _link(base, "self", JSON, "this document"),
            _link(f"{root}/openapi.json", "service-desc", OPENAPI, "the API definition"),
            _link(f"{root}/docs", "service-doc", "text/html", "the API documentation"),
            _link(f"{base}/conformance", "conformance", JSON, "conformance classes"),
            _link(f"{base}/collections", "data", JSON, "the collections"),
        ],
    }


def conformance_document() -> dict[str, Any]:
    return {"conformsTo": list(CONFORMANCE)}


def _extent(session: Session, collection: OgcCollection) -> dict[str, Any]:
    conds = [
        in_force_clause(None, version=GridVersion, grid=Grid),
        Grid.kind == collection.kind,
    ]
    if collection.level is not None:
        conds.append(Grid.level == collection.level)
    row = session.execute(
        select(
            func.ST_XMin(func.ST_Extent(GridVersion.geom)),
            func.ST_YMin(func.ST_Extent(GridVersion.geom)),
            func.ST_XMax(func.ST_Extent(GridVersion.geom)),
            func.ST_YMax(func.ST_Extent(GridVersion.geom)),
        )
        .join(Grid, Grid.id == GridVersion.grid_id)
        .where(*conds)
    ).one()
    first = session.scalar(
        select(func.min(GridVersion.valid_from))
        .join(Grid, Grid.id == GridVersion.grid_id)
        .where(
            Grid.kind == collection.kind,
            *([Grid.level == collection.level] if collection.level is not None else []),
        )
    )
    bbox = [round(v, 7) for v in row] if row[0] is not None else [-180.0, -90.0, 180.0, 90.0]
    return {
        "spatial": {"bbox": [bbox], "crs": CRS84},
        "temporal": {"interval": [[first.isoformat() if first else None, None]], "trs": TRS},
    }


def collection_document(session: Session, base: str, collection_id: str) -> dict[str, Any]:
    c = _collection(collection_id)
    href = f"{base}/collections/{c.id}"
    return {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "crs": list(ogc_crs.SUPPORTED),
        "storageCrs": CRS84,
        "extent": _extent(session, c),
        "links": [
            _link(href, "self", JSON, c.title),
            _link(f"{href}/items", "items", GEOJSON, "the grids"),
            _link(
                f"{href}/queryables",
                "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "application/schema+json",
                "the properties a filter may name",
            ),
        ],
    }


def collections_document(session: Session, base: str) -> dict[str, Any]:
    return {
        "links": [_link(f"{base}/collections", "self", JSON, "the collections")],
        "collections": [collection_document(session, base, c) for c in COLLECTIONS],
    }


# --- parameters --------------------------------------------------------------------------------


def parse_count(value: str | None, parameter: str, *, default: int, minimum: int) -> int:
    """``limit`` or ``offset``: a whole number ≥ ``minimum``; OGC wants 400, not FastAPI's 422,
    so the router passes the raw text here. ``limit`` above :data:`MAX_LIMIT` is lowered to
    it later (Part 1 lets a server clamp instead of refusing)."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise OgcBadRequestError(
            f"{parameter}={value!r} must be a whole number >= {minimum}.",
            parameter=parameter,
        )
    return number


def check_parameters(given: Iterable[str], allowed: Iterable[str]) -> None:
    """Refuse unknown query parameters (``/req/core/query-param-unknown``) with a 400 naming
    them and the allowed ones: a misspelt ``bbx`` must not silently return everything."""
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise OgcBadRequestError(
            f"Unknown query parameter(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(sorted(allowed)) or 'none'}.",
            parameters=unknown,
        )


def parse_format(value: str | None) -> str | None:
    """``f``: ``json`` or ``geojson`` (or absent); anything else is a 400."""
    if value in (None, "", "json", "geojson"):
        return value or None
    raise OgcBadRequestError(f"f={value!r}: use json or geojson.", parameter="f")


def parse_crs(value: str | None, parameter: str) -> str:
    """A Part 2 CRS parameter (``crs``, ``bbox-crs``, ``filter-crs``) as its canonical URI,
    refused with OGC's 400 under the rule ``crs``."""
    try:
        return ogc_crs.parse_crs(value, parameter=parameter)
    except InvalidInputError as exc:
        raise OgcBadRequestError(exc.detail, rule=exc.rule, parameter=parameter) from None


def parse_bbox(value: str | None, crs: str = CRS84) -> tuple[float, float, float, float] | None:
    """The one bbox parser (:func:`geogrid.spatial.bbox.parse_bbox`) for CRS84, its refusal
    answered with OGC's 400 (``/req/core/query-param-invalid``) under the same rule, ``bbox``.

    In another ``bbox-crs`` the four numbers are that CRS's own axis order (EPSG:4490 is
    latitude first), converted to CRS84 by :func:`geogrid.spatial.ogc_crs.bbox_to_crs84`."""
    try:
        if crs == CRS84 or value is None:
            return spatial_bbox.parse_bbox(value)
        try:
            numbers = [float(v) for v in value.split(",")]
        except ValueError:
            numbers = []
        if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
            raise InvalidInputError(f"bbox={value!r} must be four numbers in {crs}.", rule="bbox")
        if numbers[0] > numbers[2] or numbers[1] > numbers[3]:
            raise InvalidInputError(
                f"bbox={value!r}: the lower corner comes first, in {crs}'s axis order.",
                rule="bbox",
            )
        box = ogc_crs.bbox_to_crs84((numbers[0], numbers[1], numbers[2], numbers[3]), crs)
        if not all(math.isfinite(n) for n in box):
            raise InvalidInputError(f"bbox={value!r} lies outside {crs}'s area.", rule="bbox")
        return box
    except InvalidInputError as exc:
        raise OgcBadRequestError(exc.detail, rule=exc.rule, parameter="bbox") from None


def parse_filter(text: str | None, lang: str | None, crs: str) -> list[ColumnElement[bool]]:
    """The CQL2 ``filter`` as conditions for :func:`geogrid.grids.repository.list_grids`."""
    try:
        clause = ogc_filter.filter_clause(text, lang=lang, crs=crs)
    except InvalidInputError as exc:
        extra = {k: v for k, v in exc.extra.items() if k != "rule"}
        raise OgcBadRequestError(exc.detail, rule=exc.rule, **extra) from None
    return [] if clause is None else [clause]


def _feature_in(record: repository.GridRecord, crs: str) -> dict[str, Any]:
    feature = grid_feature(record)
    if crs != CRS84:
        feature["geometry"] = mapping(ogc_crs.geometry_from_crs84(record.geom, crs))
    return feature


def parse_datetime(value: str | None) -> datetime | None:
    """An RFC 3339 instant (or a date). Intervals are refused: a grid has one version at an
    instant, while an interval would return several versions of the same feature id."""
    if value is None or value == "":
        return None
    if "/" in value:
        raise OgcBadRequestError(
            f"datetime={value!r}: only an instant is supported (e.g. 2026-03-01T00:00:00Z), "
            "which returns the versions valid then.",
            rule="datetime",
            parameter="datetime",
        )
    text = value.replace("Z", "+00:00").replace("z", "+00:00")
    try:
        return repository.parse_at(text)
    except GeogridError as exc:
        raise OgcBadRequestError(exc.detail, rule="datetime", parameter="datetime") from None


def _url(path: str, params: Mapping[str, Any]) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{path}?{query}" if query else path


# --- items -------------------------------------------------------------------------------------


def items_document(
    session: Session,
    base: str,
    collection_id: str,
    *,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    bbox: str | None = None,
    datetime_value: str | None = None,
    crs: str | None = None,
    bbox_crs: str | None = None,
    filter_text: str | None = None,
    filter_lang: str | None = None,
    filter_crs: str | None = None,
    timestamp: datetime,
) -> dict[str, Any]:
    """A page of a collection's features, with numberMatched/numberReturned and next/prev.

    Geometries are in ``crs`` (CRS84 when absent); the router states it in ``Content-Crs``.
    """
    c = _collection(collection_id)
    limit = min(limit, MAX_LIMIT)
    content_crs = parse_crs(crs, "crs")
    records, matched = repository.list_grids(
        session,
        level=c.level,
        kind=c.kind,
        bbox=parse_bbox(bbox, parse_crs(bbox_crs, "bbox-crs")),
        at=parse_datetime(datetime_value),
        where=parse_filter(filter_text, filter_lang, parse_crs(filter_crs, "filter-crs")),
        limit=limit,
        offset=offset,
    )
    path = f"{base}/collections/{c.id}/items"
    params: dict[str, Any] = {
        "bbox": bbox,
        "bbox-crs": bbox_crs,
        "datetime": datetime_value,
        "crs": crs,
        "filter": filter_text,
        "filter-lang": filter_lang,
        "filter-crs": filter_crs,
        "limit": limit,
    }
    links = [
        _link(_url(path, {**params, "offset": offset or None}), "self", GEOJSON, "this page"),
        _link(_url(path, {**params, "offset": offset or None, "f": "json"}), "alternate", JSON),
        _link(f"{base}/collections/{c.id}", "collection", JSON, c.title),
    ]
    if offset + len(records) < matched:
        links.append(_link(_url(path, {**params, "offset": offset + limit}), "next", GEOJSON))
    if offset > 0:
        prev = max(offset - limit, 0) or None
        links.append(_link(_url(path, {**params, "offset": prev}), "prev", GEOJSON))
    return {
        "type": "FeatureCollection",
        "features": [_feature_in(r, content_crs) for r in records],
        "numberMatched": matched,
        "numberReturned": len(records),
        "timeStamp": timestamp.isoformat(),
        "links": links,
    }


def item_document(
    session: Session,
    base: str,
    collection_id: str,
    feature_id: str,
    *,
    datetime_value: str | None = None,
    crs: str | None = None,
) -> dict[str, Any]:
    """One feature (a grid code) of a collection; 404 if it is not in that collection.

    The geometry is in ``crs``; the router states it in ``Content-Crs``."""
    c = _collection(collection_id)
    content_crs = parse_crs(crs, "crs")
    try:
        record = repository.get_current(session, feature_id, at=parse_datetime(datetime_value))
    except NotFoundError:
        record = None
    if record is None or record.kind != c.kind or (c.level is not None and record.level != c.level):
        raise NotFoundError(
            f"Collection {c.id} has no feature {feature_id!r}.",
            collection=c.id,
            feature=feature_id,
        )
    feature = _feature_in(record, content_crs)
    href = f"{base}/collections/{c.id}/items/{record.code}"
    feature["links"] = [
        _link(href, "self", GEOJSON),
        _link(f"{href}?f=json", "alternate", JSON),
        _link(f"{base}/collections/{c.id}", "collection", JSON, c.title),
    ]
    return feature
