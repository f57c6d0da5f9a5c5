"""Offline map assets: every CDN URL folium uses maps to an installed file, and a localized map
names no remote URL. No database; only the last test needs Chromium.

A failure here after adding a plugin means: add its npm package to package.json and its URLs
to ``geogrid.maps.assets.CDN_ASSETS``.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin

import branca.colormap
import folium
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from folium import plugins

from api.static import CACHE_CONTROL, mount_static
from geogrid.maps.assets import (
    CDN_ASSETS,
    GENERATED_ASSETS,
    MissingAssetsError,
    UnknownAssetError,
    check_assets,
    folium_templates_dir,
    generated_asset,
    local_url,
    localize,
    missing_packages,
    render_html,
    required_files,
)
from geogrid.settings import PROJECT_ROOT, Settings
from tests import browser
from tests.browser import WatchedPage, serve_app

# Fixtures from tests/browser.py (assigned, not imported, so they are not unused imports).
chromium = browser.chromium
chromium_page = browser.chromium_page

NODE_MODULES = PROJECT_ROOT / "node_modules"

SUPPORTED_ELEMENTS = [
    folium.Map,
    plugins.GeoMan,
    plugins.HeatMap,
    plugins.HeatMapWithTime,
    plugins.Search,
    plugins.Fullscreen,
    plugins.MarkerCluster,
    plugins.FastMarkerCluster,
]
"""folium classes whose assets we serve; a plugin used in geogrid/maps belongs here."""

_POINTS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "华州"},
            "geometry": {"type": "Point", "coordinates": [109.77, 34.51]},
        }
    ],
}


def _map_with_every_plugin() -> folium.Map:
    # Without tiles Leaflet knows no maxZoom (folium's max_zoom goes to the tile layer), and
    # MarkerCluster refuses to start without one: pass it as a Leaflet option.
    m = folium.Map(location=(34.5, 109.8), zoom_start=11, tiles=None, maxZoom=18)
    layer = folium.GeoJson(_POINTS, name="points").add_to(m)
    plugins.GeoMan().add_to(m)
    plugins.HeatMap([[34.5, 109.8, 1.0]]).add_to(m)
    plugins.HeatMapWithTime([[[34.5, 109.8]], [[34.51, 109.81]]]).add_to(m)
    plugins.Search(layer, search_label="name").add_to(m)
    plugins.Fullscreen().add_to(m)
    cluster = plugins.MarkerCluster().add_to(m)
    folium.Marker((34.5, 109.8), icon=folium.Icon(icon="home", prefix="fa", angle=45)).add_to(
        cluster
    )
    plugins.FastMarkerCluster([[34.5, 109.8]]).add_to(m)
    # Colour maps add d3 while rendering, after localize(): the offline <head> catches it.
    branca.colormap.LinearColormap(["white", "red"], vmin=0, vmax=10).add_to(m)
    return m


def _remote_urls(html: str) -> set[str]:
    """Every http(s) or protocol-relative URL in the page, except XML namespaces (not fetched)."""
    urls = re.findall(r"""(?:https?:)?//[^\s"'<>()]+""", html)
    return {u for u in urls if u.startswith(("http", "//")) and "www.w3.org/" not in u}


# --- the table ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", SUPPORTED_ELEMENTS, ids=lambda c: c.__name__)
def test_every_url_of_a_supported_element_is_mapped(cls: type) -> None:
    urls = [url for _, url in [*cls.default_js, *cls.default_css]]
    assert urls, f"{cls.__name__} has no assets: drop it from SUPPORTED_ELEMENTS"
    assert [u for u in urls if u not in CDN_ASSETS] == []


def test_every_required_file_is_installed() -> None:
    assert missing_packages(NODE_MODULES) == [], "run `npm ci` at the project root"
    missing = [str(path) for path in required_files(NODE_MODULES) if not path.is_file()]
    assert missing == []


@pytest.mark.parametrize(
    "url", sorted({a.url() for a in CDN_ASSETS.values() if a.root != "geogrid"})
)
def test_every_mapped_url_is_a_file(url: str) -> None:
    path = _served_file(url)
    assert path is not None and path.is_file()


def _served_file(url: str) -> Path | None:
    """The installed file behind a ``/static`` URL (None for a generated asset)."""
    root, _, path = url.removeprefix("/static/").partition("/")
    if root == "geogrid":
        return None
    return (NODE_MODULES if root == "vendor" else folium_templates_dir()) / path


def _is_served(url: str) -> bool:
    path = _served_file(url)
    return path.is_file() if path else url.rsplit("/", 1)[1] in GENERATED_ASSETS


def _served_text(url: str) -> str:
    path = _served_file(url)
    if path is None:
        return generated_asset(url.rsplit("/", 1)[1], NODE_MODULES)[0].decode()
    return path.read_text(encoding="utf-8")


STYLESHEETS = sorted({a.url() for a in CDN_ASSETS.values() if a.path.endswith(".css")})


@pytest.mark.parametrize("url", STYLESHEETS)
def test_stylesheets_load_nothing_remote_and_nothing_missing(url: str) -> None:
    refs = re.findall(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)""", _served_text(url))
    remote = [r for r in refs if re.match(r"^(?:https?:)?//", r)]
    assert remote == [], f"{url} loads from the internet"
    # Fragments (#mask, %23mask) live inside inline SVGs; data: URIs are inline too.
    local = {
        urljoin(url, r.split("?")[0].split("#")[0])
        for r in refs
        if not r.startswith(("data:", "#", "%23"))
    }
    missing = [u for u in sorted(local) if not _is_served(u)]
    assert missing == [], f"{url} refers to files that are not installed"


def test_generated_rotate_css_has_every_angle() -> None:
    css, media_type = generated_asset("leaflet.awesome.rotate.css", NODE_MODULES)
    assert media_type == "text/css"
    assert b".fa-rotate-45{" in css and b".fa-rotate-359{" in css


# --- localize ----------------------------------------------------------------------------------


def test_localized_map_names_no_remote_url() -> None:
    html = render_html(_map_with_every_plugin())

    assert _remote_urls(html) == set()
    loaded = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert loaded and all(u.startswith("/static/") for u in loaded)
    assert "/static/vendor/d3/d3.min.js" in loaded
    assert "/static/geogrid/leaflet.awesome.rotate.css" in loaded


def test_localize_leaves_folium_classes_alone() -> None:
    before = list(folium.Map.default_js)
    localize(folium.Map(tiles=None))
    assert folium.Map.default_js == before


def test_localize_twice_is_harmless() -> None:
    once = localize(folium.Map(tiles=None)).default_js
    m = folium.Map(tiles=None)
    assert localize(localize(m)).default_js == once


def test_absolute_prefix_for_html_opened_away_from_the_server() -> None:
    html = render_html(_map_with_every_plugin(), static_prefix="http://10.0.0.8:8000/static/")
    assert '<script src="http://10.0.0.8:8000/static/vendor/leaflet/dist/leaflet.js">' in html
    assert {u for u in _remote_urls(html) if not u.startswith("http://10.0.0.8:8000/static/")} == (
        set()
    )


def test_unknown_plugin_is_refused_with_the_fix() -> None:
    m = folium.Map(tiles=None)
    plugins.MiniMap().add_to(m)
    with pytest.raises(UnknownAssetError, match=r"Control\.MiniMap.*CDN_ASSETS"):
        localize(m)


def test_link_added_after_localize_is_refused_at_render() -> None:
    m = localize(folium.Map(tiles=None))
    plugins.MousePosition().add_to(m)
    with pytest.raises(UnknownAssetError, match="MousePosition"):
        m.get_root().render()


def test_local_urls_pass_through() -> None:
    for url in ("/static/vendor/x.js", "data:text/css,", "app.js"):
        assert local_url(url) == url


# --- installation check and serving ------------------------------------------------------------


def test_check_assets_names_missing_packages(tmp_path: Path) -> None:
    with pytest.raises(MissingAssetsError, match="npm ci") as info:
        check_assets(Settings(assets_dir=tmp_path))
    assert {"leaflet", "jquery", "@fortawesome/fontawesome-free"} <= set(info.value.packages)


@pytest.fixture(scope="module")
def static_client() -> TestClient:
    app = FastAPI()
    mount_static(app, Settings(assets_dir=NODE_MODULES))
    return TestClient(app)


@pytest.mark.parametrize(
    "url,media_type",
    [
        ("/static/vendor/leaflet/dist/leaflet.js", "javascript"),
        ("/static/vendor/@fortawesome/fontawesome-free/webfonts/fa-solid-900.woff2", "font"),
        ("/static/folium/leaflet_heat.min.js", "javascript"),
        ("/static/geogrid/leaflet.timedimension.control.css", "text/css"),
    ],
)
def test_static_files_are_served_with_cache_headers(
    static_client: TestClient, url: str, media_type: str
) -> None:
    response = static_client.get(url)
    assert response.status_code == 200
    assert media_type in response.headers["content-type"]
    assert response.headers["cache-control"] == CACHE_CONTROL
    etag = response.headers["etag"]
    assert static_client.get(url, headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize(
    "url",
    [
        "/static/geogrid/nothing.css",
        "/static/vendor/nothing.js",
        "/static/vendor/../pyproject.toml",
    ],
)
def test_static_unknown_files_are_404(static_client: TestClient, url: str) -> None:
    assert static_client.get(url).status_code == 404


def test_static_without_npm_ci_is_404_not_500(tmp_path: Path) -> None:
    app = FastAPI()
    mount_static(app, Settings(assets_dir=tmp_path / "node_modules"))
    client = TestClient(app)
    assert client.get("/static/vendor/leaflet/dist/leaflet.js").status_code == 404
    assert client.get("/static/geogrid/leaflet.timedimension.control.css").status_code == 404


# --- in Chromium: the plugins' scripts run offline with the versions we installed --------------


@pytest.mark.browser
def test_every_plugin_runs_offline_in_chromium(chromium_page: WatchedPage, tmp_path: Path) -> None:
    """Catches an npm version whose API no longer fits folium's templates, and any asset that
    still reaches for the internet (fonts, images) once the page runs."""
    app = FastAPI()
    mount_static(app, Settings(assets_dir=NODE_MODULES))
    page_html = render_html(_map_with_every_plugin())
    app.get("/plugins", response_class=HTMLResponse)(lambda: HTMLResponse(page_html))

    with serve_app(app) as server:
        page = chromium_page.page
        page.goto(server.url("/plugins"), wait_until="networkidle")
        page.wait_for_function(
            "() => window.L && L.PM && L.heatLayer && L.TimeDimension && L.Control.Search"
            " && L.Control.FullScreen && L.MarkerClusterGroup && L.AwesomeMarkers && window.d3"
        )
        page.wait_for_selector(".leaflet-control-search, .leaflet-pm-toolbar")
        page.screenshot(path=str(tmp_path / "plugins.png"))
    chromium_page.assert_clean()


@pytest.mark.browser
def test_the_browser_harness_catches_a_map_that_uses_the_cdn(chromium_page: WatchedPage) -> None:
    """Guards the guard: a plain folium page must show up as blocked internet requests."""
    app = FastAPI()
    cdn_html = folium.Map(tiles=None).get_root().render()
    app.get("/cdn", response_class=HTMLResponse)(lambda: HTMLResponse(cdn_html))

    with serve_app(app) as server:
        chromium_page.page.goto(server.url("/cdn"), wait_until="load")
    assert any("cdn.jsdelivr.net" in url for url in chromium_page.blocked_requests)
    assert chromium_page.page_errors, "without Leaflet the map script must fail"
