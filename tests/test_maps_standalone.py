"""A map exported with ``geogrid maps render`` opens from a file, with no server and no network:
every script, stylesheet and font is inside it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Route
from sqlalchemy import Engine

from geogrid.commands.maps import render_map_file
from geogrid.settings import Settings
from tests import browser

chromium = browser.chromium


@pytest.mark.browser
@pytest.mark.parametrize(
    ("name", "selector", "at_least"),
    [("grids", "path.leaflet-interactive", 1500), ("gaps", "path.leaflet-interactive", 100)],
)
def test_exported_map_opens_offline_from_a_file(
    demo: Engine,
    settings: Settings,
    chromium: Browser,
    tmp_path: Path,
    name: str,
    selector: str,
    at_least: int,
) -> None:
    out = tmp_path / f"{name}.html"
    render_map_file(name, out, database_url=settings.database_url)
    html = out.read_text(encoding="utf-8")
    assert 'src="/static' not in html and 'href="/static' not in html

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    outside: list[str] = []
    errors: list[str] = []

    def route(route: Route) -> None:
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.route("**/*", route)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(out.as_uri())
        page.wait_for_function("typeof window.L !== 'undefined'")
        page.wait_for_function(
            f"document.querySelectorAll({selector!r}).length >= {at_least}", timeout=20_000
        )
        page.screenshot(path=str(tmp_path / f"{name}.png"))
    finally:
        context.close()
    assert outside == [], f"the exported page asked for {outside}"
    assert errors == [], errors


@pytest.mark.browser
def test_exported_rates_map_keeps_its_legend_and_phone_layout(
    demo: Engine, settings: Settings, chromium: Browser, tmp_path: Path
) -> None:
    """The export has the page's step legend (five classes) and folds it on a phone, with no
    server: the layout's CSS and script are inside the file."""
    out = tmp_path / "rates.html"
    render_map_file("rates", out, database_url=settings.database_url)
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith(("file:", "data:")) else route.abort()
        ),
    )
    try:
        page.goto(out.as_uri())
        page.wait_for_function("document.querySelectorAll('path.leaflet-interactive').length > 0")
        legend = page.locator("#geogrid-legend")
        assert legend.locator(".gg-legend-class").count() == 5
        assert legend.get_attribute("open") is None  # folded on a phone
        assert not legend.locator(".gg-legend-class").first.is_visible()
        legend.locator("summary").focus()
        page.keyboard.press("Enter")
        assert legend.locator(".gg-legend-class").nth(4).is_visible()
        assert page.locator(".leaflet-control-layers-toggle").is_visible()
        page.screenshot(path=str(tmp_path / "rates-phone.png"))
    finally:
        context.close()
