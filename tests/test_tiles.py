"""Vector tiles and TileJSON on the real demo district: tiles decoded with mapbox-vector-tile
hold exactly the grids PostGIS finds in the tile's envelope; ETags move with boundary and issue
revisions and answer 304 otherwise; bad tile coordinates are problem+json."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from geogrid.settings import Settings
from geogrid.tiles import TILE_LAYERS
from geogrid.tiles.layers import ISSUE_POINTS_MINZOOM
from tests.logins import TestLogin
from tests.rolled_back import rolled_back_app

DISTRICT = "610503"
PROBLEM = "application/problem+json"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ tile holding a point (the slippy-map formula, independent of PostGIS)."""
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of a tile in degrees."""
    n = 1 << z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def codes_in_envelope(
    conn: Connection | Session, layer: str, z: int, x: int, y: int, *, at: datetime | None = None
) -> set[str]:
    """What the tile must hold: the layer's grids whose stored geometry meets the envelope."""
    spec = TILE_LAYERS[layer]
    in_force = (
        "v.valid_to IS NULL AND g.retired_at IS NULL"
        if at is None
        else "v.valid_from <= :at AND (v.valid_to IS NULL OR v.valid_to > :at)"
    )
    rows = conn.execute(
        text(
            f"""
            SELECT g.code FROM grids g JOIN grid_versions v ON v.grid_id = g.id
            WHERE g.district_adcode = :d AND g.kind = :kind AND g.level = ANY(:levels)
              AND {in_force}
              AND ST_Intersects(v.geom, ST_MakeEnvelope(:w, :s, :e, :n, 4326))
            """
        ),
        dict(
            zip("wsen", tile_bounds(z, x, y), strict=True),
            d=DISTRICT,
            kind=spec.kind,
            levels=list(spec.levels),
            at=at,
        ),
    )
    return {r[0] for r in rows}


def decode(content: bytes) -> dict[str, list[dict]]:
    layers = mapbox_vector_tile.decode(content)
    return {name: layer["features"] for name, layer in layers.items()}


def sample_tiles(db: Session, layer: str) -> list[tuple[int, int, int]]:
    """Tiles over real data of ``layer``: at two zooms around the centre of one of its grids,
    and one on the district's south-west corner (a tile the boundary cuts)."""
    spec = TILE_LAYERS[layer]
    lon, lat = db.execute(
        text(
            """
            SELECT ST_X(p), ST_Y(p) FROM (
              SELECT ST_PointOnSurface(v.geom) AS p FROM grids g
              JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL
              WHERE g.district_adcode = :d AND g.kind = :kind AND g.level = ANY(:levels)
              ORDER BY g.code OFFSET 7 LIMIT 1) AS s
            """
        ),
        {"d": DISTRICT, "kind": spec.kind, "levels": list(spec.levels)},
    ).one()
    west, south = db.execute(
        text("SELECT ST_XMin(geom), ST_YMin(geom) FROM admin_areas WHERE code = :d"),
        {"d": DISTRICT},
    ).one()
    zooms = (spec.minzoom + 1, spec.minzoom + 3)
    return [(z, *tile_of(lon, lat, z)) for z in zooms] + [
        (zooms[0], *tile_of(west, south, zooms[0]))
    ]


@pytest.mark.parametrize(
    "layer", ["grids-level1", "grids-level2", "grids-level3", "grids-dedicated"]
)
def test_a_tile_holds_exactly_the_grids_of_its_envelope(
    client: TestClient, db: Session, layer: str
) -> None:
    seen = 0
    for z, x, y in sample_tiles(db, layer):
        expected = codes_in_envelope(db, layer, z, x, y)
        r = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", params={"district": DISTRICT})
        if not expected:
            assert r.status_code == 204 and r.content == b"", (z, x, y)
            continue
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        features = decode(r.content)[layer]
        codes = [f["properties"]["code"] for f in features]
        assert len(codes) == len(set(codes)), "a grid appears once per tile"
        assert set(codes) == expected, (z, x, y)
        for f in features:
            assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
            assert f["properties"]["level"] in TILE_LAYERS[layer].levels
        seen += len(codes)
    assert seen > 0, f"no sample tile of {layer} held a grid"


def test_child_grids_carry_their_parent_code(client: TestClient, db: Session) -> None:
    z, x, y = sample_tiles(db, "grids-level2")[0]
    features = decode(client.get(f"/tiles/grids-level2/{z}/{x}/{y}.mvt").content)["grids-level2"]
    for f in features:
        assert f["properties"]["code"].startswith(f["properties"]["parent_code"])


def test_simplification_grows_with_zoom_out(client: TestClient, db: Session) -> None:
    """Per-zoom simplification: the district's level-1 grids at zoom 6 (one tile) carry far
    fewer vertices than the same grids cut into zoom-12 tiles would; and none goes missing."""
    lon, lat = db.execute(
        text(
            "SELECT ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM admin_areas "
            "WHERE code = :d"
        ),
        {"d": DISTRICT},
    ).one()
    z, x, y = 6, *tile_of(lon, lat, 6)
    r = client.get(f"/tiles/grids-level1/{z}/{x}/{y}.mvt")
    features = decode(r.content)["grids-level1"]
    assert {f["properties"]["code"] for f in features} == codes_in_envelope(
        db, "grids-level1", z, x, y
    )
    stored = db.execute(
        text(
            "SELECT sum(ST_NPoints(v.geom)) FROM grids g JOIN grid_versions v ON v.grid_id = g.id "
            "WHERE g.district_adcode = :d AND g.level = 1 AND v.valid_to IS NULL"
        ),
        {"d": DISTRICT},
    ).scalar_one()

    def vertices(coords: object) -> int:
        if isinstance(coords, list) and coords and isinstance(coords[0], (int, float)):
            return 1
        return sum(vertices(c) for c in coords) if isinstance(coords, list) else 0

    drawn = sum(vertices(f["geometry"]["coordinates"]) for f in features)
    assert drawn < stored / 2, (drawn, stored)


def test_etag_moves_with_a_grid_edit_and_answers_304_otherwise(
    client: TestClient, db: Session
) -> None:
    z, x, y = sample_tiles(db, "grids-level2")[0]
    url = f"/tiles/grids-level2/{z}/{x}/{y}.mvt"
    first = client.get(url)
    tag = first.headers["ETag"]
    assert first.status_code == 200 and tag.startswith('"')
    assert first.headers["Cache-Control"] == "public, no-cache"
    again = client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == tag
    # Another layer's counter (issues) does not touch grid tiles.
    client.post("/issues", json=_report(db))
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 304

    code = decode(first.content)["grids-level2"][0]["properties"]["code"]
    grid_tag = client.get(f"/grids/{code}").headers["ETag"]
    r = client.patch(
        f"/grids/{code}",
        json={"type": "Feature", "properties": {"name": "瓦片测试网格"}},
        headers={"If-Match": grid_tag},
    )
    assert r.status_code == 200, r.text
    after = client.get(url, headers={"If-None-Match": tag})
    assert after.status_code == 200 and after.headers["ETag"] != tag
    names = {
        f["properties"]["code"]: f["properties"]["name"]
        for f in decode(after.content)["grids-level2"]
    }
    assert names[code] == "瓦片测试网格"
    assert client.get(url, headers={"If-None-Match": after.headers["ETag"]}).status_code == 304


def test_at_shows_the_boundaries_of_a_past_moment(client: TestClient, db: Session) -> None:
    z, x, y = sample_tiles(db, "grids-level1")[0]
    url = f"/tiles/grids-level1/{z}/{x}/{y}.mvt"
    code = decode(client.get(url).content)["grids-level1"][0]["properties"]["code"]
    before = db.execute(text("SELECT clock_timestamp()")).scalar_one()
    old_name = db.execute(
        text(
            "SELECT v.name FROM grid_versions v JOIN grids g ON g.id = v.grid_id "
            "WHERE g.code = :c AND v.valid_to IS NULL"
        ),
        {"c": code},
    ).scalar_one()
    r = client.patch(
        f"/grids/{code}",
        json={"type": "Feature", "properties": {"name": "新名字"}},
        headers={"If-Match": client.get(f"/grids/{code}").headers["ETag"]},
    )
    assert r.status_code == 200, r.text

    def name_in(response_content: bytes) -> str:
        features = decode(response_content)["grids-level1"]
        return next(f["properties"]["name"] for f in features if f["properties"]["code"] == code)

    assert name_in(client.get(url).content) == "新名字"
    past = client.get(url, params={"at": before.isoformat()})
    assert past.status_code == 200 and name_in(past.content) == old_name
    assert past.headers["Cache-Control"] == "public, max-age=3600"
    assert {f["properties"]["code"] for f in decode(past.content)["grids-level1"]} == (
        codes_in_envelope(db, "grids-level1", z, x, y, at=before)
    )


def _report(db: Session) -> dict[str, object]:
    """A report inside the demo district (a point of its first level-2 grid)."""
    lon, lat = db.execute(
        text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(v.geom) AS p FROM grids g "
            "JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL "
            "WHERE g.district_adcode = :d AND g.level = 2 ORDER BY g.code LIMIT 1) AS s"
        ),
        {"d": DISTRICT},
    ).one()
    category = db.execute(
        text("SELECT code FROM issue_categories WHERE parent_id IS NOT NULL ORDER BY code LIMIT 1")
    ).scalar_one()
    return {"category": category, "description": "瓦片测试: 路灯不亮", "lon": lon, "lat": lat}


def _issue_tile(db: Session, z: int) -> tuple[int, int, int, tuple[float, float, float, float]]:
    lon, lat = db.execute(
        text(
            "SELECT ST_X(geom), ST_Y(geom) FROM issues WHERE district_adcode = :d "
            "ORDER BY id LIMIT 1"
        ),
        {"d": DISTRICT},
    ).one()
    x, y = tile_of(lon, lat, z)
    return z, x, y, tile_bounds(z, x, y)


def _issues_in(db: Session, bounds: tuple[float, float, float, float]) -> list[int]:
    rows = db.execute(
        text(
            "SELECT id FROM issues WHERE district_adcode = :d "
            "AND ST_Intersects(geom, ST_MakeEnvelope(:w, :s, :e, :n, 4326))"
        ),
        dict(zip("wsen", bounds, strict=True), d=DISTRICT),
    )
    return [r[0] for r in rows]


def test_issues_are_points_at_high_zoom(client: TestClient, db: Session) -> None:
    z, x, y, bounds = _issue_tile(db, ISSUE_POINTS_MINZOOM + 1)
    features = decode(client.get(f"/tiles/issues/{z}/{x}/{y}.mvt").content)["issues"]
    assert sorted(f["properties"]["id"] for f in features) == sorted(_issues_in(db, bounds))
    assert {f["properties"]["count"] for f in features} == {1}
    assert all(f["geometry"]["type"] == "Point" for f in features)


def test_issues_are_counted_per_cell_below_the_points_zoom(client: TestClient, db: Session) -> None:
    z, x, y, bounds = _issue_tile(db, 11)
    features = decode(client.get(f"/tiles/issues/{z}/{x}/{y}.mvt").content)["issues"]
    expected = _issues_in(db, bounds)
    assert 1 < len(features) < len(expected)
    assert sum(f["properties"]["count"] for f in features) == len(expected)
    assert all(set(f["properties"]) == {"count"} for f in features)


def test_issue_tiles_change_with_a_report_and_filter_by_status(
    client: TestClient, db: Session
) -> None:
    report = _report(db)
    z = 12
    x, y = tile_of(float(report["lon"]), float(report["lat"]), z)  # type: ignore[arg-type]
    url = f"/tiles/issues/{z}/{x}/{y}.mvt"
    first = client.get(url)
    before = sum(f["properties"]["count"] for f in decode(first.content)["issues"])
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert client.post("/issues", json=report).status_code == 201
    after = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200
    assert sum(f["properties"]["count"] for f in decode(after.content)["issues"]) == before + 1
    reported = client.get(url, params={"status": "reported"})
    assert reported.headers["ETag"] != after.headers["ETag"]
    n_reported = db.execute(
        text(
            "SELECT count(*) FROM issues WHERE district_adcode = :d AND status = 'reported' "
            "AND ST_Intersects(geom, ST_MakeEnvelope(:w, :s, :e, :n, 4326))"
        ),
        dict(zip("wsen", tile_bounds(z, x, y), strict=True), d=DISTRICT),
    ).scalar_one()
    # ``db`` runs in its own transaction: it does not see the report the client just filed
    # (a new report's status is "reported").
    assert sum(f["properties"]["count"] for f in decode(reported.content)["issues"]) == (
        n_reported + 1
    )


def test_an_empty_tile_is_204_with_cache_headers(client: TestClient) -> None:
    r = client.get("/tiles/grids-level1/10/0/0.mvt")
    assert r.status_code == 204 and r.content == b""
    assert r.headers["ETag"] and r.headers["Cache-Control"] == "public, no-cache"
    assert (
        client.get(
            "/tiles/grids-level1/10/0/0.mvt", headers={"If-None-Match": r.headers["ETag"]}
        ).status_code
        == 304
    )


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/tiles/grids-level1/10/1024/3.mvt", 422, "x=1024 does not exist at zoom 10"),
        ("/tiles/grids-level1/10/3/-1.mvt", 422, "y"),
        ("/tiles/grids-level1/23/0/0.mvt", 422, "z"),
        ("/tiles/grids-level1/ten/0/0.mvt", 422, "z"),
        ("/tiles/grids-level3/4/12/6.mvt", 422, "drawn from zoom 11"),
        ("/tiles/roads/10/0/0.mvt", 404, "grids-level1"),
        ("/tiles/grids-level1/10/0/0.mvt?district=61050", 422, "6-digit"),
        ("/tiles/grids-level1/10/0/0.mvt?district=999999", 404, "not served"),
        ("/tiles/issues/10/0/0.mvt?at=2026-01-01", 422, "start and end"),
        ("/tiles/grids-level1/10/0/0.mvt?status=reported", 422, "issues layer only"),
        ("/tiles/issues/10/0/0.mvt?status=lost", 422, "lost"),
        ("/tiles/grids-level1.json?district=999999", 404, "not served"),
        ("/tiles/nothing.json", 404, "grids-level1"),
    ],
)
def test_bad_requests_are_problem_json(
    client: TestClient, url: str, status: int, words: str
) -> None:
    r = client.get(url)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert words in r.json()["detail"]


def test_tilejson_describes_every_layer_and_its_tiles_answer(
    client: TestClient, db: Session
) -> None:
    index = client.get("/tiles").json()
    assert [layer["id"] for layer in index["layers"]] == list(TILE_LAYERS)
    west, south, east, north = db.execute(
        text(
            "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM admin_areas "
            "WHERE code = :d"
        ),
        {"d": DISTRICT},
    ).one()
    for entry in index["layers"]:
        doc = client.get(entry["tilejson"].removeprefix("http://testserver")).json()
        spec = TILE_LAYERS[entry["id"]]
        assert doc["tilejson"] == "3.0.0" and doc["scheme"] == "xyz"
        assert 0 <= doc["minzoom"] <= doc["maxzoom"] <= 30
        assert doc["bounds"] == pytest.approx([west, south, east, north], abs=1e-6)
        lon, lat, zoom = doc["center"]
        assert west <= lon <= east and south <= lat <= north and doc["minzoom"] <= zoom
        (vector_layer,) = doc["vector_layers"]
        assert vector_layer["id"] == spec.name and set(vector_layer["fields"]) == set(spec.fields)
        assert all(isinstance(v, str) for v in vector_layer["fields"].values())
        (template,) = doc["tiles"]
        assert "{z}" in template and "{x}" in template and "{y}" in template
        z = doc["minzoom"] + 5
        x, y = tile_of(lon, lat, z)
        url = template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
        r = client.get(url.removeprefix("http://testserver"))
        assert r.status_code in (200, 204), r.text
        if r.status_code == 200:
            assert set(decode(r.content)) == {spec.name}
            for f in decode(r.content)[spec.name]:
                assert set(f["properties"]) <= set(spec.fields)


def test_tilejson_keeps_at_in_its_tiles_url(client: TestClient) -> None:
    doc = client.get("/tiles/grids-level2.json", params={"at": "2026-01-01"}).json()
    assert doc["tiles"][0].endswith("?district=610503&at=2026-01-01")
    assert (
        "at="
        not in client.get("/tiles/issues.json", params={"at": "2026-01-01"}).json()["tiles"][0]
    )


def test_max_age_is_a_setting(settings: Settings, engine: Engine) -> None:
    with rolled_back_app(settings.model_copy(update={"tiles_max_age_s": 30}), engine) as (
        client,
        _,
        _,
    ):
        assert client.get("/tiles/grids-level1/10/0/0.mvt").headers["Cache-Control"] == (
            "public, max-age=30"
        )


def _street_issue_tile(
    db: Session, prefix: str, z: int
) -> tuple[str, tuple[float, float, float, float]]:
    """The URL of the issues tile at zoom ``z`` over the first issue filed in a grid under
    ``prefix``, and the tile's bounds."""
    lon, lat = db.execute(
        text(
            "SELECT ST_X(i.geom), ST_Y(i.geom) FROM issues i JOIN grids g ON g.id = i.grid_id "
            "WHERE i.district_adcode = :d AND g.code LIKE :p ORDER BY i.id LIMIT 1"
        ),
        {"d": DISTRICT, "p": prefix + "%"},
    ).one()
    x, y = tile_of(lon, lat, z)
    return f"/tiles/issues/{z}/{x}/{y}.mvt", tile_bounds(z, x, y)


def _issue_count(db: Session, bounds: tuple[float, float, float, float], prefix: str) -> int:
    return int(
        db.execute(
            text(
                "SELECT count(*) FROM issues i JOIN grids g ON g.id = i.grid_id "
                "WHERE i.district_adcode = :d AND g.code LIKE :p "
                "AND ST_Intersects(i.geom, ST_MakeEnvelope(:w, :s, :e, :n, 4326))"
            ),
            dict(zip("wsen", bounds, strict=True), d=DISTRICT, p=prefix + "%"),
        ).scalar_one()
    )


def test_grid_tiles_and_tilejson_are_public_the_issues_layer_is_not(
    client_as: Callable[[str | None], TestClient], db: Session
) -> None:
    public = client_as(None)
    assert public.get("/tiles").status_code == 200
    for layer in TILE_LAYERS:
        assert public.get(f"/tiles/{layer}.json").status_code == 200, layer
    z, x, y = sample_tiles(db, "grids-level2")[0]
    grid_tile = public.get(f"/tiles/grids-level2/{z}/{x}/{y}.mvt")
    assert grid_tile.status_code == 200 and decode(grid_tile.content)["grids-level2"]
    assert grid_tile.headers["Cache-Control"].startswith("public")
    refused = public.get(f"/tiles/issues/{z}/{x}/{y}.mvt")
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert refused.json()["rule"] == "login_required"


def test_the_issues_layer_holds_only_the_callers_reach(
    client_as: Callable[[str | None], TestClient],
    db: Session,
    logins: dict[str, TestLogin],
) -> None:
    street = logins["street_officer"].principal.reach
    assert street
    url, bounds = _street_issue_tile(db, street[0], 11)

    officer = client_as("street_officer")
    mine = officer.get(url)
    assert mine.status_code == 200
    assert mine.headers["Cache-Control"].startswith("private")
    assert "Authorization" in mine.headers["Vary"]
    in_reach = sum(f["properties"]["count"] for f in decode(mine.content)["issues"])
    expected = _issue_count(db, bounds, street[0])
    assert in_reach == expected > 0

    admin = client_as("admin")
    everything = admin.get(url)
    total = sum(f["properties"]["count"] for f in decode(everything.content)["issues"])
    assert total == _issue_count(db, bounds, "") > in_reach
    # one tile, two reaches, two entity tags: one login's tag never revalidates the other's
    assert everything.headers["ETag"] != mine.headers["ETag"]
    assert admin.get(url, headers={"If-None-Match": mine.headers["ETag"]}).status_code == 200
