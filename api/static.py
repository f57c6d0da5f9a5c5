"""Serving the map assets under ``/static`` (see :mod:`geogrid.maps.assets` for what and why).

``/static/vendor``  the npm packages installed by ``npm ci`` (``settings.assets_dir``);
``/static/folium``  the JavaScript folium ships in its wheel;
``/static/geogrid`` the few stylesheets :data:`geogrid.maps.assets.GENERATED_ASSETS` makes.

The URLs carry no content hash, so browsers keep a file for an hour and then revalidate it
with its ETag: an upgraded package reaches them within the hour, at the cost of a 304.
"""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from api.routers.people import PAGES_STATIC_DIR
from geogrid.maps.assets import GENERATED_ASSETS, folium_templates_dir, missing_packages
from geogrid.settings import Settings

__all__ = ["CACHE_CONTROL", "DOCS_ASSETS", "mount_docs", "mount_static"]

#: The documentation pages' scripts, from the npm packages swagger-ui-dist and redoc
#: (package.json), so /docs and /redoc work without internet access.
DOCS_ASSETS = {
    "swagger_js": "/static/vendor/swagger-ui-dist/swagger-ui-bundle.js",
    "swagger_css": "/static/vendor/swagger-ui-dist/swagger-ui.css",
    "swagger_favicon": "/static/vendor/swagger-ui-dist/favicon-32x32.png",
    "redoc_js": "/static/vendor/redoc/bundles/redoc.standalone.js",
}

CACHE_CONTROL = "public, max-age=3600"
logger = logging.getLogger("geogrid.api")


class CachedStaticFiles(StaticFiles):
    """StaticFiles that also says how long a browser may keep what it served."""

    async def check_config(self) -> None:
        # A missing node_modules answers 404 (and is logged at start-up), not 500.
        if self.directory is None or Path(self.directory).is_dir():
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers.setdefault("Cache-Control", CACHE_CONTROL)
        return response


@lru_cache(maxsize=16)
def _generated(name: str, assets_dir: Path) -> tuple[bytes, str, str]:
    asset = GENERATED_ASSETS[name]
    content = asset.build(assets_dir)
    return content, asset.media_type, hashlib.sha256(content).hexdigest()[:16]


def mount_static(app: FastAPI, settings: Settings) -> None:
    """Mount the asset directories; a missing ``npm ci`` is logged, not fatal, so the rest of
    the API still answers (map pages then say what to run)."""
    assets_dir = settings.assets_dir
    missing = missing_packages(assets_dir)
    if missing:
        logger.warning(
            "map assets missing from %s: %s; run `npm ci` at the project root",
            assets_dir,
            ", ".join(missing),
        )

    @app.get("/static/geogrid/{name}", include_in_schema=False)
    def generated_asset(name: str, request: Request) -> Response:
        if name not in GENERATED_ASSETS:
            raise HTTPException(404, f"There is no map asset named {name!r}.")
        try:
            content, media_type, etag = _generated(name, assets_dir)
        except OSError as exc:
            logger.warning("cannot build /static/geogrid/%s: %s", name, exc)
            raise HTTPException(404, f"The map asset {name!r} is not installed.") from exc
        headers = {"Cache-Control": CACHE_CONTROL, "ETag": f'"{etag}"'}
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        return Response(content, media_type=media_type, headers=headers)

    app.mount(
        "/static/vendor",
        CachedStaticFiles(directory=assets_dir, check_dir=False),
        name="static-vendor",
    )
    # the pages' own scripts and stylesheet (api/routers/people.py), part of the source tree
    app.mount(
        "/static/pages",
        CachedStaticFiles(directory=PAGES_STATIC_DIR),
        name="static-pages",
    )
    app.mount(
        "/static/folium",
        CachedStaticFiles(directory=folium_templates_dir()),
        name="static-folium",
    )


def mount_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) with their scripts from ``/static``
    instead of FastAPI's default CDN, which a district's intranet often cannot reach."""
    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=title,
            swagger_js_url=DOCS_ASSETS["swagger_js"],
            swagger_css_url=DOCS_ASSETS["swagger_css"],
            swagger_favicon_url=DOCS_ASSETS["swagger_favicon"],
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=title,
            redoc_js_url=DOCS_ASSETS["redoc_js"],
            redoc_favicon_url=DOCS_ASSETS["swagger_favicon"],
            with_google_fonts=False,
        )
