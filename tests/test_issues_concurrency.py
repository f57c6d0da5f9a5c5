"""Two workers move the same issue from the same row_version at the same moment: exactly one
transition applies, the other is refused (412 with If-Match, 409 without), and the timeline has
one transition.

The requests commit for real (``committing_client``) on an issue this test reports and deletes
again (events, grids and reporters go with it), so the demo counts are untouched. To make the
two requests truly overlap without relying on timing, a third connection holds the issue's row
lock until both requests are seen waiting in ``pg_stat_activity``, then lets go; the first to
get the lock commits, and PostgreSQL re-checks ``row_version = seen`` for the second against
the committed row, so its update touches nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.concurrency import race_behind_row_lock


@pytest.fixture
def committed_issue(committing_client: TestClient, demo: Engine) -> Iterator[dict[str, Any]]:
    with demo.connect() as conn:
        lon, lat = conn.execute(
            text(
                "SELECT ST_X(ST_PointOnSurface(v.geom)), ST_Y(ST_PointOnSurface(v.geom)) "
                "FROM grids g JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL "
                "WHERE g.level = 2 AND g.kind = 'general' ORDER BY g.code OFFSET 5 LIMIT 1"
            )
        ).one()
    key = f"test-race-{uuid.uuid4()}"
    answer = committing_client.post(
        "/issues",
        json={"category": "1201", "description": "并发流转测试", "lon": lon, "lat": lat},
        headers={"Idempotency-Key": key},
    )
    try:
        assert answer.status_code == 201, answer.text
        yield answer.json()
    finally:
        with demo.begin() as conn:
            conn.execute(text("DELETE FROM issues WHERE idempotency_key = :k"), {"k": key})


@pytest.mark.parametrize("if_match", [True, False], ids=["if-match", "no-if-match"])
def test_two_concurrent_transitions_from_one_version_exactly_one_applies(
    committing_client: TestClient, demo: Engine, committed_issue: dict[str, Any], if_match: bool
) -> None:
    iid, version = committed_issue["id"], committed_issue["row_version"]
    moves = {
        "alpha": {"to": "accepted", "note": "立案"},
        "beta": {"to": "rejected", "note": "不予受理"},
    }

    def move(name: str) -> Any:
        headers = {"If-Match": f'"{iid}-v{version}"'} if if_match else {}
        return committing_client.post(
            f"/issues/{iid}/transitions", json=moves[name], headers=headers
        )

    results = race_behind_row_lock(
        demo,
        "SELECT 1 FROM issues WHERE id = :i FOR UPDATE",
        {"i": iid},
        {name: (lambda name=name: move(name)) for name in moves},
    )

    lost = 412 if if_match else 409
    statuses = sorted(r.status_code for r in results.values())
    assert statuses == [200, lost], {k: (r.status_code, r.text) for k, r in results.items()}
    winner = next(n for n, r in results.items() if r.status_code == 200)
    loser = next(r for r in results.values() if r.status_code == lost)
    assert loser.headers["content-type"].startswith("application/problem+json")
    assert loser.json()["current_version"] == version + 1
    if if_match:  # the 412 names the entity tag to send next, in the one convention
        assert loser.json()["etag"] == f'"{iid}-v{version + 1}"'

    body = committing_client.get(f"/issues/{iid}").json()
    assert body["status"] == moves[winner]["to"] and body["row_version"] == version + 1
    transitions = [e for e in body["timeline"] if e["kind"] == "transition"]
    assert [(e["actor"], e["to_status"]) for e in transitions] == [
        ("test-admin", moves[winner]["to"])
    ]
