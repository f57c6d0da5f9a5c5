"""Every map page in headless Chromium with the internet blocked: it loads without console
errors, draws what it promises (checked in the DOM) and leaves a screenshot in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from geogrid.analysis.gaps import GAP_LABELS
from tests import browser
from tests.browser import WatchedPage

chromium = browser.chromium
staff_page = browser.staff_page
live_server = browser.live_server

pytestmark = pytest.mark.browser


def _count(engine: Engine, level: int, kind: str = "general") -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM grids g JOIN grid_versions v ON v.grid_id = g.id "
                    "AND v.valid_to IS NULL WHERE g.district_adcode = '610503' "
                    "AND g.retired_at IS NULL AND g.level = :l AND g.kind = :k"
                ),
                {"l": level, "k": kind},
            ).scalar_one()
        )


# folium names the map's variable after its <div>. The page opens with an animated fitBounds
# that would undo a zoom set while it runs, so ask again until the map is at the zoom.
ZOOM = """z => {
    const m = window[document.querySelector('.folium-map').id];
    if (m.getZoom() !== z && !m._animatingZoom) m.setZoom(z, {animate: false});
    return m.getZoom() === z && !m._animatingZoom;
}"""
SHAPES = "path.leaflet-interactive:not(.gg-search-point)"  # the search index is invisible


def _open(watched: WatchedPage, url: str, *, min_paths: int = 1) -> None:
    page = watched.page
    page.goto(url, wait_until="load", timeout=60_000)
    page.wait_for_function("() => window.L !== undefined && typeof L.map === 'function'")
    page.wait_for_function(
        f"n => document.querySelectorAll('{SHAPES}').length >= n",
        arg=min_paths,
        timeout=30_000,
    )


def _layer_names(watched: WatchedPage) -> str:
    return watched.page.locator(".leaflet-control-layers").inner_text()


def _finish(watched: WatchedPage, shot: Path) -> None:
    watched.page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    watched.assert_clean()


def test_grids_page(
    demo: Engine, live_server: browser.LiveServer, staff_page: WatchedPage, tmp_path: Path
) -> None:
    shown = _count(demo, 1) + _count(demo, 2) + _count(demo, 2, "dedicated")  # level 3 hidden
    _open(staff_page, live_server.url("/maps/grids"), min_paths=shown)
    page = staff_page.page
    assert page.locator(SHAPES).count() == shown
    names = _layer_names(staff_page)
    for name in ("一级网格", "二级网格", "三级网格", "专属网格"):
        assert name in names
    # labels: level-1 names from zoom 12, none at the district view
    assert page.locator(".gg-label-level1").count() == _count(demo, 1)
    assert not page.locator(".gg-label-level1").first.is_visible()
    page.wait_for_function(ZOOM, arg=12)
    page.wait_for_function("() => document.querySelector('.gg-show-level1') !== null")
    # signboard popup
    page.wait_for_function(ZOOM, arg=10)
    box = page.locator(
        "#"
        + page.evaluate(
            "() => Object.values(window).find(v => v instanceof L.Map).getContainer().id"
        )
    ).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector(".leaflet-popup-content", timeout=5_000)
    popup = page.locator(".leaflet-popup-content").inner_text()
    assert "A岗" in popup and "B岗" in popup and "在岗" in popup
    # search by name
    search = page.locator(".leaflet-control-search input")
    search.fill("莲池社区")
    search.press("F2")  # leaflet-search searches on keyup; F2 types nothing
    page.wait_for_selector(".search-tooltip .search-tip", timeout=5_000)
    assert "莲池社区" in page.locator(".search-tooltip").inner_text()
    _finish(staff_page, tmp_path / "grids.png")


def test_heatmap_page(
    demo: Engine, live_server: browser.LiveServer, staff_page: WatchedPage, tmp_path: Path
) -> None:
    _open(staff_page, live_server.url("/maps/heatmap"), min_paths=_count(demo, 1))
    page = staff_page.page
    page.wait_for_selector("canvas.leaflet-heatmap-layer", state="attached", timeout=10_000)
    names = _layer_names(staff_page)
    assert "热力图" in names and "逐月动画" in names
    assert page.locator(".leaflet-control-timecontrol").count() > 0
    assert "按约 100 m 网格汇总" in page.locator("#geogrid-title").inner_text()
    # the animation layer draws when switched on
    page.get_by_text("逐月动画").click()
    page.wait_for_function(
        "() => document.querySelectorAll('.leaflet-overlay-pane canvas, .leaflet-pane canvas')"
        ".length >= 2",
        timeout=10_000,
    )
    _finish(staff_page, tmp_path / "heatmap.png")


def test_rates_page(
    demo: Engine, live_server: browser.LiveServer, staff_page: WatchedPage, tmp_path: Path
) -> None:
    n = _count(demo, 2)
    _open(staff_page, live_server.url("/maps/rates?scheme=natural_breaks"), min_paths=n)
    page = staff_page.page
    assert page.locator(SHAPES).count() == n
    assert "每千户问题数" in _layer_names(staff_page)
    legend = page.locator("#geogrid-legend")
    assert "natural_breaks" in legend.inner_text()
    assert legend.locator(".gg-legend-class").count() == 5  # k=5 classes, a swatch each
    page.locator(SHAPES).nth(10).hover(force=True)
    page.wait_for_selector(".leaflet-tooltip", timeout=5_000)
    assert "每千户" in page.locator(".leaflet-tooltip").inner_text()
    _finish(staff_page, tmp_path / "rates.png")


def test_hotspots_page(
    demo: Engine, live_server: browser.LiveServer, staff_page: WatchedPage, tmp_path: Path
) -> None:
    n = _count(demo, 2)
    _open(staff_page, live_server.url("/maps/hotspots"), min_paths=n)
    page = staff_page.page
    assert page.locator(SHAPES).count() == n
    assert "Gi*" in _layer_names(staff_page)
    legend = page.locator("#geogrid-legend").inner_text()
    assert "热点 99%" in legend and "不显著" in legend
    hot = page.evaluate(
        "() => Array.from(document.querySelectorAll('path.leaflet-interactive'))"
        ".filter(p => p.getAttribute('fill') === '#b2182b').length"
    )
    assert hot >= 4  # at least one per planted hotspot
    _finish(staff_page, tmp_path / "hotspots.png")


def test_gaps_page(
    demo: Engine, live_server: browser.LiveServer, staff_page: WatchedPage, tmp_path: Path
) -> None:
    _open(staff_page, live_server.url("/maps/gaps"), min_paths=_count(demo, 1))
    page = staff_page.page
    names = _layer_names(staff_page)
    for label in GAP_LABELS.values():
        assert label in names
    totals = page.locator("#geogrid-gaps-totals").inner_text()
    assert "无网格覆盖区域" in totals and "无覆盖面积" in totals
    assert page.locator("#geogrid-gaps-rows tr").count() > 1
    _finish(staff_page, tmp_path / "gaps.png")
