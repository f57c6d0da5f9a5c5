"""The choropleth of issue rates (``/maps/rates``): issues per 1 000 households per grid at a
chosen level, classed by quantiles or natural breaks (mapclassify), with a legend of one
swatch per class and its range."""

from __future__ import annotations

from typing import Any, Unpack

import folium
from sqlalchemy.orm import Session

from geogrid.analysis.rates import RateOptions, grid_rates
from geogrid.maps.basemaps import add_html
from geogrid.maps.choropleth import choropleth_layer, class_ranges, format_value, swatch_legend
from geogrid.maps.page import district_map

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
    basemap: str = "blank",
    tianditu_key: str | None = None,
    **options: Unpack[RateOptions],
) -> folium.Map:
    """Issues per 1 000 households of each current general grid of ``level``; ``options``
    (level, scheme, k, issue_filter) are those of :func:`geogrid.analysis.rates.grid_rates`."""
    rates = grid_rates(session, district_adcode=district_adcode, **options)
    page = district_map(
        session,
        district_adcode=district_adcode,
        shown=[g.display for g in rates.grids],
        title="问题发生率 / issue rates",
        basemap=basemap,
        tianditu_key=tianditu_key,
    )
    colours = PALETTE[: len(rates.breaks)]
    lowest = min(
        (g.properties["rate"] for g in rates.grids if g.properties["rate"] is not None), default=0.0
    )

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        klass = feature["properties"]["class"]
        fill = NO_DATA if klass is None else colours[min(klass, len(colours) - 1)]
        return {"color": "#666", "weight": 0.5, "fillColor": fill, "fillOpacity": 0.8}

    choropleth_layer(
        page,
        rates.geojson(),
        name=f"{rates.level}级网格 每千户问题数",
        style=style,
        tooltip=[
            ("name", "网格"),
            ("code", "编码"),
            ("count", "问题数"),
            ("households", "户数"),
            ("rate", "每千户"),
        ],
    )
    no_data = sum(1 for g in rates.grids if g.properties["rate"] is None)
    if rates.breaks:
        entries = list(zip(colours, class_ranges(lowest, rates.breaks), strict=True))
        extra = [(NO_DATA, f"无户数 (no households) {no_data}")] if no_data else []
        legend = swatch_legend(
            f"每千户问题数 ({rates.scheme}, {len(rates.breaks)} 类)", entries, extra=extra
        )
        add_html(page.m, legend, "geogrid_legend")
    lines = [
        rates.issue_filter.describe(),
        "分级 " + ", ".join(f"≤{format_value(b)}" for b in rates.breaks),
    ]
    return page.finish("每千户问题数", lines)
