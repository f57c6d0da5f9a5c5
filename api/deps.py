"""FastAPI dependencies: the request owns one transaction, committed when the route returns;
who acts is the login that :mod:`api.auth` authenticated, read one way."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Final

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from geogrid.errors import UnauthenticatedError
from geogrid.settings import Settings
from geogrid.storage.database import session_scope

__all__ = [
    "ANONYMOUS",
    "ActorDep",
    "ReachDep",
    "SessionDep",
    "SettingsDep",
    "actor_or",
    "get_actor",
    "get_reach",
    "get_session",
    "get_settings_dep",
]

#: Who acts when nobody is logged in.
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


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def actor_or(default: str) -> Callable[..., str]:
    """A dependency naming who acts: the login's user name, or ``default`` for the public (a
    resident's report is signed "reporter"). ``X-Actor`` is no longer believed: anyone could
    sign the history with any name."""

    def get_actor(request: Request) -> str:
        principal = getattr(request.state, "principal", None)
        if principal is None:
            # the auth dependency runs before every route (api.auth.install_auth); a route
            # reached without it must not write in anybody's name
            raise UnauthenticatedError("This route needs a login.", rule="login_required")
        return default if principal.is_public else str(principal.username)

    return get_actor


get_actor = actor_or(ANONYMOUS)
#: The actor of a change: the authenticated login (api.auth), never a header.
ActorDep = Annotated[str, Depends(get_actor)]


def get_reach(request: Request) -> tuple[str, ...] | None:
    """The grid-code prefixes the caller reaches (``None``: everything), for the library's
    ``reach=`` arguments, so that an edit outside reach answers 404 before it is tried."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return ()
    reach: tuple[str, ...] | None = principal.reach
    return reach


ReachDep = Annotated[tuple[str, ...] | None, Depends(get_reach)]
