"""Writes in flight when the connection drops are all or nothing (issue 16).

A split, an import and a workflow transition are each stopped *in the middle* — after their
first rows are written in their transaction, before the commit — and their database
connection is killed there (``pg_terminate_backend``), as a server crash or a failover would.
"In the middle" is forced without timing, as :mod:`tests.concurrency` does: a second
connection holds a row lock the write needs further on; once PostgreSQL shows the app's
backend (found by its ``application_name``) waiting on it, and the statement it waits in is a
write, that backend is terminated. The client gets 503 with Retry-After, and the database is
exactly as before: not one row of the half-done write is left. The app then answers the next
request on a fresh connection.

The requests would commit for real (the app has its own pool); since every one is killed
before committing, the demo data is left as it was. The issues the transition test needs are
its own and deleted afterwards.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.main import create_app
from geogrid.settings import Settings
from tests.faults import wait_for_backend
from tests.test_grids_support import Leaf, pick_leaf

DISTRICT = "610503"
#: What a half-done write would change: row counts of every table it writes, and a digest of
#: the rows it would update (grids, issues, the district's boundary revision).
_SNAPSHOT = text(
    """
    SELECT json_build_object(
      'grids', (SELECT md5(string_agg(g::text, ',' ORDER BY g.id)) FROM grids g),
      'grid_versions', (SELECT count(*) FROM grid_versions),
      'grid_retirements', (SELECT count(*) FROM grid_retirements),
      'grid_assignments', (SELECT md5(string_agg(a::text, ',' ORDER BY a.id))
                           FROM grid_assignments a),
      'issues', (SELECT md5(string_agg(concat_ws('|', i.id, i.status, i.row_version,
                 i.grid_id, i.duplicate_of_id), ',' ORDER BY i.id)) FROM issues i),
      'issue_grids', (SELECT count(*) FROM issue_grids),
      'issue_events', (SELECT count(*) FROM issue_events),
      'issue_reporters', (SELECT count(*) FROM issue_reporters),
      'boundary_revisions', (SELECT md5(string_agg(b::text, ',' ORDER BY b.district_adcode))
                             FROM boundary_revisions b)
    )
    """
)


def snapshot(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        state: dict[str, Any] = conn.execute(_SNAPSHOT).scalar_one()
    return state


@pytest.fixture
def app_name() -> str:
    return f"geogrid-inflight-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def app_client(
    settings: Settings, demo: Engine, app_name: str, admin_headers: dict[str, str]
) -> Iterator[TestClient]:
    """The app with its own pool, committing for real, its backends named ``app_name``."""
    own = settings.model_copy(
        update={"database_application_name": app_name, "locate_live": False, "retry_after_s": 3}
    )
    with TestClient(create_app(own), headers=admin_headers) as client:
        yield client


def killed_in_the_middle(
    demo: Engine,
    app_name: str,
    lock_sql: str,
    params: dict[str, Any],
    request: Callable[[], httpx.Response],
) -> tuple[httpx.Response, str]:
    """Run ``request`` while ``lock_sql`` holds a row it needs; kill its backend once it
    waits there. Returns the answer and the statement the backend was waiting in."""
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(request()))
    holder = demo.connect()
    trans = holder.begin()
    try:
        holder.execute(text(lock_sql), params)
        thread.start()
        pid = wait_for_backend(demo, app_name, wait_event_type="Lock")
        with demo.connect() as conn:
            waiting_in = conn.execute(
                text("SELECT query FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar_one()
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        trans.rollback()
        holder.close()
    thread.join(timeout=120)
    assert answers, "the request never came back"
    return answers[0], str(waiting_in)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "3"
    body = response.json()
    assert body["rule"] == "database_unavailable" and body["database"] == "unreachable"
    assert body["reason"] == "connection terminated by the server", body


def _etag(client: TestClient, code: str) -> str:
    r = client.get(f"/grids/{code}")
    assert r.status_code == 200, r.text
    return r.headers["ETag"]


#: The district's boundary revision row: every grid write bumps it (a trigger, after the
#: statement's rows are written), so holding it stops a boundary change after its first write.
LOCK_REVISION = "SELECT 1 FROM boundary_revisions WHERE district_adcode = :d FOR UPDATE"


def test_a_split_killed_in_the_middle_leaves_nothing(
    app_client: TestClient, demo: Engine, app_name: str
) -> None:
    leaf: Leaf = pick_leaf(demo, min_open=1)
    p = leaf.geom.representative_point()
    _, miny, _, maxy = leaf.geom.bounds
    line = {"type": "LineString", "coordinates": [[p.x, miny - 0.001], [p.x, maxy + 0.001]]}
    headers = {"If-Match": _etag(app_client, leaf.code), "X-Actor": "fault-test"}
    before = snapshot(demo)
    answer, waiting_in = killed_in_the_middle(
        demo,
        app_name,
        LOCK_REVISION,
        {"d": DISTRICT},
        lambda: app_client.post(f"/grids/{leaf.code}/split", json=line, headers=headers),
    )
    assert waiting_in.lstrip().upper().startswith("INSERT"), waiting_in  # a piece was written
    assert_unavailable(answer)
    assert snapshot(demo) == before
    grid = app_client.get(f"/grids/{leaf.code}")  # a fresh connection answers
    assert grid.status_code == 200 and grid.headers["ETag"] == headers["If-Match"]


def test_an_import_killed_in_the_middle_leaves_nothing(
    app_client: TestClient, demo: Engine, app_name: str
) -> None:
    with demo.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT g.code, ST_AsBinary(v.geom) AS wkb FROM grids g "
                "JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL "
                "WHERE g.level = 2 AND g.kind = 'general' AND g.retired_at IS NULL "
                "ORDER BY g.code OFFSET 3 LIMIT 2"
            )
        ).all()
    features = [
        {
            "type": "Feature",
            "properties": {"code": row.code, "name": f"断线导入{i}"},
            "geometry": shapely.geometry.mapping(shapely.from_wkb(bytes(row.wkb))),
        }
        for i, row in enumerate(rows)
    ]
    body = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    before = snapshot(demo)
    answer, waiting_in = killed_in_the_middle(
        demo,
        app_name,
        LOCK_REVISION,
        {"d": DISTRICT},
        lambda: app_client.post(
            "/grids/import",
            files={"file": ("网格.geojson", body.encode(), "application/geo+json")},
            data={"dry_run": "false"},
        ),
    )
    assert waiting_in.lstrip().upper().startswith(("INSERT", "UPDATE")), waiting_in
    assert_unavailable(answer)
    assert snapshot(demo) == before
    names = {app_client.get(f"/grids/{r.code}").json()["properties"]["name"] for r in rows}
    assert not any(name.startswith("断线导入") for name in names)


@pytest.fixture
def two_reports(app_client: TestClient, demo: Engine) -> Iterator[tuple[int, int]]:
    """Two committed reports at one point, the second with a reporter (deleted afterwards)."""
    leaf = pick_leaf(demo, min_open=0, skip=9)
    p = leaf.geom.representative_point()
    keys = [f"test-inflight-{uuid.uuid4()}" for _ in range(2)]
    ids = []
    try:
        for i, key in enumerate(keys):
            report = {"category": "1201", "description": "断线流转测试", "lon": p.x, "lat": p.y}
            if i == 1:
                report["reporter_name"] = "张三"
            r = app_client.post("/issues", json=report, headers={"Idempotency-Key": key})
            assert r.status_code == 201, r.text
            ids.append(int(r.json()["id"]))
        yield ids[0], ids[1]
    finally:
        with demo.begin() as conn:
            conn.execute(text("DELETE FROM issues WHERE idempotency_key = ANY(:k)"), {"k": keys})


def test_a_transition_killed_in_the_middle_leaves_nothing(
    app_client: TestClient, demo: Engine, app_name: str, two_reports: tuple[int, int]
) -> None:
    """Marking a report a duplicate updates it and logs the step, then copies its reporters
    to the issue kept: the holder keeps writers out of ``issue_reporters`` (SHARE lets the
    transition read it), so the copy waits after the first two writes."""
    kept, duplicate = two_reports
    before = snapshot(demo)
    answer, waiting_in = killed_in_the_middle(
        demo,
        app_name,
        "LOCK TABLE issue_reporters IN SHARE MODE",
        {},
        lambda: app_client.post(
            f"/issues/{duplicate}/transitions", json={"to": "duplicate", "duplicate_of": kept}
        ),
    )
    assert waiting_in.lstrip().startswith("INSERT INTO issue_reporters"), waiting_in
    assert_unavailable(answer)
    assert snapshot(demo) == before
    detail = app_client.get(f"/issues/{duplicate}").json()
    assert detail["status"] == "reported"
    # the same step sent again applies, whole
    again = app_client.post(
        f"/issues/{duplicate}/transitions", json={"to": "duplicate", "duplicate_of": kept}
    )
    assert again.status_code == 200, again.text
    with demo.connect() as conn:
        copied = conn.execute(
            text("SELECT count(*) FROM issue_reporters WHERE issue_id = :id"), {"id": kept}
        ).scalar_one()
    assert copied == 1
