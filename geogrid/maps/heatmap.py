"""The issue heatmap (``/maps/heatmap``): the filtered issues as heat, and a monthly animation
over the last 12 months (HeatMapWithTime). Past 50 000 issues the points arrive as weighted
~100 m cells (:mod:`geogrid.analysis.heatmap`), so a year of a district stays a light page.

Past ``embed_limit`` issues (a city or a province) the page embeds no issue at all: it draws
the issues layer of the vector tiles (:mod:`geogrid.maps.vector_tiles`), counted per cell
below zoom 14 and single points above, with the same filter, and leaves out the monthly
animation, whose frames would have to be embedded."""

from __future__ import annotations

import json

import folium
import numpy as np
from folium.plugins import HeatMap, HeatMapWithTime
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geogrid.analysis.filters import IssueFilter
from geogrid.analysis.heatmap import HeatFrame, heatmap_data
from geogrid.analysis.layers import require_grids
from geogrid.maps.basemaps import DisplayCRS, add_html
from geogrid.maps.choropleth import colour_bar_legend
from geogrid.maps.frame import defer_data
from geogrid.maps.page import district_map, outline_grids
from geogrid.maps.vector_tiles import VectorTileLayer, tile_url
from geogrid.storage.models import Issue

__all__ = ["HEAT_GRADIENT", "issue_heatmap"]

HEAT_GRADIENT = {0.4: "blue", 0.6: "cyan", 0.7: "lime", 0.8: "yellow", 1.0: "red"}
"""Leaflet.heat's own gradient, given to both heat layers and drawn by the legend, so the three
cannot disagree."""


def _latlng_weights(frame: HeatFrame, shift: DisplayCRS, scale: float) -> list[list[float]]:
    """``[lat, lon, weight]`` rows, weights divided by ``scale`` (heat plugins saturate at 1)."""
    if not frame.points:
        return []
    points = np.asarray(frame.points, dtype=float)
    lon, lat = shift.lonlat(points[:, 0], points[:, 1])
    weight = np.minimum(points[:, 2] / scale, 1.0)
    rows: list[list[float]] = np.column_stack(
        [np.round(lat, 6), np.round(lon, 6), np.round(weight, 3)]
    ).tolist()
    return rows


def _scale(frames: list[HeatFrame]) -> float:
    """The weight that shows as full heat: the 99th percentile of cell counts, so one very busy
    cell does not wash out the rest (1 for raw points)."""
    weights = sorted(p[2] for f in frames for p in f.points)
    if not weights:
        return 1.0
    return max(weights[int(0.99 * (len(weights) - 1))], 1.0)


def issue_heatmap(
    session: Session,
    *,
    district_adcode: str,
    issue_filter: IssueFilter | None = None,
    basemap: str = "blank",
    tianditu_key: str | None = None,
    months: int = 12,
    embed_limit: int | None = None,
    tiles_prefix: str = "/tiles",
    defer_points: bool = False,
) -> folium.Map:
    """Heat of the filtered issues, with the level-1 grid outlines for orientation.

    ``embed_limit``: more filtered issues than this are drawn from the vector tiles at
    ``tiles_prefix`` (None, the default for exports and notebooks, always embeds).
    ``defer_points``: draw the heat layers empty and keep their points aside as JSON
    (:func:`geogrid.maps.frame.defer_data`), for a page whose frame fetches them: folium then
    neither renders tens of thousands of points nor are they parsed back out of the page.
    """
    issue_filter = issue_filter or IssueFilter()
    if embed_limit is not None:
        total = session.execute(
            select(func.count())
            .select_from(Issue)
            .where(Issue.district_adcode == district_adcode, *issue_filter.clauses())
        ).scalar_one()
        if total > embed_limit:
            return _tiled_heatmap(
                session,
                district_adcode=district_adcode,
                issue_filter=issue_filter,
                basemap=basemap,
                tianditu_key=tianditu_key,
                total=total,
                tiles_prefix=tiles_prefix,
            )
    data = heatmap_data(
        session, district_adcode=district_adcode, issue_filter=issue_filter, months=months
    )
    outline = outline_grids(session, district_adcode=district_adcode)
    require_grids(outline, district_adcode=district_adcode, what="level-1 grids")
    page = district_map(
        session,
        district_adcode=district_adcode,
        shown=[g.display for g in outline],
        title="问题热力图 / issue heatmap",
        basemap=basemap,
        tianditu_key=tianditu_key,
    )
    page.outline(
        outline,
        colour="#555",
        tooltip=folium.GeoJsonTooltip(fields=["name", "code"], aliases=["网格", "编码"]),
    )
    scale = _scale([data.frame])
    points = _latlng_weights(data.frame, page.shift, scale)
    heat = HeatMap(
        [] if defer_points else points,
        name=f"热力图 ({data.frame.issues} 件)",
        radius=12,
        blur=15,
        min_opacity=0.3,
        max_zoom=15,
        gradient=HEAT_GRADIENT,
    )
    heat.add_to(page.m)
    month_scale = _scale(data.months)
    frames = [_latlng_weights(f, page.shift, month_scale) for f in data.months]
    timed = HeatMapWithTime(
        [[] for _ in frames] if defer_points else frames,
        index=[f"{f.label} ({f.issues} 件)" for f in data.months],
        name="逐月动画 (近12个月)",
        radius=12,
        min_opacity=0.3,
        max_opacity=0.8,
        auto_play=False,
        show=False,
        overlay=True,
        use_local_extrema=False,
        scale_radius=False,
        gradient=HEAT_GRADIENT,
    )
    timed.add_to(page.m)
    if defer_points:
        defer_data(heat, json.dumps(points))
        defer_data(timed, json.dumps(frames))
    # Heat adds up nearby issues and fades with the zoom: its colours are relative, and the
    # ticks say so rather than print counts a reader would take literally.
    stops = [(0.0, "rgba(0,0,255,.3)"), *HEAT_GRADIENT.items()]
    ticks = [(0.0, "少 low"), (0.5, "中"), (1.0, "多 high")]
    legend = colour_bar_legend("热度 / heat", stops, ticks, caption="相邻问题越多, 颜色越暖")
    add_html(page.m, legend, "geogrid_legend")
    lines = [
        issue_filter.describe(),
        f"{data.frame.issues} 件问题"
        + (f", 按约 {data.cell_m:.0f} m 网格汇总" if data.aggregated else ", 逐点显示"),
    ]
    return page.finish("问题热力图", lines)


def _tiled_heatmap(
    session: Session,
    *,
    district_adcode: str,
    issue_filter: IssueFilter,
    basemap: str,
    tianditu_key: str | None,
    total: int,
    tiles_prefix: str,
) -> folium.Map:
    """The heatmap page when the issues are too many to embed: cells and points from tiles."""
    outline = outline_grids(session, district_adcode=district_adcode)
    require_grids(outline, district_adcode=district_adcode, what="level-1 grids")
    page = district_map(
        session,
        district_adcode=district_adcode,
        shown=[g.display for g in outline],
        title="问题热力图 / issue heatmap",
        basemap=basemap,
        tianditu_key=tianditu_key,
    )
    page.outline(
        outline,
        colour="#555",
        tooltip=folium.GeoJsonTooltip(fields=["name", "code"], aliases=["网格", "编码"]),
    )
    url = tile_url(
        "issues",
        district_adcode=district_adcode,
        prefix=tiles_prefix,
        start=issue_filter.start.isoformat() if issue_filter.start else None,
        end=issue_filter.end.isoformat() if issue_filter.end else None,
        category=issue_filter.category,
        status=list(issue_filter.statuses) or None,
    )
    VectorTileLayer(
        "issues",
        url=url,
        name=f"问题 ({total} 件, 矢量瓦片)",
        style={
            "radius": 5,
            "color": "#b10026",
            "weight": 1,
            "fillColor": "#fd8d3c",
            "fillOpacity": 0.6,
        },
        popup_fields=[("count", "件数"), ("id", "编号"), ("status", "状态"), ("category", "类别")],
        radius_by_count=True,
    ).add_to(page.m)
    lines = [
        issue_filter.describe(),
        f"{total} 件问题, 按矢量瓦片显示: 14 级以下按格汇总 (圆越大件数越多), 放大后逐点",
        "问题较多, 未含逐月动画; 缩短时间范围可恢复",
    ]
    if page.shift.gcj02:
        lines.append("高德底图下矢量瓦片未纠偏 (WGS 84), 可能偏移数百米")
    return page.finish("问题热力图", lines)
