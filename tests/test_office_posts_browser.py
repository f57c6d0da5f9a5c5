"""The office's 任命 / 结束此岗 controls of a grid's A/B posts in headless Chromium with the
internet cut off, at a phone's and a desktop's size: no console error, no request off the
server, no serious axe-core violation, a screenshot kept in ``.state/screenshots/people/``; a
refusal of the API is shown next to the form in words, reached and sent with the keyboard.
Nothing is committed: the one write tried is refused. The API is tested in
``test_grids_posts.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests import browser
from tests.browser import LiveServer, accessibility_violations, watch_page
from tests.logins import TEST_PASSWORD, TestLogin
from tests.test_grids_posts import PostedGrid, _posted_grid

chromium = browser.chromium
live_server = browser.live_server

SCREENSHOTS = Path(__file__).resolve().parent.parent / ".state" / "screenshots" / "people"
SIZES = {"phone": (360, 740), "desktop": (1400, 900)}


@pytest.fixture(scope="module")
def posted(demo: object, logins: dict[str, TestLogin]) -> PostedGrid:
    street = logins["street_officer"].principal.reach
    assert street
    return _posted_grid(demo, street[0])  # type: ignore[arg-type]


def _open_office(page: Page, server: LiveServer, login: TestLogin, code: str) -> None:
    path = f"/office?grid={code}"
    page.goto(server.url(f"/login?next={path}"))
    page.fill("#username", login.username)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url(path))
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("size", SIZES)
def test_post_controls_work_offline(
    chromium: Browser,
    live_server: LiveServer,
    logins: dict[str, TestLogin],
    posted: PostedGrid,
    size: str,
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with watch_page(chromium, viewport=SIZES[size]) as watched:
        page = watched.page
        _open_office(page, live_server, logins["street_officer"], posted.code)
        for post in ("A", "B"):
            form = page.locator(f"form.appoint-form[data-post={post}]")
            expect(form.get_by_label("本社区人员")).to_be_visible()
            expect(form.get_by_role("button", name="任命")).to_be_visible()
            expect(page.locator(f".end-post[data-post={post}]")).to_have_text("结束此岗")
        page.screenshot(path=str(SCREENSHOTS / f"office_posts-{size}.png"), full_page=True)
        assert not (found := accessibility_violations(page)), f"axe-core on /office: {found}"
        watched.assert_clean()


def test_refusal_in_words_by_keyboard(
    chromium: Browser, live_server: LiveServer, logins: dict[str, TestLogin], posted: PostedGrid
) -> None:
    """The B holder appointed to A: found by name, picked and sent with the keyboard only;
    the API's 409 appears under the form, in Chinese, naming the post held."""
    with watch_page(chromium, viewport=SIZES["phone"]) as watched:
        page = watched.page
        _open_office(page, live_server, logins["street_officer"], posted.code)
        b_name = page.locator("#post-B-now strong").inner_text()
        form = page.locator("form.appoint-form[data-post=A]")
        search = form.locator("#appoint-A-filter")
        search.focus()
        page.keyboard.type(b_name)
        expect(form.locator("#appoint-A-staff")).to_have_value(str(posted.b_id))
        page.keyboard.press("Tab")  # to the select
        expect(form.locator("#appoint-A-staff")).to_be_focused()
        page.keyboard.press("Tab")  # to 同时结束现任
        page.keyboard.press("Space")
        with page.expect_response(lambda r: r.url.endswith(f"/grids/{posted.code}/posts")) as sent:
            page.keyboard.press("Tab")
            page.keyboard.press("Enter")
        assert sent.value.status == 409
        error = form.locator(".error")
        expect(error).to_contain_text("此人已担任本网格的B岗")
        expect(form.locator("#appoint-A-staff")).to_have_attribute("aria-invalid", "true")
        watched.failed_requests.clear()  # the 409 was the point
        assert not watched.blocked_requests and not watched.page_errors
        assert all("409" in m for m in watched.console_errors)
