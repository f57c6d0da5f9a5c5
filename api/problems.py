"""Every error as ``application/problem+json`` (RFC 9457), each with a stable ``type``.

Library errors carry their status, a message meant for the user and the slug of the rule they
enforce (:data:`geogrid.errors.RULES`); anything unexpected is logged with its traceback and
answered with an opaque 500, never with internals.

``type`` is the relative URI ``/problems/<rule>``: it names the rule, not the status, so the
same mistake has the same ``type`` wherever it is made (a bad bbox is ``/problems/bbox`` on
``/grids`` and on ``/ogc``, even though OGC API Features answers it with 400), and it resolves:
``GET /problems/<rule>`` describes the rule (404 for a slug that names none). A relative
reference resolves against the server that answered, so no host name is baked in. The body
also carries the slug itself as ``rule``, for clients that do not want to parse a URI.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.preconditions import entity_tag
from geogrid.errors import (
    RULES,
    DatabaseUnavailableError,
    GeogridError,
    NotFoundError,
    PreconditionFailedError,
)
from geogrid.storage.faults import database_fault

PROBLEM_JSON = "application/problem+json"
#: Where the problem types live: ``/problems/<rule>``.
PROBLEMS_PATH: Final = "/problems"
logger = logging.getLogger("geogrid.api")

#: The rule of a protocol-level refusal (routing, methods) by status.
_HTTP_RULES: Final = {404: "not_found", 405: "method_not_allowed"}

__all__ = [
    "PROBLEMS_PATH",
    "PROBLEM_JSON",
    "PROBLEM_SCHEMA",
    "document_problems",
    "install_problem_handlers",
    "problem_response",
    "problem_type",
    "unavailable_problem",
]


#: Every error body, as the OpenAPI schema documents it (``components/schemas/Problem``).
PROBLEM_SCHEMA: Final[dict[str, Any]] = {
    "title": "Problem",
    "description": (
        "An error (RFC 9457, application/problem+json). `type` is `/problems/<rule>` and "
        "resolves to the rule's description; refusals may add members of their own (the "
        "`etag` to send, the `errors` of each invalid field...)."
    ),
    "type": "object",
    "required": ["type", "title", "status", "detail", "rule"],
    "properties": {
        "type": {"type": "string", "description": "`/problems/<rule>`"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong and how to fix it"},
        "instance": {"type": "string", "description": "The path that answered"},
        "rule": {"type": "string", "description": "The rule's slug (`GET /problems`)"},
        "errors": {
            "type": "array",
            "description": "Each invalid field (an invalid request, 422)",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}
_PROBLEM_REF: Final = {"$ref": "#/components/schemas/Problem"}
_INVALID_INPUT: Final = "Invalid input (a request failing validation lists each field in `errors`)"
#: FastAPI's own 422 body, which no route here answers with (they answer a Problem).
_FASTAPI_VALIDATION_SCHEMAS: Final = ("HTTPValidationError", "ValidationError")


def problem_type(rule: str) -> str:
    """The ``type`` URI of a rule.

    >>> problem_type("overlaps_sibling")
    '/problems/overlaps_sibling'
    """
    return f"{PROBLEMS_PATH}/{rule}"


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    rule: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json answer whose ``type`` names ``rule`` (also given as the ``rule`` member)."""
    body: dict[str, Any] = {"type": problem_type(rule), "title": title, "status": status}
    body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    body["rule"] = rule
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _describe_validation_error(err: dict[str, Any]) -> dict[str, Any]:
    loc = [str(p) for p in err.get("loc", ())]
    return {"field": ".".join(loc), "message": err.get("msg", "invalid value")}


def _geogrid_problem(request: Request, exc: GeogridError) -> Response:
    detail = exc.detail
    extra = {k: v for k, v in exc.extra.items() if k != "rule"}
    if isinstance(exc, PreconditionFailedError) and exc.current_version is not None:
        # the library speaks of versions; the entity tag to send is HTTP, so it is added here
        tag = entity_tag(exc.identifier, exc.current_version)
        extra["etag"] = tag
        if tag not in detail:
            detail = f"{detail} (If-Match: {tag})"
    headers: dict[str, str] = {}
    if isinstance(exc, DatabaseUnavailableError):
        headers["Retry-After"] = str(exc.retry_after_s)
        # a route may answer in its own protocol's error shape (Open311 does)
        render = getattr(request.scope.get("route"), "render_unavailable", None)
        if render is not None:
            response: Response = render(request, exc)
            return response
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="geogrid"'
    return problem_response(
        exc.status,
        exc.title,
        detail,
        rule=exc.rule,
        instance=request.url.path,
        headers=headers or None,
        **extra,
    )


def unavailable_problem(request: Request, exc: BaseException) -> Response | None:
    """The 503 answer of a database fault (:func:`geogrid.storage.faults.database_fault`),
    or None when ``exc`` is not the database being away. Logged once, for operators, with
    the server's host:port; the answer names neither."""
    settings = request.app.state.settings
    fault = database_fault(
        exc, database_url=settings.database_url, retry_after_s=settings.retry_after_s
    )
    if fault is None:
        return None
    logger.warning("%s %s: %s", request.method, request.url.path, fault.operator_message)
    return _geogrid_problem(request, fault)


def describe_problem(rule: str) -> dict[str, Any]:
    """The page of a problem type: its rule and what it means; 404 for an unknown rule."""
    if rule not in RULES:
        raise NotFoundError(
            f"There is no problem type {rule!r}; GET {PROBLEMS_PATH} lists them.", rule="not_found"
        )
    return {"type": problem_type(rule), "rule": rule, "description": RULES[rule]}


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI schema tell the truth about errors: FastAPI documents every 422 as
    ``application/json`` with its own ``HTTPValidationError`` body, while the app answers
    every invalid request with a Problem (:func:`install_problem_handlers`)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    responses = (
                        operation.get("responses", {}) if isinstance(operation, dict) else {}
                    )
                    if "422" in responses:
                        described = responses["422"].get("description")
                        responses["422"] = {
                            # a route's own words about its 422 stay; FastAPI's are replaced
                            "description": described
                            if described and described != "Validation Error"
                            else _INVALID_INPUT,
                            "content": {PROBLEM_JSON: {"schema": dict(_PROBLEM_REF)}},
                        }
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name in _FASTAPI_VALIDATION_SCHEMAS:
                components.pop(name, None)
            components["Problem"] = PROBLEM_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error as problem+json, document it so in the OpenAPI schema, and serve
    the problem types at ``/problems``."""
    document_problems(app)

    @app.exception_handler(GeogridError)
    async def _geogrid_error(request: Request, exc: GeogridError) -> Response:
        return _geogrid_problem(request, exc)

    async def _database_error(request: Request, exc: Exception) -> Response:
        # Handled here, in the exception middleware, so an outage is a plain answer (no
        # traceback re-raised to the server); anything else goes on to the 500 handler.
        response = unavailable_problem(request, exc)
        if response is None:
            raise exc
        return response

    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(psycopg.Error, _database_error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_describe_validation_error(e) for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
        return problem_response(
            422,
            "Invalid request",
            detail,
            rule="invalid_request",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"There is nothing at {request.url.path}. See /docs for the API."
        return problem_response(
            exc.status_code,
            title,
            detail,
            rule=_HTTP_RULES.get(exc.status_code, "http_error"),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # A value the checks let through but PostgreSQL refuses (text too long for its
        # column, a number out of range, a NUL byte): the client's mistake, not a crash. The
        # driver's message quotes the SQL and its parameters, so only the class is logged.
        # The request's session rolls back, so the connection returns to the pool clean.
        logger.warning(
            "value refused by the database on %s %s: %s",
            request.method,
            request.url.path,
            type(exc.orig).__name__,
        )
        return problem_response(
            422,
            "Invalid input",
            "A value sent cannot be stored: it is too long for its field, out of range, or "
            "holds characters text cannot (a NUL byte). Shorten or correct it.",
            rule="unstorable_value",
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # an outage met outside the routes (a middleware) is still a 503, not a 500
        unavailable = unavailable_problem(request, exc)
        if unavailable is not None:
            return unavailable
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500,
            "Internal error",
            "The server failed to answer this request; the error has been logged.",
            rule="internal_error",
            instance=request.url.path,
        )

    @app.get(PROBLEMS_PATH, tags=["problems"], summary="Every problem type, by rule")
    def list_problems() -> dict[str, Any]:
        return {"problems": [describe_problem(rule) for rule in sorted(RULES)]}

    @app.get(PROBLEMS_PATH + "/{rule}", tags=["problems"], summary="What a problem type means")
    def get_problem(rule: str) -> dict[str, Any]:
        return describe_problem(rule)
