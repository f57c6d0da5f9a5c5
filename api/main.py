"""The FastAPI application factory: ``create_app(settings)``.

The lifespan owns the engine (and its pool), the caches built from the database (grid index,
address index, the live locator with its revision probe and rendered answers) and closes them
at shutdown; routes get a session per request and read the caches from ``app.state``. Nothing
is created lazily in a router.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.auth import install_auth
from api.problems import install_problem_handlers
from api.routers import (
    analysis,
    editor,
    grids,
    grids_io,
    health,
    indicators,
    issues,
    locate,
    maps,
    ogc,
    open311,
    pages,
    people,
)
from api.routers.locate import LiveLocateMiddleware, render_live_answer
from api.static import mount_static
from geogrid import __version__
from geogrid.addresses.match import AddressIndexCache
from geogrid.locate.index import IndexCache
from geogrid.locate.live import LiveLocator
from geogrid.locate.probe import RevisionProbe, conninfo_from_url
from geogrid.settings import Settings, get_settings
from geogrid.storage.database import create_db_engine, make_session_factory

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_db_engine(settings)
        session_factory = make_session_factory(engine)
        index_cache = IndexCache()
        app.state.engine = engine
        app.state.session_factory = session_factory
        app.state.locate_index_cache = index_cache
        app.state.address_index_cache = AddressIndexCache()
        # The probe connects on first use (in a worker thread), so an app starts without
        # waiting for the database, as the engine's pool does.
        live: LiveLocator[bytes] | None = None
        if settings.locate_live:
            live = LiveLocator(
                probe=RevisionProbe(conninfo_from_url(settings.database_url)),
                session_factory=session_factory,
                index_cache=index_cache,
                render=render_live_answer,
            )
        app.state.live_locator = live
        try:
            yield
        finally:
            if live is not None:
                live.probe.close()
            engine.dispose()

    app = FastAPI(
        title="geogrid",
        version=__version__,
        summary="Grid management (网格化管理): grids, locate, issues and maps on PostGIS.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    # Outermost but for Starlette's error handler: the hot lookup skips routing (it checks
    # app.state.live_locator itself, so an app without one passes every request through).
    app.add_middleware(LiveLocateMiddleware)
    mount_static(app, settings)
    install_auth(app, settings)  # before the routers: every route they add is authenticated
    for module in (
        health,
        pages,
        people,
        editor,
        grids_io,
        grids,
        locate,
        issues,
        indicators,
        open311,
        ogc,
        maps,
        analysis,
    ):
        app.include_router(module.router)
    return app
