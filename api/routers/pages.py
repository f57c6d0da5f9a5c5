"""HTML pages. ``GET /``: the landing map of the district this installation serves."""

from __future__ import annotations

import html
import logging
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, SettingsDep
from geogrid.errors import NotFoundError
from geogrid.maps.assets import MissingAssetsError, check_assets, render_html
from geogrid.maps.landing import landing_map

router = APIRouter(tags=["pages"])
logger = logging.getLogger("geogrid.api")

_NOTICE = """<!DOCTYPE html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:16px/1.6 system-ui,sans-serif;max-width:40em;margin:4em auto;color:#333}}
code{{background:#f3f1ea;padding:0 .3em}}</style></head>
<body><h1>{title}</h1><p>{message}</p><p><a href="/docs">API 文档 / API docs</a></p></body>
</html>
"""


def _notice(title: str, message: str, status: int) -> HTMLResponse:
    """A plain page for a browser: the landing URL is opened by people, not API clients."""
    body = _NOTICE.format(title=html.escape(title), message=html.escape(message))
    return HTMLResponse(body, status_code=status)


@router.get("/", response_class=HTMLResponse, summary="Landing map of the district")
def landing(
    session: SessionDep,
    settings: SettingsDep,
    district: Annotated[
        str | None,
        Query(
            pattern=r"^\d{6}$",
            description="District adcode (default GEOGRID_DISTRICT_ADCODE)",
        ),
    ] = None,
) -> HTMLResponse:
    """The district boundary and its current level-1 grids, on a map that loads nothing from
    the internet. A district without data yet gets a page that says so."""
    adcode = district or settings.district_adcode
    try:
        check_assets(settings)
    except MissingAssetsError as exc:
        logger.error("%s", exc)  # the full message names paths: for the log, not the page
        message = (
            f"缺少 npm 包 (missing npm packages): {', '.join(exc.packages)}. "
            "请在项目根目录运行 / run at the project root: npm ci"
        )
        return _notice("地图资源未安装 / map assets missing", message, 503)
    try:
        m = landing_map(session, district_adcode=adcode)
    except NotFoundError as exc:
        return _notice(f"{adcode} 网格 / geogrid", f"尚无数据 (no data yet): {exc.detail}", 200)
    return HTMLResponse(render_html(m))
