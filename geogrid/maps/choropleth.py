"""Choropleths and legends: grids filled by a class, with a hover highlight and a tooltip; a
legend of swatches for classes (named classes such as hotspots, or ranges of values such as
rates), and a colour bar with ticks for continuous scales (heat).

Classed maps get one swatch per class, never a colour bar: a bar spaces the breaks by value, so
with one far outlier (a planted hotspot at 1 935 issues per 1 000 households) every break sat in
the first few pixels and their labels printed on top of each other.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

import folium

from geogrid.maps.layout import panel
from geogrid.maps.page import DistrictMap

__all__ = [
    "ColourStop",
    "choropleth_layer",
    "class_ranges",
    "colour_bar_legend",
    "format_value",
    "swatch_legend",
]

HIGHLIGHT = {"weight": 2.5, "color": "#000"}
LEGEND_ID = "geogrid-legend"
BAR_WIDTH_PX = 200
"""Width of a colour bar (see ``.gg-bar`` in :data:`geogrid.maps.layout.LAYOUT_CSS`)."""
_CHAR_PX = 7.5
"""About the width of one digit at 12 px: how much room a tick label takes."""

ColourStop = tuple[float, str]
"""A position on a colour bar (0 to 1) and the CSS colour there."""


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


def format_value(value: float) -> str:
    """A class bound as a person reads it: whole numbers from 100 up, one decimal from 10, two
    below; no trailing zeros.

    >>> [format_value(v) for v in (1935.4, 87.26, 3.0, 0.127)]
    ['1935', '87.3', '3', '0.13']
    """
    decimals = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def class_ranges(lowest: float, breaks: Sequence[float]) -> list[str]:
    """The range of each class, in class order: mapclassify's classes hold the values up to and
    including their upper break, the first from the lowest value.

    >>> class_ranges(3, [87.2, 99, 1935])
    ['3 – 87.2', '87.2 – 99', '99 – 1935']
    """
    lower = [lowest, *breaks[:-1]]
    pairs = zip(lower, breaks, strict=True)
    return [f"{format_value(lo)} – {format_value(hi)}" for lo, hi in pairs]


def swatch_legend(
    title: str,
    entries: Sequence[tuple[str, str]],
    *,
    extra: Sequence[tuple[str, str]] = (),
) -> folium.Element:
    """A legend of ``(colour, label)`` swatches, one per class and in class order (each row has
    the class ``gg-legend-class``); ``extra`` rows (no data...) follow, apart from the classes.
    It folds to its title on a phone."""

    def rows(items: Sequence[tuple[str, str]], kind: str) -> str:
        return "".join(
            f'<div class="gg-legend-row {kind}"><span class="gg-swatch" '
            f'style="background:{html.escape(colour, quote=True)}"></span>'
            f'<span class="gg-legend-label">{html.escape(label)}</span></div>'
            for colour, label in items
        )

    body = rows(entries, "gg-legend-class") + rows(extra, "gg-legend-extra")
    return panel(LEGEND_ID, title, body, corner="bottomright", toggle_label=f"图例 {title}")


def _kept_ticks(ticks: Sequence[tuple[float, str]]) -> list[tuple[float, str]]:
    """The ticks whose labels fit side by side on the bar: the first and last always, the ones
    between only when they keep clear of those already kept (a label is centred on its tick,
    the end ones aligned to the bar's ends)."""

    def span(position: float, label: str, i: int, n: int) -> tuple[float, float]:
        width = len(label) * _CHAR_PX
        x = position * BAR_WIDTH_PX
        if i == 0:
            return x, x + width
        if i == n - 1:
            return x - width, x
        return x - width / 2, x + width / 2

    ordered = sorted(ticks)
    n = len(ordered)
    if n <= 2:
        return ordered
    spans = [span(p, label, i, n) for i, (p, label) in enumerate(ordered)]
    kept = [0]
    for i in range(1, n - 1):
        if spans[i][0] > spans[kept[-1]][1] + 4 and spans[i][1] < spans[-1][0] - 4:
            kept.append(i)
    kept.append(n - 1)
    return [ordered[i] for i in kept]


def colour_bar_legend(
    title: str,
    stops: Sequence[ColourStop],
    ticks: Sequence[tuple[float, str]],
    *,
    caption: str = "",
) -> folium.Element:
    """A legend for a continuous scale: a colour bar through ``stops`` and ``ticks``
    (position 0-1, label) under it, thinned so that no two labels touch. Folds on a phone."""
    gradient = ", ".join(f"{colour} {position * 100:g}%" for position, colour in stops)
    kept = _kept_ticks(ticks)
    labels = []
    for i, (position, label) in enumerate(kept):
        if i == 0:
            place = f"left:{position * 100:g}%"
        elif i == len(kept) - 1:
            place = f"right:{(1 - position) * 100:g}%"
        else:
            place = f"left:{position * 100:g}%;transform:translateX(-50%)"
        labels.append(
            f'<span class="gg-tick gg-legend-label" style="{place}">{html.escape(label)}</span>'
        )
    note = f'<div class="gg-legend-label">{html.escape(caption)}</div>' if caption else ""
    body = (
        f'<div class="gg-bar" style="background:linear-gradient(to right, {gradient})"></div>'
        f'<div class="gg-ticks">{"".join(labels)}</div>{note}'
    )
    return panel(LEGEND_ID, title, body, corner="bottomright", toggle_label=f"图例 {title}")
