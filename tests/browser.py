"""Browser-test helpers: the real app on a free port, and a headless Chromium cut off from the
internet, recording what each page did.

Use the fixtures by binding them in a test module (the root conftest is not ours to extend, and
assigning keeps ruff from calling them unused imports)::

    from tests import browser

    chromium = browser.chromium
    chromium_page = browser.chromium_page
    live_server = browser.live_server

A page may only reach 127.0.0.1/localhost: any other request is aborted and recorded, which
is how we prove a page works on a government network with no internet. Chromium is Debian's
(``/usr/bin/chromium``, or ``GEOGRID_CHROMIUM``), driven by Python Playwright.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    Route,
    sync_playwright,
)
from sqlalchemy import Engine

from geogrid.settings import Settings

__all__ = [
    "AXE_SOURCE",
    "CHROMIUM_ARGS",
    "LOCAL_HOSTS",
    "LiveServer",
    "WatchedPage",
    "accessibility_violations",
    "chromium",
    "chromium_executable",
    "chromium_page",
    "launch_chromium",
    "live_server",
    "serve_app",
    "watch_page",
]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_STARTUP_TIMEOUT_S = 20.0
T = TypeVar("T")

#: axe-core from npm (package.json), injected by the tests only: the app never serves it to a
#: page of its own.
AXE_SOURCE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"


# --- the app on a free port --------------------------------------------------------------------


@dataclass(frozen=True)
class LiveServer:
    """A running app: ``url("/path")`` gives an absolute URL on it."""

    base_url: str
    app: FastAPI

    def url(self, path: str = "/") -> str:
        return self.base_url + path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_app(app: FastAPI) -> Iterator[LiveServer]:
    """Run ``app`` with uvicorn (lifespan included) in a daemon thread until the block ends."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail(f"the app did not start on 127.0.0.1:{port}", pytrace=False)
        time.sleep(0.05)
    try:
        yield LiveServer(base_url=f"http://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# --- Chromium ----------------------------------------------------------------------------------


def chromium_executable() -> str:
    """Debian's Chromium, or ``GEOGRID_CHROMIUM``; a missing browser fails, it does not skip."""
    path = os.environ.get("GEOGRID_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail(
            f"Chromium not found at {path}: install Debian's 'chromium' (scripts/test does) "
            "or set GEOGRID_CHROMIUM.",
            pytrace=False,
        )
    return path


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname in LOCAL_HOSTS


@dataclass
class WatchedPage:
    """A page and everything that went wrong on it."""

    page: Page
    blocked_requests: list[str] = field(default_factory=list)
    """Requests to anywhere but this machine, aborted."""
    failed_requests: list[str] = field(default_factory=list)
    """Local requests that failed or answered 4xx/5xx."""
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    """Uncaught JavaScript exceptions."""

    def problems(self) -> list[str]:
        return [
            *(f"blocked (not local): {u}" for u in self.blocked_requests),
            *(f"failed: {u}" for u in self.failed_requests),
            *(f"console error: {m}" for m in self.console_errors),
            *(f"page error: {m}" for m in self.page_errors),
        ]

    def assert_clean(self) -> None:
        problems = self.problems()
        assert not problems, "the page had problems:\n  " + "\n  ".join(problems)


@contextmanager
def watch_page(
    browser: Browser,
    *,
    viewport: tuple[int, int] = (1280, 900),
    headers: dict[str, str] | None = None,
) -> Iterator[WatchedPage]:
    """A fresh context and page, with non-local requests aborted and every error recorded.
    ``headers`` go with every request (a staff login's ``Authorization``: the analysis maps
    are for staff)."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    if headers:
        context.set_extra_http_headers(headers)
    page = context.new_page()
    watched = WatchedPage(page)

    def route(route: Route) -> None:
        url = route.request.url
        if _is_local(url):
            route.continue_()
        else:
            watched.blocked_requests.append(url)
            route.abort("blockedbyclient")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            text = message.text
            # An aborted internet request also logs a console error; it is reported once,
            # as blocked, with its URL.
            if "ERR_BLOCKED_BY_CLIENT" not in text:
                watched.console_errors.append(f"{text} ({message.location.get('url', '')})")

    def on_request_failed(request: Request) -> None:
        if _is_local(request.url):
            watched.failed_requests.append(f"{request.url} ({request.failure})")

    def on_response(response: Response) -> None:
        if response.status >= 400 and _is_local(response.url):
            watched.failed_requests.append(f"{response.url} (HTTP {response.status})")

    context.route("**/*", route)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: watched.page_errors.append(str(exc)))
    page.on("requestfailed", on_request_failed)
    page.on("response", on_response)
    try:
        yield watched
    finally:
        context.close()


# --- accessibility -----------------------------------------------------------------------------


def accessibility_violations(
    page: Page, *, impacts: frozenset[str] = frozenset({"serious", "critical"})
) -> list[str]:
    """axe-core's violations of ``impacts`` on the page as it is now, one line each (rule,
    impact, the first elements, axe's help): empty when a screen reader and the keyboard can
    use the page as far as axe can tell.

    The script is evaluated in the page rather than added as a ``<script>`` so the pages'
    Content-Security-Policy need not allow it.
    """
    if not AXE_SOURCE.is_file():
        pytest.fail(f"axe-core is not installed at {AXE_SOURCE}: run `npm ci`.", pytrace=False)
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8"))
    violations: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
            }));
        }"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(v['targets'])}"
        for v in violations
        if v["impact"] in impacts
    ]


# --- fixtures ----------------------------------------------------------------------------------


class _Shared:
    """One resource for every module that binds a fixture: each binding is its own session
    fixture to pytest, and Playwright's sync API allows one instance per thread at a time."""

    def __init__(self) -> None:
        self._entered: dict[str, tuple[AbstractContextManager[Any], Any]] = {}
        self._users: dict[str, int] = {}

    @contextmanager
    def use(self, key: str, factory: Callable[[], AbstractContextManager[T]]) -> Iterator[T]:
        if key not in self._entered:
            manager = factory()
            self._entered[key] = (manager, manager.__enter__())
            self._users[key] = 0
        self._users[key] += 1
        try:
            yield self._entered[key][1]
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                manager, _ = self._entered.pop(key)
                manager.__exit__(None, None, None)


_shared = _Shared()


@pytest.fixture(scope="session")
def live_server(settings: Settings, engine: Engine) -> Iterator[LiveServer]:
    """The real app (``create_app`` with the test settings), served for the whole session, on
    a migrated database with the demo (``engine``), whichever test asks for it first."""
    from api.main import create_app

    def start() -> AbstractContextManager[LiveServer]:
        return serve_app(create_app(settings))

    with _shared.use(f"server:{settings.model_dump_json()}", start) as server:
        yield server


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    with _shared.use("chromium", launch_chromium) as browser:
        yield browser


@pytest.fixture
def chromium_page(chromium: Browser) -> Iterator[WatchedPage]:
    with watch_page(chromium) as watched:
        yield watched


@pytest.fixture
def staff_page(chromium: Browser, admin_headers: dict[str, str]) -> Iterator[WatchedPage]:
    """A page whose every request carries the test admin's token (maps of issues are staff's)."""
    with watch_page(chromium, headers=admin_headers) as watched:
        yield watched
