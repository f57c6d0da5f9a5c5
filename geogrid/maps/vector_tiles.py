"""Drawing a layer from the vector tiles (``/tiles``) instead of embedding it in the page.

A district's 1 700 grids embed well; a city's 20 000 or a province's 200 000 do not (a page of
tens of megabytes that the browser must parse before it draws anything). Past
``Settings.tiles_embed_limit`` features a map page asks the server for the tiles of what is on
screen, through Leaflet.VectorGrid (npm ``leaflet.vectorgrid``, served under /static like every
other asset). Tiles are in WGS 84 / Web Mercator: on the Amap basemap (GCJ-02) they are not
shifted, and the page says so.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

from geogrid.tiles.layers import TILE_LAYERS

__all__ = ["VECTORGRID_JS", "VectorTileLayer", "tile_url"]

VECTORGRID_JS = "https://unpkg.com/leaflet.vectorgrid@1.3.0/dist/Leaflet.VectorGrid.bundled.js"
"""Where the plugin's documentation loads it from; :mod:`geogrid.maps.assets` maps it to the
npm copy, so pages never reach unpkg. Not the ``.min.js`` of 1.3.0: that build never defines
``L.vectorGrid`` (it drops the wrapper that registers the plugin)."""


def tile_url(layer: str, *, district_adcode: str, prefix: str = "/tiles", **params: Any) -> str:
    """The XYZ template of a layer's tiles, with ``district`` and further query parameters.

    >>> tile_url("grids-level2", district_adcode="610503")
    '/tiles/grids-level2/{z}/{x}/{y}.mvt?district=610503'
    """
    query = {"district": district_adcode, **{k: v for k, v in params.items() if v is not None}}
    return f"{prefix.rstrip('/')}/{layer}/{{z}}/{{x}}/{{y}}.mvt?{urlencode(query, doseq=True)}"


class VectorTileLayer(JSCSSMixin, Layer):
    """One tile layer of :data:`geogrid.tiles.layers.TILE_LAYERS` on a folium map, listed in the
    layer control like any overlay.

    ``style`` is a Leaflet path style; for points, ``radius_by_count`` sizes each circle by its
    ``count`` property (cells of issues). ``popup_fields`` (property, label) pairs make a click
    open a popup of those properties, escaped.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var style = {{ this.style_json }};
            var byCount = {{ this.radius_by_count|tojson }};
            var fields = {{ this.popup_json }};
            function esc(v) {
                return String(v === null || v === undefined ? "—" : v).replace(/[&<>"']/g,
                    function (c) { return "&#" + c.charCodeAt(0) + ";"; });
            }
            var styles = {};
            styles[{{ this.tile_layer|tojson }}] = function (props, zoom) {
                if (!byCount) { return style; }
                var s = Object.assign({}, style);
                s.radius = Math.min(4 + 2.5 * Math.sqrt(props.count || 1), 22);
                return s;
            };
            var layer = L.vectorGrid.protobuf({{ this.url|tojson }}, {
                vectorTileLayerStyles: styles,
                interactive: fields.length > 0,
                minZoom: {{ this.min_zoom }},
                maxNativeZoom: {{ this.max_native_zoom }},
                getFeatureId: function (f) { return f.properties.code || f.properties.id; }
            });
            if (fields.length > 0) {
                layer.on("click", function (e) {
                    var p = e.layer.properties || {};
                    var rows = fields.map(function (f) {
                        return "<tr><th>" + esc(f[1]) + "</th><td>" + esc(p[f[0]]) + "</td></tr>";
                    }).join("");
                    L.popup().setLatLng(e.latlng)
                        .setContent("<table class='gg-tile-popup'>" + rows + "</table>")
                        .openOn({{ this._parent.get_name() }});
                });
            }
            return layer;
        })();
        {% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
        {% endmacro %}
        """
    )
    # folium's JSCSSMixin declares this a plain list attribute, which a ClassVar cannot override.
    default_js = [("leaflet.vectorgrid", VECTORGRID_JS)]  # noqa: RUF012

    def __init__(
        self,
        layer: str,
        *,
        url: str,
        name: str,
        style: dict[str, Any],
        popup_fields: list[tuple[str, str]] | None = None,
        radius_by_count: bool = False,
        show: bool = True,
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "VectorTileLayer"
        spec = TILE_LAYERS[layer]
        self.tile_layer = spec.name
        self.url = url
        self.min_zoom = spec.minzoom
        self.max_native_zoom = spec.maxzoom
        # A grid is a polygon to fill; VectorGrid needs ``fill`` said explicitly.
        self.style_json = json.dumps({"fill": True, **style})
        self.popup_json = json.dumps(popup_fields or [], ensure_ascii=False)
        self.radius_by_count = radius_by_count
