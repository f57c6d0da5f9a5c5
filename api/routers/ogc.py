"""OGC API – Features (Part 1 Core) at ``/ogc``: QGIS, GDAL/OGR (``OAPIF:``) and ArcGIS read the
grids straight from here. The documents are built by :mod:`geogrid.grids.ogc`.

Media types: JSON documents are ``application/json``; feature collections and features are
``application/geo+json`` unless ``f=json`` asks for plain JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from api.deps import SessionDep
from geogrid.grids import ogc

router = APIRouter(prefix="/ogc", tags=["ogc"])

CollectionId = Annotated[
    str, Path(alias="collectionId", description=f"One of {', '.join(ogc.COLLECTIONS)}.")
]
Format = Annotated[
    Literal["json", "geojson"] | None,
    Query(alias="f", description="json: plain application/json instead of GeoJSON's type."),
]
ITEMS_PARAMETERS = frozenset({"bbox", "limit", "offset", "datetime", "f"})


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _root(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(body: dict[str, Any], media_type: str = ogc.JSON) -> JSONResponse:
    return JSONResponse(body, media_type=media_type)


def _features(body: dict[str, Any], f: str | None) -> JSONResponse:
    return _json(body, ogc.JSON if f == "json" else ogc.GEOJSON)


@router.get("", summary="Landing page")
@router.get("/", include_in_schema=False)
def landing(request: Request, f: Format = None) -> JSONResponse:
    return _json(ogc.landing_document(_base(request), _root(request)))


@router.get("/conformance", summary="Conformance classes")
def conformance(f: Format = None) -> JSONResponse:
    return _json(ogc.conformance_document())


@router.get("/collections", summary="The feature collections")
def collections(request: Request, session: SessionDep, f: Format = None) -> JSONResponse:
    return _json(ogc.collections_document(session, _base(request)))


@router.get("/collections/{collectionId}", summary="One collection")
def collection(
    request: Request, session: SessionDep, collection_id: CollectionId, f: Format = None
) -> JSONResponse:
    return _json(ogc.collection_document(session, _base(request), collection_id))


@router.get(
    "/collections/{collectionId}/items",
    summary="Features of a collection, paged",
    response_class=JSONResponse,
    responses={200: {"content": {ogc.GEOJSON: {}}}},
)
def items(
    request: Request,
    session: SessionDep,
    collection_id: CollectionId,
    limit: Annotated[
        int, Query(ge=1, le=ogc.MAX_LIMIT, description="Features per page.")
    ] = ogc.DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, description="Features to skip (see the next link).")] = 0,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat in CRS84.")] = None,
    datetime_value: Annotated[
        str | None,
        Query(alias="datetime", description="An instant (RFC 3339): the versions valid then."),
    ] = None,
    f: Format = None,
) -> JSONResponse:
    unknown = sorted(set(request.query_params) - ITEMS_PARAMETERS)
    if unknown:
        raise ogc.OgcBadRequestError(
            f"Unknown query parameter(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(sorted(ITEMS_PARAMETERS))}.",
            parameters=unknown,
        )
    body = ogc.items_document(
        session,
        _base(request),
        collection_id,
        limit=limit,
        offset=offset,
        bbox=bbox,
        datetime_value=datetime_value,
        timestamp=datetime.now(UTC).replace(microsecond=0),
    )
    return _features(body, f)


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
    f: Format = None,
) -> JSONResponse:
    body = ogc.item_document(
        session, _base(request), collection_id, feature_id, datetime_value=datetime_value
    )
    return _features(body, f)
