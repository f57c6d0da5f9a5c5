"""The hotspot map (``/maps/hotspots``): Getis-Ord Gi* classes per grid, hot and cold at
99/95/90 % after the false-discovery-rate correction (:mod:`geogrid.analysis.hotspots`)."""

from __future__ import annotations

import folium
from sqlalchemy.orm import Session

from geogrid.analysis.filters import IssueFilter
from geogrid.analysis.hotspots import CLASSES, grid_hotspots
from geogrid.analysis.layers import district_name
from geogrid.maps.basemaps import (
    add_html,
    bounds_of,
    display_crs,
    escape_properties,
    new_map,
    title_box,
)

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


def _legend(counts: dict[str, int]) -> folium.Element:
    rows = "".join(
        f'<div><span style="display:inline-block;width:14px;height:14px;margin-right:6px;'
        f'vertical-align:middle;border:1px solid #999;background:{CLASS_COLOURS[c]}"></span>'
        f"{CLASS_LABELS[c]} ({counts[c]})</div>"
        for c in CLASSES
    )
    return folium.Element(
        '<div id="geogrid-legend" style="position:absolute;bottom:30px;right:10px;z-index:1000;'
        "background:#fff;padding:6px 10px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);"
        f'font:13px/1.6 system-ui,sans-serif"><strong>Gi* 热点分析</strong>{rows}</div>'
    )


def hotspots_map(
    session: Session,
    *,
    district_adcode: str,
    level: int = 2,
    value: str = "count",
    weights: str = "queen",
    distance_m: float | None = None,
    fdr: bool = True,
    issue_filter: IssueFilter | None = None,
    basemap: str = "blank",
    tianditu_key: str | None = None,
) -> folium.Map:
    """Gi* hot and cold grids of ``level``; non-significant grids are drawn faintly."""
    hot = grid_hotspots(
        session,
        district_adcode=district_adcode,
        level=level,
        value=value,
        weights=weights,
        distance_m=distance_m,
        fdr=fdr,
        issue_filter=issue_filter,
    )
    shift = display_crs(basemap)
    name = district_name(session, district_adcode)
    m = new_map(
        bounds_of([g.display for g in hot.grids]),
        basemap=basemap,
        title=f"{name} 热点分析 / hotspots",
        tianditu_key=tianditu_key,
    )

    def style(feature: dict) -> dict:
        klass = feature["properties"]["class"]
        significant = klass != "not_significant"
        return {
            "color": "#444" if significant else "#999",
            "weight": 0.8 if significant else 0.3,
            "fillColor": CLASS_COLOURS[klass],
            "fillOpacity": 0.85 if significant else 0.3,
        }

    folium.GeoJson(
        escape_properties(hot.geojson(), shift),
        name=f"Gi* ({level}级网格, {value})",
        style_function=style,
        highlight_function=lambda _: {"weight": 2.5, "color": "#000"},
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "code", "count", "rate", "z", "p_fdr", "class"],
            aliases=["网格", "编码", "问题数", "每千户", "z", "p (FDR)", "类别"],
        ),
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    add_html(m, _legend(hot.counts()), "geogrid_legend")
    lines = [
        (issue_filter or IssueFilter()).describe(),
        f"{'邻接 (queen)' if weights == 'queen' else '距离带'}权重, "
        f"{hot.result.method} p, {'FDR 校正' if fdr else '未校正'}",
    ]
    add_html(m, title_box(f"{name} 热点 (Gi*)", lines), "geogrid_title")
    return m
