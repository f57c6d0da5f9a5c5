"""The FastAPI application factory: ``create_app(settings)``.

The lifespan owns the engine (and its pool); routes get a session per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

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
    proposals,
)
from api.static import mount_static
from geogrid import __version__
from geogrid.settings import Settings, get_settings
from geogrid.storage.database import create_db_engine, make_session_factory

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_db_engine(settings)
        app.state.engine = engine
        app.state.session_factory = make_session_factory(engine)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="geogrid",
        version=__version__,
        summary="Grid management (网格化管理): grids, locate, issues and maps on PostGIS.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    mount_static(app, settings)
    for module in (
        health,
        pages,
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
        proposals,
    ):
        app.include_router(module.router)
    return app
