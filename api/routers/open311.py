"""Open311 GeoReport v2 at /open311/v2, in JSON (``.json``) and XML (``.xml``). Errors in
Open311's ``[{code, description}]`` shape (``<errors><error>`` in XML) with the right HTTP
status, because 311 clients parse that, not problem+json.

That holds for the database being away too: wherever the fault is met (the session's first
query, the commit after the route returned), the app's handler asks the matched route how to
answer it (:class:`Open311Route`), and a 311 client gets ``503`` with ``Retry-After`` and
``[{"code": 503, "description": ...}]`` — an HTTP status and error document it already
handles, and a retry it can make (``POST /requests`` after a 503 may be sent again)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from api.deps import SessionDep, SettingsDep
from api.responses import answers_in
from geogrid.auth.accounts import check_open311_key
from geogrid.errors import DatabaseUnavailableError, GeogridError
from geogrid.issues import open311
from geogrid.issues.open311_xml import render_xml

_ATTRIBUTE = re.compile(r"^attribute\[(.+)\]$")
FORMATS = ("json", "xml")
XML_MEDIA_TYPE = "text/xml"
#: Each answer is JSON or, for `.xml`, XML (GeoReport v2).
OR_XML: Final = answers_in(XML_MEDIA_TYPE)


def _render(kind: str, fmt: str, payload: Any, status: int) -> Response:
    encoded = jsonable_encoder(payload)
    if fmt == "xml":
        return Response(render_xml(kind, encoded), status, media_type=XML_MEDIA_TYPE)
    return JSONResponse(encoded, status_code=status)


def _errors(fmt: str, exc: GeogridError) -> Response:
    """An Open311 error document for a library error; ``Retry-After`` on a 503."""
    response = _render("errors", fmt, [{"code": exc.status, "description": exc.detail}], exc.status)
    if isinstance(exc, DatabaseUnavailableError):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


class Open311Route(APIRoute):
    """A route of this router: a database fault is answered as an Open311 error document
    (the app's problem handler calls :meth:`render_unavailable` of the matched route)."""

    def render_unavailable(self, request: Request, exc: DatabaseUnavailableError) -> Response:
        fmt = str(request.path_params.get("fmt", "json"))
        return _errors(fmt if fmt in FORMATS else "json", exc)


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)


def _answer(kind: str, fmt: str, call: Callable[[], Any], status: int = 200) -> Response:
    """Run ``call`` and answer its result as document ``kind`` in ``fmt`` (json or xml)."""
    if fmt not in FORMATS:
        return _render(
            "errors", "json", [{"code": 404, "description": "the format is .json or .xml"}], 404
        )
    try:
        return _render(kind, fmt, call(), status)
    except GeogridError as exc:
        return _errors(fmt, exc)


@router.get("/discovery.{fmt}", responses=OR_XML)
def discovery(fmt: str, request: Request) -> Response:
    base = str(request.url_for("discovery", fmt="json"))[: -len("/discovery.json")]
    return _answer("discovery", fmt, lambda: open311.discovery(base))


@router.get("/services.{fmt}", responses=OR_XML)
def services(fmt: str, session: SessionDep) -> Response:
    return _answer("services", fmt, lambda: open311.services(session))


@router.get("/services/{service_code}.{fmt}", responses=OR_XML)
def service_definition(service_code: str, fmt: str, session: SessionDep) -> Response:
    return _answer(
        "service_definition", fmt, lambda: open311.service_definition(session, service_code)
    )


@router.post("/requests.{fmt}", status_code=201, responses=answers_in(XML_MEDIA_TYPE, status=201))
async def post_request(
    fmt: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    principal = getattr(request.state, "principal", None)
    if (principal is None or principal.is_public) and check_open311_key(
        session, fields.get("api_key") or request.query_params.get("api_key")
    ) is None:
        # GeoReport v2: a write carries the api_key issued to the client application
        return _render(
            "errors",
            fmt if fmt in FORMATS else "json",
            [
                {
                    "code": 401,
                    "description": "api_key missing or unknown: ask the operator for a key "
                    "(geogrid open311 keys create NAME).",
                }
            ],
            401,
        )
    attributes = {m[1]: v for k, v in fields.items() if (m := _ATTRIBUTE.match(k)) is not None}
    now = datetime.now(UTC)
    return _answer(
        "requests",
        fmt,
        lambda: open311.post_request(
            session, fields, attributes, now=now, default_adcode=settings.district_adcode
        ),
        201,
    )


@router.get("/requests.{fmt}", responses=OR_XML)
def list_requests(
    fmt: str,
    session: SessionDep,
    service_request_id: str | None = None,
    service_code: str | None = None,
    status: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
) -> Response:
    return _answer(
        "requests",
        fmt,
        lambda: open311.list_requests(
            session,
            now=datetime.now(UTC),
            service_request_id=service_request_id,
            service_code=service_code,
            status=status,
            start_date=start_date,
            end_date=end_date,
        ),
    )


@router.get("/requests/{request_id}.{fmt}", responses=OR_XML)
def get_request(request_id: str, fmt: str, session: SessionDep) -> Response:
    return _answer("requests", fmt, lambda: open311.get_request(session, request_id))


@router.get("/tokens/{token}.{fmt}", responses=OR_XML)
def token(token: str, fmt: str, session: SessionDep) -> Response:
    return _answer("requests", fmt, lambda: open311.token_lookup(session, token))
