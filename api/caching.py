"""HTTP caching of ``/analysis/*`` and ``/maps/*``: an ETag from what the answer depends on,
``If-None-Match`` answered 304 without computing anything, and rendered answers kept by ETag.

An answer depends on the district's boundary, staff and issue revisions (each bumped by
triggers, whoever writes), on the request (path and query) and on what the passing of time
changes (:func:`geogrid.analysis.stores.clock_marks`). Reading those is one statement of index
reads (:func:`geogrid.analysis.stores.answer_key`, migration 0021); the ETag is their hash. So
a repeated request costs that statement and a dictionary lookup, and a conditional one a 304,
while any write that could change the answer changes the ETag.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from threading import Lock
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.routers.analysis_params import DistrictDep
from geogrid import __version__
from geogrid.analysis.gaps import DEFAULT_INACTIVE_DAYS
from geogrid.analysis.stores import answer_key

__all__ = ["AnswerCache", "Answers", "AnswersDep", "ClockDep", "answers", "clock"]

CACHE_ENTRIES = 256


class AnswerCache:
    """Rendered answers (media type, body) by ETag, the least recently used dropped first.

    Owned by the app's lifespan (``app.state.answer_cache``); thread-safe because sync routes
    run in a thread pool.
    """

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self.entries = entries
        self._items: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._lock = Lock()

    def get(self, etag: str) -> tuple[str, bytes] | None:
        with self._lock:
            item = self._items.get(etag)
            if item is not None:
                self._items.move_to_end(etag)
            return item

    def put(self, etag: str, media_type: str, body: bytes) -> None:
        with self._lock:
            self._items[etag] = (media_type, body)
            self._items.move_to_end(etag)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)


async def clock() -> datetime:
    """The moment a request is answered at; a dependency so tests inject their own time
    (``async``: no thread-pool hop, see :func:`api.routers.analysis_params.district_adcode`)."""
    return datetime.now(UTC)


ClockDep = Annotated[datetime, Depends(clock)]


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


class Answers:
    """What an analysis route or map page needs to answer from its ETag: the request, the
    session, the district and the clock."""

    def __init__(
        self, request: Request, session: SessionDep, district: DistrictDep, now: ClockDep
    ) -> None:
        self.request = request
        self.session: Session = session
        self.district = district
        self.now = now

    def etag(
        self,
        *,
        window_days: int = DEFAULT_INACTIVE_DAYS,
        exact_time: bool = False,
        extra: str = "",
        path: str | None = None,
        issues: bool = True,
    ) -> str:
        """The ETag of this request's answer, or of the same request (query) at ``path``.
        ``exact_time``: the answer reads the clock in ways the marks do not capture (a period
        ending now), so the instant is part of it. ``extra``: a mark of data the revisions do
        not follow (the draft proposals). ``issues=False``: the answer reads no issue (the
        grids and their signboards), so a new issue leaves its ETag, and its kept body, as
        they were."""
        revisions, marks = answer_key(
            self.session,
            district_adcode=self.district,
            now=self.now,
            window_days=window_days,
            issues=issues,
        )
        parts = [
            __version__,
            path or self.request.url.path,
            str(sorted(self.request.query_params.multi_items())),
            self.district,
            revisions.boundary,
            revisions.staff,
            revisions.issues if issues else "",
            marks,
            self.now.isoformat() if exact_time else "",
            extra,
        ]
        return '"' + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32] + '"'

    def keep(
        self,
        path: str,
        media_type: str,
        body: bytes,
        *,
        window_days: int = DEFAULT_INACTIVE_DAYS,
        extra: str = "",
        issues: bool = True,
    ) -> None:
        """Keep ``body`` as the answer of this request's query at ``path``: a page drawing the
        data its frame will fetch keeps it for that fetch."""
        cache: AnswerCache | None = getattr(self.request.app.state, "answer_cache", None)
        if cache is not None:
            etag = self.etag(window_days=window_days, path=path, extra=extra, issues=issues)
            cache.put(etag, media_type, body)

    def respond(
        self,
        render: Callable[[], Response],
        *,
        window_days: int = DEFAULT_INACTIVE_DAYS,
        exact_time: bool = False,
        extra: str = "",
        issues: bool = True,
    ) -> Response:
        """304 when the client holds the current answer, the kept answer when there is one,
        otherwise ``render()`` (kept when it succeeded)."""
        etag = self.etag(window_days=window_days, exact_time=exact_time, extra=extra, issues=issues)
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if _matches(self.request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        cache: AnswerCache | None = getattr(self.request.app.state, "answer_cache", None)
        kept = cache.get(etag) if cache is not None else None
        if kept is not None:
            media_type, body = kept
            return Response(body, media_type=media_type, headers=headers)
        response = render()
        if response.status_code == 200:
            response.headers.update(headers)
            if cache is not None and response.media_type is not None:
                cache.put(etag, response.media_type, bytes(response.body))
        return response


async def answers(
    request: Request, session: SessionDep, district: DistrictDep, now: ClockDep
) -> Answers:
    """:class:`Answers` for the request; a coroutine so that building it costs no thread-pool
    hop (it does no I/O)."""
    return Answers(request, session, district, now)


AnswersDep = Annotated[Answers, Depends(answers)]
