"""The database goes away under a running app and comes back (issue 16, first acceptance line).

The app reaches PostgreSQL through a :class:`~tests.faults.TcpProxy` this test cuts and
restores, so the outage is real for the app (connections reset, new ones refused) and invisible
to everything else on the server. While it lasts: a write answers 503 problem+json with
``Retry-After``, ``/health`` 503 naming ``database: unreachable``, ``/locate`` by point 200 from
memory with the stale mark, an address lookup and Open311 503 (in their shapes). Then the proxy
forwards again and every route answers 200 without restarting the app, ``/locate`` with the
very bytes it gave before the outage (the stale mark leaked into no cached answer).

Clients raise server exceptions here (the TestClient default): an outage must be an answer,
never an error re-raised to the server as a 500 would be.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from api.main import create_app
from api.routers.locate import STALE_HEADER
from geogrid.settings import Settings
from tests.faults import TcpProxy, proxied_url

RETRY_AFTER = 2


@dataclass(frozen=True)
class Place:
    lon: float
    lat: float
    code: str
    address: str


@pytest.fixture(scope="module")
def place(demo: Engine) -> Place:
    """A point in a leaf grid, and a registered address."""
    with demo.connect() as conn:
        row = conn.execute(
            text(
                "SELECT g.code, ST_X(ST_PointOnSurface(v.geom)) AS x, "
                "ST_Y(ST_PointOnSurface(v.geom)) AS y "
                "FROM grids g JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL "
                "WHERE g.level = 2 AND g.kind = 'general' AND g.retired_at IS NULL "
                "ORDER BY g.code OFFSET 7 LIMIT 1"
            )
        ).one()
        address = conn.execute(text("SELECT full_text FROM addresses ORDER BY id LIMIT 1"))
        return Place(row.x, row.y, row.code, address.scalar_one())


@pytest.fixture
def proxy(settings: Settings) -> Iterator[TcpProxy]:
    url = make_url(settings.database_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


def proxied_settings(settings: Settings, proxy: TcpProxy, **changes: object) -> Settings:
    return settings.model_copy(
        update={
            "database_url": proxied_url(settings.database_url, proxy),
            "retry_after_s": RETRY_AFTER,
            # generous: this machine is shared and loaded, a connection may take seconds
            "database_connect_timeout_s": 5,
            **changes,
        }
    )


def _assert_unavailable(response: object, *, problem: bool = True) -> dict:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER)
    if not problem:
        return {}
    assert response.headers["content-type"] == "application/problem+json"
    body: dict = response.json()
    assert body["type"] == "/problems/database_unavailable"
    assert body["database"] == "unreachable" and body["retry_after"] == RETRY_AFTER
    assert "again" in body["detail"]  # says what to do
    assert "127.0.0.1" not in response.text and "geogrid:" not in response.text
    return body


def test_outage_answers_503_and_locate_from_memory_then_recovers(
    settings: Settings,
    demo: Engine,
    proxy: TcpProxy,
    place: Place,
    admin_headers: dict[str, str],
) -> None:
    point = {"lon": repr(place.lon), "lat": repr(place.lat)}
    key = f"test-outage-{uuid.uuid4()}"
    report = {"category": "1201", "description": "停库测试", "lon": place.lon, "lat": place.lat}
    try:
        app = create_app(proxied_settings(settings, proxy))
        with TestClient(app, headers=admin_headers) as client:
            before = client.get("/locate", params=point)
            assert before.status_code == 200 and STALE_HEADER not in before.headers
            assert app.state.live_locator.reloads == 1  # the district is in memory
            assert "stale" not in before.json()
            revision = before.json()["revision"]

            proxy.cut()
            _assert_unavailable(
                client.post("/issues", json=report, headers={"Idempotency-Key": key})
            )
            health = _assert_unavailable(client.get("/health"))
            assert health["title"] == "Database unavailable"
            assert client.get("/problems/database_unavailable").status_code == 200

            stale = client.get("/locate", params=point)
            assert stale.status_code == 200, stale.text
            mark = stale.headers[STALE_HEADER]
            body = stale.json()
            assert body["stale"]["message"] == mark
            assert mark.startswith(f"boundaries as of revision {revision.split('@')[0]} at ")
            assert body["stale"]["boundary_revision"] == revision.split("@")[0]
            assert "connection" in body["stale"]["reason"]
            assert stale.headers["cache-control"] == "no-store"
            del body["stale"]
            assert body == before.json()  # the same answer, only marked

            _assert_unavailable(client.get("/locate", params={"address": place.address}))
            _assert_unavailable(client.get("/locate", params=point | {"at": "2026-01-01"}))
            _assert_unavailable(client.get(f"/grids/{place.code}"))
            _assert_unavailable(client.get("/issues", params={"limit": 1}))
            open311 = client.get("/open311/v2/services.json")
            _assert_unavailable(open311, problem=False)
            assert open311.json()[0]["code"] == 503 and open311.json()[0]["description"]
            xml = client.post(
                "/open311/v2/requests.xml",
                data={"service_code": "1201", "lat": place.lat, "long": place.lon},
            )
            _assert_unavailable(xml, problem=False)
            assert xml.headers["content-type"].startswith("text/xml")
            assert "<code>503</code>" in xml.text

            proxy.restore()
            assert client.get("/health").status_code == 200
            after = client.get("/locate", params=point)
            assert after.status_code == 200 and STALE_HEADER not in after.headers
            assert after.content == before.content
            assert client.get("/locate", params={"address": place.address}).status_code == 200
            assert client.get(f"/grids/{place.code}").status_code == 200
            assert client.get("/open311/v2/services.json").status_code == 200
            filed = client.post("/issues", json=report, headers={"Idempotency-Key": key})
            assert filed.status_code == 201, filed.text
    finally:
        with demo.begin() as conn:
            conn.execute(text("DELETE FROM issues WHERE idempotency_key = :k"), {"k": key})


def test_a_database_that_does_not_answer_times_out_fast(
    settings: Settings,
    demo: Engine,
    proxy: TcpProxy,
    admin_headers: dict[str, str],
) -> None:
    """Connections accepted and never answered (a host that does not reply): the connect
    timeout (3 s here) ends each attempt, so /health answers 503 in seconds, not minutes.
    The bound checked is generous (a guard on a loaded machine), the answer is the point."""
    app = create_app(proxied_settings(settings, proxy, database_connect_timeout_s=3))
    with TestClient(app, headers=admin_headers) as client:
        assert client.get("/health").status_code == 200
        proxy.stall()
        started = time.monotonic()
        body = _assert_unavailable(client.get("/health"))
        assert time.monotonic() - started < 30
        assert body["reason"] == "timeout expired"
        proxy.restore()
        assert client.get("/health").status_code == 200


def test_a_read_only_database_answers_503_on_writes_and_health(
    settings: Settings,
    demo: Engine,
    place: Place,
    admin_headers: dict[str, str],
) -> None:
    """A server that only reads (a standby; here the session default): reads answer, writes
    and /health answer 503 naming ``read_only``."""
    url = make_url(settings.database_url).update_query_dict(
        {"options": "-c default_transaction_read_only=on"}
    )
    read_only = settings.model_copy(
        update={
            "database_url": url.render_as_string(hide_password=False),
            "retry_after_s": RETRY_AFTER,
            "locate_live": False,
        }
    )
    key = f"test-read-only-{uuid.uuid4()}"
    report = {"category": "1201", "description": "只读测试", "lon": place.lon, "lat": place.lat}
    with TestClient(create_app(read_only), headers=admin_headers) as client:
        assert client.get(f"/grids/{place.code}").status_code == 200
        write = client.post("/issues", json=report, headers={"Idempotency-Key": key})
        assert write.status_code == 503 and write.headers["retry-after"] == str(RETRY_AFTER)
        assert write.json()["database"] == "read_only"
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["database"] == "read_only"
    with demo.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM issues WHERE idempotency_key = :k"), {"k": key}
            ).scalar_one()
            == 0
        )
