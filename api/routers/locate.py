"""Routes for locate (``/locate``, ``/locate/batch``) and the address registry
(``/addresses/import``).

The caches these routes use — the grid index, the address index and the live locator — are
built by the app's lifespan (:func:`api.main.create_app`) and hang on ``app.state``.

GET /locate's hot case — ``lon``/``lat`` (``crs``, ``district``) for now, no address, no ``at``
— is answered by :class:`LiveLocateMiddleware`, a pure ASGI check of path and query in front of
FastAPI's routing and dependency machinery: the query is read by the endpoint's own parameter
model (:class:`LocateQuery`), then one revision probe awaited in the event loop
(:mod:`geogrid.locate.live`), the in-memory index and a cached rendering of the answer; no
SQLAlchemy session, no thread-pool hop. The probe starts after the request arrived, so an edit
of grids or staff committed by any process is seen by the very next lookup. Anything else —
an address, ``at``, values the endpoint would reject, a point in no grid (the 404 names the
nearest one), an app built with ``locate_live=False`` (tests inside one transaction) — goes to
the declared endpoint :func:`get_locate`, which stays the reference: same parameters in
OpenAPI, same validation and errors, and byte-identical answers (tests compare).

While the database is away the middleware keeps answering points from the last state in
memory, marked stale (the ``Geogrid-Stale`` header and a ``stale`` member: "boundaries as of
revision R at time T"); everything that needs the database — addresses, ``at``, the declared
endpoint — answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

import psycopg
from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import SessionDep, SettingsDep
from api.schemas_locate import AddressImportRead, LocateRead
from geogrid.addresses.match import AddressIndexCache, AddressMatch, match_address
from geogrid.addresses.registry import import_addresses_csv
from geogrid.errors import InvalidInputError
from geogrid.locate.batch import locate_rows, read_rows, write_csv, write_ndjson
from geogrid.locate.chain import EDGE_RULE, PointLocation, locate_point
from geogrid.locate.index import IndexCache
from geogrid.locate.live import LiveLocator, Staleness
from geogrid.storage.database import session_scope

__all__ = [
    "STALE_HEADER",
    "LiveLocateMiddleware",
    "LocateQuery",
    "live_locate",
    "render_live_answer",
    "router",
]

log = logging.getLogger(__name__)

router = APIRouter(tags=["locate"])


def get_locate_cache(request: Request) -> IndexCache:
    """The app's grid index cache (built in the lifespan)."""
    cache: IndexCache = request.app.state.locate_index_cache
    return cache


def get_address_cache(request: Request) -> AddressIndexCache:
    """The app's address index cache (built in the lifespan)."""
    cache: AddressIndexCache = request.app.state.address_index_cache
    return cache


LocateCacheDep = Annotated[IndexCache, Depends(get_locate_cache)]
AddressCacheDep = Annotated[AddressIndexCache, Depends(get_address_cache)]


class LocateQuery(BaseModel):
    """The query of GET /locate, declared once: FastAPI reads it for the endpoint (and
    OpenAPI), :class:`LiveLocateMiddleware` validates the same model, so both paths accept and
    refuse exactly the same values. Unknown parameters are ignored, as FastAPI does."""

    lon: float | None = Field(default=None, description="Longitude", ge=-180, le=180)
    lat: float | None = Field(default=None, description="Latitude", ge=-90, le=90)
    crs: str = Field(default="wgs84", description="wgs84, cgcs2000, gcj02 or bd09")
    address: str | None = Field(default=None, description="A Chinese address", max_length=300)
    district: str | None = Field(
        default=None, description="District adcode (default: the installation's)"
    )
    at: str | None = Field(default=None, description="ISO date or date-time: answer for then")


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


def render_live_answer(location: PointLocation) -> bytes:
    """The answer without its point: everything after ``{"lon":…,"lat":…,`` (those two
    fields come first in :func:`_locate_body`, so the assembled bytes are identical)."""
    body = _locate_body(location, None)
    del body["lon"], body["lat"]
    return _json_bytes(body)[1:]


async def live_locate(
    app_state: Any, query_string: bytes, *, now: datetime | None = None
) -> tuple[bytes, Staleness | None] | None:
    """The JSON body of GET /locate for a plain current point lookup, with its staleness
    (None when the database confirmed it current), or None when the request is anything else
    (or the app has no live locator) and the declared endpoint must answer it.

    A stale body carries ``"stale": {...}`` after the point; it is assembled per response
    from the cached answer, which never holds it, so answers are the plain bytes again as
    soon as the database is back. ``now`` (default: the clock) is for tests that compare it at
    chosen moments."""
    locator: LiveLocator[bytes] | None = app_state.live_locator
    if locator is None:
        return None
    try:
        # What dict(QueryParams(query_string)) holds (last value of a repeated name wins),
        # without building the multi-dict.
        params = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
        query = LocateQuery.model_validate(params)
    except ValidationError:
        return None  # the declared endpoint answers 422 with the same model's message
    if query.lon is None or query.lat is None or query.address is not None or query.at is not None:
        return None
    adcode = query.district or app_state.settings.district_adcode
    if len(adcode) != 6 or not adcode.isdigit():
        return None  # not an adcode: no cache entry for it; the endpoint answers 404
    try:
        found = await locator.locate(
            query.lon, query.lat, district_adcode=adcode, crs=query.crs, now=now
        )
    except InvalidInputError:
        return None  # the declared endpoint answers 422 naming the accepted systems
    except psycopg.OperationalError as exc:
        # nothing in memory for this district: the session path answers (503 if it is away)
        log.warning("locate probe failed; answering through the session: %s", exc)
        return None
    if found is None:
        return None
    point = b'{"lon":%b,"lat":%b,' % (repr(found.lon).encode(), repr(found.lat).encode())
    if found.stale is None:
        return point + found.value, None
    stale = b'"stale":%b,' % _json_bytes(found.stale.as_dict())
    return point + stale + found.value, found.stale


_JSON_HEADERS = (b"content-type", b"application/json")
#: The header of an answer given from memory while the database is away; its value is
#: "boundaries as of revision R at T" (the body's ``stale.message``).
STALE_HEADER = "Geogrid-Stale"


class LiveLocateMiddleware:
    """Answers the hot case of GET /locate (see the module docstring) before routing; passes
    every other request, and every /locate it does not answer, to the app unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/locate" and scope["method"] == "GET":
            found = await live_locate(scope["app"].state, scope["query_string"])
            if found is not None:
                body, stale = found
                headers = [(b"content-length", str(len(body)).encode()), _JSON_HEADERS]
                if stale is not None:
                    headers += [
                        (STALE_HEADER.encode(), stale.message.encode("ascii")),
                        (b"cache-control", b"no-store"),
                    ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


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
    query: Annotated[LocateQuery, Query()],
) -> JSONResponse:
    """The MapIt point lookup, for grids: district → street/town → community/village →
    level-1 → level-2 → level-3 grid, every dedicated grid, and the signboard (网格信息公示牌)
    of the deepest grid. Give ``lon``+``lat`` (and ``crs``) or ``address``."""
    lon, lat, crs = query.lon, query.lat, query.crs
    adcode = query.district or settings.district_adcode
    match: AddressMatch | None = None
    if query.address is not None and (lon is not None or lat is not None):
        raise InvalidInputError("Give either lon and lat, or address, not both.")
    if query.address is not None:
        match = match_address(session, query.address, district_adcode=adcode, cache=address_cache)
        lon, lat, crs = match.lon, match.lat, "wgs84"
    elif lon is None or lat is None:
        raise InvalidInputError(
            "Give lon and lat (with crs=wgs84, cgcs2000, gcj02 or bd09), or address.",
            lon=lon,
            lat=lat,
        )
    location = locate_point(
        session, lon, lat, district_adcode=adcode, crs=crs, at=query.at, cache=cache
    )
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
