"""GET /locate, POST /locate/batch and the `geogrid locate` command against the demo."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner

from geogrid.settings import Settings
from geogrid.spatial.crs import wgs84_to_bd09, wgs84_to_gcj02

DISTRICT = "610503"


@pytest.fixture(scope="module")
def grid_points(demo: Engine) -> list[tuple[str, float, float]]:
    """(deepest grid code, lon, lat) for points well inside a spread of level-2/3 grids."""
    with demo.connect() as conn:
        rows = conn.execute(
            text(
                """
                SELECT g.code, ST_AsBinary(gv.geom) AS wkb FROM grids g
                JOIN grid_versions gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
                WHERE g.kind = 'general' AND g.level >= 2
                  AND NOT EXISTS (SELECT 1 FROM grids c WHERE c.parent_id = g.id AND c.kind = 'general')
                ORDER BY g.code
                """
            )
        ).all()
    out = []
    for row in rows[:: max(1, len(rows) // 25)]:
        geom = shapely.from_wkb(bytes(row.wkb))
        # a point at least 10 m inside, so the GCJ-02 round trip cannot cross an edge
        inner = shapely.buffer(geom, -0.0001)
        point = shapely.point_on_surface(inner if not inner.is_empty else geom)
        out.append((row.code, point.x, point.y))
    return out


def test_point_gives_chain_dedicated_and_signboard(
    client: TestClient, grid_points: list[tuple[str, float, float]]
) -> None:
    code, lon, lat = grid_points[3]
    r = client.get("/locate", params={"lon": lon, "lat": lat})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["deepest"]["code"] == code
    assert body["admin_areas"][0]["level"] == "district"
    assert len(body["admin_areas"]) == 3
    assert [g["level"] for g in body["chain"]] == list(range(1, len(body["chain"]) + 1))
    assert all(code.startswith(g["code"]) for g in body["chain"])
    board = body["signboard"]
    assert board["grid"]["code"] == code and board["grid"]["area_m2"] > 0
    assert board["post_a"]["post"] == "A" and board["post_a"]["phone"]
    assert board["post_b"]["post"] == "B"
    assert board["on_duty"] is not None
    assert board["party_organisations"]
    assert "smallest code" in body["rule"]


def test_gcj02_and_bd09_input_land_in_the_same_grid(
    client: TestClient, grid_points: list[tuple[str, float, float]]
) -> None:
    """★ A WGS84 point converted to GCJ-02 (and BD-09) and located with that crs lands in the
    grid of the WGS84 original."""
    for code, lon, lat in grid_points:
        glon, glat = wgs84_to_gcj02(lon, lat)
        assert abs(glon - lon) + abs(glat - lat) > 0.001  # the offset is hundreds of metres
        r = client.get("/locate", params={"lon": float(glon), "lat": float(glat), "crs": "gcj02"})
        assert r.status_code == 200 and r.json()["deepest"]["code"] == code
        blon, blat = wgs84_to_bd09(lon, lat)
        r = client.get("/locate", params={"lon": float(blon), "lat": float(blat), "crs": "bd09"})
        assert r.status_code == 200 and r.json()["deepest"]["code"] == code
        r = client.get("/locate", params={"lon": lon, "lat": lat, "crs": "EPSG:4490"})
        assert r.json()["deepest"]["code"] == code


def test_outside_district_is_404_with_nearest_grid(client: TestClient) -> None:
    r = client.get("/locate", params={"lon": 109.5, "lat": 34.5})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["inside_district"] is False
    assert len(body["nearest_grid"]["code"]) >= 12 and body["nearest_grid"]["name"]
    assert 1_000 < body["distance_m"] < 50_000
    assert "nearest grid" in body["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"lon": 109.77},
        {"lon": 109.77, "lat": 34.5, "crs": "bd09mc"},
        {"lon": 109.77, "lat": 34.5, "address": "少华路"},
        {"lon": 109.77, "lat": 95},
        {"lon": 109.77, "lat": 34.5, "at": "yesterday"},
    ],
)
def test_bad_requests_are_422(client: TestClient, params: dict[str, object]) -> None:
    r = client.get("/locate", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_at_before_any_grid_is_404(client: TestClient, grid_points: list) -> None:
    _, lon, lat = grid_points[0]
    r = client.get("/locate", params={"lon": lon, "lat": lat, "at": "2001-01-01"})
    assert r.status_code == 404
    r = client.get("/locate", params={"lon": lon, "lat": lat, "at": "2999-01-01"})
    assert r.status_code == 200 and r.json()["signboard"]["on_duty"] is None


def test_address_lookup_answers_match_and_chain(client: TestClient, demo: Engine) -> None:
    with demo.connect() as conn:
        full = conn.execute(
            text("SELECT full_text FROM addresses WHERE estate IS NOT NULL ORDER BY id LIMIT 1")
        ).scalar_one()
    variant = full.removeprefix("陕西省渭南市").replace("号楼", "栋")
    r = client.get("/locate", params={"address": variant})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["address"]["full_text"] == full and body["address"]["score"] == 100
    assert body["deepest"] is not None and body["signboard"]["post_a"] is not None
    r = client.get("/locate", params={"address": "华州街道不存在路999号无名小区99号楼9单元"})
    assert r.status_code == 404 and isinstance(r.json()["candidates"], list)


def test_boundary_edit_by_another_process_is_seen_next(
    committing_client: TestClient, settings: Settings, grid_points: list
) -> None:
    """★ A committed SQL edit of a grid_versions geometry from another connection changes the
    very next answer; the geometry is restored afterwards."""
    code, lon, lat = grid_points[7]
    assert (
        committing_client.get("/locate", params={"lon": lon, "lat": lat}).json()["deepest"]["code"]
        == code
    )
    other = create_engine(settings.database_url)
    try:
        with other.begin() as conn:
            saved = conn.execute(
                text(
                    "SELECT gv.id, ST_AsEWKB(gv.geom) FROM grid_versions gv JOIN grids g "
                    "ON g.id = gv.grid_id WHERE g.code = :c AND gv.valid_to IS NULL"
                ),
                {"c": code},
            ).one()
            conn.execute(
                text(
                    "UPDATE grid_versions SET geom = ST_Multi(ST_CollectionExtract(ST_Difference("
                    "geom, ST_Buffer(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 0.00005)), 3)) "
                    "WHERE id = :id"
                ),
                {"x": lon, "y": lat, "id": saved[0]},
            )
        r = committing_client.get("/locate", params={"lon": lon, "lat": lat})
        assert r.status_code == 200
        assert r.json()["deepest"]["code"] != code
        assert code.startswith(r.json()["deepest"]["code"])  # now answered by an ancestor
    finally:
        with other.begin() as conn:
            conn.execute(
                text("UPDATE grid_versions SET geom = :g WHERE id = :id"),
                {"g": bytes(saved[1]), "id": saved[0]},
            )
        other.dispose()
    r = committing_client.get("/locate", params={"lon": lon, "lat": lat})
    assert r.json()["deepest"]["code"] == code


def _batch_rows(grid_points: list) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {"id": f"p{i}", "lon": lon, "lat": lat} for i, (_, lon, lat) in enumerate(grid_points[:5])
    ]
    glon, glat = wgs84_to_gcj02(grid_points[0][1], grid_points[0][2])
    rows.append({"id": "gcj", "lon": float(glon), "lat": float(glat), "crs": "gcj02"})
    rows.append({"id": "far", "lon": 100.0, "lat": 30.0})
    rows.append({"id": "none"})
    rows.append({"id": "bad", "lon": "east", "lat": 1})
    rows.append({"id": "addr", "address": "华州街道不存在路999号无名小区99号楼9单元"})
    return rows


def test_batch_json_ndjson_out(client: TestClient, grid_points: list) -> None:
    rows = _batch_rows(grid_points)
    r = client.post("/locate/batch", json=rows)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    out = [json.loads(line) for line in r.text.splitlines()]
    assert [o["id"] for o in out] == [row["id"] for row in rows]
    for o, (code, _, _) in zip(out[:5], grid_points[:5], strict=True):
        assert o["grid_code"] == code and o["reason"] is None and o["level1_code"] == code[:12]
    assert out[5]["grid_code"] == grid_points[0][0]
    assert all(o["grid_code"] is None and o["reason"] for o in out[6:])
    assert "not matched" in out[9]["reason"]


def test_batch_csv_in_csv_out(client: TestClient, grid_points: list) -> None:
    rows = _batch_rows(grid_points)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["id", "lon", "lat", "crs", "address"])
    writer.writeheader()
    writer.writerows(rows)
    r = client.post(
        "/locate/batch", content=buffer.getvalue().encode(), headers={"content-type": "text/csv"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    out = list(csv.DictReader(io.StringIO(r.text)))
    assert len(out) == len(rows) and out[0]["grid_code"] == grid_points[0][0]
    assert out[6]["reason"].startswith("outside")


def test_batch_limit_is_422(client: TestClient) -> None:
    r = client.post("/locate/batch", json=[{"lon": 1, "lat": 1}] * 100_001)
    assert r.status_code == 422 and "100000" in r.json()["detail"]


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from geogrid.settings import get_settings

    monkeypatch.setenv("GEOGRID_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_locate_file(tmp_path: Path, grid_points: list, cli_env: None, demo: Engine) -> None:
    from geogrid.cli import app

    infile = tmp_path / "in.csv"
    with infile.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "lon", "lat", "crs", "address"])
        writer.writeheader()
        writer.writerows(_batch_rows(grid_points))
    outfile = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["locate", str(infile), str(outfile), "--no-progress"])
    assert result.exit_code == 0, result.output
    out = list(csv.DictReader(outfile.open(encoding="utf-8")))
    assert out[1]["grid_code"] == grid_points[1][0]
    assert out[7]["reason"] == "neither lon/lat nor address"
