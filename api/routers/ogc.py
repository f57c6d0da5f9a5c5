"""OGC API – Features at ``/ogc`` (Part 1 Core, Part 2 CRS, Part 3 CQL2 filtering): QGIS,
GDAL/OGR (``OAPIF:``) and ArcGIS read the grids straight from here. The documents are built by
:mod:`geogrid.grids.ogc`.

Every query parameter arrives here as text and is checked by the library, so that a bad one is
answered 400 as OGC requires, never FastAPI's 422; unknown parameters are refused too.

Media types: JSON documents are ``application/json``; feature collections and features are
``application/geo+json`` unless ``f=json`` asks for plain JSON. Features carry ``Content-Crs``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from api.deps import SessionDep
from geogrid.grids import ogc, ogc_filter

router = APIRouter(prefix="/ogc", tags=["ogc"])

CollectionId = Annotated[
    str, Path(alias="collectionId", description=f"One of {', '.join(ogc.COLLECTIONS)}.")
]
Format = Annotated[
    str | None,
    Query(alias="f", description="json: plain application/json instead of GeoJSON's type."),
]
CrsParam = Annotated[
    str | None,
    Query(alias="crs", description="CRS of the geometries returned (URI; CRS84 by default)."),
]
DOCUMENT_PARAMETERS = frozenset({"f"})
ITEM_PARAMETERS = frozenset({"datetime", "crs", "f"})
ITEMS_PARAMETERS = frozenset(
    {"bbox", "bbox-crs", "limit", "offset", "datetime", "crs", "filter", "filter-lang", "f"}
    | {"filter-crs"}
)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _root(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(
    body: dict[str, Any], media_type: str = ogc.JSON, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, media_type=media_type, headers=headers)


def _document(request: Request, f: str | None) -> None:
    ogc.check_parameters(request.query_params, DOCUMENT_PARAMETERS)
    ogc.parse_format(f)


def _features(body: dict[str, Any], f: str | None, crs: str) -> JSONResponse:
    media_type = ogc.JSON if ogc.parse_format(f) == "json" else ogc.GEOJSON
    return _json(body, media_type, {"Content-Crs": f"<{crs}>"})


@router.get("", summary="Landing page")
@router.get("/", include_in_schema=False)
def landing(request: Request, f: Format = None) -> JSONResponse:
    _document(request, f)
    return _json(ogc.landing_document(_base(request), _root(request)))


@router.get("/conformance", summary="Conformance classes")
def conformance(request: Request, f: Format = None) -> JSONResponse:
    _document(request, f)
    return _json(ogc.conformance_document())


@router.get("/collections", summary="The feature collections")
def collections(request: Request, session: SessionDep, f: Format = None) -> JSONResponse:
    _document(request, f)
    return _json(ogc.collections_document(session, _base(request)))


@router.get("/collections/{collectionId}", summary="One collection")
def collection(
    request: Request, session: SessionDep, collection_id: CollectionId, f: Format = None
) -> JSONResponse:
    _document(request, f)
    return _json(ogc.collection_document(session, _base(request), collection_id))


@router.get(
    "/collections/{collectionId}/queryables",
    summary="The properties a CQL2 filter may name (Part 3)",
    response_class=JSONResponse,
    responses={200: {"content": {"application/schema+json": {}}}},
)
def queryables(request: Request, collection_id: CollectionId, f: Format = None) -> JSONResponse:
    _document(request, f)
    ogc.collection_id_known(collection_id)
    return _json(
        ogc_filter.queryables_document(_base(request), collection_id), "application/schema+json"
    )


@router.get(
    "/collections/{collectionId}/items",
    summary="Features of a collection, paged, filtered",
    response_class=JSONResponse,
    responses={200: {"content": {ogc.GEOJSON: {}}}},
)
def items(
    request: Request,
    session: SessionDep,
    collection_id: CollectionId,
    limit: Annotated[
        str | None, Query(description=f"Features per page (1 to {ogc.MAX_LIMIT}).")
    ] = None,
    offset: Annotated[str | None, Query(description="Features to skip (see next).")] = None,
    bbox: Annotated[
        str | None, Query(description="Four numbers in bbox-crs (CRS84: lon,lat first).")
    ] = None,
    bbox_crs: Annotated[
        str | None, Query(alias="bbox-crs", description="CRS of bbox (URI; CRS84 by default).")
    ] = None,
    datetime_value: Annotated[
        str | None,
        Query(alias="datetime", description="An instant (RFC 3339): the versions valid then."),
    ] = None,
    crs: CrsParam = None,
    filter_text: Annotated[
        str | None, Query(alias="filter", description="A CQL2 filter over the queryables.")
    ] = None,
    filter_lang: Annotated[
        str | None, Query(alias="filter-lang", description="cql2-text (default) or cql2-json.")
    ] = None,
    filter_crs: Annotated[
        str | None, Query(alias="filter-crs", description="CRS of the filter's geometries.")
    ] = None,
    f: Format = None,
) -> JSONResponse:
    ogc.check_parameters(request.query_params, ITEMS_PARAMETERS)
    content_crs = ogc.parse_crs(crs, "crs")
    ogc.parse_format(f)
    body = ogc.items_document(
        session,
        _base(request),
        collection_id,
        limit=ogc.parse_count(limit, "limit", default=ogc.DEFAULT_LIMIT, minimum=1),
        offset=ogc.parse_count(offset, "offset", default=0, minimum=0),
        bbox=bbox,
        bbox_crs=bbox_crs,
        datetime_value=datetime_value,
        crs=crs,
        filter_text=filter_text,
        filter_lang=filter_lang,
        filter_crs=filter_crs,
        timestamp=datetime.now(UTC).replace(microsecond=0),
    )
    return _features(body, f, content_crs)


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    summary="One feature: a grid, by its code",
    response_class=JSONResponse,
    responses={200: {"content": {ogc.GEOJSON: {}}}},
)
def item(
    request: Request,
    session: SessionDep,
    collection_id: CollectionId,
    feature_id: Annotated[str, Path(alias="featureId", description="The grid code.")],
    datetime_value: Annotated[
        str | None, Query(alias="datetime", description="An instant: the version valid then.")
    ] = None,
    crs: CrsParam = None,
    f: Format = None,
) -> JSONResponse:
    ogc.check_parameters(request.query_params, ITEM_PARAMETERS)
    content_crs = ogc.parse_crs(crs, "crs")
    ogc.parse_format(f)
    body = ogc.item_document(
        session,
        _base(request),
        collection_id,
        feature_id,
        datetime_value=datetime_value,
        crs=crs,
    )
    return _features(body, f, content_crs)
