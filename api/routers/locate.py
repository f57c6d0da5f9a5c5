"""Routes for locate (``/locate``, ``/locate/batch``) and the address registry
(``/addresses/import``).

The in-memory grid index lives on ``app.state.locate_index_cache``, created lazily by the
:func:`get_locate_cache` dependency (no change to the app factory needed).

GET /locate's hot case — ``lon``/``lat`` (``crs``, ``district``) for now, no address, no ``at``
— is answered by :class:`LiveLocateRoute` before FastAPI resolves the endpoint's dependencies:
one revision probe (:mod:`geogrid.locate.live`), the in-memory index and a cached rendering of
the answer; no SQLAlchemy session. The probe starts after the request arrived, so an edit of
grids or staff committed by any process is seen by the very next lookup. Anything else — other
parameters, values the endpoint would reject, a point in no grid (the 404 names the nearest
one), an app whose session dependency is overridden (tests inside one transaction) — goes to
the declared endpoint :func:`get_locate`, which stays the reference: same
parameters in OpenAPI, same validation and errors, and byte-identical answers (tests compare).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute

from api.deps import SessionDep, SettingsDep, get_session
from api.schemas_locate import AddressImportRead, LocateRead
from geogrid.addresses.match import AddressIndexCache, AddressMatch, match_address
from geogrid.addresses.registry import import_addresses_csv
from geogrid.errors import InvalidInputError
from geogrid.locate.batch import locate_rows, read_rows, write_csv, write_ndjson
from geogrid.locate.chain import EDGE_RULE, PointLocation, locate_point
from geogrid.locate.index import IndexCache
from geogrid.locate.live import LiveLocator
from geogrid.locate.probe import RevisionProbe, conninfo_from_url
from geogrid.spatial.crs import CoordinateSystem
from geogrid.storage.database import session_scope

log = logging.getLogger(__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Close the live locator's probe connections when the app stops."""
    yield
    probe: RevisionProbe | None = getattr(app.state, "locate_probe", None)
    if probe is not None:
        probe.close()


router = APIRouter(tags=["locate"], lifespan=_lifespan)

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


def _json_bytes(content: Any) -> bytes:
    """What :class:`JSONResponse` sends for ``content`` (same options, same bytes)."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def _render_live(location: PointLocation) -> bytes:
    """The answer without its point: everything after ``{"lon":…,"lat":…,`` (those two
    fields come first in :func:`_locate_body`, so the assembled bytes are identical)."""
    body = _locate_body(location, None)
    del body["lon"], body["lat"]
    return _json_bytes(body)[1:]


def get_live_locator(request: Request) -> LiveLocator[bytes]:
    """The app's live locator (created on first use, kept on ``app.state``)."""
    state = request.app.state
    locator: LiveLocator[bytes] | None = getattr(state, "locate_live", None)
    if locator is None:
        index_cache = get_locate_cache(request)
        with _STATE_LOCK:
            locator = getattr(state, "locate_live", None)
            if locator is None:
                state.locate_probe = RevisionProbe(conninfo_from_url(state.settings.database_url))
                locator = LiveLocator(
                    probe=state.locate_probe,
                    session_factory=state.session_factory,
                    index_cache=index_cache,
                    render=_render_live,
                )
                state.locate_live = locator
    return locator


_LIVE_PARAMS = frozenset({"lon", "lat", "crs", "district"})
# Plain decimals only; exponents, "nan", "1_0" and the like go to the declared endpoint.
_DECIMAL = re.compile(r"[+-]?\d{1,3}(?:\.\d{1,20})?")
_ADCODE = re.compile(r"\d{6}")


def _decimal(value: str | None, limit: float) -> float | None:
    if value is None or not _DECIMAL.fullmatch(value):
        return None
    number = float(value)
    return number if -limit <= number <= limit else None


def live_locate(request: Request) -> bytes | None:
    """The JSON body of GET /locate for a plain current point lookup, or None when the
    request is anything else and the declared endpoint must answer it.

    Also None while the app's session is overridden (tests that run every request inside one
    rolled-back transaction): the probe reads committed data, the request must see that
    transaction's."""
    if get_session in request.app.dependency_overrides:
        return None
    items = request.query_params.multi_items()
    params = dict(items)
    if len(params) != len(items) or not params.keys() <= _LIVE_PARAMS:
        return None
    lon = _decimal(params.get("lon"), 180.0)
    lat = _decimal(params.get("lat"), 90.0)
    adcode = params.get("district") or request.app.state.settings.district_adcode
    if lon is None or lat is None or not _ADCODE.fullmatch(adcode):
        return None
    try:
        crs = CoordinateSystem.parse(params.get("crs", "wgs84"))
    except InvalidInputError:
        return None  # the declared endpoint answers 422 naming the accepted systems
    try:
        found = get_live_locator(request).locate(lon, lat, district_adcode=adcode, crs=crs)
    except psycopg.OperationalError:
        log.warning("locate probe failed; answering through the session", exc_info=True)
        return None
    if found is None:
        return None
    wlon, wlat, rest = found
    return b'{"lon":%b,"lat":%b,%b' % (repr(wlon).encode(), repr(wlat).encode(), rest)


class LiveLocateRoute(APIRoute):
    """GET /locate with the hot case answered by :func:`live_locate` in the thread pool (as a
    plain ``def`` endpoint would run), everything else by the declared endpoint."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        declared = super().get_route_handler()

        async def handler(request: Request) -> Response:
            body = await run_in_threadpool(live_locate, request)
            if body is None:
                return await declared(request)
            return Response(body, media_type="application/json")

        return handler


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


router.add_api_route(
    "/locate",
    get_locate,
    methods=["GET"],
    response_model=LocateRead,
    summary="Which grid is this point or address in, and who looks after it",
    responses={404: {"description": "Outside every grid, or address not matched"}},
    route_class_override=LiveLocateRoute,
)


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
