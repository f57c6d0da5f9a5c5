"""A map page as a light frame and its data: the page answers at once, the layers follow.

A folium page embeds every GeoJSON layer (``geo_json_…_add({...});``) and every heatmap's
points in its script, so the page weighs what its data weighs and nothing shows until all of
it has arrived. The server answers the page without them and one ``fetch()`` of the layers,
in the order the page adds them, from a same-origin relative URL (``/analysis/layers/…``).
The layers' order and content come from drawing the same map with the same parameters, so
the frame's functions (styles, popups, tooltips keyed by feature) fit the data whichever
request drew it.

The standalone export (``geogrid maps render``) does not split: it must open from ``file://``,
where there is no server to fetch from.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

__all__ = ["defer_data", "deferred_data", "split_layers", "split_page"]

DEFERRED = "geogrid_deferred_json"
"""The attribute of a folium element drawn without its data: the data as JSON text, which
:func:`split_page` serves in the element's place (:func:`defer_data`)."""

# folium 0.20's templates, data on one line when embedded: GeoJson's
# ``geo_json_<hex>_add({...});`` and HeatMap's ``var heat_map_<hex> = L.heatLayer(\n[[...]],``.
_GEOJSON = re.compile(r"^[ \t]*(geo_json_[0-9a-f]+)_add\((\{.*\})\);[ \t]*$", re.MULTILINE)
# HeatMapWithTime writes its frames (a Python list, valid JSON) on its constructor's line.
_TIMED = re.compile(r"(var (heat_map_[0-9a-f]+) = new TDHeatmap\()(\[.*\]),[ \t]*$", re.MULTILINE)
_HEAT = re.compile(
    r"(var (heat_map_[0-9a-f]+) = L\.heatLayer\(\s*\n)[ \t]*(\[.*\]),[ \t]*$", re.MULTILINE
)

_FETCH = """<script>
(function () {{
    var adds = {adds};
    document.documentElement.setAttribute("data-layers", "loading");
    fetch({url}, {{credentials: "same-origin", headers: {{Accept: "application/json"}}}})
        .then(function (r) {{
            if (!r.ok) throw new Error("layers: HTTP " + r.status);
            return r.json();
        }})
        .then(function (layers) {{
            adds.forEach(function (a, i) {{
                var layer = window[a[1]];
                if (a[0] === "heat") layer.setLatLngs(layers[i]);
                else if (a[0] === "timed") {{
                    layer.data = layers[i];
                    if (layer._map && layer._timeDimension)
                        layer._getDataForTime(layer._timeDimension.getCurrentTime());
                }} else window[a[1] + "_add"](layers[i]);
            }});
            // controls grown by the data (the time slider): the layout places its boxes again,
            // then the page says its layers are in (what a test, or a screenshot, waits for)
            window.dispatchEvent(new Event("resize"));
            document.documentElement.setAttribute("data-layers", "loaded");
        }})
        .catch(function (e) {{
            var note = document.createElement("p");
            note.className = "gg-layers-error";
            note.textContent = "图层加载失败 (layers failed to load): " + e.message;
            document.body.appendChild(note);
            document.documentElement.setAttribute("data-layers", "failed");
        }});
}})();
</script>
"""


def _empty_frames(data: str) -> str:
    return json.dumps([[] for _ in json.loads(data)])


class _Cut(NamedTuple):
    """An embedded layer: where it is, what stays in its place, and how the frame adds it."""

    start: int
    end: int
    replacement: str
    kind: str
    name: str
    data: str


def defer_data(element: Any, data_json: str) -> None:
    """Mark ``element`` (a heat layer drawn with no points) as having ``data_json`` as its
    data: the page is drawn without the points (no template renders them, no parser reads
    them back) and :func:`split_page` serves them in the layer's place."""
    setattr(element, DEFERRED, data_json)


def deferred_data(root: Any) -> dict[str, str]:
    """The deferred data of ``root``'s elements (a folium Map, recursively), by element name."""
    found: dict[str, str] = {}
    stack = [root]
    while stack:
        element = stack.pop()
        data = getattr(element, DEFERRED, None)
        if data is not None:
            found[element.get_name()] = data
        stack.extend(getattr(element, "_children", {}).values())
    return found


def split_page(html: str, data_url: str, deferred: dict[str, str] | None = None) -> tuple[str, str]:
    """``(frame, layers)``: the page without its embedded GeoJSON, heat points and monthly
    heat frames, fetching them from ``data_url`` instead, and the layers as a JSON array (in
    the order the page adds them) made of the embedded JSON texts as they are, or the
    ``deferred`` data of a layer drawn without it (:func:`defer_data`)."""
    deferred = deferred or {}
    cuts = sorted(
        [
            _Cut(m.start(), m.end(), "", "geojson", m.group(1), m.group(2))
            for m in _GEOJSON.finditer(html)
        ]
        + [
            _Cut(m.start(), m.end(), m.group(1) + "[],", "heat", m.group(2), m.group(3))
            for m in _HEAT.finditer(html)
        ]
        + [
            # as many empty frames as months: the time control works before the data is in
            _Cut(
                m.start(),
                m.end(),
                m.group(1) + _empty_frames(m.group(3)) + ",",
                "timed",
                m.group(2),
                m.group(3),
            )
            for m in _TIMED.finditer(html)
        ]
    )
    if not cuts:
        return html, "[]"
    parts: list[str] = []
    adds: list[list[str]] = []
    layers: list[str] = []
    at = 0
    for cut in cuts:
        parts += [html[at : cut.start], cut.replacement]
        adds.append([cut.kind, cut.name])
        layers.append(deferred.get(cut.name, cut.data))
        at = cut.end
    parts.append(html[at:])
    frame = "".join(parts)
    script = _FETCH.format(adds=json.dumps(adds), url=json.dumps(data_url))
    end_at = frame.rfind("</html>")
    frame = frame[:end_at] + script + frame[end_at:] if end_at >= 0 else frame + script
    return frame, "[" + ",".join(layers) + "]"


def split_layers(html: str, data_url: str) -> tuple[str, list[Any]]:
    """``(frame, layers)`` as :func:`split_page`, the layers parsed."""
    frame, layers = split_page(html, data_url)
    return frame, json.loads(layers)
