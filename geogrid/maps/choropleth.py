"""Choropleths: grids filled by a class, with a hover highlight, a tooltip and a legend, either
swatches of named classes (hotspots) or a stepped colour bar of class breaks (rates)."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

import branca.colormap as cm
import folium

from geogrid.maps.page import DistrictMap

__all__ = ["choropleth_layer", "step_legend", "swatch_legend"]

HIGHLIGHT = {"weight": 2.5, "color": "#000"}


def choropleth_layer(
    page: DistrictMap,
    collection: dict[str, Any],
    *,
    name: str,
    style: Callable[[dict[str, Any]], dict[str, Any]],
    tooltip: Sequence[tuple[str, str]],
) -> None:
    """Draw ``collection`` filled by ``style``; ``tooltip`` pairs a property with its label."""
    folium.GeoJson(
        page.collection(collection),
        name=name,
        style_function=style,
        highlight_function=lambda _: HIGHLIGHT,
        tooltip=folium.GeoJsonTooltip(
            fields=[field for field, _ in tooltip], aliases=[label for _, label in tooltip]
        ),
    ).add_to(page.m)


def swatch_legend(title: str, entries: Sequence[tuple[str, str]]) -> folium.Element:
    """A legend box of ``(colour, label)`` swatches, for classes that have names."""
    rows = "".join(
        f'<div><span style="display:inline-block;width:14px;height:14px;margin-right:6px;'
        f'vertical-align:middle;border:1px solid #999;background:{colour}"></span>'
        f"{html.escape(label)}</div>"
        for colour, label in entries
    )
    return folium.Element(
        '<div id="geogrid-legend" style="position:absolute;bottom:30px;right:10px;z-index:1000;'
        "background:#fff;padding:6px 10px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);"
        f'font:13px/1.6 system-ui,sans-serif"><strong>{html.escape(title)}</strong>{rows}</div>'
    )


def step_legend(
    colours: list[str], lowest: float, breaks: list[float], *, caption: str
) -> cm.StepColormap | None:
    """A stepped colour bar from ``lowest`` through the upper ``breaks`` of the classes (None
    without classes). A single class still gets a bar: branca needs two steps to draw one."""
    if not breaks:
        return None
    index = [lowest, *breaks]
    if len(colours) == 1:
        colours = colours * 2
        index = [lowest, breaks[0] + 1e-9]
    return cm.StepColormap(colours, index=index, vmin=index[0], vmax=index[-1], caption=caption)
