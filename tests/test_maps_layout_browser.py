"""Every map page read at a glance, on a phone (360 x 740) and on a desk (1400 x 900), in
headless Chromium with the internet blocked.

What a person sees is measured in the page: no two visible controls, legends or boxes overlap
(bounding boxes), no two text labels of a legend overlap, nothing is wider than the screen. On
a phone the layer control is a button and the boxes fold to their toggle, which a keyboard can
open. Screenshots are kept in ``.state/screenshots/maps/`` (git-ignored), one per page and size,
to be looked at.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine

from geogrid.maps.rates import PALETTE
from geogrid.settings import PROJECT_ROOT
from tests import browser
from tests.browser import watch_page

chromium = browser.chromium
live_server = browser.live_server

pytestmark = pytest.mark.browser

SCREENSHOTS = PROJECT_ROOT / ".state" / "screenshots" / "maps"
PAGES = ["/", "/maps/grids", "/maps/heatmap", "/maps/rates", "/maps/hotspots", "/maps/gaps"]
PHONE = (360, 740)
DESK = (1400, 900)
VIEWPORTS = {"phone": PHONE, "desk": DESK}

# Boxes: the top-level Leaflet controls in the map corners and our boxes (.gg-panel). Legend
# labels: every text node of a legend, one rectangle per line it takes.
MEASURE = """() => {
    const vw = document.documentElement.clientWidth;
    const shown = el => {
        const r = el.getBoundingClientRect(), s = getComputedStyle(el);
        return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
    };
    const name = el => el.id ? '#' + el.id
        : (el.className.baseVal ?? el.className).split(' ').filter(c => c).slice(0, 3).join('.');
    const box = el => { const r = el.getBoundingClientRect();
        return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
    const boxes = [...document.querySelectorAll('.leaflet-control, .gg-panel')]
        .filter(el => !el.parentElement.closest('.leaflet-control, .gg-panel'))
        .filter(shown).map(el => ({name: name(el), ...box(el)}));
    const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
        && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
    const overlaps = [];
    boxes.forEach((a, i) => boxes.slice(i + 1).forEach(b => {
        if (hit(a, b)) overlaps.push(a.name + ' / ' + b.name);
    }));
    const labels = [];
    document.querySelectorAll('#geogrid-legend, .legend').forEach(legend => {
        const walker = document.createTreeWalker(legend, NodeFilter.SHOW_TEXT);
        while (walker.nextNode()) {
            const node = walker.currentNode;
            if (!node.textContent.trim()) continue;
            const range = document.createRange();
            range.selectNodeContents(node);
            [...range.getClientRects()].filter(r => r.width > 0 && r.height > 0)
                .forEach(r => labels.push({text: node.textContent.trim(), ...box({
                    getBoundingClientRect: () => r})}));
        }
    });
    const labelOverlaps = [];
    labels.forEach((a, i) => labels.slice(i + 1).forEach(b => {
        if (hit(a, b)) labelOverlaps.push(a.text + ' / ' + b.text);
    }));
    const tooWide = boxes.filter(b => b.left < -0.5 || b.right > vw + 0.5)
        .map(b => `${b.name} ${b.left.toFixed(0)}-${b.right.toFixed(0)}`);
    if (document.documentElement.scrollWidth > vw) tooWide.push('page ' +
        document.documentElement.scrollWidth);
    return {boxes: boxes.map(b => b.name), overlaps, labels: labels.length, labelOverlaps,
            tooWide};
}"""


def _open(page: Page, url: str) -> None:
    page.goto(url, wait_until="load", timeout=60_000)
    page.wait_for_function("() => window.L !== undefined && typeof L.map === 'function'")
    page.wait_for_function(
        "() => document.querySelectorAll('path.leaflet-interactive').length > 0", timeout=30_000
    )
    # a frame page's fetched layers are all in (the time slider has its frames): what is
    # measured is what a person sees once the page has loaded
    page.wait_for_function(
        "() => document.documentElement.dataset.layers !== 'loading'", timeout=30_000
    )
    assert page.evaluate("() => document.documentElement.dataset.layers") != "failed"


def _check_layout(page: Page, where: str) -> dict[str, Any]:
    seen: dict[str, Any] = page.evaluate(MEASURE)
    assert seen["overlaps"] == [], f"{where}: boxes overlap: {seen['overlaps']}"
    assert seen["labelOverlaps"] == [], f"{where}: legend labels overlap: {seen['labelOverlaps']}"
    assert seen["tooWide"] == [], f"{where}: wider than the screen: {seen['tooWide']}"
    return seen


def _slug(path: str) -> str:
    return path.strip("/").replace("/", "-") or "landing"


@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("path", PAGES)
def test_page_reads_at_a_glance(
    demo: Engine,
    live_server: browser.LiveServer,
    chromium: Browser,
    admin_headers: dict[str, str],
    path: str,
    size: str,
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with watch_page(chromium, viewport=VIEWPORTS[size], headers=admin_headers) as watched:
        page = watched.page
        _open(page, live_server.url(path))
        seen = _check_layout(page, f"{path} {size}")
        assert "#geogrid-title" in seen["boxes"]
        page.screenshot(path=str(SCREENSHOTS / f"{_slug(path)}-{size}.png"))
        layers = page.locator(".leaflet-control-layers")
        if size == "phone":
            # the layer control is a button, and opens from the keyboard
            assert "leaflet-control-layers-expanded" not in (layers.get_attribute("class") or "")
            toggle = page.locator(".leaflet-control-layers-toggle")
            assert toggle.is_visible() and toggle.get_attribute("aria-label") == "图层 / layers"
            toggle.focus()
            page.keyboard.press("Enter")
            page.wait_for_selector(".leaflet-control-layers-expanded", timeout=5_000)
            layers.hover()  # and folds when the pointer leaves it
            page.mouse.move(PHONE[0] / 2, PHONE[1] - 5)
            page.wait_for_selector(
                ".leaflet-control-layers-expanded", state="detached", timeout=5_000
            )
            _open_folded_boxes(page, path)
        else:
            assert "leaflet-control-layers-expanded" in (layers.get_attribute("class") or "")
            assert page.locator("details.gg-panel:not([open])").count() == 0
        watched.assert_clean()


def _open_folded_boxes(page: Page, path: str) -> None:
    """Each folded box opens from the keyboard (Tab to its toggle, Enter), fits the screen
    and its legend labels stay apart; the screenshot shows them all open."""
    folded = page.locator("details.gg-panel:not([open])")
    ids = [folded.nth(i).get_attribute("id") for i in range(folded.count())]
    if path != "/":
        assert "geogrid-title" in ids, "the title box folds on a phone"
    for box_id in ids:
        summary = page.locator(f"#{box_id} > summary")
        assert summary.get_attribute("aria-label")
        summary.focus()
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#{box_id}[open] .gg-panel-body", state="visible")
        seen = page.evaluate(MEASURE)
        assert seen["tooWide"] == [], f"{path} phone, {box_id} open: {seen['tooWide']}"
        assert seen["labelOverlaps"] == [], f"{path} phone, {box_id} open"
        if box_id != "geogrid-title":  # the title box, open, lies over the map like a drawer
            assert [o for o in seen["overlaps"] if box_id in o] == [], seen["overlaps"]
        page.screenshot(path=str(SCREENSHOTS / f"{_slug(path)}-phone-{box_id}-open.png"))
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#{box_id}:not([open])", state="attached")


def test_landing_links_can_be_tapped_on_a_phone(
    demo: Engine,
    live_server: browser.LiveServer,
    chromium: Browser,
    admin_headers: dict[str, str],
) -> None:
    """The bug that started it: at 360 px the layer control lay on the title box's links."""
    with watch_page(chromium, viewport=PHONE, headers=admin_headers) as watched:
        page = watched.page
        _open(page, live_server.url("/"))
        links = page.locator("#geogrid-title nav a")
        assert links.count() >= 5
        for i in range(links.count()):
            box = links.nth(i).bounding_box()
            assert box is not None
            on_top = page.evaluate(
                "([x, y]) => document.elementFromPoint(x, y).closest('a')?.textContent",
                [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
            )
            assert on_top == links.nth(i).inner_text()
        watched.assert_clean()


_RANGE = re.compile(r"^([\d.]+) – ([\d.]+)$")


def test_rates_legend_has_one_entry_per_class(
    demo: Engine,
    live_server: browser.LiveServer,
    chromium: Browser,
    admin_headers: dict[str, str],
) -> None:
    """The demo's quantile classes, whatever the spread (one hotspot far above the rest): five
    swatches in class order, each with its range, read from ``/analysis/rates``."""
    with watch_page(chromium, viewport=DESK, headers=admin_headers) as watched:
        page = watched.page
        data = page.request.get(live_server.url("/analysis/rates")).json()
        breaks = data["properties"]["breaks"]
        rates = [f["properties"]["rate"] for f in data["features"]]
        lowest = min(r for r in rates if r is not None)
        assert len(breaks) == 5
        assert breaks[-1] > 5 * breaks[-2], "the demo's planted hotspot spreads the values"

        _open(page, live_server.url("/maps/rates"))
        rows = page.locator("#geogrid-legend .gg-legend-class")
        assert rows.count() == 5
        bounds = []
        for i in range(5):
            match = _RANGE.match(rows.nth(i).inner_text().strip())
            assert match, rows.nth(i).inner_text()
            bounds.append((float(match.group(1)), float(match.group(2))))
            fill = rows.nth(i).locator(".gg-swatch").evaluate("e => e.style.background")
            assert fill == page.evaluate(
                "c => { const e = document.createElement('i'); e.style.background = c; "
                "return e.style.background; }",
                PALETTE[i],
            )
        expected = list(zip([lowest, *breaks[:-1]], breaks, strict=True))
        for (lo, hi), (want_lo, want_hi) in zip(bounds, expected, strict=True):
            assert lo == pytest.approx(want_lo, abs=0.051, rel=0.005)
            assert hi == pytest.approx(want_hi, abs=0.051, rel=0.005)
        watched.assert_clean()
