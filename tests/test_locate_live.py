"""The live GET /locate path (revision probe + cached answers, geogrid.locate.live): the same
bytes as the reference path, and every committed change — boundaries, admin areas, staff,
assignments, party organisations — visible on the very next lookup."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from api.routers.locate import _json_bytes, _locate_body, render_live_answer
from geogrid.errors import NotFoundError
from geogrid.locate.chain import locate_point
from geogrid.locate.index import GridIndex, IndexCache, load_grid_index, read_revision
from geogrid.locate.live import LiveLocator
from geogrid.locate.probe import RevisionProbe, Revisions, conninfo_from_url, read_revisions
from geogrid.settings import Settings
from geogrid.storage.database import make_session_factory
from tests.concurrency import run_coroutine

DISTRICT = "610503"


@pytest.fixture(scope="module")
def index(demo: Engine) -> GridIndex:
    with Session(demo) as session:
        return load_grid_index(session, DISTRICT)


@pytest.fixture(scope="module")
def points(index: GridIndex) -> list[tuple[float, float]]:
    """Random points over the district (some in no grid), grid vertices (on shared edges) and
    points inside dedicated grids."""
    rng = np.random.default_rng(2026)
    x0, y0, x1, y1 = index.bounds
    out = list(
        zip(rng.uniform(x0, x1, 120).tolist(), rng.uniform(y0, y1, 120).tolist(), strict=True)
    )
    vertices = shapely.get_coordinates(index.geoms[rng.choice(len(index), 20, replace=False)])
    out += [(float(x), float(y)) for x, y in vertices[:: max(1, len(vertices) // 40)]]
    for pos in np.flatnonzero(index.dedicated)[:10]:
        p = shapely.point_on_surface(index.geoms[pos])
        out.append((p.x, p.y))
    return out


def _reference(db: Session, lon: float, lat: float) -> bytes | None:
    """The answer of the SQL path (ST_Covers, no cache), rendered as the endpoint does."""
    try:
        location = locate_point(db, lon, lat, district_adcode=DISTRICT)
    except NotFoundError:
        return None
    return _json_bytes(_locate_body(location, None))


def test_live_answers_are_the_reference_bytes(
    committing_client: TestClient, db: Session, points: list[tuple[float, float]]
) -> None:
    """★ For random points, shared-edge vertices and dedicated grids, GET /locate answers
    byte for byte what the PostGIS ST_Covers path gives (404s included)."""
    client = committing_client  # read-only; the live path serves real (committed) apps
    answered = 0
    for lon, lat in points:
        r = client.get("/locate", params={"lon": repr(lon), "lat": repr(lat)})
        expected = _reference(db, lon, lat)
        if expected is None:
            assert r.status_code == 404, r.text
            continue
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.content == expected
        answered += 1
    assert answered > 60
    live = client.app.state.live_locator  # type: ignore[attr-defined]
    assert live.reloads == 1  # one load, every other answer from memory


def test_crs_and_district_parameters_go_live(committing_client: TestClient, db: Session) -> None:
    from geogrid.spatial.crs import wgs84_to_gcj02

    client = committing_client
    lon, lat = 109.7650, 34.5120
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    r = client.get(
        "/locate", params={"lon": repr(glon), "lat": repr(glat), "crs": "GCJ-02", "district": ""}
    )
    location = locate_point(db, glon, glat, district_adcode=DISTRICT, crs="gcj02")
    assert r.status_code == 200 and r.content == _json_bytes(_locate_body(location, None))
    assert client.app.state.live_locator.reloads == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "query",
    [
        "lon=1.09765e2&lat=34.512",  # an exponent: the same model parses it on both paths
        "lon=1&lat=2&lon=109.765&lat=34.512",  # repeated parameters: the last one counts
        "lon=109.765&lat=34.512&unknown=1",  # unknown parameters are ignored
    ],
)
def test_unusual_queries_answer_as_the_declared_endpoint(
    committing_client: TestClient, client: TestClient, db: Session, query: str
) -> None:
    """The live path reads the query with the endpoint's own model: whatever it answers, the
    declared endpoint (the rolled-back ``client`` has no live locator) answers the same."""
    live = committing_client.get(f"/locate?{query}")
    declared = client.get(f"/locate?{query}")
    assert live.status_code == declared.status_code == 200
    assert live.content == declared.content == _reference(db, 109.765, 34.512)
    assert committing_client.app.state.live_locator.reloads == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("lon=nan&lat=34.512", 422),
        ("lon=200&lat=34.512", 422),
        ("lon=109.765", 422),
        ("lon=109.765&lat=34.512&crs=mercator", 422),
        ("lon=109.765&lat=34.512&address=华州街道", 422),
        ("lon=109.765&lat=34.512&district=abc", 404),  # no grids in district "abc"
    ],
)
def test_refusals_come_from_the_declared_endpoint(
    committing_client: TestClient, client: TestClient, query: str, status: int
) -> None:
    """What the live path does not answer falls through: the same problem+json as an app
    without a live locator, and no district was loaded for it."""
    live = committing_client.get(f"/locate?{query}")
    declared = client.get(f"/locate?{query}")
    assert live.status_code == declared.status_code == status
    assert live.headers["content-type"] == "application/problem+json"
    assert live.json() == declared.json()
    assert committing_client.app.state.live_locator.reloads == 0  # type: ignore[attr-defined]


def test_rolled_back_app_takes_the_session_path(client: TestClient, db: Session) -> None:
    """The rolled-back ``client`` is built with ``locate_live=False``: lookups take the
    declared endpoint, so they see the test transaction; answers are the same bytes."""
    assert client.app.state.live_locator is None  # type: ignore[attr-defined]
    r = client.get("/locate", params={"lon": "109.765", "lat": "34.512"})
    assert r.status_code == 200 and r.content == _reference(db, 109.765, 34.512)


def test_lifespan_builds_the_caches_and_closes_the_probe(settings: Settings, demo: Engine) -> None:
    """Every locate cache exists once the app has started (none is made on first use), the
    live locator shares the app's grid index cache, and shutdown closes the probe."""
    from api.main import create_app

    app = create_app(settings)
    with TestClient(app) as test_client:
        state = app.state
        assert isinstance(state.live_locator, LiveLocator)
        assert isinstance(state.locate_index_cache, IndexCache)
        assert state.live_locator._index_cache is state.locate_index_cache
        r = test_client.get("/locate", params={"lon": "109.765", "lat": "34.512"})
        assert r.status_code == 200
        assert state.live_locator.reloads == 1
        assert state.live_locator.probe.idle_connections == 1
    assert state.live_locator.probe.idle_connections == 0


@dataclass
class Staffed:
    grid_id: int
    code: str
    lon: float
    lat: float
    a_staff: int
    b_assignment: int
    b_staff: int


@pytest.fixture
def staffed(demo: Engine) -> Staffed:
    """A leaf grid whose A post is on duty and which has a B post."""
    with demo.connect() as conn:
        row = conn.execute(
            text(
                """
                SELECT g.id, g.code, ST_X(ST_PointOnSurface(gv.geom)) AS x,
                       ST_Y(ST_PointOnSurface(gv.geom)) AS y,
                       a.staff_id AS a_staff, b.id AS b_assignment, b.staff_id AS b_staff
                FROM grids g
                JOIN grid_versions gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
                JOIN grid_assignments a ON a.grid_id = g.id AND a.post = 'A' AND a.valid_to IS NULL
                JOIN staff sa ON sa.id = a.staff_id AND sa.availability = 'on_duty' AND sa.active
                JOIN grid_assignments b ON b.grid_id = g.id AND b.post = 'B' AND b.valid_to IS NULL
                WHERE g.kind = 'general' AND g.level >= 2 AND g.retired_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM grids c WHERE c.parent_id = g.id)
                ORDER BY g.code LIMIT 1 OFFSET 4
                """
            )
        ).one()
    return Staffed(row.id, row.code, row.x, row.y, row.a_staff, row.b_assignment, row.b_staff)


@pytest.fixture
def other(settings: Settings) -> Iterator[Engine]:
    """Another process's connection: its commits are what the app must notice."""
    engine = create_engine(settings.database_url)
    yield engine
    engine.dispose()


def _board(client: TestClient, s: Staffed) -> dict:
    r = client.get("/locate", params={"lon": repr(s.lon), "lat": repr(s.lat)})
    assert r.status_code == 200, r.text
    assert r.json()["deepest"]["code"] == s.code
    return r.json()["signboard"]


def test_staff_changes_show_on_the_next_lookup(
    committing_client: TestClient, staffed: Staffed, other: Engine, demo_clock: datetime
) -> None:
    """★ A marked away, then B's assignment ended, then the party branch renamed — each
    committed by another connection — each on the very next lookup; all restored after."""
    s = staffed
    board = _board(committing_client, s)
    assert board["on_duty"]["staff_id"] == s.a_staff
    with other.connect() as conn:
        party = conn.execute(
            text("SELECT id, name FROM party_organisations WHERE grid_id = :g ORDER BY id LIMIT 1"),
            {"g": s.grid_id},
        ).one_or_none()
    try:
        with other.begin() as conn:
            conn.execute(
                # away for three days from the demo's time, as the app reads its own clock
                # (not the database server's)
                text("UPDATE staff SET availability = 'away', away_until = :until WHERE id = :id"),
                {"id": s.a_staff, "until": demo_clock + timedelta(days=3)},
            )
        board = _board(committing_client, s)
        assert board["on_duty"]["staff_id"] == s.b_staff
        assert board["on_duty_reason"] == "A post away, B post covers"

        with other.begin() as conn:
            conn.execute(
                text("UPDATE grid_assignments SET valid_to = now() WHERE id = :id"),
                {"id": s.b_assignment},
            )
        board = _board(committing_client, s)
        assert board["post_b"] is None and board["on_duty"] is None
        assert board["post_a"]["staff_id"] == s.a_staff

        if party is not None:
            with other.begin() as conn:
                conn.execute(
                    text("UPDATE party_organisations SET name = name || '（测试）' WHERE id = :id"),
                    {"id": party.id},
                )
            board = _board(committing_client, s)
            assert party.name + "（测试）" in {o["name"] for o in board["party_organisations"]}
    finally:
        with other.begin() as conn:
            conn.execute(
                text("UPDATE staff SET availability = 'on_duty', away_until = NULL WHERE id = :id"),
                {"id": s.a_staff},
            )
            conn.execute(
                text("UPDATE grid_assignments SET valid_to = NULL WHERE id = :id"),
                {"id": s.b_assignment},
            )
            if party is not None:
                conn.execute(
                    text("UPDATE party_organisations SET name = :n WHERE id = :id"),
                    {"n": party.name, "id": party.id},
                )
    board = _board(committing_client, s)
    assert board["on_duty"]["staff_id"] == s.a_staff and board["post_b"]["staff_id"] == s.b_staff


def test_admin_area_rename_shows_on_the_next_lookup(
    committing_client: TestClient, staffed: Staffed, other: Engine
) -> None:
    s = staffed
    params = {"lon": repr(s.lon), "lat": repr(s.lat)}
    community = committing_client.get("/locate", params=params).json()["admin_areas"][-1]
    try:
        with other.begin() as conn:
            conn.execute(
                text("UPDATE admin_areas SET name = name || '（测试）' WHERE id = :id"),
                {"id": community["id"]},
            )
        renamed = committing_client.get("/locate", params=params).json()["admin_areas"][-1]
        assert renamed["name"] == community["name"] + "（测试）"
    finally:
        with other.begin() as conn:
            conn.execute(
                text("UPDATE admin_areas SET name = :n WHERE id = :id"),
                {"n": community["name"], "id": community["id"]},
            )
    assert committing_client.get("/locate", params=params).json()["admin_areas"][-1] == community


def test_cached_signboard_expires_when_a_comes_back(
    settings: Settings, engine: Engine, staffed: Staffed, other: Engine
) -> None:
    """A away until a moment: cached answers show B until then and A from then on, with no
    change in the database (the cache entry carries the expiry)."""
    s = staffed
    locator = LiveLocator(
        probe=RevisionProbe(conninfo_from_url(settings.database_url)),
        session_factory=make_session_factory(engine),
        index_cache=IndexCache(),
        render=render_live_answer,
    )
    with other.begin() as conn:
        back = conn.execute(
            text(
                "UPDATE staff SET availability = 'away', away_until = now() + interval '1 day' "
                "WHERE id = :id RETURNING away_until"
            ),
            {"id": s.a_staff},
        ).scalar_one()
    try:

        async def on_duty(now: datetime) -> int:
            found = await locator.locate(s.lon, s.lat, district_adcode=DISTRICT, now=now)
            assert found is not None
            return int(json.loads(b"{" + found[2])["signboard"]["on_duty"]["staff_id"])

        async def around_the_return() -> list[int]:
            moments = [back - timedelta(hours=1), back - timedelta(minutes=1)]
            return [await on_duty(t) for t in (*moments, back + timedelta(seconds=1))]

        assert run_coroutine(around_the_return()) == [s.b_staff, s.b_staff, s.a_staff]
        assert locator.reloads == 1
    finally:
        with other.begin() as conn:
            conn.execute(
                text("UPDATE staff SET availability = 'on_duty', away_until = NULL WHERE id = :id"),
                {"id": s.a_staff},
            )


def test_triggers_bump_once_per_statement_and_district(db: Session, demo: Engine) -> None:
    def staff_revision() -> int:
        return int(
            db.execute(
                text("SELECT revision FROM staff_revisions WHERE district_adcode = :d"),
                {"d": DISTRICT},
            ).scalar_one()
        )

    start = staff_revision()
    db.execute(text("UPDATE staff SET phone = phone WHERE district_adcode = :d"), {"d": DISTRICT})
    assert staff_revision() == start + 1  # 3 440 rows, one bump
    db.execute(text("UPDATE grid_assignments SET post = post WHERE id IN (1, 2, 3)"))
    assert staff_revision() == start + 2
    db.execute(text("UPDATE party_organisations SET name = name WHERE false"))
    assert staff_revision() == start + 2  # touched no row
    boundary = read_revision(db, DISTRICT)
    db.execute(text("UPDATE admin_areas SET name = name WHERE level = 'community'"))
    assert read_revision(db, DISTRICT) != boundary


def test_probe_tokens_match_the_index_and_survive_a_lost_connection(
    settings: Settings, db: Session, demo: Engine
) -> None:
    probe = RevisionProbe(conninfo_from_url(settings.database_url))

    async def reads() -> None:
        assert (await probe.read(DISTRICT)).boundary == read_revision(db, DISTRICT)
        assert (await probe.read("000000")).boundary == "0"
        (pid,) = probe.backend_pids()
        db.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert (await probe.read(DISTRICT)).boundary == read_revision(db, DISTRICT)
        assert probe.backend_pids() != [pid]

    try:
        run_coroutine(reads())
    finally:
        probe.close()


def test_probe_and_session_read_the_same_revisions(
    settings: Settings, db: Session, demo: Engine
) -> None:
    """A reload labels its state with revisions read in its session: the probe's tokens."""
    probe = RevisionProbe(conninfo_from_url(settings.database_url))
    try:
        assert run_coroutine(probe.read(DISTRICT)) == read_revisions(db, DISTRICT)
    finally:
        probe.close()


def test_revision_token_is_independent_of_the_session_time_zone() -> None:
    from geogrid.locate.index import revision_token

    instant = datetime(2026, 11, 29, 8, 30, 0, 123456, tzinfo=UTC)
    china = instant.astimezone(ZoneInfo("Asia/Shanghai"))
    assert revision_token(3, instant) == revision_token(3, china) == "3@1795941000123456"


def test_concurrent_reads_share_a_query_that_starts_after_them(
    settings: Settings, db: Session, demo: Engine, other: Engine
) -> None:
    """★ 400 reads asked together make one query on one connection; a read asked while a
    query runs waits for the next one, so it sees a commit that returned before it asked."""
    probe = RevisionProbe(conninfo_from_url(settings.database_url))

    def bump_staff_revision() -> Revisions:
        with other.begin() as conn:
            conn.execute(
                text("UPDATE staff SET phone = phone WHERE id = (SELECT min(id) FROM staff)")
            )
        with Session(other) as session:
            return read_revisions(session, DISTRICT)

    async def scenario() -> None:
        found = await asyncio.gather(*(probe.read(DISTRICT) for _ in range(400)))
        assert {r.boundary for r in found} == {read_revision(db, DISTRICT)}
        assert probe.queries == 1 and probe.idle_connections == 1

        first = asyncio.ensure_future(probe.read(DISTRICT))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the first query is on the wire
        bumped = bump_staff_revision()  # committed before the second read is asked
        second = await probe.read(DISTRICT)
        assert second == bumped  # the first read may or may not have seen it: it was sent
        await first
        assert probe.queries == 3

    try:
        run_coroutine(scenario())
    finally:
        probe.close()
