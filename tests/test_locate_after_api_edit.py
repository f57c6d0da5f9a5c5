"""★ A boundary edited through the API by one server is seen by the very next lookup on
another: two app instances, each with its own engine and its own in-memory index (as two
processes would be), sharing only the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely import wkb
from shapely.geometry import Point, mapping
from sqlalchemy import Engine, text

from api.main import create_app
from geogrid.settings import Settings


@pytest.fixture
def reader(settings: Settings, demo: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def leaf(demo: Engine) -> Iterator[dict[str, Any]]:
    """A level-2 grid without children, put back exactly as it was afterwards."""
    with demo.begin() as conn:
        row = conn.execute(
            text(
                """
                SELECT g.id, g.code, ST_AsBinary(v.geom) AS geom,
                       ST_X(ST_PointOnSurface(v.geom)) AS x, ST_Y(ST_PointOnSurface(v.geom)) AS y
                FROM grids g JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL
                WHERE g.level = 2 AND g.kind = 'general' AND g.retired_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM grids c WHERE c.parent_id = g.id)
                ORDER BY g.code DESC OFFSET 17 LIMIT 1
                """
            )
        ).one()
    yield dict(row._mapping)
    with demo.begin() as conn:
        conn.execute(
            text("DELETE FROM grid_versions WHERE grid_id = :g AND version > 1"), {"g": row.id}
        )
        conn.execute(
            text("UPDATE grid_versions SET valid_to = NULL WHERE grid_id = :g"), {"g": row.id}
        )
        conn.execute(text("UPDATE grids SET current_version = 1 WHERE id = :g"), {"g": row.id})


def test_api_edit_on_one_server_is_seen_by_the_next_lookup_on_another(
    committing_client: TestClient, reader: TestClient, leaf: dict[str, Any]
) -> None:
    code, x, y = leaf["code"], leaf["x"], leaf["y"]
    where = {"lon": x, "lat": y}
    assert reader.get("/locate", params=where).json()["deepest"]["code"] == code

    # the office cuts a hole around the point through the other server's API
    shape = wkb.loads(bytes(leaf["geom"]))
    holed = shape.difference(Point(x, y).buffer(0.0003))
    etag = committing_client.get(f"/grids/{code}").headers["ETag"]
    edit = committing_client.patch(
        f"/grids/{code}",
        json={"type": "Feature", "properties": {}, "geometry": mapping(holed)},
        headers={"If-Match": etag, "X-Actor": "office"},
    )
    assert edit.status_code == 200, edit.text

    after = reader.get("/locate", params=where).json()
    assert after["deepest"]["code"] == str(code)[:12]  # now the community answers
