"""Optimistic concurrency under real concurrency: two PATCHes from the same version, at once.

The requests commit for real (``committing_client``), on a dedicated grid this test creates and
deletes again, so the demo counts other tests check are untouched. To make the two requests
truly overlap without relying on timing, the test holds the grid's row lock from a third
connection until both requests are seen waiting in ``pg_stat_activity``, then lets go.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.concurrency import race_behind_row_lock
from tests.test_grids_support import Leaf, feature, inner_square, pick_leaf


@pytest.fixture(scope="module")
def leaf(demo: Engine) -> Leaf:
    return pick_leaf(demo)


@pytest.fixture
def scratch_grid(committing_client: TestClient, demo: Engine, leaf: Leaf) -> Iterator[str]:
    """A committed dedicated grid under the leaf's community, deleted (rows and all) after."""
    body = feature(
        inner_square(leaf.geom, 0.1),
        name="并发测试专属网格",
        parent=leaf.parent,
        kind="dedicated",
        dedicated_type="other",
    )
    r = committing_client.post("/grids", json=body)
    assert r.status_code == 201, r.text
    code = r.json()["properties"]["code"]
    try:
        yield code
    finally:
        with demo.begin() as conn:
            conn.execute(
                text(
                    "DELETE FROM grid_versions WHERE grid_id = (SELECT id FROM grids "
                    "WHERE code = :c)"
                ),
                {"c": code},
            )
            conn.execute(text("DELETE FROM grids WHERE code = :c"), {"c": code})


def test_two_concurrent_patches_from_one_version_exactly_one_wins(
    committing_client: TestClient, demo: Engine, scratch_grid: str
) -> None:
    code = scratch_grid
    tag = committing_client.get(f"/grids/{code}").headers["ETag"]
    assert tag == f'"{code}-v1"'

    def patch(name: str) -> Any:
        return committing_client.patch(
            f"/grids/{code}",
            json={"type": "Feature", "properties": {"name": name}},
            headers={"If-Match": tag},
        )

    results = race_behind_row_lock(
        demo,
        "SELECT 1 FROM grids WHERE code = :c FOR UPDATE",
        {"c": code},
        {name: (lambda name=name: patch(name)) for name in ("alpha", "beta")},
    )
    statuses = sorted(r.status_code for r in results.values())
    assert statuses == [200, 412], {k: (r.status_code, r.text) for k, r in results.items()}
    loser = next(r for r in results.values() if r.status_code == 412).json()
    assert loser["current_version"] == 2 and loser["etag"] == f'"{code}-v2"'
    winner = next(n for n, r in results.items() if r.status_code == 200)
    history = committing_client.get(f"/grids/{code}/history").json()["features"]
    assert [h["properties"]["version"] for h in history] == [1, 2]
    assert history[-1]["properties"]["name"] == winner
    assert history[-1]["properties"]["changed_by"] == "test-admin"  # the login
