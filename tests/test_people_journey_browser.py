"""One report from a resident's phone to its closing, end to end in headless Chromium with the
internet cut off, and axe-core on every page on the way (no serious or critical violation).

A resident finds the grid of a demo address and sees the signboard /locate answers; opens the
URL that the printed signboard's QR code encodes (decoded from its image) and files a report
with a photo, tapping submit twice; the worker on duty for that grid logs in, sees the report
first among the new ones, accepts it and resolves it with a note; the resident's tracking page
shows it resolved, and the rating closes it.

The app here runs on a clock of the test's own (``app.state.clock``): an hour after the newest
report in the database, so the new report is the newest one whatever the demo holds.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, FilePayload, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from geogrid.settings import Settings
from tests import browser
from tests.browser import LiveServer, accessibility_violations, serve_app, watch_page
from tests.logins import TEST_PASSWORD

chromium = browser.chromium

PHONE = (360, 740)
DESKTOP = (1400, 900)


@dataclass(frozen=True)
class ClockedServer:
    server: LiveServer
    now: datetime


@pytest.fixture(scope="module")
def clocked(
    settings: Settings, engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClockedServer]:
    """The app on its own port with the test's clock (the shared live server keeps its own)
    and a photo store of its own, so the run leaves no file in the source tree."""
    from api.main import create_app
    from api.routers.issues import get_photo_store
    from geogrid.issues.photos import PhotoStore

    with engine.connect() as conn:
        newest = conn.execute(text("SELECT max(reported_at) FROM issues")).scalar_one()
    now = newest.replace(second=0, microsecond=0) + timedelta(hours=1)
    app = create_app(settings)
    app.state.clock = lambda: now
    photos = PhotoStore(tmp_path_factory.mktemp("photos"), settings.max_photo_bytes)
    app.dependency_overrides[get_photo_store] = lambda: photos
    with serve_app(app) as server:
        yield ClockedServer(server, now)


_WAITING_SQL = text(
    """
    SELECT count(*) FROM issues i
    JOIN grid_assignments a ON a.grid_id = i.grid_id AND a.valid_to IS NULL
    WHERE a.staff_id = :staff AND i.status = 'reported' AND i.deadline_at IS NOT NULL
    """
)


def _address_with_worker_on_duty(engine: Engine, server: LiveServer) -> tuple[str, dict[str, Any]]:
    """A demo address whose grid names a worker on duty with no report waiting for them (a
    waiting report has a deadline for acceptance, older than ours, so it rightly comes first in
    their queue), and /locate's answer for it."""
    with engine.connect() as conn:
        addresses = conn.execute(
            text("SELECT full_text FROM addresses ORDER BY id LIMIT 300")
        ).scalars()
        for address in addresses:
            answer = httpx.get(server.url("/locate"), params={"address": address}).json()
            board = answer.get("signboard") or {}
            on_duty = board.get("on_duty")
            if not on_duty or not on_duty.get("post"):
                continue
            if conn.execute(_WAITING_SQL, {"staff": on_duty["staff_id"]}).scalar_one() == 0:
                return address, answer
    pytest.fail("no demo address among the first 300 has a worker on duty with no report waiting")


def _worker_login(engine: Engine, staff_id: int) -> str:
    """A committed grid-worker login for the staff member on duty (made once per database)."""
    from geogrid.auth import accounts
    from geogrid.storage.models import User

    username = f"test-journey-worker-{staff_id}"
    with Session(engine) as session, session.begin():
        if session.scalar(select(User).where(User.username == username)) is None:
            accounts.create_user(
                session, username, role="grid_worker", password=TEST_PASSWORD, staff_id=staff_id
            )
    return username


def _photo() -> bytes:
    image = Image.new("RGB", (1200, 900), (200, 120, 40))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


class Audit:
    """axe-core's serious and critical violations of every page visited, reported together."""

    def __init__(self) -> None:
        self.found: dict[str, list[str]] = {}
        self.pages: list[str] = []

    def check(self, page: Page, name: str) -> None:
        self.pages.append(name)
        violations = accessibility_violations(page)
        if violations:
            self.found[name] = violations

    def assert_clean(self) -> None:
        assert not self.found, "axe-core found serious violations:\n" + "\n".join(
            f"  {name}: {v}" for name, vs in self.found.items() for v in vs
        )


def _act(page: Page, issue_id: int, to: str, note: str | None = None) -> None:
    """Press the transition button ``to`` of issue ``issue_id`` in the queue; the page reloads."""
    item = page.locator(f'#queue .issue[data-id="{issue_id}"]')
    if note is not None:
        item.locator(".note").fill(note)
    with page.expect_navigation():
        item.locator(f'button.transition[data-to="{to}"]').click()
    page.wait_for_load_state("networkidle")


def test_a_report_from_the_signboard_to_its_rating(
    chromium: Browser, clocked: ClockedServer, engine: Engine
) -> None:
    server = clocked.server
    audit = Audit()
    address, located = _address_with_worker_on_duty(engine, server)
    board = located["signboard"]
    code = board["grid"]["code"]
    on_duty = board["on_duty"]

    # 1. the resident finds the grid of the address: the signboard /locate answers
    with watch_page(chromium, viewport=PHONE) as resident:
        page = resident.page
        page.goto(server.url("/find"), wait_until="networkidle")
        audit.check(page, "/find")
        page.fill("#address", address)
        page.click("#find-form button[type=submit]")
        page.wait_for_selector("#grid-code")
        assert page.locator("#grid-code").inner_text() == code
        assert page.locator("#grid-name").inner_text() == board["grid"]["name"]
        duty = page.locator("#on-duty").inner_text()
        assert on_duty["name"] in duty and f"{on_duty['post']}岗" in duty
        for post in ("post_a", "post_b"):
            if board[post] and board[post]["phone"]:
                phone = board[post]["phone"]
                assert page.locator(f'#answer a[href="tel:{phone}"]').count() >= 1
        page.wait_for_load_state("networkidle")
        audit.check(page, "/find (answered)")
        resident.assert_clean()

    # 2. the printed signboard's QR code opens the report page; a report with a photo,
    # submitted with a double tap
    description = f"楼道灯不亮，晚上看不清台阶（{uuid.uuid4().hex[:8]}）"
    with watch_page(chromium, viewport=DESKTOP) as printed:
        page = printed.page
        page.goto(server.url(f"/grids/{code}/signboard?format=html"), wait_until="networkidle")
        audit.check(page, "signboard")
        found = zxingcpp.read_barcodes(Image.open(io.BytesIO(page.locator(".qr svg").screenshot())))
        assert len(found) == 1
        report_url = found[0].text
        assert report_url == server.url(f"/report?grid={code}")
        printed.assert_clean()

    with watch_page(chromium, viewport=PHONE) as resident:
        page = resident.page
        page.goto(report_url, wait_until="networkidle")
        assert code in page.locator(".notice").first.inner_text()
        audit.check(page, "/report")
        page.fill("#r-address", address)
        category = page.locator('#r-category option:not([value=""])').first.get_attribute("value")
        assert category
        page.select_option("#r-category", category)
        page.fill("#r-description", description)
        photo: FilePayload = {"name": "灯.jpg", "mimeType": "image/jpeg", "buffer": _photo()}
        page.set_input_files("#r-photos", files=[photo])
        page.locator("#submit").dblclick()
        try:
            page.wait_for_url("**/track/*", timeout=20_000)
        except PlaywrightTimeoutError:
            pytest.fail(
                f"the report was not filed: {page.locator('#toast').inner_text()!r}, "
                f"{resident.problems()}"
            )
        page.wait_for_load_state("networkidle")
        token = urlsplit(page.url).path.rsplit("/", 1)[1]
        assert page.locator("#status").get_attribute("data-status") == "reported"
        audit.check(page, "/track (reported)")
        resident.assert_clean()

    with engine.connect() as conn:
        filed = conn.execute(
            text(
                "SELECT i.id, g.code, (SELECT count(*) FROM issue_photos p WHERE p.issue_id = i.id)"
                " AS photos FROM issues i JOIN grids g ON g.id = i.grid_id"
                " WHERE i.description = :d"
            ),
            {"d": description},
        ).all()
    assert len(filed) == 1, "a double tap filed more than one issue"
    issue_id, grid_code, photos = filed[0]
    assert grid_code == code and photos == 1
    # the same submission sent again (a retry after a lost answer) files nothing more
    again = httpx.post(
        server.url("/report/submit"),
        json={"key": token, "category": category, "description": description, "address": address},
    )
    assert again.status_code == 200 and again.json()["issue_id"] == issue_id

    # 3. the worker on duty logs in, sees it first among the new reports, accepts and resolves
    username = _worker_login(engine, on_duty["staff_id"])
    with watch_page(chromium, viewport=PHONE) as worker:
        page = worker.page
        page.goto(server.url("/login?next=/work"), wait_until="networkidle")
        audit.check(page, "/login")
        page.fill("#username", username)
        page.fill("#password", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(server.url("/work"))
        page.wait_for_load_state("networkidle")
        audit.check(page, "/work")
        page.goto(server.url("/work?status=reported"), wait_until="networkidle")
        assert page.locator("#queue .issue").first.get_attribute("data-id") == str(issue_id)
        audit.check(page, "/work?status=reported")
        _act(page, issue_id, "accepted")
        page.goto(server.url("/work?status=accepted"), wait_until="networkidle")
        _act(page, issue_id, "in_progress")
        page.goto(server.url("/work?status=in_progress"), wait_until="networkidle")
        _act(page, issue_id, "resolved", note="已更换楼道灯泡并试亮")
        worker.assert_clean()

    # 4. the tracking page shows it resolved; the rating closes it
    with watch_page(chromium, viewport=PHONE) as resident:
        page = resident.page
        page.goto(server.url(f"/track/{token}"), wait_until="networkidle")
        assert page.locator("#status").get_attribute("data-status") == "resolved"
        assert "已更换楼道灯泡并试亮" in page.locator("#track").inner_text()
        audit.check(page, "/track (resolved)")
        page.check('input[name=rating][value="satisfied"]')
        with page.expect_navigation():
            page.click("#rate-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator("#status").get_attribute("data-status") == "closed"
        assert page.locator("#rating").inner_text() == "满意"
        audit.check(page, "/track (closed)")
        resident.assert_clean()

    with engine.connect() as conn:
        status = conn.execute(
            text("SELECT status FROM issues WHERE id = :id"), {"id": issue_id}
        ).scalar_one()
    assert status == "closed"
    audit.assert_clean()
