"""The frame every district map shares: a map fitted to what it shows, with the chosen basemap
and a title naming the district; the level-1 outlines for orientation; and, last, the layer
control and the title box. The map functions of :mod:`geogrid.maps` only add their own layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import folium
from sqlalchemy.orm import Session

from geogrid.analysis.layers import GridRecord, current_grids, district_name, feature_collection
from geogrid.maps.basemaps import (
    DisplayCRS,
    add_html,
    bounds_of,
    display_crs,
    escape_properties,
    new_map,
    title_box,
)
from geogrid.maps.layout import ResponsiveLayerControl, add_layout

__all__ = ["OUTLINE_TOLERANCE_DEG", "DistrictMap", "district_map", "outline_grids"]

OUTLINE_TOLERANCE_DEG = 2e-4
"""About 20 m: outlines drawn under another layer only orient the reader, so they stay light."""


@dataclass
class DistrictMap:
    """A map page being built: the folium map, the district's name for titles and the
    coordinates of the basemap (``shift``) every layer must be drawn in."""

    m: folium.Map
    name: str
    shift: DisplayCRS

    def collection(self, collection: dict[str, Any]) -> dict[str, Any]:
        """``collection`` ready to draw: properties HTML-escaped, geometries shifted."""
        return escape_properties(collection, self.shift)

    def outline(self, outline: list[GridRecord], *, colour: str, **options: Any) -> None:
        """Draw ``outline`` (see :func:`outline_grids`) as thin unfilled lines."""
        folium.GeoJson(
            self.collection(feature_collection(outline)),
            name="一级网格",
            style_function=lambda _: {"color": colour, "weight": 0.8, "fillOpacity": 0},
            **options,
        ).add_to(self.m)

    def finish(self, heading: str, lines: list[str]) -> folium.Map:
        """Add the layer control, the title box ``{district} {heading}`` and the layout shared by
        every page (boxes that fold on a phone); the map is done."""
        ResponsiveLayerControl().add_to(self.m)
        add_html(self.m, title_box(f"{self.name} {heading}", lines), "geogrid_title")
        add_layout(self.m)
        return self.m


def district_map(
    session: Session,
    *,
    district_adcode: str,
    shown: list[dict[str, Any]],
    title: str,
    basemap: str,
    tianditu_key: str | None,
) -> DistrictMap:
    """A new map fitted to the ``shown`` GeoJSON geometries (WGS 84), its page titled
    ``{district name} {title}``."""
    shift = display_crs(basemap)
    name = district_name(session, district_adcode)
    m = new_map(
        bounds_of(shown), basemap=basemap, title=f"{name} {title}", tianditu_key=tianditu_key
    )
    return DistrictMap(m, name, shift)


def outline_grids(session: Session, *, district_adcode: str) -> list[GridRecord]:
    """The district's current level-1 grids, simplified for drawing as outlines."""
    return current_grids(
        session, district_adcode=district_adcode, levels=[1], tolerance_deg=OUTLINE_TOLERANCE_DEG
    )
