"""The people pages' maps take the /maps pages' basemap (one set of definitions,
geogrid.maps.basemaps) and have their overlays shifted by the maps' one rule
(``POST /maps/shift``). The browser side is in ``test_people_maps_browser.py``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from geogrid.maps.basemaps import basemap_tiles, display_crs
from geogrid.spatial.crs import wgs84_to_gcj02

POINT = {"type": "Point", "coordinates": [109.77, 34.51]}


def _page_basemap(html: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="basemap">(.*?)</script>', html)
    assert found, "the page carries its basemap"
    result: dict[str, object] = json.loads(found.group(1))
    return result


@pytest.mark.parametrize("basemap", ["blank", "osm", "amap"])
def test_pages_carry_the_maps_basemap(client: TestClient, basemap: str) -> None:
    for path in ("/find", "/report"):
        carried = _page_basemap(client.get(path, params={"basemap": basemap}).text)
        assert carried["basemap"] == basemap
        assert [t["url"] for t in carried["tiles"]] == [t.url for t in basemap_tiles(basemap)]  # type: ignore[attr-defined]
        assert carried["crs"] == ("gcj02" if basemap == "amap" else "wgs84")


def test_tianditu_without_a_key_falls_back_to_blank_with_a_notice(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEOGRID_TIANDITU_KEY", raising=False)
    page = client.get("/find", params={"basemap": "tianditu"})
    assert page.status_code == 200 and "GEOGRID_TIANDITU_KEY" in page.text
    assert _page_basemap(page.text)["basemap"] == "blank"
    monkeypatch.setenv("GEOGRID_TIANDITU_KEY", "test-key-123")
    carried = _page_basemap(client.get("/find", params={"basemap": "tianditu"}).text)
    assert carried["basemap"] == "tianditu" and "tk=test-key-123" in json.dumps(carried)


def test_shift_is_the_maps_rule(client_as: Callable[[str | None], TestClient]) -> None:
    public = client_as(None)
    shifted = public.post("/maps/shift?basemap=amap", json=POINT)
    assert shifted.status_code == 200
    lon, lat = wgs84_to_gcj02([109.77], [34.51])
    assert shifted.json()["coordinates"] == pytest.approx([float(lon[0]), float(lat[0])])
    feature = {"type": "Feature", "properties": {"name": "x"}, "geometry": POINT}
    answer = public.post("/maps/shift?basemap=amap", json=feature).json()
    assert answer["properties"] == {"name": "x"}
    expected = json.loads(json.dumps(display_crs("amap").geometry(POINT)))
    assert answer["geometry"] == expected
    collection = {"type": "FeatureCollection", "features": [feature]}
    answer = public.post("/maps/shift?basemap=amap", json=collection).json()
    assert answer["features"][0]["geometry"] == expected
    # the WGS 84 basemaps draw what is stored
    assert public.post("/maps/shift?basemap=osm", json=POINT).json() == POINT
    refused = public.post("/maps/shift?basemap=amap", json={"type": "Point"})
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "GeoJSON" in refused.json()["detail"]
