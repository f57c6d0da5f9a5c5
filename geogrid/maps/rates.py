"""The choropleth of issue rates (``/maps/rates``): issues per 1 000 households per grid at a
chosen level, classed by quantiles or natural breaks (mapclassify), with a legend."""

from __future__ import annotations

import branca.colormap as cm
import folium
from sqlalchemy.orm import Session

from geogrid.analysis.filters import IssueFilter
from geogrid.analysis.layers import district_name
from geogrid.analysis.rates import grid_rates
from geogrid.maps.basemaps import (
    add_html,
    bounds_of,
    display_crs,
    escape_properties,
    new_map,
    title_box,
)

__all__ = ["PALETTE", "rates_map"]

PALETTE = [
    "#fff5eb",
    "#fdd0a2",
    "#fd8d3c",
    "#e6550d",
    "#a63603",
    "#7f2704",
    "#5a1a02",
    "#3d1001",
    "#200800",
]
NO_DATA = "#d9d9d9"


def rates_map(
    session: Session,
    *,
    district_adcode: str,
    level: int = 2,
    scheme: str = "quantiles",
    k: int = 5,
    issue_filter: IssueFilter | None = None,
    basemap: str = "blank",
    tianditu_key: str | None = None,
) -> folium.Map:
    """Issues per 1 000 households of each current general grid of ``level``."""
    rates = grid_rates(
        session,
        district_adcode=district_adcode,
        level=level,
        scheme=scheme,
        k=k,
        issue_filter=issue_filter,
    )
    shift = display_crs(basemap)
    name = district_name(session, district_adcode)
    m = new_map(
        bounds_of([g.display for g in rates.grids]),
        basemap=basemap,
        title=f"{name} 问题发生率 / issue rates",
        tianditu_key=tianditu_key,
    )
    colours = PALETTE[: len(rates.breaks)]
    lowest = min(
        (g.properties["rate"] for g in rates.grids if g.properties["rate"] is not None), default=0.0
    )

    def style(feature: dict) -> dict:
        klass = feature["properties"]["class"]
        fill = NO_DATA if klass is None else colours[min(klass, len(colours) - 1)]
        return {"color": "#666", "weight": 0.5, "fillColor": fill, "fillOpacity": 0.8}

    folium.GeoJson(
        escape_properties(rates.geojson(), shift),
        name=f"{level}级网格 每千户问题数",
        style_function=style,
        highlight_function=lambda _: {"weight": 2.5, "color": "#000"},
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "code", "count", "households", "rate"],
            aliases=["网格", "编码", "问题数", "户数", "每千户"],
        ),
    ).add_to(m)
    if len(rates.breaks) >= 1:
        index = [lowest, *rates.breaks]
        if len(colours) == 1:
            colours = colours * 2
            index = [lowest, rates.breaks[0] + 1e-9]
        legend = cm.StepColormap(
            colours,
            index=index,
            vmin=index[0],
            vmax=index[-1],
            caption=f"每千户问题数 ({rates.scheme}, {len(rates.breaks)} 类)",
        )
        legend.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    lines = [
        (issue_filter or IssueFilter()).describe(),
        "分级 " + ", ".join(f"≤{b:g}" for b in rates.breaks),
    ]
    add_html(m, title_box(f"{name} 每千户问题数", lines), "geogrid_title")
    return m
