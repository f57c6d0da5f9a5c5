"""Standard-address CSV import: API and CLI, all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geogrid.settings import Settings
from geogrid.spatial.crs import wgs84_to_gcj02

GOOD = (
    "text,lon,lat,crs\n"
    "陕西省渭南市华州区华州街道测试路1号测试家园1号楼1单元,109.7745,34.5105,\n"
    "陕西省渭南市华州区华州街道测试路1号测试家园2号楼1单元,{glon},{glat},gcj02\n"
)


def _good() -> str:
    glon, glat = wgs84_to_gcj02(109.7750, 34.5110)
    return GOOD.format(glon=float(glon), glat=float(glat))


def test_import_then_locate_by_address(client: TestClient) -> None:
    r = client.post(
        "/addresses/import", content=_good().encode(), headers={"content-type": "text/csv"}
    )
    assert r.status_code == 201, r.text
    assert r.json() == {"imported": 2, "district_adcode": "610503"}
    r = client.get("/locate", params={"address": "华州街道测试路1号测试家园2栋一单元"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["address"]["score"] == 100
    assert abs(body["address"]["lon"] - 109.7750) < 1e-6  # GCJ-02 converted on import
    assert body["deepest"]["code"].startswith("610503001")


def test_import_as_multipart_gbk(client: TestClient) -> None:
    files = {"file": ("addresses.csv", _good().encode("gbk"), "text/csv")}
    r = client.post("/addresses/import", files=files)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (",109.77,34.51,", "empty"),
        ("华州街道测试路9号,east,34.51,", "longitude"),
        ("华州街道测试路9号,109.77,34.51,bd09mc", "Unknown coordinate system"),
        ("华州街道测试路9号,116.40,39.91,", "outside district"),
        (
            "陕西省渭南市华州区华州街道测试路1号测试家园1号楼1单元,109.77,34.51,",
            "duplicate of line 2",
        ),
    ],
)
def test_bad_row_is_422_and_nothing_written(client: TestClient, line: str, problem: str) -> None:
    body = _good() + line + "\n"
    r = client.post(
        "/addresses/import", content=body.encode(), headers={"content-type": "text/csv"}
    )
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert errors[0]["row"] == 4 and problem in errors[0]["problem"]
    assert "line 4" in r.json()["detail"]
    # nothing written: the good rows are not there
    r = client.get("/locate", params={"address": "华州街道测试路1号测试家园1号楼1单元"})
    assert r.status_code == 404


def test_existing_address_is_rejected(client: TestClient, demo: Engine) -> None:
    with demo.connect() as conn:
        full, x, y = conn.execute(
            text("SELECT full_text, ST_X(geom), ST_Y(geom) FROM addresses ORDER BY id LIMIT 1")
        ).one()
    r = client.post(
        "/addresses/import",
        content=f"text,lon,lat\n{full},{x},{y}\n".encode(),
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 422 and "already in the registry" in r.json()["errors"][0]["problem"]


def test_missing_column_is_422(client: TestClient) -> None:
    r = client.post("/addresses/import", content=b"name,x\n", headers={"content-type": "text/csv"})
    assert r.status_code == 422 and "address text column" in r.json()["detail"]


def test_cli_import_bad_file_names_the_row(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, demo: Engine
) -> None:
    from geogrid.cli import app
    from geogrid.settings import get_settings

    monkeypatch.setenv("GEOGRID_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        path = tmp_path / "bad.csv"
        path.write_text(_good() + "华州街道测试路9号,116.40,39.91,\n", encoding="utf-8")
        result = CliRunner().invoke(app, ["addresses", "import", str(path)])
        assert result.exit_code == 1
        assert "line 4" in result.output
        with demo.connect() as conn:
            n = conn.execute(
                text("SELECT count(*) FROM addresses WHERE full_text LIKE '%测试家园%'")
            ).scalar_one()
        assert n == 0
    finally:
        get_settings.cache_clear()
