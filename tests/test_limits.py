"""What one request may cost (api/limits.py): body caps enforced while reading, control
characters refused at the edge, per-client rate limits with Retry-After, the heavy-analysis
gate, the permutations cap and the security headers on every answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from api.limits import CONTENT_SECURITY_POLICY, HeavyAnalysisGate, RateLimiter
from geogrid.settings import Settings
from tests.rolled_back import rolled_back_app
from tests.test_grids_support import pick_leaf

PROBLEM = "application/problem+json"


@pytest.fixture
def limited(settings: Settings, demo: Engine) -> Iterator[tuple[TestClient, FastAPI, Connection]]:
    strict = settings.model_copy(
        update={
            "max_body_bytes": 4096,
            "max_photo_bytes": 8192,
            "rate_limit_reports": 3,
            "rate_limit_public": 5,
            "heavy_analyses": 1,
            "heavy_wait_seconds": 0.0,
        }
    )
    with rolled_back_app(strict, demo) as (client, conn, app):
        yield client, app, conn


class FakeClock:
    """The rate limiter's clock, moved by the test (tests never read the wall clock)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _problem(response: Any, status: int, rule: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["rule"] == rule and body["type"] == f"/problems/{rule}"
    return body


def _count_issues(conn: Connection) -> int:
    """Issues as the app's requests see them (the test transaction, uncommitted writes too)."""
    return int(conn.execute(text("SELECT count(*) FROM issues")).scalar_one())


def test_a_json_body_over_the_cap_is_refused_with_413_and_nothing_is_written(
    limited: tuple[TestClient, FastAPI, Connection],
) -> None:
    client, _, conn = limited
    before = _count_issues(conn)
    body = {"category": "1201", "description": "x" * 5000, "lon": 109.76, "lat": 34.51}
    problem = _problem(client.post("/issues", json=body), 413, "body_too_large")
    assert "0.00390625 MB" in problem["detail"]
    assert _count_issues(conn) == before


def test_the_cap_holds_while_reading_a_body_that_does_not_declare_its_length(
    limited: tuple[TestClient, FastAPI, Connection],
) -> None:
    client, _, _ = limited

    def chunks() -> Iterator[bytes]:
        yield b'{"category": "1201", "description": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    # A generator body is sent chunked, without Content-Length: only counting catches it.
    response = client.post("/issues", content=chunks(), headers={"content-type": "text/plain"})
    _problem(response, 413, "body_too_large")


def test_an_upload_route_has_its_own_cap(limited: tuple[TestClient, FastAPI, Connection]) -> None:
    client, _, _ = limited
    files = {"file": ("p.jpg", b"\xff\xd8" + b"0" * 10_000, "image/jpeg")}
    _problem(client.post("/issues/1/photos", files=files), 413, "body_too_large")
    # under the photo cap but over the JSON cap: the photo route reads it (and judges it)
    small = {"file": ("p.jpg", b"\xff\xd8" + b"0" * 6000, "image/jpeg")}
    assert client.post("/issues/1/photos", files=small).status_code != 413


@pytest.mark.parametrize(
    "escaped",
    [r"\u0000", r"\u001b", r"\u0007", r"\u007f", r"\\\u0000"],
)
def test_escaped_control_characters_in_json_are_refused(
    limited: tuple[TestClient, FastAPI, Connection], escaped: str
) -> None:
    client, _, conn = limited
    before = _count_issues(conn)
    raw = '{"category": "1201", "description": "垃圾' + escaped + '", "lon": 109.7, "lat": 34.5}'
    response = client.post("/issues", content=raw, headers={"content-type": "application/json"})
    _problem(response, 422, "control_characters")
    assert _count_issues(conn) == before


def test_tabs_line_breaks_and_an_escaped_backslash_pass(
    limited: tuple[TestClient, FastAPI, Connection], demo: Engine
) -> None:
    client, _, _ = limited
    leaf = pick_leaf(demo, min_open=0, skip=2)
    point = leaf.geom.representative_point()
    raw = (
        '{"category": "1201", "description": "第一行\\n\\t第二行 C:\\\\u0000dir", '
        f'"lon": {point.x}, "lat": {point.y}}}'
    )
    response = client.post("/issues", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["description"] == "第一行\n\t第二行 C:\\u0000dir"


@pytest.mark.parametrize("url", ["/grids/abc%00def", "/grids?q=%00", "/locate?address=%1b"])
def test_control_characters_in_the_url_are_refused(
    limited: tuple[TestClient, FastAPI, Connection], url: str
) -> None:
    client, _, _ = limited
    _problem(client.get(url), 422, "control_characters")


def test_reports_are_rate_limited_per_client_with_retry_after(
    limited: tuple[TestClient, FastAPI, Connection],
) -> None:
    client, app, _ = limited
    clock = FakeClock()
    limiter: RateLimiter = app.state.rate_limiter
    limiter.clock = clock
    body = {"category": "1201", "description": "限流测试"}  # no place: 422, but counted
    statuses = [client.post("/issues", json=body).status_code for _ in range(4)]
    assert statuses[:3] == [422, 422, 422]
    problem = _problem(client.post("/issues", json=body), 429, "rate_limited")
    assert "retry in" in problem["detail"]
    response = client.post("/issues", json=body)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) == 20
    clock.now += 20  # 3 a minute: one token every 20 s
    assert client.post("/issues", json=body).status_code == 422
    assert client.post("/issues", json=body).status_code == 429
    # other routes and other classes keep their own budgets
    assert client.get("/grids?limit=1").status_code == 200
    assert client.get("/open311/v2/discovery.json").status_code == 200


def test_rate_limiter_buckets_are_per_address_and_bounded() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"reports": 2}, clock=clock, max_clients=3)
    assert [limiter.take("a", "reports") for _ in range(3)] == [0.0, 0.0, 30.0]
    assert limiter.take("b", "reports") == 0.0
    assert limiter.take("a", "public") == 0.0  # no limit configured for this class
    clock.now += 600
    for address in ("c", "d", "e"):
        assert limiter.take(address, "reports") == 0.0
    assert len(limiter._buckets) <= 3


def test_a_heavy_analysis_beyond_the_slots_answers_503_with_retry_after(
    limited: tuple[TestClient, FastAPI, Connection],
) -> None:
    client, app, _ = limited
    gate: HeavyAnalysisGate = app.state.heavy_gate
    holder = gate.hold()
    next(holder)  # another request holds the only slot
    try:
        problem = _problem(client.get("/analysis/hotspots?method=analytic"), 503, "busy")
        assert "retry" in problem["detail"]
        busy = client.get("/maps/gaps")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    finally:
        holder.close()
    assert client.get("/analysis/hotspots?method=analytic").status_code == 200


def test_permutations_are_capped(limited: tuple[TestClient, FastAPI, Connection]) -> None:
    client, _, _ = limited
    response = client.get("/analysis/hotspots?method=permutation&permutations=99999")
    problem = _problem(response, 422, "invalid_request")
    assert "permutations" in problem["detail"]


@pytest.mark.parametrize("url", ["/health", "/maps/grids", "/nowhere", "/docs"])
def test_every_answer_carries_the_security_headers(
    limited: tuple[TestClient, FastAPI, Connection], url: str
) -> None:
    client, _, _ = limited
    headers = client.get(url).headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_the_documentation_can_be_switched_off(settings: Settings, demo: Engine) -> None:
    closed = settings.model_copy(update={"docs_enabled": False})
    with rolled_back_app(closed, demo) as (client, _, _):
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404
        assert client.get("/health").status_code == 200
    with rolled_back_app(settings, demo) as (client, _, _):
        assert client.get("/docs").status_code == 200
        assert client.get("/openapi.json").json()["info"]["title"] == "geogrid"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_documentation_works_offline(client: TestClient, page: str) -> None:
    """Every script and stylesheet of the documentation pages comes from this server."""
    import re

    html = client.get(page).text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    urls += re.findall(r"(?:url|spec-url)\s*[:=]\s*['\"]([^'\"]+)['\"]", html)
    assert urls and all(u.startswith("/") for u in urls), urls
    for url in urls:
        if url.startswith("/static/"):
            response = client.get(url)
            assert response.status_code == 200, url
            assert response.headers["x-content-type-options"] == "nosniff"
