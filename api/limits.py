"""What one request may cost the server, enforced at the edge before any route runs.

- :class:`BodyLimitMiddleware` caps every request body while it is read (1 MB for JSON, more
  for the few upload routes), so a 2 GB body is refused after its first megabyte and not
  buffered, parsed or spooled to disk first. JSON bodies (capped small) are also checked for
  escaped control characters, and every query string and path for raw ones: a NUL byte cannot
  be stored in PostgreSQL text, and a newline in a name forges lines in logs and CSV exports,
  so they are refused up front with one rule, whatever the route.
- :class:`RateLimitMiddleware` gives each client address a token bucket per class of public
  route (reports, reads): 429 with ``Retry-After`` when it is empty.
- :class:`HeavyAnalysisGate` lets only a few heavy analyses (hotspots, gaps) run at once per
  process; the others wait a little, then answer 503 with ``Retry-After``.
- :class:`SecurityHeadersMiddleware` adds CSP, ``nosniff``, ``frame-ancestors`` and
  ``Referrer-Policy`` to every answer.

Each refusal is problem+json with its own rule (:data:`geogrid.errors.RULES`).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Final
from urllib.parse import unquote_to_bytes

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response
from geogrid.settings import Settings

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "BodyLimitMiddleware",
    "HeavyAnalysisDep",
    "HeavyAnalysisGate",
    "LimitError",
    "RateLimitMiddleware",
    "RateLimiter",
    "SecurityHeadersMiddleware",
    "body_limit",
    "install_limits",
    "rate_class",
]


class LimitError(StarletteHTTPException):
    """A request refused by a limit: its status, rule, an actionable message and headers
    (``Retry-After``). An HTTP exception so that FastAPI re-raises it unchanged when it is
    raised while a body is being read (other errors there become a bare 400)."""

    def __init__(
        self, status: int, rule: str, detail: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.rule = rule

    def response(self, path: str) -> JSONResponse:
        titles = {
            413: "Request body too large",
            422: "Invalid input",
            429: "Too many requests",
            503: "Service busy",
        }
        return problem_response(
            self.status_code,
            titles.get(self.status_code, "Refused"),
            str(self.detail),
            rule=self.rule,
            instance=path,
            headers=dict(self.headers) if self.headers else None,
        )


# -- body size ----------------------------------------------------------------------------------

_UPLOAD_ROUTES: Final[tuple[tuple[str, re.Pattern[str], str], ...]] = (
    ("POST", re.compile(r"^/grids/import$"), "max_upload_bytes"),
    ("POST", re.compile(r"^/issues/[^/]+/photos$"), "max_photo_bytes"),
    ("POST", re.compile(r"^/locate/batch$"), "max_batch_bytes"),
    ("POST", re.compile(r"^/addresses/import$"), "max_batch_bytes"),
)


def body_limit(settings: Settings, method: str, path: str) -> int:
    """The largest body a request to ``method path`` may send, in bytes.

    >>> s = Settings()
    >>> body_limit(s, "POST", "/issues") == s.max_body_bytes
    True
    >>> body_limit(s, "POST", "/grids/import") == s.max_upload_bytes
    True
    """
    for route_method, pattern, setting in _UPLOAD_ROUTES:
        if method == route_method and pattern.match(path):
            return int(getattr(settings, setting))
    return settings.max_body_bytes


def _megabytes(n: int) -> str:
    return f"{n / 2**20:g} MB"


def _too_large(limit: int, path: str) -> LimitError:
    return LimitError(
        413,
        "body_too_large",
        f"The request body is larger than {_megabytes(limit)}, the most {path} accepts: send "
        "a smaller body (split a file, simplify a geometry).",
    )


_JSON_TYPE = re.compile(rb"^application/([a-z0-9.+-]+\+)?json\b", re.IGNORECASE)
#: A JSON escape of a C0 control character other than tab, newline and carriage return, or of
#: DEL and the C1 controls, not itself escaped (an even number of backslashes before it).
_ESCAPED_CONTROL = re.compile(
    rb"(?<!\\)(?:\\\\)*\\u00(?:0[0-8bcefBCEF]|1[0-9a-fA-F]|7[fF]|[89][0-9a-fA-F])"
)
_RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _control_character_error(where: str) -> LimitError:
    return LimitError(
        422,
        "control_characters",
        f"The {where} holds a control character (a NUL byte, an escape...), which no field "
        "accepts: remove it (tabs and line breaks are allowed in text).",
    )


class BodyLimitMiddleware:
    """Caps each request body at :func:`body_limit` while it is read (pure ASGI: the bytes
    are counted as they arrive, before any parsing), and refuses control characters."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        try:
            await self._check(scope, receive, send)
        except LimitError as exc:
            await exc.response(path)(scope, receive, send)

    async def _check(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if _RAW_CONTROL.search(path.encode("utf-8", "surrogateescape")) or _RAW_CONTROL.search(
            unquote_to_bytes(scope.get("query_string", b""))
        ):
            raise _control_character_error("URL")
        limit = body_limit(self.settings, scope["method"], path)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit, path)
        if _JSON_TYPE.match(headers.get(b"content-type", b"")):
            body = await _read_all(receive, limit, path)
            if _ESCAPED_CONTROL.search(body) or _RAW_CONTROL.search(body):
                raise _control_character_error("request body")
            await self.app(scope, _replay(body, receive), send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit, path)
            return message

        await self.app(scope, counting_receive, send)


async def _read_all(receive: Receive, limit: int, path: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, path)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # a disconnect, when the app waits for one

    return replay


# -- rate limits --------------------------------------------------------------------------------

_REPORT_ROUTES: Final = (
    ("POST", re.compile(r"^/issues$")),
    ("POST", re.compile(r"^/open311/v2/requests\.[a-z]+$")),
)
_PUBLIC_READ_ROUTES: Final = (
    ("GET", re.compile(r"^/locate$")),
    ("GET", re.compile(r"^/grids/[^/]+/signboard$")),
    ("GET", re.compile(r"^/open311/")),
    ("POST", re.compile(r"^/maps/shift$")),  # public, and a computation per call
)


def rate_class(method: str, path: str) -> str | None:
    """``"reports"``, ``"public"`` or ``None`` (not rate limited) for a request.

    >>> rate_class("POST", "/issues"), rate_class("GET", "/locate"), rate_class("GET", "/grids")
    ('reports', 'public', None)
    """
    if any(method == m and p.match(path) for m, p in _REPORT_ROUTES):
        return "reports"
    if any(method == m and p.match(path) for m, p in _PUBLIC_READ_ROUTES):
        return "public"
    return None


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """Token buckets per (client, class): ``per_minute`` requests a minute, in bursts of up to
    ``per_minute``. ``clock`` is injected so tests do not wait for (or read) the wall clock."""

    per_minute: dict[str, int]
    clock: Callable[[], float] = time.monotonic
    max_clients: int = 100_000
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, client: str, kind: str) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until the next token."""
        rate = self.per_minute.get(kind, 0)
        if rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get((client, kind))
            if bucket is None:
                if len(self._buckets) >= self.max_clients:
                    self._forget_full(now)
                bucket = self._buckets[(client, kind)] = _Bucket(float(rate), now)
            bucket.tokens = min(float(rate), bucket.tokens + (now - bucket.updated) * rate / 60)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) * 60 / rate

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled holds no memory worth keeping: drop those (or, under a
        # flood of distinct addresses, all of them) so the table stays bounded.
        full = [
            key
            for key, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self.per_minute.get(key[1], 0) / 60
            >= self.per_minute.get(key[1], 0)
        ]
        for key in full or list(self._buckets):
            del self._buckets[key]


class RateLimitMiddleware:
    """429 with ``Retry-After`` when a client's bucket for the request's class is empty."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            kind = rate_class(scope["method"], scope["path"])
            if kind is not None:
                client = scope.get("client")
                wait = self.limiter.take(client[0] if client else "unknown", kind)
                if wait > 0:
                    retry = str(max(1, math.ceil(wait)))
                    error = LimitError(
                        429,
                        "rate_limited",
                        f"Too many requests of this kind from your address; retry in {retry} s.",
                        headers={"Retry-After": retry},
                    )
                    await error.response(scope["path"])(scope, receive, send)
                    return
        await self.app(scope, receive, send)


# -- heavy analyses -----------------------------------------------------------------------------


class HeavyAnalysisGate:
    """At most ``slots`` heavy analyses at once; a request waits up to ``wait_seconds``.

    A permutation test over a district's grids takes seconds of CPU and hundreds of MB: two at
    once keep a server answering; twenty at once take it down. Waiting happens in the route's
    worker thread, never in the event loop.
    """

    def __init__(self, slots: int, wait_seconds: float) -> None:
        self.slots = slots
        self.wait_seconds = wait_seconds
        self._semaphore = threading.BoundedSemaphore(slots)

    def hold(self) -> Iterator[None]:
        """Hold a slot for the duration of the ``with``/dependency; 503 when none frees up."""
        if not self._semaphore.acquire(timeout=self.wait_seconds):
            retry = str(max(1, math.ceil(self.wait_seconds)))
            raise LimitError(
                503,
                "busy",
                f"{self.slots} heavy analyses are already running; retry in {retry} s.",
                headers={"Retry-After": retry},
            )
        try:
            yield
        finally:
            self._semaphore.release()


def heavy_analysis(request: Request) -> Iterator[None]:
    """Dependency of the heavy analysis routes: hold a slot of the app's gate."""
    gate: HeavyAnalysisGate = request.app.state.heavy_gate
    yield from gate.hold()


HeavyAnalysisDep = Annotated[None, Depends(heavy_analysis)]

# -- security headers ---------------------------------------------------------------------------

#: The pages are folium maps (inline scripts and styles, tiles from the chosen basemap over
#: https) and the offline docs; nothing may frame them from elsewhere.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob: https:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'self'"
)
_SECURITY_HEADERS: Final = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
)


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP answer that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_limits(
    app: FastAPI, settings: Settings, *, clock: Callable[[], float] | None = None
) -> None:
    """Add the limit middlewares (outermost last) and the heavy-analysis gate to ``app``.

    Call after every other middleware, so the limits run before any of them reads a body.
    """

    @app.exception_handler(LimitError)
    async def _limit_error(request: Request, exc: LimitError) -> JSONResponse:
        return exc.response(request.url.path)

    app.state.heavy_gate = HeavyAnalysisGate(settings.heavy_analyses, settings.heavy_wait_seconds)
    limiter = RateLimiter(
        {"reports": settings.rate_limit_reports, "public": settings.rate_limit_public},
        clock=clock or time.monotonic,
    )
    app.state.rate_limiter = limiter
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(RateLimitMiddleware, limiter=limiter)
    app.add_middleware(SecurityHeadersMiddleware)
