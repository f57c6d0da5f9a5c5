"""Shared helpers of the grids tests (no tests here).

:func:`rolled_back_client` is the rolled-back ``client`` of conftest, plus the connection its
requests run on, so a test can look at rows the requests wrote (issues re-tagged, events) before
the rollback.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import shapely
from fastapi.testclient import TestClient
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, Engine, text

from geogrid.settings import Settings
from tests.rolled_back import rolled_back_app


@dataclass(slots=True)
class Leaf:
    """A demo level-2 general grid without children, with open issues."""

    code: str
    parent: str
    geom: BaseGeometry
    open_issues: int


def pick_leaf(engine: Engine, *, min_open: int = 2, skip: int = 0) -> Leaf:
    sql = text(
        """
        SELECT g.code, p.code AS parent, ST_AsBinary(v.geom) AS wkb,
               count(i.id) FILTER (WHERE i.status NOT IN ('closed','rejected','duplicate')) AS n
        FROM grids g JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL
        JOIN grids p ON p.id = g.parent_id
        LEFT JOIN issues i ON i.grid_id = g.id
        WHERE g.level = 2 AND g.kind = 'general' AND g.retired_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM grids c WHERE c.parent_id = g.id)
        GROUP BY g.code, p.code, v.geom
        HAVING count(i.id) FILTER (WHERE i.status NOT IN ('closed','rejected','duplicate')) >= :n
        ORDER BY g.code OFFSET :skip LIMIT 1
        """
    )
    with engine.connect() as conn:
        row = conn.execute(sql, {"n": min_open, "skip": skip}).one()
    return Leaf(row.code, row.parent, shapely.from_wkb(bytes(row.wkb)), row.n)


def rolled_back_client(
    settings: Settings, engine: Engine
) -> Iterator[tuple[TestClient, Connection]]:
    """Body of a ``grids_client`` fixture (see the module docstring)."""
    with rolled_back_app(settings, engine) as (test_client, conn, _):
        yield test_client, conn


def polygon(geom: BaseGeometry) -> dict[str, Any]:
    return dict(mapping(geom))


def feature(geom: BaseGeometry | dict[str, Any] | None, **properties: Any) -> dict[str, Any]:
    geometry = geom if isinstance(geom, dict) or geom is None else polygon(geom)
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def inner_square(geom: BaseGeometry, fraction: float = 0.2) -> BaseGeometry:
    """A square around a point inside ``geom``, small enough to lie inside it."""
    p = geom.representative_point()
    minx, miny, maxx, maxy = geom.bounds
    half = min(maxx - minx, maxy - miny) * fraction / 2
    square = shapely.box(p.x - half, p.y - half, p.x + half, p.y + half)
    while not geom.contains(square):
        half /= 2
        square = shapely.box(p.x - half, p.y - half, p.x + half, p.y + half)
    return square


def etag(client: TestClient, code: str) -> str:
    r = client.get(f"/grids/{code}")
    assert r.status_code == 200, r.text
    return r.headers["ETag"]


def geometry_of(response_json: dict[str, Any]) -> BaseGeometry:
    return shape(response_json["geometry"])
