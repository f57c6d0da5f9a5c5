"""schemathesis over the whole OpenAPI schema, logged in as the admin: no route answers 5xx,
no answer comes in a media type its route does not document, and no documented answer breaks
the schema the route publishes (an invalid request's Problem included: the 422 of every route
is documented as ``application/problem+json``, :func:`api.problems.document_problems`).

Bounded: every operation gets the schema's explicit examples plus a few generated requests,
positive and negative (:data:`EXAMPLES`; the analyses and their map pages, which compute over
the whole demo district, :data:`HEAVY_EXAMPLES`), with no shrinking and no coverage phase, so
the file runs in about a minute. Deterministic for CI: a fixed seed (each operation draws from
its own seed derived from it), ``derandomize``, no example database, a config given here
rather than discovered from a ``schemathesis.toml``, and the app's clocks set to the demo's
(``demo_clock``).

One app and client serve the whole module; each request runs in a savepoint of the module's
transaction that is rolled back after it (and the caches a write may have filled are emptied),
so every case sees the demo as loaded and the file leaves nothing behind.

A deeper run by hand, minutes long (the coverage phase adds every boundary value, missing
parameter and unexpected method the schema implies)::

    GEOGRID_FUZZ_DEEP=1 pytest tests/test_schema_fuzz.py
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

import pytest
import requests
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from sqlalchemy import Connection, Engine

from api.caching import AnswerCache, clock
from api.main import create_app
from geogrid.settings import Settings
from tests.rolled_back import rolled_back_app

DEEP: Final = os.environ.get("GEOGRID_FUZZ_DEEP", "") not in ("", "0")
SEED: Final = 20261110
#: Generated requests per operation (besides the schema's examples).
EXAMPLES: Final = 25 if DEEP else 4
#: ... for the analyses and map pages: about a second each, over the whole district.
HEAVY_EXAMPLES: Final = 10 if DEEP else 1
HEAVY_PATHS: Final = r"^/(analysis|maps)/"

CONFIG: Final = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": DEEP},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
        "generation": {"max-examples": EXAMPLES, "no-shrink": True},
        "operations": [
            {"include-path-regex": HEAVY_PATHS, "generation": {"max-examples": HEAVY_EXAMPLES}}
        ],
    }
)
schema = schemathesis.openapi.from_dict(
    create_app(Settings(locate_live=False)).openapi(), config=CONFIG
)

#: Operations a generated call cannot finish in bounded time, or that only serve the pages'
#: browser: none today (keep this empty unless a reason is written next to the entry).
SKIPPED: frozenset[str] = frozenset()

_READS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


@pytest.fixture(scope="module")
def fuzzed_app(
    settings: Settings, engine: Engine, demo_clock: datetime
) -> Iterator[tuple[TestClient, Connection, FastAPI]]:
    """The rolled-back app (admin), on the demo's clock rather than the wall clock."""
    with rolled_back_app(settings, engine) as (client, conn, app):
        app.state.clock = lambda: demo_clock
        app.dependency_overrides[clock] = lambda: demo_clock
        yield client, conn, app


@schema.parametrize()
@settings(
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_no_route_answers_5xx_or_breaks_its_schema(
    case: Any, fuzzed_app: tuple[TestClient, Connection, FastAPI]
) -> None:
    client, conn, app = fuzzed_app
    if f"{case.operation.method.upper()} {case.operation.path}" in SKIPPED:
        pytest.skip("listed in SKIPPED")
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    for unused in ("timeout", "allow_redirects", "verify"):
        kwargs.pop(unused, None)
    headers = dict(kwargs.pop("headers", None) or {})
    headers.pop("Authorization", None)  # the admin's token, never a generated one
    headers.pop("authorization", None)
    # requests encodes the body as schemathesis means it (a multipart part that is a number
    # included), which httpx's own multipart encoder refuses
    prepared = requests.Request(headers=headers, **kwargs).prepare()
    method = str(prepared.method).upper()
    savepoint = conn.begin_nested()
    try:
        answer = client.request(
            method,
            str(prepared.url),
            headers=dict(prepared.headers),
            content=prepared.body,
            follow_redirects=False,
        )
    finally:
        client.cookies.clear()  # a login's session cookie stays with its case
        savepoint.rollback()
        if method not in _READS:
            # built from rows that are gone now
            app.state.locate_index_cache.clear()
            app.state.address_index_cache.clear()
            app.state.answer_cache = AnswerCache()
    case.validate_response(
        answer,
        checks=[not_a_server_error, content_type_conformance, response_schema_conformance],
    )
