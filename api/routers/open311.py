"""Open311 GeoReport v2 at /open311/v2 (JSON). Errors in Open311's ``[{code, description}]``
shape with the right HTTP status, because 311 clients parse that, not problem+json."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from api.deps import SessionDep, SettingsDep
from geogrid.errors import GeogridError
from geogrid.issues import open311

router = APIRouter(prefix="/open311/v2", tags=["open311"])

_ATTRIBUTE = re.compile(r"^attribute\[(.+)\]$")


def _answer(call: Callable[[], Any], status: int = 200) -> JSONResponse:
    try:
        return JSONResponse(jsonable_encoder(call()), status_code=status)
    except GeogridError as exc:
        return JSONResponse([{"code": exc.status, "description": exc.detail}], exc.status)


@router.get("/discovery.json")
def discovery(request: Request) -> JSONResponse:
    return _answer(
        lambda: open311.discovery(str(request.url_for("services"))[: -len("/services.json")])
    )


@router.get("/services.json")
def services(session: SessionDep) -> JSONResponse:
    return _answer(lambda: open311.services(session))


@router.get("/services/{service_code}.json")
def service_definition(service_code: str, session: SessionDep) -> JSONResponse:
    return _answer(lambda: open311.service_definition(session, service_code))


@router.post("/requests.json")
async def post_request(
    request: Request, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    attributes = {m[1]: v for k, v in fields.items() if (m := _ATTRIBUTE.match(k)) is not None}
    now = datetime.now(UTC)
    return _answer(
        lambda: open311.post_request(
            session, fields, attributes, now=now, default_adcode=settings.district_adcode
        ),
        201,
    )


@router.get("/requests.json")
def list_requests(
    session: SessionDep,
    service_request_id: str | None = None,
    service_code: str | None = None,
    status: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
) -> JSONResponse:
    return _answer(
        lambda: open311.list_requests(
            session,
            now=datetime.now(UTC),
            service_request_id=service_request_id,
            service_code=service_code,
            status=status,
            start_date=start_date,
            end_date=end_date,
        )
    )


@router.get("/requests/{request_id}.json")
def get_request(request_id: str, session: SessionDep) -> JSONResponse:
    return _answer(lambda: open311.get_request(session, request_id))


@router.get("/tokens/{token}.json")
def token(token: str, session: SessionDep) -> JSONResponse:
    return _answer(lambda: open311.token_lookup(session, token))
