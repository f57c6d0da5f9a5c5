"""Map pages without a browser: sizes, offline assets, basemaps, GCJ-02 shift, HTML export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.commands.maps import MAP_NAMES, render_map_file
from geogrid.maps.basemaps import display_crs
from geogrid.settings import Settings
from geogrid.spatial.crs import wgs84_to_gcj02

PAGES = ["/maps/grids", "/maps/heatmap", "/maps/rates", "/maps/hotspots", "/maps/gaps"]
FIVE_MB = 5 * 1024 * 1024


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_offline_and_under_5_mb(client: TestClient, demo: Engine, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    size = len(response.content)
    print(f"{path}: {size / 1e6:.2f} MB")
    assert size < FIVE_MB
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", response.text)
    assert "/static/vendor/leaflet/dist/leaflet.js" in response.text


def _layers(client: TestClient, page: str) -> tuple[str, list[dict[str, object]]]:
    """A page's frame and the layers its fetch() asks for, at the URL the frame names."""
    frame = client.get(page)
    assert frame.status_code == 200, frame.text[:300]
    url = re.search(r'fetch\("(\.\./analysis/layers/[^"]*)"', frame.text)
    assert url is not None, "the frame fetches its layers"
    assert url.group(1).startswith("../analysis/layers/")  # relative: same origin, any prefix
    data = client.get("/" + url.group(1).removeprefix("../"))
    assert data.status_code == 200 and data.headers["content-type"] == "application/json"
    return frame.text, data.json()


@pytest.mark.parametrize("path", PAGES)
def test_pages_answer_a_frame_and_fetch_their_layers(
    client: TestClient, demo: Engine, path: str
) -> None:
    """The frame holds no GeoJSON and no heat points; they arrive from /analysis/layers/…
    (drawn from the same parameters), the heavy part of the page."""
    frame, layers = _layers(client, path)
    assert not re.search(r"geo_json_[0-9a-f]+_add\(\{", frame)
    assert not re.search(r"L\.heatLayer\(\s*\[\[", frame)
    assert not re.search(r"new TDHeatmap\(\[\[\[", frame)
    assert layers and all(
        layer["type"] == "FeatureCollection" if isinstance(layer, dict) else isinstance(layer, list)
        for layer in layers
    )
    print(f"{path}: frame {len(frame) / 1e6:.2f} MB, layers {len(json.dumps(layers)) / 1e6:.2f} MB")


def test_the_layers_fetch_is_cached_by_the_page_and_honours_etags(
    client: TestClient, demo: Engine
) -> None:
    client.get("/maps/rates", params={"level": 2})
    first = client.get("/analysis/layers/rates", params={"level": 2})
    again = client.get(
        "/analysis/layers/rates",
        params={"level": 2},
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304


def test_grids_page_has_layers_popups_and_search(client: TestClient, demo: Engine) -> None:
    page, layers = _layers(client, "/maps/grids")
    for name in ("一级网格", "二级网格", "三级网格", "专属网格"):
        assert name in page
    assert "L.Control.Search" in page and "gg-label" in page
    data = json.dumps(layers, ensure_ascii=False)  # the posts' fields arrive with the layers
    assert '"a_post"' in data and '"on_duty"' in data


@pytest.mark.parametrize("basemap", ["osm", "amap"])
def test_online_basemaps_add_their_tiles(client: TestClient, demo: Engine, basemap: str) -> None:
    page = client.get("/maps/rates", params={"level": 1, "basemap": basemap}).text
    host = {"osm": "tile.openstreetmap.org", "amap": "autonavi.com"}[basemap]
    assert host in page


def test_tianditu_needs_a_key(
    client: TestClient, demo: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEOGRID_TIANDITU_KEY", raising=False)
    response = client.get("/maps/grids", params={"basemap": "tianditu"})
    assert response.status_code == 422
    assert "GEOGRID_TIANDITU_KEY" in response.json()["detail"]
    monkeypatch.setenv("GEOGRID_TIANDITU_KEY", "test-key-123")
    page = client.get("/maps/rates", params={"level": 1, "basemap": "tianditu"}).text
    assert "tianditu.gov.cn" in page and "tk=test-key-123" in page


def test_amap_shifts_vector_layers_to_gcj02(client: TestClient, demo: Engine) -> None:
    wgs = client.get("/analysis/rates", params={"level": 1}).json()
    first = wgs["features"][0]
    lon, lat = shapely.get_coordinates(shape(first["geometry"]))[0]
    shifted = display_crs("amap").geometry(first["geometry"])
    x, y = shapely.get_coordinates(shape(shifted))[0]
    ex, ey = wgs84_to_gcj02(lon, lat)
    assert (x, y) == pytest.approx((float(ex), float(ey)), abs=1e-9)
    assert abs(x - lon) > 1e-4  # hundreds of metres, as GCJ-02 is
    _, layers = _layers(client, "/maps/rates?level=1&basemap=amap")
    data = json.dumps(layers)
    assert f"{x:.6f}"[:9] in data and json.dumps(first["properties"]["code"]) in data


def test_render_command_writes_a_standalone_page(
    demo: Engine, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "hotspots.html"
    size = render_map_file("hotspots", out, database_url=settings.database_url, level=1)
    html = out.read_bytes().decode("utf-8")
    assert size == len(html.encode()) and size < FIVE_MB
    # self-contained: Leaflet's code and Font Awesome's font are inside, nothing is linked
    assert "/* /static/vendor/leaflet/dist/leaflet.js */" in html
    assert "data:font/woff2;base64," in html
    assert 'src="/static' not in html and 'href="/static' not in html
    # the export embeds its layers (no server to fetch them from behind file://)
    assert re.search(r"geo_json_[0-9a-f]+_add\(\{", html) and "fetch(" not in html

    render_map_file(
        "grids",
        out,
        database_url=settings.database_url,
        static_prefix="http://10.1.2.3:8000/static",
    )
    assert "http://10.1.2.3:8000/static/vendor/leaflet" in out.read_text(encoding="utf-8")


def test_render_command_help_and_bad_name() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["maps", "render", "--help"])
    assert result.exit_code == 0 and "--static-prefix" in result.output
    result = runner.invoke(app, ["maps", "render", "nowhere", "--out", "/tmp/x.html"])
    assert result.exit_code == 2 and "grids" in result.output
    assert set(MAP_NAMES) == {"grids", "heatmap", "rates", "hotspots", "gaps"}


def test_map_functions_refuse_unknown_basemap(demo: Engine) -> None:
    from geogrid.errors import InvalidInputError
    from geogrid.maps.grids_map import grids_map

    with Session(demo) as session, pytest.raises(InvalidInputError, match="blank"):
        grids_map(session, district_adcode="610503", basemap="google")
