"""How the boxes of a map page share the screen, on a desk and on a phone.

A page has Leaflet's controls in the map corners (zoom, layers, scale, search, time slider) and
our own boxes above the map: the title box (top left), a legend (bottom right) and sometimes a
table (bottom left). On a desk they all fit at once. On a phone (360 px wide) they do not: an
expanded layer control covered the links of the landing page's title box. So below
:data:`PHONE_WIDTH_PX`:

* the layer control starts collapsed, as Leaflet's 44 px button (tap or Enter opens it);
* each box is a ``<details>`` whose ``<summary>`` is its toggle button, with a label: it folds
  to that one line, and the browser makes it keyboard-usable with no script of ours;
* the boxes and the Leaflet controls get phone sizes (:data:`LAYOUT_CSS`), so nothing is wider
  than the screen and nothing lies on anything else.

At desk width the boxes start open and keep their places, so a desk page looks as it did. The
CSS and the small script are inline, so a standalone export (:mod:`geogrid.maps.standalone`)
behaves the same.
"""

from __future__ import annotations

import html
from typing import Literal

import folium
from branca.element import Figure
from folium.template import Template

__all__ = [
    "LAYOUT_CSS",
    "PHONE_QUERY",
    "PHONE_WIDTH_PX",
    "ResponsiveLayerControl",
    "add_layout",
    "panel",
]

PHONE_WIDTH_PX = 640
"""Below this width a page is laid out for a phone (a 360-414 px phone, or a narrow window)."""
PHONE_QUERY = f"(max-width: {PHONE_WIDTH_PX}px)"

Corner = Literal["topleft", "bottomright", "bottomleft"]

LAYOUT_CSS = f"""
.gg-panel{{position:absolute;z-index:1000;background:#fff;padding:6px 10px;border-radius:4px;
  box-shadow:0 1px 4px rgba(0,0,0,.3);font:13px/1.5 system-ui,sans-serif;box-sizing:border-box}}
.gg-panel>summary{{cursor:pointer;font-weight:600;white-space:nowrap;overflow:hidden;
  text-overflow:ellipsis}}
.gg-panel>summary:focus-visible{{outline:2px solid #1f5f8b;outline-offset:2px}}
.gg-panel .gg-panel-body{{margin-top:2px}}
.gg-at-topleft{{top:10px;left:60px;max-width:40%;font-size:14px;line-height:1.4}}
.gg-at-bottomright{{bottom:30px;right:10px;max-height:calc(100% - 200px);overflow:auto}}
.gg-at-bottomleft{{bottom:60px;left:10px;width:36em;max-width:calc(100% - 20px);max-height:40%;
  overflow:auto;font-size:12px;line-height:1.4}}
.gg-legend-row{{display:flex;align-items:center;gap:6px;white-space:nowrap}}
.gg-swatch{{display:inline-block;flex:none;width:14px;height:14px;border:1px solid #999}}
.gg-bar{{position:relative;width:200px;height:12px;border:1px solid #999;margin:4px 0 2px}}
.gg-ticks{{position:relative;width:200px;height:1.4em;font-size:12px;color:#333}}
.gg-tick{{position:absolute;top:0;white-space:nowrap}}
@media {PHONE_QUERY} {{
  .gg-at-topleft{{left:54px;max-width:calc(100% - 114px);font-size:13px}}
  .gg-at-bottomright{{max-width:calc(100% - 20px);max-height:calc(100% - 190px)}}
  .gg-at-bottomleft{{max-height:45%}}
  .gg-panel>summary{{min-height:24px;line-height:24px}}
  .leaflet-control-search .search-input{{width:140px}}
  .leaflet-bar-timecontrol .timecontrol-speed,
  .leaflet-bar-timecontrol .timecontrol-loop,
  .leaflet-bar-timecontrol .timecontrol-dateslider{{display:none}}
  .leaflet-bar-timecontrol.leaflet-control a.timecontrol-date{{min-width:0;padding:0 8px}}
}}
"""
"""Placement of the boxes (``gg-at-<corner>``), legend parts, and the phone overrides."""

_FOLD_AND_CLEAR = f"""
(function () {{
    var boxes = document.querySelectorAll("details.gg-panel");
    if (window.matchMedia({PHONE_QUERY!r}).matches) {{
        boxes.forEach(function (d) {{ if (d.hasAttribute("data-fold-on-phone")) d.open = false; }});
    }}
    // A box in a bottom corner rises above the Leaflet controls it would lie on (the scale,
    // the time slider): their heights depend on the page, the browser and the screen.
    function clear(d) {{
        if (!/gg-at-bottom/.test(d.className)) return;
        d.style.bottom = "";
        var r = d.getBoundingClientRect(), lift = 0;
        document.querySelectorAll(".leaflet-bottom > .leaflet-control").forEach(function (c) {{
            var q = c.getBoundingClientRect();
            if (q.width && q.left < r.right && r.left < q.right && q.top < r.bottom
                && r.top < q.bottom) lift = Math.max(lift, r.bottom - q.top + 8);
        }});
        if (lift) d.style.bottom = (parseFloat(getComputedStyle(d).bottom) + lift) + "px";
    }}
    function clearAll() {{ boxes.forEach(clear); }}
    // Opening a box: a MutationObserver answers in the microtasks of the task that opened it,
    // so nothing is drawn, or measured, between the box opening and its rise ("toggle" comes
    // in a later task).
    var opened = new MutationObserver(function (changes) {{
        changes.forEach(function (c) {{ clear(c.target); }});
    }});
    boxes.forEach(function (d) {{
        opened.observe(d, {{attributes: true, attributeFilter: ["open"]}});
    }});
    // A control that grows or arrives later (the time slider once its frames are in) moves the
    // boxes again before the next frame is drawn.
    if (window.ResizeObserver) {{
        var grown = new ResizeObserver(clearAll);
        document.querySelectorAll(".leaflet-bottom").forEach(function (c) {{ grown.observe(c); }});
    }}
    window.addEventListener("load", clearAll);
    window.addEventListener("resize", clearAll);
    clearAll();
}})();
"""


def panel(
    panel_id: str,
    summary: str,
    body_html: str,
    *,
    corner: Corner,
    toggle_label: str,
    fold_on_phone: bool = True,
) -> folium.Element:
    """A box above the map in ``corner``: ``summary`` (text) is its always-visible toggle,
    ``body_html`` (already escaped HTML) folds away under it. ``toggle_label`` names the box for
    screen readers ("图例 / legend"). Open on a desk; folded on a phone if ``fold_on_phone``."""
    fold = " data-fold-on-phone" if fold_on_phone else ""
    label = html.escape(f"{toggle_label}: 展开/收起 (show/hide)", quote=True)
    return folium.Element(
        f'<details id="{panel_id}" class="gg-panel gg-at-{corner}"{fold} open>'
        f'<summary aria-label="{label}" title="{label}">{html.escape(summary)}</summary>'
        f'<div class="gg-panel-body">{body_html}</div></details>'
    )


class ResponsiveLayerControl(folium.LayerControl):
    """folium's layer control, expanded on a desk and collapsed to a button on a phone: Leaflet
    fixes ``collapsed`` when the control is made, so the page decides it as it loads."""

    _template = Template(
        """
        {% macro script(this,kwargs) %}
            var {{ this.get_name() }}_options = {{ this.options|tojavascript }};
            {{ this.get_name() }}_options.collapsed = window.matchMedia(
                {{ this.phone_query|tojson }}).matches;
            let {{ this.get_name() }} = L.control.layers(
                { {%- for key, val in this.base_layers.items() %}
                  {{ key|tojson }} : {{val}}, {%- endfor %} },
                { {%- for key, val in this.overlays.items() %}
                  {{ key|tojson }} : {{val}}, {%- endfor %} },
                {{ this.get_name() }}_options
            ).addTo({{this._parent.get_name()}});
            (function (box) {
                var link = box.querySelector(".leaflet-control-layers-toggle");
                link.setAttribute("title", "图层 / layers");
                link.setAttribute("aria-label", "图层 / layers");
            })({{ this.get_name() }}.getContainer());
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__(collapsed=False)
        self.phone_query = PHONE_QUERY


def add_layout(m: folium.Map) -> None:
    """Give the page of ``m`` the shared box styles, the phone folding and the script that keeps
    bottom boxes clear of the controls (once per page); call it after the boxes are added,
    since the script handles the boxes already in the page."""
    figure = m.get_root()
    assert isinstance(figure, Figure)  # folium.Map always puts itself in one
    figure.header.add_child(folium.Element(f"<style>{LAYOUT_CSS}</style>"), name="geogrid_layout")
    figure.html.add_child(
        folium.Element(f"<script>{_FOLD_AND_CLEAR}</script>"), name="geogrid_fold_and_clear"
    )
