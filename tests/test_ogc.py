"""OGC API – Features at /ogc: the documents, paging and filters, and GDAL's own client (the
``OAPIF`` driver of Debian's gdal-bin) reading grids from a real running server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests import browser

live_server = browser.live_server

GEOJSON = "application/geo+json"
LEVEL_COUNTS = {
    "grids-level-1": 159,
    "grids-level-2": 1445,
    "grids-level-3": 72,
    "grids-dedicated": 245,
}


def _gdal(tool: str) -> str:
    path = shutil.which(tool) or f"/usr/bin/{tool}"
    if not Path(path).is_file():
        pytest.fail(
            f"{tool} not found: install Debian's gdal-bin (scripts/test does).", pytrace=False
        )
    return path


def _db_count(engine: Engine, collection: str) -> int:
    level = {"grids-level-1": 1, "grids-level-2": 2, "grids-level-3": 3}.get(collection)
    kind = "dedicated" if collection == "grids-dedicated" else "general"
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM grids g JOIN grid_versions v ON v.grid_id = g.id "
                    "WHERE v.valid_to IS NULL AND g.retired_at IS NULL AND g.kind = :kind "
                    "AND (CAST(:level AS int) IS NULL OR g.level = :level)"
                ),
                {"kind": kind, "level": level},
            ).scalar_one()
        )


def _rels(doc: dict) -> dict[str, dict]:
    return {link["rel"]: link for link in doc["links"]}


def test_landing_conformance_and_collections(demo: Engine, client: TestClient) -> None:
    landing = client.get("/ogc")
    assert landing.status_code == 200 and landing.headers["content-type"] == "application/json"
    rels = _rels(landing.json())
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["href"].endswith("/openapi.json")
    assert client.get(rels["service-desc"]["href"]).status_code == 200

    conformance = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conformance
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conformance

    collections = client.get("/ogc/collections").json()
    ids = [c["id"] for c in collections["collections"]]
    assert ids == list(LEVEL_COUNTS)
    level1 = client.get("/ogc/collections/grids-level-1").json()
    minx, miny, maxx, maxy = level1["extent"]["spatial"]["bbox"][0]
    assert 109.5 < minx < maxx < 110.1 and 34.1 < miny < maxy < 34.7
    assert _rels(level1)["items"]["type"] == GEOJSON
    missing = client.get("/ogc/collections/roads")
    assert missing.status_code == 404 and "grids-level-1" in missing.json()["detail"]


def test_items_paging_bbox_datetime_and_one_feature(demo: Engine, client: TestClient) -> None:
    first = client.get("/ogc/collections/grids-level-1/items", params={"limit": 50})
    assert first.status_code == 200 and first.headers["content-type"] == GEOJSON
    page = first.json()
    assert (page["numberMatched"], page["numberReturned"]) == (159, 50)
    codes = [f["id"] for f in page["features"]]
    seen = list(codes)
    rels = _rels(page)
    assert {"self", "alternate", "next", "collection"} <= set(rels)
    while "next" in rels:
        page = client.get(rels["next"]["href"]).json()
        seen += [f["id"] for f in page["features"]]
        rels = _rels(page)
    assert len(seen) == len(set(seen)) == 159

    boxed = client.get(
        "/ogc/collections/grids-level-1/items", params={"bbox": "109.77,34.50,109.78,34.51"}
    ).json()
    assert 0 < boxed["numberMatched"] < 159

    past = "2000-01-01T00:00:00Z"  # before any boundary of the demo, whatever the date
    before = client.get("/ogc/collections/grids-level-1/items", params={"datetime": past}).json()
    assert before["numberMatched"] == 0
    interval = client.get(
        "/ogc/collections/grids-level-1/items", params={"datetime": "2026-01-01T00:00:00Z/.."}
    )
    assert interval.status_code == 400
    unknown = client.get("/ogc/collections/grids-level-1/items", params={"colour": "red"})
    assert unknown.status_code == 400 and "colour" in unknown.json()["detail"]

    one = client.get(f"/ogc/collections/grids-level-1/items/{codes[0]}")
    assert one.status_code == 200 and one.headers["content-type"] == GEOJSON
    assert one.json()["id"] == codes[0] and one.json()["properties"]["level"] == 1
    as_json = client.get(f"/ogc/collections/grids-level-1/items/{codes[0]}", params={"f": "json"})
    assert as_json.headers["content-type"] == "application/json"
    wrong = client.get(f"/ogc/collections/grids-level-2/items/{codes[0]}")
    assert wrong.status_code == 404


def test_gdal_reads_the_collections_from_a_running_server(
    demo: Engine, live_server: browser.LiveServer, tmp_path: Path
) -> None:
    url = f"OAPIF:{live_server.url('/ogc')}"
    info = subprocess.run(
        [_gdal("ogrinfo"), "-ro", "-so", url, "grids-level-1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert info.returncode == 0, info.stderr
    assert f"Feature Count: {_db_count(demo, 'grids-level-1')}" in info.stdout
    assert "Multi Polygon" in info.stdout

    out = tmp_path / "level2.gpkg"
    copy = subprocess.run(
        [_gdal("ogr2ogr"), "-f", "GPKG", str(out), url, "grids-level-2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert copy.returncode == 0, copy.stderr
    counted = subprocess.run(
        [_gdal("ogrinfo"), "-ro", "-so", str(out), "grids-level-2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    expected = _db_count(demo, "grids-level-2")
    assert expected == LEVEL_COUNTS["grids-level-2"]
    assert f"Feature Count: {expected}" in counted.stdout, counted.stdout
