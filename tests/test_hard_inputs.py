"""Hard inputs never give 500: each case of the battery answers 4xx problem+json, its body
names no server path, SQL or traceback, nothing is written, and the next request on the same
app is answered normally (the connection stays usable)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from api.deps import SessionDep
from geogrid.errors import InvalidInputError
from geogrid.grids.io_formats import unpack_zip
from geogrid.settings import Settings
from tests.rolled_back import rolled_back_app

TABLES = (
    "issues",
    "issue_categories",
    "issue_reporters",
    "departments",
    "grids",
    "grid_versions",
    "addresses",
)
LEAKS = ("/tmp", "/work", "/root", "Traceback", "SELECT", "INSERT", "psycopg", "sqlalchemy")


@pytest.fixture
def battery(settings: Settings, demo: Engine) -> Iterator[tuple[TestClient, Connection]]:
    with rolled_back_app(settings, demo) as (client, conn, _):
        yield client, conn


def _counts(conn: Connection) -> dict[str, int]:
    return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}


def _zip(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _import(client: TestClient, name: str, content: bytes, **form: str) -> httpx.Response:
    return client.post(
        "/grids/import",
        files={"file": (name, content, "application/octet-stream")},
        data={"dry_run": "false", **form},
    )


GBK_CSV = "MC,WKT\n华州网格,POLYGON((109.7 34.5,109.71 34.5,109.71 34.51,109.7 34.5))\n".encode(
    "gbk"
)
SQUARE = "POLYGON((109.7 34.5,109.71 34.5,109.71 34.51,109.7 34.5))"


def _dbf_zip_with_wrong_cpg() -> bytes:
    """A Shapefile whose .cpg says UTF-8 while its attribute text is GBK."""
    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame(
        {"MC": ["华州网格"]}, geometry=[shapely.from_wkt(SQUARE)], crs="EPSG:4326"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        frame.to_file(Path(tmp) / "g.shp", encoding="gbk", engine="pyogrio")
        parts = {p.name: p.read_bytes() for p in Path(tmp).iterdir()}
    parts["g.cpg"] = b"UTF-8"
    return _zip(**parts)


def _million_vertex_line() -> bytes:
    coords = [[109.7 + i * 1e-7, 34.5 + (i % 2) * 1e-7] for i in range(1_000_000)]
    return json.dumps({"type": "LineString", "coordinates": coords}).encode()


Case = Callable[[TestClient], httpx.Response]

CASES: dict[str, Case] = {
    "NUL in a reporter name": lambda c: c.post(
        "/issues",
        content='{"category":"1201","description":"d","reporter_name":"张\\u0000三",'
        '"lon":109.76,"lat":34.51}',
        headers={"content-type": "application/json"},
    ),
    "raw escape in a department name": lambda c: c.post(
        "/departments", json={"code": "x1", "name": "环卫\x1b[2J"}
    ),
    "NUL in a query parameter": lambda c: c.get("/issues", params={"category": "12\x0001"}),
    "NUL in a path": lambda c: c.get("/grids/6105%0003"),
    "50 kB category name": lambda c: c.post(
        "/categories", json={"code": "9901", "name": "名" * 50_000}
    ),
    "category name over 200": lambda c: c.post(
        "/categories", json={"code": "9902", "name": "名" * 201}
    ),
    "reporter name over 100": lambda c: c.post(
        "/issues",
        json={"category": "1201", "description": "d", "reporter_name": "张" * 101},
    ),
    "department phone over 32": lambda c: c.post(
        "/departments", json={"code": "x2", "name": "环卫", "phone": "1" * 40}
    ),
    "grid name over 200": lambda c: c.patch("/grids/610503001001", json={"name": "网" * 201}),
    "text/plain on a JSON route": lambda c: c.post(
        "/issues", content=b'{"category":"1201"}', headers={"content-type": "text/plain"}
    ),
    "form body on a JSON route": lambda c: c.post(
        "/categories", data={"code": "9903", "name": "表单"}
    ),
    "invalid UTF-8 in JSON": lambda c: c.post(
        "/issues",
        content=b'{"description":"\xff\xfe"}',
        headers={"content-type": "application/json"},
    ),
    "corrupt zip": lambda c: _import(c, "grids.zip", b"PK\x03\x04" + b"\x00garbage" * 100),
    "truncated zip": lambda c: _import(
        c, "grids.zip", _zip(**{"g.shp": b"x" * 10_000, "g.dbf": b"y" * 10_000})[:-300]
    ),
    "zip bomb": lambda c: _import(c, "grids.zip", _zip(**{"g.shp": b"\x00" * (60 << 20)})),
    "zip without a shapefile": lambda c: _import(c, "grids.zip", _zip(**{"a.txt": b"hello"})),
    "GBK CSV read as UTF-8": lambda c: _import(c, "grids.csv", GBK_CSV, encoding="utf-8"),
    "unknown encoding name": lambda c: _import(c, "grids.csv", GBK_CSV, encoding="klingon-8"),
    "DBF in GBK with a UTF-8 .cpg": lambda c: _import(c, "grids.zip", _dbf_zip_with_wrong_cpg()),
    "over-long file name with a NUL": lambda c: _import(
        c, "a" * 5000 + "\x00.geojson", b'{"type": "FeatureCollection", "features": [1]}'
    ),
    "file name that is a path": lambda c: _import(c, "../../../etc/passwd", b"root:x:0:0"),
    "1 000 000-vertex split line": lambda c: c.post(
        "/grids/610503001001001/split",
        content=b'{"line": ' + _million_vertex_line() + b"}",
        headers={"content-type": "application/json"},
    ),
    "over-long grid code in a path": lambda c: c.get("/grids/" + "6" * 10_000),
    "huge integer id": lambda c: c.get("/issues/" + "9" * 40),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_hard_input_answers_4xx_problem_and_writes_nothing(
    battery: tuple[TestClient, Connection], case: str
) -> None:
    client, conn = battery
    before = _counts(conn)
    response = CASES[case](client)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == response.status_code and body["detail"]
    for leak in LEAKS:
        assert leak not in response.text, (leak, response.text[:500])
    assert _counts(conn) == before
    # the app (and its database connection) still answers normally
    assert client.get("/grids/610503001001").status_code == 200


def test_a_value_the_database_refuses_is_422_and_the_connection_is_usable(
    settings: Settings, demo: Engine
) -> None:
    """The backstop behind the schemas: whatever value PostgreSQL refuses (out of range, too
    long for its column, a NUL byte) is 422 naming no SQL, and the request's session rolls
    back so the next request on the connection is answered."""
    with rolled_back_app(settings, demo) as (client, _, app):

        def store(value: str, session: SessionDep) -> dict[str, str]:
            session.execute(text("SELECT CAST(:v AS smallint)"), {"v": value})
            return {"stored": value}

        app.add_api_route("/__store", store)
        refused = client.get("/__store", params={"value": "99999"})
        assert refused.status_code == 422 and refused.json()["rule"] == "unstorable_value"
        assert "smallint" not in refused.text and "SELECT" not in refused.text
        assert client.get("/__store", params={"value": "12"}).json() == {"stored": "12"}


def test_unpack_zip_stops_an_archive_that_lies_about_its_sizes(tmp_path: Path) -> None:
    archive = tmp_path / "lie.zip"
    archive.write_bytes(_zip(**{"g.shp": b"\x01" * 300_000}))
    with pytest.raises(InvalidInputError) as refused:
        unpack_zip(archive, tmp_path, max_unpacked_bytes=100_000)
    assert refused.value.rule == "archive"
    out = tmp_path / "out"
    out.mkdir()
    names = unpack_zip(archive, out)
    assert [p.name for p in names] == ["g.shp"] and names[0].stat().st_size == 300_000
