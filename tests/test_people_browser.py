"""The pages for people in headless Chromium with the internet cut off, at a phone's and a
desktop's size: no console error, no request off the server, a screenshot of each kept in
``.state/screenshots/people/`` (git-ignored), and no serious or critical violation that
axe-core finds; and the printed signboard's QR code, decoded
from a screenshot, opens the report page of its grid."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser
from sqlalchemy import Engine, text

from tests import browser
from tests.browser import LiveServer, accessibility_violations, watch_page
from tests.logins import TEST_PASSWORD, TestLogin

chromium = browser.chromium
live_server = browser.live_server

SCREENSHOTS = Path(__file__).resolve().parent.parent / ".state" / "screenshots" / "people"
SIZES = {"phone": (360, 740), "desktop": (1400, 900)}
PUBLIC_PAGES = ("/find", "/report")
LOGGED_IN = {"grid_worker": "/work", "street_officer": "/office", "department": "/dept"}


def _slug(path: str) -> str:
    return path.strip("/").replace("/", "_").replace("?", "_").replace("=", "-") or "root"


@pytest.mark.parametrize("size", SIZES)
def test_public_pages_work_offline(chromium: Browser, live_server: LiveServer, size: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with watch_page(chromium, viewport=SIZES[size]) as watched:
        page = watched.page
        for path in PUBLIC_PAGES:
            page.goto(live_server.url(path), wait_until="networkidle")
            assert page.locator("h1").inner_text()
            page.screenshot(path=str(SCREENSHOTS / f"{_slug(path)}-{size}.png"), full_page=True)
            assert not (found := accessibility_violations(page)), f"axe-core on {path}: {found}"
        watched.assert_clean()


@pytest.mark.parametrize("size", SIZES)
def test_logged_in_pages_work_offline(
    chromium: Browser, live_server: LiveServer, logins: dict[str, TestLogin], size: str
) -> None:
    """Each role logs in through the login page (a real session with its CSRF cookie)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for role, path in LOGGED_IN.items():
        with watch_page(chromium, viewport=SIZES[size]) as watched:
            page = watched.page
            page.goto(live_server.url(f"/login?next={path}"))
            page.fill("#username", logins[role].username)
            page.fill("#password", TEST_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(live_server.url(path))
            page.wait_for_load_state("networkidle")
            assert page.locator("h1").inner_text()
            page.screenshot(path=str(SCREENSHOTS / f"{_slug(path)}-{size}.png"), full_page=True)
            assert not (found := accessibility_violations(page)), f"axe-core on {path}: {found}"
            watched.assert_clean()


def test_find_answers_like_locate(
    chromium: Browser, live_server: LiveServer, engine: Engine
) -> None:
    """A resident searches a demo address: the page shows the grid /locate names."""
    import httpx

    with engine.connect() as conn:
        address = conn.execute(
            text("SELECT full_text FROM addresses ORDER BY id LIMIT 1")
        ).scalar_one()
    expected = httpx.get(live_server.url("/locate"), params={"address": address}).json()
    code = expected["signboard"]["grid"]["code"]
    with watch_page(chromium, viewport=SIZES["phone"]) as watched:
        page = watched.page
        page.goto(live_server.url("/find"), wait_until="networkidle")
        page.fill("#address", address)
        page.click("#find-form button[type=submit]")
        page.wait_for_selector("#grid-code")
        assert page.locator("#grid-code").inner_text() == code
        assert page.url.endswith(f"/find?grid={code}")
        watched.assert_clean()


def test_signboard_qr_opens_the_report_page_of_its_grid(
    chromium: Browser, live_server: LiveServer, engine: Engine
) -> None:
    with engine.connect() as conn:
        code = conn.execute(
            text(
                "SELECT code FROM grids WHERE retired_at IS NULL AND level = 2 ORDER BY code LIMIT 1"
            )
        ).scalar_one()
    with watch_page(chromium, viewport=SIZES["desktop"]) as watched:
        page = watched.page
        page.goto(live_server.url(f"/grids/{code}/signboard?format=html"))
        png = page.locator(".qr svg").screenshot()
        found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
        assert len(found) == 1
        url = found[0].text
        assert urlsplit(url).path == "/report" and urlsplit(url).query == f"grid={code}"
        page.goto(url, wait_until="networkidle")
        assert code in page.locator(".notice").first.inner_text()
        watched.assert_clean()
