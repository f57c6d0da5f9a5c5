"""The office's admin pages and the district switcher in headless Chromium with the internet
cut off, at a phone's and a desktop's size: no console error, no request off the server, no
serious axe-core violation, a screenshot of each kept in ``.state/screenshots/people/``; a
refusal from the API is shown next to its form in words, and the pages are worked with the
keyboard. The API-level tests are in ``test_office_admin_pages.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine, text

from tests import browser
from tests.browser import LiveServer, accessibility_violations, watch_page
from tests.logins import TEST_PASSWORD, TestLogin

chromium = browser.chromium
live_server = browser.live_server

SCREENSHOTS = Path(__file__).resolve().parent.parent / ".state" / "screenshots" / "people"
SIZES = {"phone": (360, 740), "desktop": (1400, 900)}
ADMIN_PAGES = ("/office/categories", "/office/departments", "/office/calendar")
#: A second district for the switcher: a bare row (no grids, no issues), removed afterwards.
OTHER = "990001"


def _log_in(page: Page, server: LiveServer, login: TestLogin, path: str) -> None:
    page.goto(server.url(f"/login?next={path}"))
    page.fill("#username", login.username)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url(path))
    page.wait_for_load_state("networkidle")


def _slug(path: str) -> str:
    return path.strip("/").replace("/", "_")


@pytest.mark.parametrize("size", SIZES)
def test_admin_pages_work_offline(
    chromium: Browser, live_server: LiveServer, logins: dict[str, TestLogin], size: str
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with watch_page(chromium, viewport=SIZES[size]) as watched:
        page = watched.page
        _log_in(page, live_server, logins["admin"], "/office")
        for path in ADMIN_PAGES:
            page.click(f'nav.subnav a[href="{path}"]')
            page.wait_for_url(live_server.url(path))
            page.wait_for_load_state("networkidle")
            assert page.locator("h1").inner_text()
            page.screenshot(path=str(SCREENSHOTS / f"{_slug(path)}-{size}.png"), full_page=True)
            assert not (found := accessibility_violations(page)), f"axe-core on {path}: {found}"
        watched.assert_clean()


def test_non_admin_sees_no_link_and_a_refusal(
    chromium: Browser, live_server: LiveServer, logins: dict[str, TestLogin]
) -> None:
    with watch_page(chromium, viewport=SIZES["phone"]) as watched:
        page = watched.page
        _log_in(page, live_server, logins["street_officer"], "/office")
        assert page.locator('a[href="/office/categories"]').count() == 0
        answer = page.goto(live_server.url("/office/categories"))
        assert answer is not None and answer.status == 403
        assert "管理员" in page.locator(".notice").inner_text()
        # the 403 of the page is the expected answer here, not a problem of the page
        assert watched.failed_requests == [f"{live_server.url('/office/categories')} (HTTP 403)"]
        assert not watched.console_errors or all("403" in m for m in watched.console_errors)
        assert not watched.blocked_requests and not watched.page_errors


def test_refusal_shown_in_words_and_saving_by_keyboard(
    chromium: Browser, live_server: LiveServer, logins: dict[str, TestLogin], engine: Engine
) -> None:
    """A new category with a code in use: the API's 409 appears next to the form, in Chinese,
    on the code field. Then an entry opened and saved with the keyboard only (its values
    unchanged, so the catalogue stays as the demo left it)."""
    with engine.connect() as conn:
        code, name = conn.execute(
            text("SELECT code, name FROM issue_categories ORDER BY code LIMIT 1")
        ).one()
    with watch_page(chromium, viewport=SIZES["phone"]) as watched:
        page = watched.page
        _log_in(page, live_server, logins["admin"], "/office/categories")
        form = page.locator("form[aria-labelledby=new-category]")
        form.locator("#new-code").fill(code)
        form.locator("#new-name").fill("重复的类别")
        with page.expect_response(lambda r: r.url.endswith("/categories?district=610503")) as sent:
            form.locator("#new-name").press("Enter")
        assert sent.value.status == 409
        error = form.locator(".error")
        expect(error).to_contain_text("这个编码已经存在")
        expect(form.locator("#new-code")).to_have_attribute("aria-invalid", "true")
        expect(form.locator("#new-code")).to_be_focused()
        watched.failed_requests.clear()  # the 409 was the point

        summary = page.locator("ul.admin-list summary").first
        summary.focus()
        page.keyboard.press("Enter")
        name_field = page.locator(f"#name-{code}")
        expect(name_field).to_be_visible()
        expect(name_field).to_have_value(name)
        name_field.focus()
        with page.expect_response(
            lambda r: r.url.endswith(f"/categories/{code}?district=610503")
        ) as saved:
            page.keyboard.press("Enter")
        assert saved.value.status == 200
        expect(page.locator("#toast")).to_have_text("已保存。")
        assert not watched.blocked_requests and not watched.page_errors
        assert all("409" in m for m in watched.console_errors)


@pytest.fixture
def second_district(engine: Engine) -> Iterator[str]:
    square = "ST_Multi(ST_GeomFromText('POLYGON((0 0,0 0.01,0.01 0.01,0.01 0,0 0))', 4326))"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO admin_areas (code, name, level, district_adcode, geom, source) "
                f"VALUES (:c, '测试区', 'district', :c, {square}, 'test')"
            ),
            {"c": OTHER},
        )
    try:
        yield OTHER
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM admin_areas WHERE code = :c"), {"c": OTHER})


@pytest.mark.parametrize("size", SIZES)
def test_district_switcher_filters_and_is_kept(
    chromium: Browser,
    live_server: LiveServer,
    logins: dict[str, TestLogin],
    second_district: str,
    size: str,
) -> None:
    """Switched with the keyboard on /office: the queue is the other district's (empty here),
    and /work opens on the same district."""
    with watch_page(chromium, viewport=SIZES[size]) as watched:
        page = watched.page
        _log_in(page, live_server, logins["admin"], "/office")
        assert page.locator("#queue li.issue").count() > 0
        switch = page.locator("#district-switch")
        switch.focus()
        with page.expect_navigation():
            switch.select_option(second_district)
        assert f"district={second_district}" in page.url
        expect(page.locator("#queue")).to_contain_text("没有待办的问题")
        page.screenshot(path=str(SCREENSHOTS / f"office_district-{size}.png"), full_page=True)
        assert not (found := accessibility_violations(page)), f"axe-core: {found}"
        page.goto(live_server.url("/work"), wait_until="networkidle")
        expect(page.locator("#district-switch")).to_have_value(second_district)
        assert page.locator("#queue li.issue").count() == 0
        watched.assert_clean()
