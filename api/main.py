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
from api.caching import AnswerCache
from api.limits import install_limits
from api.problems import install_problem_handlers
from api.routers import (
    analysis,
    districts,
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
    proposals,
    tiles,
)
from api.routers.locate import LiveLocateMiddleware, render_live_answer
from api.static import mount_docs, mount_static
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
        engine = create_db_engine(settings, request_timeouts=True)
        session_factory = make_session_factory(engine)
        index_cache = IndexCache()
        app.state.engine = engine
        app.state.session_factory = session_factory
        app.state.locate_index_cache = index_cache
        app.state.address_index_cache = AddressIndexCache()
        app.state.answer_cache = AnswerCache()  # /analysis and /maps answers by ETag
        # The probe connects on first use (in a worker thread), so an app starts without
        # waiting for the database, as the engine's pool does.
        live: LiveLocator[bytes] | None = None
        if settings.locate_live:
            live = LiveLocator(
                probe=RevisionProbe(
                    conninfo_from_url(settings.database_url),
                    timeout_s=settings.database_connect_timeout_s,
                ),
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
        # GEOGRID_DOCS_ENABLED=false turns the documentation (and its schema) off; the pages
        # themselves are served from the npm packages (api/static.py), not from a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    if settings.docs_enabled:
        mount_docs(app)
    app.state.settings = settings
    install_problem_handlers(app)
    # Outermost but for Starlette's error handler: the hot lookup skips routing (it checks
    # app.state.live_locator itself, so an app without one passes every request through).
    app.add_middleware(LiveLocateMiddleware)
    # Outside the live lookup: limits, rate limits and security headers apply to it too.
    install_limits(app, settings)
    mount_static(app, settings)
    install_auth(app, settings)  # before the routers: every route they add is authenticated
    for module in (
        health,
        pages,
        districts,
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
        tiles,
        proposals,
    ):
        app.include_router(module.router)
    app.include_router(maps.data_router)
    return app
