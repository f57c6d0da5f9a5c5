"""OGC API – Features, Part 1 (Core) documents for grids: QGIS and GDAL read grids directly.

This module builds the JSON documents (landing page, conformance, collections, items) from the
grids repository; :mod:`api.routers.ogc` only parses the request and picks the media type.
Every URL is made from the ``base`` the router passes (``http://host:port/ogc``), so links
work behind whatever address the client used.

Collections are fixed views of the versioned grids: one per level of general grids and one of
dedicated grids. ``datetime`` (an instant) reads the versions valid at that moment, the same
``at`` as the rest of the API. Feature ids are grid codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geogrid.errors import GeogridError, InvalidInputError, NotFoundError
from geogrid.grids import repository
from geogrid.grids.geojson import grid_feature
from geogrid.rules.in_force import in_force_clause
from geogrid.spatial import bbox as spatial_bbox
from geogrid.storage.models import Grid, GridVersion

__all__ = [
    "COLLECTIONS",
    "CONFORMANCE",
    "CRS84",
    "GEOJSON",
    "MAX_LIMIT",
    "OgcBadRequestError",
    "OgcCollection",
    "collection_document",
    "collections_document",
    "conformance_document",
    "item_document",
    "items_document",
    "landing_document",
    "parse_bbox",
    "parse_datetime",
]

GEOJSON: Final = "application/geo+json"
JSON: Final = "application/json"
OPENAPI: Final = "application/vnd.oai.openapi+json;version=3.0"
CRS84: Final = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
TRS: Final = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 10_000

CONFORMANCE: Final = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
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
        "crs": [CRS84],
        "storageCrs": CRS84,
        "extent": _extent(session, c),
        "links": [
            _link(href, "self", JSON, c.title),
            _link(f"{href}/items", "items", GEOJSON, "the grids"),
        ],
    }


def collections_document(session: Session, base: str) -> dict[str, Any]:
    return {
        "links": [_link(f"{base}/collections", "self", JSON, "the collections")],
        "collections": [collection_document(session, base, c) for c in COLLECTIONS],
    }


# --- parameters --------------------------------------------------------------------------------


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """The one bbox parser (:func:`geogrid.spatial.bbox.parse_bbox`), its refusal answered
    with OGC's 400 (``/req/core/query-param-invalid``) under the same rule, ``bbox``."""
    try:
        return spatial_bbox.parse_bbox(value)
    except InvalidInputError as exc:
        raise OgcBadRequestError(exc.detail, rule=exc.rule, parameter="bbox") from None


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
    timestamp: datetime,
) -> dict[str, Any]:
    """A page of a collection's features, with numberMatched/numberReturned and next/prev."""
    c = _collection(collection_id)
    limit = min(limit, MAX_LIMIT)
    records, matched = repository.list_grids(
        session,
        level=c.level,
        kind=c.kind,
        bbox=parse_bbox(bbox),
        at=parse_datetime(datetime_value),
        limit=limit,
        offset=offset,
    )
    path = f"{base}/collections/{c.id}/items"
    params: dict[str, Any] = {"bbox": bbox, "datetime": datetime_value, "limit": limit}
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
        "features": [grid_feature(r) for r in records],
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
) -> dict[str, Any]:
    """One feature (a grid code) of a collection; 404 if it is not in that collection."""
    c = _collection(collection_id)
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
    feature = grid_feature(record)
    href = f"{base}/collections/{c.id}/items/{record.code}"
    feature["links"] = [
        _link(href, "self", GEOJSON),
        _link(f"{href}?f=json", "alternate", JSON),
        _link(f"{base}/collections/{c.id}", "collection", JSON, c.title),
    ]
    return feature
