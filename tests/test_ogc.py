"""OGC API – Features at /ogc: the documents, paging and filters, and GDAL's own client (the
``OAPIF`` driver of Debian's gdal-bin) reading grids from a real running server."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from shapely.geometry import shape
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


# --- Part 1 strictness: every parameter path answers 400 ---------------------------------------

ITEMS = "/ogc/collections/grids-level-1/items"


def _problem(response: Any, rule: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["rule"] == rule, response.json()


@pytest.mark.parametrize(
    ("params", "rule"),
    [
        ({"limit": "0"}, "invalid_parameter"),
        ({"limit": "ten"}, "invalid_parameter"),
        ({"offset": "-1"}, "invalid_parameter"),
        ({"offset": "1.5"}, "invalid_parameter"),
        ({"bbox": "109.7,34.4,109.9"}, "bbox"),
        ({"bbox": "109.9,34.4,109.7,34.6"}, "bbox"),
        ({"bbox": "34.6,109.7,34.4,109.9", "bbox-crs": "EPSG:4490"}, "bbox"),
        ({"bbox": "1,2,3,4", "bbox-crs": "EPSG:2000"}, "crs"),
        ({"crs": "EPSG:4326x"}, "crs"),
        ({"datetime": "yesterday"}, "datetime"),
        ({"f": "xml"}, "invalid_parameter"),
        ({"filter": "level = "}, "cql2_filter"),
        ({"filter": "colour = 'red'"}, "cql2_filter"),
        ({"filter": "level = 1", "filter-lang": "sql"}, "cql2_filter"),
        ({"filter": "{not json", "filter-lang": "cql2-json"}, "cql2_filter"),
        ({"filter-lang": "cql2-text"}, "cql2_filter"),
        ({"filter": "level = 1", "filter-crs": "EPSG:9999"}, "crs"),
        ({"colour": "red"}, "invalid_parameter"),
    ],
)
def test_items_refuse_each_bad_parameter_with_400(
    demo: Engine, client: TestClient, params: dict[str, str], rule: str
) -> None:
    _problem(client.get(ITEMS, params=params), rule)


@pytest.mark.parametrize(
    "path",
    [
        "/ogc",
        "/ogc/conformance",
        "/ogc/collections",
        "/ogc/collections/grids-level-1",
        "/ogc/collections/grids-level-1/queryables",
    ],
)
def test_documents_refuse_unknown_parameters_and_formats(
    demo: Engine, client: TestClient, path: str
) -> None:
    assert client.get(path).status_code == 200
    _problem(client.get(path, params={"bbox": "1,2,3,4"}), "invalid_parameter")
    _problem(client.get(path, params={"f": "html"}), "invalid_parameter")


def test_one_feature_refuses_bad_parameters(demo: Engine, client: TestClient) -> None:
    code = client.get(ITEMS, params={"limit": 1}).json()["features"][0]["id"]
    path = f"{ITEMS}/{code}"
    _problem(client.get(path, params={"crs": "EPSG:4214"}), "crs")
    _problem(client.get(path, params={"f": "kml"}), "invalid_parameter")
    _problem(client.get(path, params={"limit": "5"}), "invalid_parameter")
    _problem(client.get(path, params={"datetime": "2026-01-01/.."}), "datetime")


def test_the_api_definition_is_openapi_3_1_and_conformance_says_no_oas30(
    demo: Engine, client: TestClient
) -> None:
    service = _rels(client.get("/ogc").json())["service-desc"]
    assert service["type"] == "application/vnd.oai.openapi+json;version=3.1"
    assert client.get(service["href"]).json()["openapi"].startswith("3.1")
    classes = client.get("/ogc/conformance").json()["conformsTo"]
    assert not any(c.endswith("/oas30") for c in classes)
    for part in (
        "ogcapi-features-2/1.0/conf/crs",
        "ogcapi-features-3/1.0/conf/filter",
        "ogcapi-features-3/1.0/conf/features-filter",
        "ogcapi-features-3/1.0/conf/queryables",
        "cql2/1.0/conf/cql2-text",
        "cql2/1.0/conf/cql2-json",
    ):
        assert f"http://www.opengis.net/spec/{part}" in classes


# --- Part 2: CRS ----------------------------------------------------------------------------------

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"
MERCATOR = "http://www.opengis.net/def/crs/EPSG/0/3857"


def _first_point(feature: dict) -> tuple[float, float]:
    x, y = feature["geometry"]["coordinates"][0][0][0]
    return float(x), float(y)


def test_collections_offer_cgcs2000_and_web_mercator(demo: Engine, client: TestClient) -> None:
    for c in client.get("/ogc/collections").json()["collections"]:
        assert c["crs"] == [CRS84, CGCS2000, MERCATOR] and c["storageCrs"] == CRS84


def test_items_in_each_crs_with_content_crs(demo: Engine, client: TestClient) -> None:
    base = client.get(ITEMS, params={"limit": 3})
    assert base.headers["content-crs"] == f"<{CRS84}>"
    lon, lat = _first_point(base.json()["features"][0])

    cgcs = client.get(ITEMS, params={"limit": 3, "crs": CGCS2000})
    assert cgcs.status_code == 200 and cgcs.headers["content-crs"] == f"<{CGCS2000}>"
    first_lat, first_lon = _first_point(cgcs.json()["features"][0])  # EPSG:4490 is lat, lon
    assert abs(first_lat - lat) < 1e-6 and abs(first_lon - lon) < 1e-6

    merc = client.get(ITEMS, params={"limit": 3, "crs": "[EPSG:3857]"})
    assert merc.headers["content-crs"] == f"<{MERCATOR}>"
    x, y = _first_point(merc.json()["features"][0])
    transformer = Transformer.from_crs("OGC:CRS84", "EPSG:3857")
    ex, ey = transformer.transform(lon, lat)
    assert abs(x - ex) < 0.01 and abs(y - ey) < 0.01 and 1.2e7 < x < 1.23e7

    code = base.json()["features"][0]["id"]
    one = client.get(f"{ITEMS}/{code}", params={"crs": CGCS2000})
    assert one.headers["content-crs"] == f"<{CGCS2000}>"
    assert _first_point(one.json()) == (first_lat, first_lon)
    assert "crs=" in _rels(cgcs.json())["self"]["href"]


def test_bbox_in_each_crs_selects_the_same_grids(demo: Engine, client: TestClient) -> None:
    lon1, lat1, lon2, lat2 = 109.72, 34.45, 109.80, 34.52
    plain = client.get(ITEMS, params={"bbox": f"{lon1},{lat1},{lon2},{lat2}", "limit": 1000})
    expected = sorted(f["id"] for f in plain.json()["features"])
    assert 0 < len(expected) < 159

    cgcs = client.get(
        ITEMS,
        params={"bbox": f"{lat1},{lon1},{lat2},{lon2}", "bbox-crs": CGCS2000, "limit": 1000},
    )
    assert sorted(f["id"] for f in cgcs.json()["features"]) == expected

    transformer = Transformer.from_crs("OGC:CRS84", "EPSG:3857")
    x1, y1 = transformer.transform(lon1, lat1)
    x2, y2 = transformer.transform(lon2, lat2)
    merc = client.get(
        ITEMS, params={"bbox": f"{x1},{y1},{x2},{y2}", "bbox-crs": MERCATOR, "limit": 1000}
    )
    assert sorted(f["id"] for f in merc.json()["features"]) == expected


# --- Part 3: CQL2 filtering -------------------------------------------------------------------------


def test_queryables_document(demo: Engine, client: TestClient) -> None:
    response = client.get("/ogc/collections/grids-level-2/queryables")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/schema+json"
    schema = response.json()
    assert {"code", "name", "level", "parent", "households", "geometry"} <= set(
        schema["properties"]
    )
    assert schema["properties"]["geometry"]["x-ogc-role"] == "primary-geometry"
    assert client.get("/ogc/collections/roads/queryables").status_code == 404
    link = _rels(client.get("/ogc/collections/grids-level-2").json())
    assert link["http://www.opengis.net/def/rel/ogc/1.0/queryables"]["href"].endswith(
        "/collections/grids-level-2/queryables"
    )


def _ids(client: TestClient, collection: str, **params: str) -> list[str]:
    response = client.get(
        f"/ogc/collections/{collection}/items", params={"limit": "10000", **params}
    )
    assert response.status_code == 200, response.text
    return sorted(f["id"] for f in response.json()["features"])


def test_cql2_text_and_json_filter_the_same_grids(demo: Engine, client: TestClient) -> None:
    level1 = client.get(ITEMS, params={"limit": 2}).json()["features"]
    parent = level1[0]["id"]
    children = _ids(client, "grids-level-2", filter=f"parent = '{parent}'")
    assert children and all(c.startswith(parent[:12]) for c in children)
    as_json = _ids(
        client,
        "grids-level-2",
        filter=json.dumps({"op": "=", "args": [{"property": "parent"}, parent]}),
        **{"filter-lang": "cql2-json"},
    )
    assert as_json == children

    both = _ids(
        client, "grids-level-1", filter=f"code IN ('{level1[0]['id']}', '{level1[1]['id']}')"
    )
    assert both == sorted(f["id"] for f in level1)
    assert _ids(client, "grids-level-1", filter="area_m2 < 0") == []
    big = _ids(client, "grids-level-2", filter="area_m2 > 100000 AND NOT households IS NULL")
    none_small = _ids(client, "grids-level-2", filter="area_m2 BETWEEN 0 AND 100000")
    assert set(big).isdisjoint(none_small) and big
    names = client.get("/ogc/collections/grids-level-2/items", params={"limit": "1"}).json()[
        "features"
    ][0]["properties"]["name"]
    assert children[0] in _ids(client, "grids-level-2", filter=f"parent = '{parent}'")
    assert _ids(client, "grids-level-2", filter=f"name LIKE '{names[:2]}%'")


def test_spatial_filter_matches_bbox_and_reads_filter_crs(demo: Engine, client: TestClient) -> None:
    boxed = _ids(client, "grids-level-1", bbox="109.72,34.45,109.80,34.52")
    assert (
        _ids(
            client,
            "grids-level-1",
            filter="S_INTERSECTS(geometry, BBOX(109.72,34.45,109.80,34.52))",
        )
        == boxed
    )
    polygon = "POLYGON((109.72 34.45, 109.80 34.45, 109.80 34.52, 109.72 34.52, 109.72 34.45))"
    assert _ids(client, "grids-level-1", filter=f"S_INTERSECTS(geometry, {polygon})") == boxed

    feature = client.get(ITEMS, params={"limit": 1}).json()["features"][0]
    inside = shape(feature["geometry"]).representative_point()
    point = f"POINT({inside.x} {inside.y})"
    assert _ids(client, "grids-level-1", filter=f"S_CONTAINS(geometry, {point})") == [feature["id"]]
    swapped = f"POINT({inside.y} {inside.x})"  # EPSG:4490 is latitude first
    assert _ids(
        client,
        "grids-level-1",
        filter=f"S_CONTAINS(geometry, {swapped})",
        **{"filter-crs": CGCS2000},
    ) == [feature["id"]]
    as_json = {
        "op": "s_intersects",
        "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [inside.x, inside.y]}],
    }
    assert _ids(
        client, "grids-level-1", filter=json.dumps(as_json), **{"filter-lang": "cql2-json"}
    ) == [feature["id"]]


def test_filter_values_are_bound_not_spliced(demo: Engine, client: TestClient) -> None:
    """SQL in a CQL2 string is only characters of the value; a function that is not CQL2 is
    refused, not passed through."""
    assert _ids(client, "grids-level-1", filter="name = 'x; DELETE FROM grids; --'") == []
    _problem(client.get(ITEMS, params={"filter": "name = 'x' OR pg_sleep(1) = 1"}), "cql2_filter")
    assert len(_ids(client, "grids-level-1")) == LEVEL_COUNTS["grids-level-1"]
