"""The grids and heatmap pages in tile mode (a layer over ``tiles_embed_limit``), in headless
Chromium with the internet blocked: Leaflet.VectorGrid loads from /static, asks /tiles for the
tiles on screen and draws their features."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from geogrid.settings import Settings
from tests import browser
from tests.browser import LiveServer, WatchedPage, serve_app

chromium = browser.chromium
staff_page = browser.staff_page

pytestmark = pytest.mark.browser

EMBED_LIMIT = 500
"""Below the demo's 1 445 level-2 grids and 53 000 issues, above its 159 level-1 grids."""
TILE_PATHS = "svg.leaflet-tile path"


@pytest.fixture(scope="module")
def tiled_server(settings: Settings, demo: Engine) -> Iterator[LiveServer]:
    app_settings = settings.model_copy(
        update={"tiles_embed_limit": EMBED_LIMIT, "tiles_embed_issue_limit": EMBED_LIMIT}
    )
    from api.main import create_app

    with serve_app(create_app(app_settings)) as server:
        yield server


def _record_tiles(watched: WatchedPage, layer: str) -> list[int]:
    """The statuses of the page's requests for ``layer`` tiles, filled as they answer."""
    statuses: list[int] = []
    watched.page.on(
        "response",
        lambda r: statuses.append(r.status) if f"/tiles/{layer}/" in r.url else None,
    )
    return statuses


def test_grids_page_draws_a_large_layer_from_tiles(
    tiled_server: LiveServer, staff_page: WatchedPage, tmp_path: Path
) -> None:
    page = staff_page.page
    statuses = _record_tiles(staff_page, "grids-level2")
    page.goto(tiled_server.url("/maps/grids"), wait_until="load", timeout=60_000)
    page.wait_for_function("() => window.L && L.vectorGrid && L.vectorGrid.protobuf")
    page.wait_for_function(
        f"() => document.querySelectorAll('{TILE_PATHS}').length >= 100", timeout=30_000
    )
    controls = page.locator(".leaflet-control-layers").inner_text()
    assert "二级网格 (1445, 矢量瓦片)" in controls  # the large layer comes from tiles
    assert "一级网格 (159)" in controls  # the small ones stay embedded
    assert "按矢量瓦片显示" in page.locator("#geogrid-title").inner_text()
    assert statuses and set(statuses) <= {200, 204} and 200 in statuses
    page.screenshot(path=str(tmp_path / "grids-tiles.png"))
    staff_page.assert_clean()


def test_heatmap_page_draws_issue_cells_from_tiles(
    tiled_server: LiveServer, staff_page: WatchedPage, tmp_path: Path
) -> None:
    page = staff_page.page
    statuses = _record_tiles(staff_page, "issues")
    page.goto(tiled_server.url("/maps/heatmap"), wait_until="load", timeout=60_000)
    page.wait_for_function(
        f"() => document.querySelectorAll('{TILE_PATHS}').length >= 20", timeout=30_000
    )
    assert "矢量瓦片" in page.locator(".leaflet-control-layers").inner_text()
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 0  # nothing embedded
    assert 200 in statuses and set(statuses) <= {200, 204}
    page.screenshot(path=str(tmp_path / "heatmap-tiles.png"))
    staff_page.assert_clean()
