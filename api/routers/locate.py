"""Routes for locate (``/locate``, ``/locate/batch``) and the address registry
(``/addresses/import``).

The in-memory grid index lives on ``app.state.locate_index_cache``, created lazily by the
:func:`get_locate_cache` dependency (no change to the app factory needed); each request checks
its revision inside the signboard query, so a boundary edited by any process is seen by the
very next lookup.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import SessionDep, SettingsDep
from api.schemas_locate import AddressImportRead, LocateRead
from geogrid.addresses.match import AddressIndexCache, AddressMatch, match_address
from geogrid.addresses.registry import import_addresses_csv
from geogrid.errors import InvalidInputError
from geogrid.locate.batch import locate_rows, read_rows, write_csv, write_ndjson
from geogrid.locate.chain import EDGE_RULE, PointLocation, locate_point
from geogrid.locate.index import IndexCache
from geogrid.storage.database import session_scope

router = APIRouter(tags=["locate"])

_STATE_LOCK = threading.Lock()


def _state_singleton(request: Request, name: str, factory: type) -> Any:
    value = getattr(request.app.state, name, None)
    if value is None:
        with _STATE_LOCK:
            value = getattr(request.app.state, name, None)
            if value is None:
                value = factory()
                setattr(request.app.state, name, value)
    return value


def get_locate_cache(request: Request) -> IndexCache:
    """The app's grid index cache (created on first use, kept on ``app.state``)."""
    cache: IndexCache = _state_singleton(request, "locate_index_cache", IndexCache)
    return cache


def get_address_cache(request: Request) -> AddressIndexCache:
    """The app's address index cache (created on first use, kept on ``app.state``)."""
    cache: AddressIndexCache = _state_singleton(request, "address_index_cache", AddressIndexCache)
    return cache


LocateCacheDep = Annotated[IndexCache, Depends(get_locate_cache)]
AddressCacheDep = Annotated[AddressIndexCache, Depends(get_address_cache)]


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _locate_body(location: PointLocation, match: AddressMatch | None) -> dict[str, Any]:
    body = _jsonable(location)
    body["deepest"] = _jsonable(location.deepest)
    body["address"] = _jsonable(match)
    body["rule"] = EDGE_RULE
    return body


@router.get(
    "/locate",
    response_model=LocateRead,
    summary="Which grid is this point or address in, and who looks after it",
    responses={404: {"description": "Outside every grid, or address not matched"}},
)
def get_locate(
    session: SessionDep,
    settings: SettingsDep,
    cache: LocateCacheDep,
    address_cache: AddressCacheDep,
    lon: Annotated[float | None, Query(description="Longitude", ge=-180, le=180)] = None,
    lat: Annotated[float | None, Query(description="Latitude", ge=-90, le=90)] = None,
    crs: Annotated[str, Query(description="wgs84, cgcs2000, gcj02 or bd09")] = "wgs84",
    address: Annotated[str | None, Query(description="A Chinese address", max_length=300)] = None,
    district: Annotated[
        str | None, Query(description="District adcode (default: the installation's)")
    ] = None,
    at: Annotated[str | None, Query(description="ISO date or date-time: answer for then")] = None,
) -> JSONResponse:
    """The MapIt point lookup, for grids: district → street/town → community/village →
    level-1 → level-2 → level-3 grid, every dedicated grid, and the signboard (网格信息公示牌)
    of the deepest grid. Give ``lon``+``lat`` (and ``crs``) or ``address``."""
    adcode = district or settings.district_adcode
    match: AddressMatch | None = None
    if address is not None and (lon is not None or lat is not None):
        raise InvalidInputError("Give either lon and lat, or address, not both.")
    if address is not None:
        match = match_address(session, address, district_adcode=adcode, cache=address_cache)
        lon, lat, crs = match.lon, match.lat, "wgs84"
    elif lon is None or lat is None:
        raise InvalidInputError(
            "Give lon and lat (with crs=wgs84, cgcs2000, gcj02 or bd09), or address.",
            lon=lon,
            lat=lat,
        )
    location = locate_point(session, lon, lat, district_adcode=adcode, crs=crs, at=at, cache=cache)
    return JSONResponse(_locate_body(location, match))


@router.post(
    "/locate/batch",
    summary="Locate up to 100 000 rows of points and/or addresses",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def post_locate_batch(
    request: Request,
    settings: SettingsDep,
    district: Annotated[str | None, Query(description="District adcode")] = None,
    crs: Annotated[str, Query(description="Default crs of rows without one")] = "wgs84",
    output: Annotated[
        str | None, Query(description="csv or ndjson (default: csv for CSV input, else ndjson)")
    ] = None,
) -> StreamingResponse:
    """Body: ``text/csv`` (columns id, lon, lat, crs, address), ``application/json`` (a list of
    row objects or ``{"rows": [...]}``) or ``application/x-ndjson``. Answer, streamed: one row
    per input row with the grid codes, the address match score and a ``reason`` for every
    row that could not be placed."""
    content_type = request.headers.get("content-type", "application/json")
    rows = read_rows(await request.body(), content_type)
    adcode = district or settings.district_adcode
    fmt = output or ("csv" if "csv" in content_type else "ndjson")
    if fmt not in ("csv", "ndjson"):
        raise InvalidInputError(f"output={fmt!r}: use csv or ndjson.", output=fmt)
    cache = get_locate_cache(request)
    address_cache = get_address_cache(request)
    factory = request.app.state.session_factory

    def lines() -> Iterator[str]:
        # The stream outlives the request's dependencies, so it owns its session.
        with session_scope(factory) as session:
            results = locate_rows(
                session,
                rows,
                district_adcode=adcode,
                cache=cache,
                address_cache=address_cache,
                default_crs=crs,
            )
            yield from (write_csv(results) if fmt == "csv" else write_ndjson(results))

    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    return StreamingResponse(lines(), media_type=media)


@router.post(
    "/addresses/import",
    response_model=AddressImportRead,
    status_code=status.HTTP_201_CREATED,
    summary="Import standard addresses from CSV (all or nothing)",
)
async def post_addresses_import(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    district: Annotated[str | None, Query(description="District adcode")] = None,
    crs: Annotated[str, Query(description="Default crs of rows without one")] = "wgs84",
) -> JSONResponse:
    """Body: the CSV itself (``text/csv``) or a multipart form with a ``file`` field. Columns:
    ``text``, ``lon``, ``lat``, optional ``crs``. A bad row → 422 naming it; nothing is
    written unless every row is good."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInputError("The multipart form needs a 'file' field with the CSV.")
        data: bytes = await upload.read()
    else:
        data = await request.body()
    report = await run_in_threadpool(
        import_addresses_csv,
        session,
        data,
        district_adcode=district or settings.district_adcode,
        default_crs=crs,
    )
    return JSONResponse(dataclasses.asdict(report), status_code=status.HTTP_201_CREATED)
