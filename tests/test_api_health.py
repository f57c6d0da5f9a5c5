"""``/health``, OpenAPI and the problem+json error shape, through the real app and database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from geogrid.settings import Settings


@pytest.fixture(scope="module")
def client(settings: Settings, engine: object) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def test_health_reports_postgis(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["postgis"].startswith("3.")
    assert body["postgresql"].split(".")[0].isdigit()


def test_openapi_is_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "geogrid"


def test_unknown_path_is_problem_json(client: TestClient) -> None:
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404 and "/no/such/thing" in body["detail"]


def test_health_fails_cleanly_without_a_database() -> None:
    """A closed port: 503 naming the database as unreachable, with Retry-After (raised
    server exceptions would fail the test: the outage is an answer, not an error)."""
    bad = Settings(database_url="postgresql+psycopg://nobody:x@127.0.0.1:1/none", retry_after_s=7)
    with TestClient(create_app(bad)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "7"
    body = response.json()
    assert body["database"] == "unreachable" and body["rule"] == "database_unavailable"
    assert body["type"] == "/problems/database_unavailable"
    assert "connection refused" in body["detail"]
    assert "nobody" not in response.text and "127.0.0.1" not in response.text  # no internals
