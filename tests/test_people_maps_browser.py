"""The maps of the people pages (/find, /report, the worker's queue map on /work) draw the
basemap chosen as on the /maps pages, from the same definitions (geogrid.maps.basemaps), in
headless Chromium with the internet cut off: no tile is fetched from the internet (the tile
requests of a chosen basemap are answered here by the test with a blank tile, and recorded, to
show which layer the page chose), and over Amap the overlays sit at the GCJ-02 shift of their
stored WGS 84 points. The API side (POST /maps/shift, the fallback) is in
``test_people_maps.py``."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route
from sqlalchemy import Engine, text

from geogrid.spatial.crs import wgs84_to_gcj02
from tests import browser
from tests.browser import LiveServer, accessibility_violations, watch_page
from tests.logins import TEST_PASSWORD, TestLogin

chromium = browser.chromium
live_server = browser.live_server

SCREENSHOTS = Path(__file__).resolve().parent.parent / ".state" / "screenshots" / "people"
SIZES = {"phone": (360, 740), "desktop": (1400, 900)}
#: A 1×1 transparent PNG: the answer to every tile request, so nothing leaves the machine.
BLANK_TILE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
TILE_HOSTS = ("**://*.autonavi.com/**", "**://tile.openstreetmap.org/**")


def _answer_tiles(page: Page) -> list[str]:
    """Tile requests of the basemaps answered with a blank tile (page routes win over the
    watcher's context route, which would abort them and record them as blocked)."""
    asked: list[str] = []

    def tile(route: Route) -> None:
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=BLANK_TILE)

    for pattern in TILE_HOSTS:
        page.route(pattern, tile)
    return asked


def _marker_latlngs(page: Page) -> list[list[float]]:
    found: list[list[float]] = page.evaluate(
        """() => {
            const out = [];
            window.geogridView.layer.eachLayer((l) => {
                if (l.getLatLng) { const p = l.getLatLng(); out.push([p.lat, p.lng]); }
            });
            return out;
        }"""
    )
    return found


def _gcj02(lon: float, lat: float) -> tuple[float, float]:
    x, y = wgs84_to_gcj02([lon], [lat])
    return float(x[0]), float(y[0])


@pytest.mark.parametrize("path", ["/find", "/report"])
def test_blank_basemap_by_default(chromium: Browser, live_server: LiveServer, path: str) -> None:
    with watch_page(chromium, viewport=SIZES["phone"]) as watched:
        page = watched.page
        page.goto(live_server.url(path), wait_until="networkidle")
        assert page.get_attribute("#map", "data-basemap") == "blank"
        assert page.get_attribute("#map", "data-crs") == "wgs84"
        assert page.locator("#map .leaflet-tile-pane img").count() == 0
        watched.assert_clean()


@pytest.mark.parametrize("size", SIZES)
def test_find_over_amap_shifts_the_answer_to_gcj02(
    chromium: Browser, live_server: LiveServer, engine: Engine, size: str
) -> None:
    with engine.connect() as conn:
        address = conn.execute(
            text("SELECT full_text FROM addresses ORDER BY id LIMIT 1")
        ).scalar_one()
    found = httpx.get(live_server.url("/locate"), params={"address": address}).json()
    with watch_page(chromium, viewport=SIZES[size]) as watched:
        page = watched.page
        tiles = _answer_tiles(page)
        page.goto(live_server.url("/find?basemap=amap"), wait_until="networkidle")
        assert page.get_attribute("#map", "data-crs") == "gcj02"
        page.fill("#address", address)
        page.click("#find-form button[type=submit]")
        page.wait_for_selector("#grid-code")
        page.wait_for_function("() => window.geogridView.layer.getLayers().length > 1")
        page.wait_for_load_state("networkidle")
        assert "basemap=amap" in page.url  # the shared link keeps the basemap
        (lat, lon), *_ = [p for p in _marker_latlngs(page)]
        expected_lon, expected_lat = _gcj02(found["lon"], found["lat"])
        assert (lon, lat) == pytest.approx((expected_lon, expected_lat), abs=1e-9)
        assert abs(lon - found["lon"]) > 1e-4  # a shift of hundreds of metres, not nothing
        assert tiles and all(".autonavi.com/appmaptile" in u for u in tiles)
        page.screenshot(path=str(SCREENSHOTS / f"find_amap-{size}.png"), full_page=True)
        assert not (found_axe := accessibility_violations(page)), f"axe-core: {found_axe}"
        watched.assert_clean()


def test_report_over_osm_sends_the_clicked_point_as_wgs84(
    chromium: Browser, live_server: LiveServer
) -> None:
    """OSM tiles are WGS 84: a click is sent as it is (crs=wgs84)."""
    with watch_page(chromium, viewport=SIZES["phone"]) as watched:
        page = watched.page
        tiles = _answer_tiles(page)
        page.goto(live_server.url("/report?basemap=osm"), wait_until="networkidle")
        page.click("#map")
        assert tiles and all(u.startswith("https://tile.openstreetmap.org/") for u in tiles)
        assert page.get_attribute("#map", "data-crs") == "wgs84"
        assert len(_marker_latlngs(page)) == 1
        watched.assert_clean()


@pytest.mark.parametrize("size", SIZES)
def test_worker_queue_map_over_amap(
    chromium: Browser,
    live_server: LiveServer,
    logins: dict[str, TestLogin],
    engine: Engine,
    size: str,
) -> None:
    with watch_page(chromium, viewport=SIZES[size]) as watched:
        page = watched.page
        tiles = _answer_tiles(page)
        page.goto(live_server.url("/login?next=/work%3Fbasemap%3Damap"))
        # the admin's /work: the demo leaves the test worker's own grids with nothing open
        page.fill("#username", logins["admin"].username)
        page.fill("#password", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(live_server.url("/work?basemap=amap"))
        page.wait_for_load_state("networkidle")
        points: list[dict[str, Any]] = json.loads(
            page.locator("#issue-points").text_content() or "[]"
        )
        assert points and len(_marker_latlngs(page)) == len(points)
        with engine.connect() as conn:
            lon, lat = conn.execute(
                text("SELECT ST_X(geom), ST_Y(geom) FROM issues WHERE id = :id"),
                {"id": points[0]["id"]},
            ).one()
        shown = _marker_latlngs(page)[0]
        assert (shown[1], shown[0]) == pytest.approx(_gcj02(lon, lat), abs=1e-9)
        assert tiles and all(".autonavi.com/" in u for u in tiles)
        page.screenshot(path=str(SCREENSHOTS / f"work_amap-{size}.png"), full_page=True)
        assert not (found := accessibility_violations(page)), f"axe-core: {found}"
        watched.assert_clean()
