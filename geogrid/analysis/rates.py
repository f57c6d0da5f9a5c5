"""Issues per 1 000 households per grid, with class breaks for a choropleth (mapclassify)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

import mapclassify
import numpy as np
from sqlalchemy.orm import Session

from geogrid.analysis.filters import IssueFilter
from geogrid.analysis.layers import (
    GridRecord,
    current_grids,
    feature_collection,
    issue_counts,
    require_grids,
)
from geogrid.analysis.stores import stored_issue_counts
from geogrid.errors import InvalidInputError

__all__ = ["SCHEMES", "GridRates", "RateOptions", "class_breaks", "grid_rates"]

SCHEMES = {
    "quantiles": mapclassify.Quantiles,
    "natural_breaks": mapclassify.NaturalBreaks,
    "fisher_jenks": mapclassify.FisherJenks,
    "equal_interval": mapclassify.EqualInterval,
}
"""Classification schemes by name; natural breaks (Jenks) is what district offices expect."""


def class_breaks(values: list[float], *, scheme: str = "quantiles", k: int = 5) -> list[float]:
    """Upper bounds of ``k`` classes of ``values`` (the last one is the maximum).

    >>> class_breaks([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], scheme="quantiles", k=2)
    [5.5, 10.0]
    """
    if scheme not in SCHEMES:
        raise InvalidInputError(
            f"unknown classification {scheme!r}: use one of {', '.join(SCHEMES)}", value=scheme
        )
    if not 2 <= k <= 9:
        raise InvalidInputError(f"use 2 to 9 classes, got {k}", value=k)
    data = np.asarray(values, dtype=float)
    distinct = np.unique(data).size
    if distinct < 2:
        return [float(data.max())] if data.size else []
    kwargs: dict[str, Any] = {"k": min(k, distinct)}
    if scheme == "natural_breaks":
        kwargs["initial"] = 10
    np.random.seed(0)  # NaturalBreaks samples its starts with the global generator
    classifier = SCHEMES[scheme](data, **kwargs)
    return [round(float(b), 2) for b in classifier.bins]


@dataclass(frozen=True)
class GridRates:
    grids: list[GridRecord]
    breaks: list[float]
    scheme: str
    level: int
    issue_filter: IssueFilter

    def geojson(self, *, geometry: Any = None) -> dict[str, Any]:
        fc = feature_collection(self.grids, geometry=geometry)
        fc["properties"] = {
            "level": self.level,
            "scheme": self.scheme,
            "breaks": self.breaks,
            "period": self.issue_filter.describe(),
            "unit": "issues per 1000 households",
        }
        return fc


class RateOptions(TypedDict, total=False):
    """The options of :func:`grid_rates`, for functions that pass them on (the maps)."""

    level: int
    scheme: str
    k: int
    issue_filter: IssueFilter | None


def grid_rates(
    session: Session,
    *,
    district_adcode: str,
    level: int = 2,
    scheme: str = "quantiles",
    k: int = 5,
    issue_filter: IssueFilter | None = None,
    fresh: bool = False,
) -> GridRates:
    """Issues per 1 000 households for every current general grid of ``level``.

    Grids without households (none recorded) get ``rate: null`` and stay out of the breaks.
    Counts are summed from the per-day store (:func:`~geogrid.analysis.stores.stored_issue_counts`);
    ``fresh`` counts the issues themselves, the reference the store is tested against.
    """
    issue_filter = issue_filter or IssueFilter()
    grids = current_grids(session, district_adcode=district_adcode, levels=[level])
    require_grids(grids, district_adcode=district_adcode, what=f"level-{level} grids")
    counter = issue_counts if fresh else stored_issue_counts
    counts = counter(session, [g.id for g in grids], issue_filter)
    rates = []
    for g in grids:
        count = counts.get(g.id, 0)
        rate = round(1000 * count / g.households, 2) if g.households else None
        g.properties = {"count": count, "households": g.households, "rate": rate}
        if rate is not None:
            rates.append(rate)
    breaks = class_breaks(rates, scheme=scheme, k=k) if rates else []
    for g in grids:
        rate = g.properties["rate"]
        g.properties["class"] = (
            None if rate is None else int(np.searchsorted(breaks, rate, side="left"))
        )
    return GridRates(grids, breaks, scheme, level, issue_filter)
