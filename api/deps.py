"""FastAPI dependencies: the request owns one transaction, committed when the route returns;
who acts is read from one header, one way."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from typing import Annotated, Final
from urllib.parse import unquote

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from geogrid.errors import InvalidInputError
from geogrid.settings import Settings
from geogrid.storage.database import session_scope

__all__ = [
    "ANONYMOUS",
    "MAX_ACTOR_LENGTH",
    "ActorDep",
    "SessionDep",
    "SettingsDep",
    "actor_or",
    "get_actor",
    "get_session",
    "get_settings_dep",
    "read_actor",
]

#: The longest name kept as ``changed_by`` / an event's actor (characters, after decoding).
MAX_ACTOR_LENGTH: Final = 200
#: Who acts when the request does not say.
ANONYMOUS: Final = "anonymous"


def get_session(request: Request) -> Iterator[Session]:
    """The request's session; its transaction commits when the route returns.

    Used with ``scope="function"`` (:data:`SessionDep`): the commit runs *before* the answer
    is sent. With FastAPI's default (request) scope it ran after — a report could be answered
    201 and then lose its commit to a dropped connection, the client never knowing. Now a
    failed commit is the answer (503 when the database went away), and a retry with the same
    Idempotency-Key settles whether the first one landed.
    """
    with session_scope(request.app.state.session_factory) as session:
        yield session


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def read_actor(value: str | None, default: str = ANONYMOUS) -> str:
    """The actor named by an ``X-Actor`` value: percent-decoded UTF-8, trimmed, at most
    :data:`MAX_ACTOR_LENGTH` characters, no control characters; blank or absent → ``default``.

    HTTP header values are Latin-1, so non-ASCII names travel percent-encoded; decoding is
    the server's job, once, so that "华州街道办" is stored as such by every route.
    Control characters are refused rather than stripped: a name with a newline would forge
    lines in logs and CSV exports, and the client should know its value was not kept.

    >>> read_actor("%E5%8D%8E%E5%B7%9E%E8%A1%97%E9%81%93%E5%8A%9E")
    '华州街道办'
    >>> read_actor("  ") == read_actor(None) == "anonymous"
    True
    """
    if value is None:
        return default
    try:
        name = unquote(value, errors="strict").strip()
    except UnicodeDecodeError:
        raise InvalidInputError(
            f"X-Actor {value[:40]!r} is not percent-encoded UTF-8: encode the name with "
            "encodeURIComponent (or urllib.parse.quote).",
            rule="actor",
            field="X-Actor",
        ) from None
    if not name:
        return default
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidInputError(
            "X-Actor must not contain control characters (newlines, tabs...): send the name "
            "alone, percent-encoded if it is not ASCII.",
            rule="actor",
            field="X-Actor",
        )
    if len(name) > MAX_ACTOR_LENGTH:
        raise InvalidInputError(
            f"X-Actor is {len(name)} characters long; at most {MAX_ACTOR_LENGTH} are kept. "
            "Send a shorter name.",
            rule="actor",
            field="X-Actor",
        )
    return name


_ACTOR_DESCRIPTION: Final = (
    "Who acts (stored with the change). Percent-encode non-ASCII names (HTTP headers are Latin-1)."
)


def actor_or(default: str) -> Callable[..., str]:
    """A dependency reading ``X-Actor`` with :func:`read_actor`, ``default`` when absent (a
    report's default actor is "reporter", a deliberation's the council)."""

    def get_actor(
        x_actor: Annotated[
            str | None, Header(alias="X-Actor", description=_ACTOR_DESCRIPTION)
        ] = None,
    ) -> str:
        return read_actor(x_actor, default)

    return get_actor


get_actor = actor_or(ANONYMOUS)
#: The actor of a change: ``X-Actor`` (percent-decoded, capped, no control characters), else
#: "anonymous". Until logins exist, every router reads who acts through this.
ActorDep = Annotated[str, Depends(get_actor)]
