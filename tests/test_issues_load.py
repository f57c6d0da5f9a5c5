"""50 concurrent clients file 2 000 reports, with retries and Idempotency-Keys, against the real
app behind its login and its rate limits: exactly 2 000 issues are stored.

The app runs in uvicorn on a real socket in this process (its own pool, real commits, access
control and the rate limiter installed); the clients are ``httpx.AsyncClient`` s on real
connections. The report rate limit is ON: the limiter's clock is replaced by one that moves
a fixed step per request (no wall clock, so the outcome does not depend on the machine's
speed), refilling half a token per request; the shared bucket of 127.0.0.1 runs dry before
the end and the clients must honour 429 + ``Retry-After``. Every fifth report is sent twice with its key, as a client does when the
first answer was lost: the second answer is the first report (200, same id). Half the clients
are residents (no login), half are staff with a bearer token; a login is still required for
reading the queue. The test's reports carry a key prefix of their own and are deleted after.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, text

from api.main import create_app
from geogrid.settings import Settings
from tests.concurrency import run_coroutine
from tests.logins import TestLogin

CLIENTS = 50
REPORTS = 2_000
RESENT_EVERY = 5  # every fifth report is sent again, as after a lost answer
#: Reports allowed per minute from one address: ON. The bucket holds RATE tokens and refills
#: half a token per request (the stepping clock), so it empties after about 2 * RATE requests,
#: before the 2 400 sent, and 429s happen.
RATE = 1_000
MAX_ATTEMPTS = 200  # a guard against a client looping forever, not a timing assertion


@dataclass
class Tally:
    """What the clients saw, for the assertions."""

    ids: dict[str, int] = field(default_factory=dict)  # key -> issue id of the first answer
    replays: list[tuple[str, int]] = field(default_factory=list)  # key, id of a resent report
    retried: dict[int, int] = field(default_factory=dict)  # status -> retries after it
    unexpected: list[tuple[int, str]] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(settings: Settings, engine: Engine) -> Iterator[str]:
    """The real app in uvicorn on a free port, with the report rate limit on."""
    app = create_app(settings.model_copy(update={"rate_limit_reports": RATE, "locate_live": False}))
    ticks = itertools.count()
    step = 60 / RATE / 2  # seconds per request: half a token
    app.state.rate_limiter.clock = lambda: next(ticks) * step
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        probe = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)
        for _ in range(600):  # the lifespan opens the pool; wait for the first answer
            if uv.started:
                break
            threading.Event().wait(0.1)
        assert uv.started, "uvicorn did not start"
        assert probe.get("/health").status_code == 200
        probe.close()
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=60)


def _points(engine: Engine, n: int) -> list[tuple[float, float]]:
    """Points inside current leaf grids of the demo district, cycled to ``n``."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM grids g "
                "JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL, "
                "ST_PointOnSurface(v.geom) AS p "
                "WHERE g.retired_at IS NULL AND g.kind = 'general' AND g.level = 2 "
                "AND g.district_adcode = '610503' ORDER BY g.code LIMIT 40"
            )
        ).all()
    assert rows
    return [(float(rows[i % len(rows)][0]), float(rows[i % len(rows)][1])) for i in range(n)]


async def _send(
    http: httpx.AsyncClient, body: dict[str, object], key: str, tally: Tally
) -> httpx.Response:
    """POST the report until it is answered 200/201: retry after 429 and 503 (honouring
    ``Retry-After``, capped so the test stays short) and after a broken connection."""
    for _ in range(MAX_ATTEMPTS):
        try:
            answer = await http.post("/issues", json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            tally.retried[0] = tally.retried.get(0, 0) + 1
            await asyncio.sleep(0.05)
            continue
        if answer.status_code in (429, 503):
            tally.retried[answer.status_code] = tally.retried.get(answer.status_code, 0) + 1
            await asyncio.sleep(min(float(answer.headers.get("Retry-After", "1")), 1.0))
            continue
        return answer
    raise AssertionError(f"report {key} was never accepted")


async def _client(
    base_url: str,
    number: int,
    jobs: list[tuple[str, tuple[float, float]]],
    headers: dict[str, str],
    tally: Tally,
) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) as http:
        for index, (key, (lon, lat)) in enumerate(jobs):
            body = {
                "category": "1201",
                "description": f"压力测试 {number}-{index}",
                "lon": lon,
                "lat": lat,
            }
            first = await _send(http, body, key, tally)
            if first.status_code != 201:
                tally.unexpected.append((first.status_code, first.text[:200]))
                continue
            tally.ids[key] = first.json()["id"]
            if index % RESENT_EVERY == 0:
                again = await _send(http, body, key, tally)
                if again.status_code != 200:
                    tally.unexpected.append((again.status_code, again.text[:200]))
                else:
                    tally.replays.append((key, again.json()["id"]))


async def _file_all(
    base_url: str, keys: list[str], points: list[tuple[float, float]], staff: dict[str, str]
) -> Tally:
    tally = Tally()
    jobs = list(zip(keys, points, strict=True))
    per_client = [jobs[i::CLIENTS] for i in range(CLIENTS)]
    await asyncio.gather(
        *(
            _client(base_url, n, per_client[n], staff if n % 2 else {}, tally)
            for n in range(CLIENTS)
        )
    )
    return tally


def test_fifty_clients_file_two_thousand_reports_exactly_once(
    server: str, engine: Engine, logins: dict[str, TestLogin]
) -> None:
    prefix = f"test-load-{uuid.uuid4()}-"
    keys = [f"{prefix}{i}" for i in range(REPORTS)]
    try:
        # the login is on: the queue is not for the public
        assert httpx.get(f"{server}/issues", timeout=30).status_code == 401
        tally = run_coroutine(
            _file_all(
                server, keys, _points(engine, REPORTS), dict(logins["street_officer"].headers)
            )
        )
        assert tally.unexpected == []
        assert len(tally.ids) == REPORTS
        assert len(set(tally.ids.values())) == REPORTS
        assert len(tally.replays) == REPORTS // RESENT_EVERY
        assert all(tally.ids[key] == iid for key, iid in tally.replays)
        assert tally.retried.get(429, 0) > 0, "the rate limit never answered: it is not on"
        with engine.connect() as conn:
            stored = conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT idempotency_key) FROM issues "
                    "WHERE idempotency_key LIKE :p"
                ),
                {"p": prefix + "%"},
            ).one()
        assert tuple(stored) == (REPORTS, REPORTS)
    finally:
        _delete_reports(engine, prefix)


def _delete_reports(engine: Engine, prefix: str) -> None:
    """Delete the test's reports. Their grid tags go first in one statement: deleting an issue
    untags it row by row otherwise, and each untagging refreshes the analysis stores."""
    mine = "SELECT id FROM issues WHERE idempotency_key LIKE :p"
    with engine.begin() as conn:
        for table in ("issue_grids", "issue_events"):
            conn.execute(
                text(f"DELETE FROM {table} WHERE issue_id IN ({mine})"), {"p": prefix + "%"}
            )
        conn.execute(text(f"DELETE FROM issues WHERE id IN ({mine})"), {"p": prefix + "%"})
