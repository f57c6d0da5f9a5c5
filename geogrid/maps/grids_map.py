"""The grids map (``/maps/grids``): every current grid by level, dedicated grids in their own
style, labels that appear as one zooms in, signboard popups and a search by code or name."""

from __future__ import annotations

import json
from typing import Any

import folium
from branca.element import MacroElement
from folium.plugins import Search
from folium.template import Template
from shapely.geometry import shape
from sqlalchemy.orm import Session

from geogrid.analysis.layers import GridRecord, feature_collection
from geogrid.analysis.signboards import grid_signboards
from geogrid.maps.basemaps import escape_properties
from geogrid.maps.page import district_map

__all__ = ["LAYERS", "ZoomLabels", "grids_map"]

LAYERS: tuple[tuple[str, str, int, dict[str, Any]], ...] = (
    # key, layer name, label min zoom, style
    ("level1", "一级网格", 12, {"color": "#1b3a5c", "weight": 2.5, "fillOpacity": 0.0}),
    (
        "level2",
        "二级网格",
        14,
        {"color": "#2f6fa3", "weight": 1, "fillColor": "#6fa8d6", "fillOpacity": 0.12},
    ),
    (
        "level3",
        "三级网格",
        16,
        {"color": "#2e7d4f", "weight": 1, "fillColor": "#7cc49a", "fillOpacity": 0.15},
    ),
    (
        "dedicated",
        "专属网格",
        15,
        {
            "color": "#c05621",
            "weight": 1.5,
            "dashArray": "4 3",
            "fillColor": "#f6ad55",
            "fillOpacity": 0.35,
        },
    ),
)
_FIELDS = ["name", "code", "area_km2", "households", "a_post", "b_post", "on_duty"]
_ALIASES = ["网格", "编码", "面积 (km²)", "户数", "A岗", "B岗", "在岗"]


class ZoomLabels(MacroElement):
    """Permanent name labels on the features of some GeoJSON layers, each shown only from a
    zoom up: a district's 1 700 names at once would hide the map."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .gg-label{background:rgba(255,255,255,.75);border:0;box-shadow:none;padding:0 3px;
          font:12px/1.3 system-ui,sans-serif;color:#1b3a5c;display:none}
        .gg-label:before{display:none}
        .gg-search-point{pointer-events:none}
        {% for spec in this.specs %}.gg-show-{{ spec.key }} .gg-label-{{ spec.key }}{display:block}
        {% endfor %}
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var specs = {{ this.specs_json }};
            var layers = {
                {% for spec in this.specs %}"{{ spec.key }}": {{ spec.layer }},
                {% endfor %}
            };
            specs.forEach(function (spec) {
                layers[spec.key].eachLayer(function (layer) {
                    layer.bindTooltip(layer.feature.properties.name, {
                        permanent: true, direction: "center", interactive: false,
                        className: "gg-label gg-label-" + spec.key
                    });
                });
            });
            function update() {
                var zoom = map.getZoom(), box = map.getContainer();
                specs.forEach(function (spec) {
                    box.classList.toggle("gg-show-" + spec.key, zoom >= spec.min_zoom);
                });
            }
            map.on("zoomend", update);
            update();
        })();
        {% endmacro %}
        """
    )

    def __init__(self, specs: list[dict[str, Any]]) -> None:
        super().__init__()
        self._name = "ZoomLabels"
        self.specs = specs
        self.specs_json = json.dumps([{"key": s["key"], "min_zoom": s["min_zoom"]} for s in specs])


def _layer_key(g: GridRecord) -> str:
    return "dedicated" if g.kind == "dedicated" else f"level{g.level}"


def _search_index(grids: list[GridRecord], shift: Any) -> dict[str, Any]:
    """One point per grid with ``label`` = "code name", for the search box."""
    features = []
    for g in grids:
        point = shape(g.display).representative_point()
        geometry = shift.geometry({"type": "Point", "coordinates": [point.x, point.y]})
        features.append(
            {
                "type": "Feature",
                "properties": {"label": f"{g.code} {g.name}"},
                "geometry": geometry,
            }
        )
    return escape_properties({"type": "FeatureCollection", "features": features})


def grids_map(
    session: Session,
    *,
    district_adcode: str,
    basemap: str = "blank",
    tianditu_key: str | None = None,
) -> folium.Map:
    """All current grids of a district with signboard popups (see the module docstring)."""
    grids = grid_signboards(session, district_adcode=district_adcode)
    by_layer: dict[str, list[GridRecord]] = {}
    for g in grids:
        by_layer.setdefault(_layer_key(g), []).append(g)
    page = district_map(
        session,
        district_adcode=district_adcode,
        shown=[g.display for g in by_layer.get("level1") or grids],
        title="网格图 / grids",
        basemap=basemap,
        tianditu_key=tianditu_key,
    )
    labels = []
    for key, layer_name, min_zoom, style in LAYERS:
        records = by_layer.get(key)
        if not records:
            continue
        layer = folium.GeoJson(
            page.collection(feature_collection(records)),
            name=f"{layer_name} ({len(records)})",
            style_function=lambda _, style=style: style,
            highlight_function=lambda _: {"weight": 3, "fillOpacity": 0.35},
            popup=folium.GeoJsonPopup(fields=_FIELDS, aliases=_ALIASES, localize=False),
            show=key != "level3",
            smooth_factor=0.5,
        )
        layer.add_to(page.m)
        labels.append({"key": key, "layer": layer.get_name(), "min_zoom": min_zoom})
    # leaflet-search puts its layer on the map: the index points are drawn invisible.
    index = folium.GeoJson(
        _search_index(grids, page.shift),
        name="search index",
        control=False,
        marker=folium.CircleMarker(
            radius=1, stroke=False, fill=False, class_name="gg-search-point"
        ),
    )
    index.add_to(page.m)
    Search(
        index,
        search_label="label",
        search_zoom=16,
        geom_type="Point",
        placeholder="网格编码或名称 / code or name",
        collapsed=False,
        position="topright",
    ).add_to(page.m)
    page.m.add_child(ZoomLabels(labels))
    counts = ", ".join(f"{n} {len(by_layer.get(k, []))}" for k, n, _, _ in LAYERS)
    return page.finish("网格", [counts])
