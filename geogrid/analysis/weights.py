"""Spatial weights between grids: contiguity (queen) and distance band, as libpysal ``W``.

Queen contiguity is decided with shapely, not by matching vertices as
``libpysal.weights.Queen`` does: neighbouring grids that belong to different parents were
clipped separately, so their shared border carries different vertices on each side and vertex
matching would miss them. Two grids are neighbours when they come within ``tolerance_deg`` of
each other (sharing an edge or a single corner), which is what queen contiguity means; the
tolerance (1e-7°, about 1 cm) absorbs floating-point noise only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import shapely
from libpysal.weights import W
from libpysal.weights.util import min_threshold_distance
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from geogrid.errors import InvalidInputError

__all__ = ["WeightsKind", "distance_band_weights", "grid_weights", "queen_weights"]

WeightsKind = Literal["queen", "distance"]
QUEEN_TOLERANCE_DEG = 1e-7


def queen_weights(
    geoms: Sequence[BaseGeometry], *, tolerance_deg: float = QUEEN_TOLERANCE_DEG
) -> W:
    """Binary queen contiguity between ``geoms`` (ids are positions 0..n-1).

    >>> from shapely import box
    >>> w = queen_weights([box(0, 0, 1, 1), box(1, 1, 2, 2), box(5, 5, 6, 6)])
    >>> w.neighbors[0], w.islands
    ([1], [2])
    """
    tree = shapely.STRtree(list(geoms))
    left, right = tree.query(list(geoms), predicate="dwithin", distance=tolerance_deg)
    neighbors: dict[int, list[int]] = {i: [] for i in range(len(geoms))}
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i != j:
            neighbors[i].append(j)
    return W({i: sorted(js) for i, js in neighbors.items()}, silence_warnings=True)


def _metric_points(geoms: Sequence[BaseGeometry]) -> np.ndarray:
    """Representative points in metres, in the UTM zone of the data (distances are exact
    enough over a district: the scale error is below 0.1 %)."""
    points = shapely.point_on_surface(list(geoms))
    x, y = shapely.get_coordinates(points).T
    zone = int((float(np.mean(x)) + 180) // 6) + 1
    south = float(np.mean(y)) < 0
    crs = CRS.from_dict({"proj": "utm", "zone": zone, "south": south, "ellps": "WGS84"})
    transformer = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    ex, ny = transformer.transform(x, y)
    return np.column_stack([ex, ny])


def distance_band_weights(geoms: Sequence[BaseGeometry], *, threshold_m: float | None = None) -> W:
    """Binary distance-band weights between representative points of ``geoms``.

    Without ``threshold_m`` the band is the smallest distance that gives every grid at least
    one neighbour (``libpysal.weights.util.min_threshold_distance``), the usual default for
    Gi* with distance bands.
    """
    from libpysal.weights import DistanceBand

    points = _metric_points(geoms)
    if threshold_m is None:
        threshold_m = float(min_threshold_distance(points)) * 1.000001
    if threshold_m <= 0:
        raise InvalidInputError(f"distance band must be positive, got {threshold_m} m")
    return DistanceBand(points, threshold=threshold_m, binary=True, silence_warnings=True)


def grid_weights(
    geoms: Sequence[BaseGeometry], kind: str = "queen", *, distance_m: float | None = None
) -> W:
    """Weights of ``kind`` (``queen`` or ``distance``) between ``geoms``."""
    if kind == "queen":
        return queen_weights(geoms)
    if kind == "distance":
        return distance_band_weights(geoms, threshold_m=distance_m)
    raise InvalidInputError(
        f"unknown weights {kind!r}: use 'queen' (shared edge or corner) or 'distance' "
        "(distance band in metres)",
        value=kind,
    )
