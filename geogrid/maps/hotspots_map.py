"""The hotspot map (``/maps/hotspots``): Getis-Ord Gi* classes per grid, hot and cold at
99/95/90 % after the false-discovery-rate correction (:mod:`geogrid.analysis.hotspots`)."""

from __future__ import annotations

from typing import Any, Unpack

import folium
from sqlalchemy.orm import Session

from geogrid.analysis.hotspots import CLASSES, HotspotOptions, grid_hotspots
from geogrid.maps.basemaps import add_html
from geogrid.maps.choropleth import choropleth_layer, swatch_legend
from geogrid.maps.page import district_map

__all__ = ["CLASS_COLOURS", "CLASS_LABELS", "hotspots_map"]

CLASS_COLOURS = {
    "hot_99": "#b2182b",
    "hot_95": "#ef8a62",
    "hot_90": "#fddbc7",
    "not_significant": "#f7f7f7",
    "cold_90": "#d1e5f0",
    "cold_95": "#67a9cf",
    "cold_99": "#2166ac",
}
CLASS_LABELS = {
    "hot_99": "热点 99%",
    "hot_95": "热点 95%",
    "hot_90": "热点 90%",
    "not_significant": "不显著",
    "cold_90": "冷点 90%",
    "cold_95": "冷点 95%",
    "cold_99": "冷点 99%",
}


def hotspots_map(
    session: Session,
    *,
    district_adcode: str,
    basemap: str = "blank",
    tianditu_key: str | None = None,
    **options: Unpack[HotspotOptions],
) -> folium.Map:
    """Gi* hot and cold grids of ``level``; non-significant grids are drawn faintly. ``options``
    (level, value, weights, distance_m, fdr, issue_filter, ...) are those of
    :func:`geogrid.analysis.hotspots.grid_hotspots`."""
    hot = grid_hotspots(session, district_adcode=district_adcode, **options)
    page = district_map(
        session,
        district_adcode=district_adcode,
        shown=[g.display for g in hot.grids],
        title="热点分析 / hotspots",
        basemap=basemap,
        tianditu_key=tianditu_key,
    )

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        klass = feature["properties"]["class"]
        significant = klass != "not_significant"
        return {
            "color": "#444" if significant else "#999",
            "weight": 0.8 if significant else 0.3,
            "fillColor": CLASS_COLOURS[klass],
            "fillOpacity": 0.85 if significant else 0.3,
        }

    choropleth_layer(
        page,
        hot.geojson(),
        name=f"Gi* ({hot.level}级网格, {hot.value})",
        style=style,
        tooltip=[
            ("name", "网格"),
            ("code", "编码"),
            ("count", "问题数"),
            ("rate", "每千户"),
            ("z", "z"),
            ("p_fdr", "p (FDR)"),
            ("class", "类别"),
        ],
    )
    counts = hot.counts()
    legend = [(CLASS_COLOURS[c], f"{CLASS_LABELS[c]} ({counts[c]})") for c in CLASSES]
    add_html(page.m, swatch_legend("Gi* 热点分析", legend), "geogrid_legend")
    lines = [
        hot.issue_filter.describe(),
        f"{'邻接 (queen)' if hot.weights == 'queen' else '距离带'}权重, "
        f"{hot.result.method} p, {'FDR 校正' if hot.fdr else '未校正'}",
    ]
    return page.finish("热点 (Gi*)", lines)
