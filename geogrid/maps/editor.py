"""The browser editor of grid boundaries (``/editor``): pick a parent grid, see its children,
draw a new grid or drag the vertices of one, with snapping to the neighbours, and save.

The page is plain Leaflet + Geoman served from ``/static/vendor`` (no CDN: government networks
have no internet) with one script of ours, ``geogrid/maps/static/editor.js``. It writes through
the grids API (``POST /grids``, ``PATCH /grids/{code}`` with ``If-Match``), so the editor gets
exactly the validation every other client gets; a 422 comes back with the fault's location,
which the page marks on the map, and a 412 (someone saved first) offers to reload.

A proposal (智能划网, :mod:`geogrid.grids.proposals`) loads as a layer beside the current
grids with its before/after table; a vertex of a draft moves through
``PATCH /proposals/{id}/features/{i}`` and the draft applies through
``POST /proposals/{id}/apply``. Every write carries the page session's CSRF token (the
``geogrid_csrf`` cookie sent back as ``X-CSRF-Token``, :mod:`api.auth`).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from geogrid.rules.in_force import in_force_clause
from geogrid.storage.models import Grid, GridVersion

__all__ = ["STATIC_DIR", "editor_html", "parent_options", "static_file"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_STATIC_FILES = {"editor.js": "text/javascript", "editor.css": "text/css"}


def static_file(name: str) -> tuple[bytes, str] | None:
    """The bytes and media type of one of the editor's own files, or None."""
    media_type = _STATIC_FILES.get(name)
    if media_type is None:
        return None
    return (STATIC_DIR / name).read_bytes(), media_type


def parent_options(
    session: Session, *, district_adcode: str | None = None, q: str | None = None, limit: int = 2000
) -> list[dict[str, Any]]:
    """Grids that can take children (current general level-1 and level-2 grids), in code order,
    optionally filtered by a code prefix or a part of the name."""
    parent = aliased(Grid)
    query = (
        select(Grid.code, GridVersion.name, Grid.level, parent.code)
        .join(GridVersion, GridVersion.grid_id == Grid.id)
        .outerjoin(parent, parent.id == Grid.parent_id)
        .where(
            in_force_clause(None, version=GridVersion, grid=Grid),
            Grid.kind == "general",
            Grid.level < 3,
        )
        .order_by(Grid.code)
        .limit(limit)
    )
    if district_adcode:
        query = query.where(Grid.district_adcode == district_adcode)
    if q and q.strip():
        term = q.strip()
        query = query.where(
            or_(
                Grid.code.startswith(term, autoescape=True),
                GridVersion.name.contains(term, autoescape=True),
            )
        )
    return [
        {"code": code, "name": name, "level": level, "parent": parent_code}
        for code, name, level, parent_code in session.execute(query)
    ]


def _district_bounds(session: Session, district_adcode: str) -> list[list[float]] | None:
    row = session.execute(
        select(
            func.ST_XMin(func.ST_Extent(GridVersion.geom)),
            func.ST_YMin(func.ST_Extent(GridVersion.geom)),
            func.ST_XMax(func.ST_Extent(GridVersion.geom)),
            func.ST_YMax(func.ST_Extent(GridVersion.geom)),
        )
        .join(Grid, Grid.id == GridVersion.grid_id)
        .where(
            Grid.district_adcode == district_adcode,
            Grid.level == 1,
            GridVersion.valid_to.is_(None),
        )
    ).one()
    if row[0] is None:
        return None
    return [[row[1], row[0]], [row[3], row[2]]]


_PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>网格边界编辑 / geogrid</title>
<link rel="stylesheet" href="{static}/vendor/leaflet/dist/leaflet.css">
<link rel="stylesheet" href="{geoman}/leaflet-geoman.css">
<link rel="stylesheet" href="/editor/editor.css">
</head>
<body data-state="loading">
<div id="map"></div>
<aside id="panel">
  <h1>网格边界编辑</h1>
  <label for="parent-search">上级网格</label>
  <input id="parent-search" type="search" placeholder="按编码或名称搜索" autocomplete="off">
  <select id="parent" size="8" aria-label="上级网格"></select>
  <p id="parent-info" class="muted">请选择上级网格，或在地图上点击社区/村</p>
  <div class="buttons">
    <button id="draw" type="button" disabled>绘制新网格</button>
    <button id="cancel" type="button" disabled>取消</button>
  </div>
  <form id="grid-form" autocomplete="off">
    <p id="form-title" class="muted">绘制新网格，或点击已有网格修改边界</p>
    <label for="name">名称</label>
    <input id="name" name="name" required maxlength="200">
    <label for="estate_type">小区类型</label>
    <select id="estate_type" name="estate_type">
      <option value="">（未填）</option>
      <option value="managed">物业商住</option>
      <option value="work_unit">机关单位</option>
      <option value="three_no">三无小区</option>
      <option value="self_built">居民自建</option>
    </select>
    <label for="households">户数</label>
    <input id="households" name="households" type="number" min="0" step="1">
    <label for="population">人口</label>
    <input id="population" name="population" type="number" min="0" step="1">
    <label for="reason">修改原因</label>
    <input id="reason" name="reason" placeholder="例如：按街道调整">
    <button id="save" type="submit" disabled>保存</button>
  </form>
  <section id="proposal-box" aria-labelledby="proposal-heading">
    <h2 id="proposal-heading">智能划网方案</h2>
    <label for="proposal-id">方案编号</label>
    <div class="buttons">
      <input id="proposal-id" type="number" min="1" step="1" inputmode="numeric">
      <button id="proposal-load" type="button">加载</button>
    </div>
    <p id="proposal-info" class="muted">
      加载方案：方案网格显示在现状网格旁，点击方案网格可拖动顶点</p>
    <div id="proposal-table"></div>
    <div class="buttons">
      <button id="proposal-save" type="button" disabled>保存顶点</button>
      <button id="proposal-apply" type="button" disabled>应用方案</button>
    </div>
  </section>
  <div id="message" role="status" aria-live="polite"></div>
</aside>
<script type="application/json" id="editor-config">{config}</script>
<script src="{static}/vendor/leaflet/dist/leaflet.js"></script>
<script src="{geoman}/leaflet-geoman.js"></script>
<script src="/editor/editor.js"></script>
</body>
</html>
"""


def editor_html(
    session: Session,
    *,
    district_adcode: str,
    static_prefix: str = "/static",
    proposal: int | None = None,
) -> str:
    """The editor page for a district (its bounds frame the map until a parent is chosen);
    ``proposal``: a proposal to load as the page opens (a link from the proposal's answer)."""
    bounds = _district_bounds(session, district_adcode) or [[34.2, 109.6], [34.6, 110.0]]
    config = {
        "district": district_adcode,
        "bounds": bounds,
        "actor": "editor",
        "proposal": proposal,
    }
    # Inside <script> only "</" could end the element early: escape it.
    config_json = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
    static = html.escape(static_prefix.rstrip("/"))
    geoman = f"{static}/vendor/@geoman-io/leaflet-geoman-free/dist"
    return _PAGE.format(static=static, geoman=geoman, config=config_json)
