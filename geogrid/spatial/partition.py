"""Cutting a polygon into cells that tile it exactly (no gap, no overlap).

Used to generate the demo district's streets, communities and grids: Voronoi cells of seed
points, clipped to the parent. Cells of one Voronoi diagram share their edges vertex for vertex,
so after clipping the siblings meet exactly and their union is the parent.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

__all__ = ["as_multipolygon", "lloyd_relax", "random_points_in", "voronoi_partition"]


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    """The polygonal part of ``geom`` as a MultiPolygon (lines and points from clipping dropped)."""
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    polys: list[Polygon] = []
    for part in parts:
        polys.extend(part.geoms if isinstance(part, MultiPolygon) else [part])
    return MultiPolygon([p for p in polys if not p.is_empty])


def _lon_scale(geom: BaseGeometry) -> float:
    """cos(latitude): degrees of longitude are this much shorter than degrees of latitude."""
    return math.cos(math.radians(geom.centroid.y))


def voronoi_partition(parent: BaseGeometry, seeds: np.ndarray) -> list[MultiPolygon]:
    """Cells of ``seeds`` (n×2 lon/lat, inside ``parent``) clipped to ``parent``, in seed order.

    The diagram is built with longitudes scaled by cos(latitude), so cells are shaped as they
    look on the ground, not stretched east-west.
    """
    if len(seeds) == 1:
        return [as_multipolygon(parent)]
    k = _lon_scale(parent)
    scaled = np.column_stack([seeds[:, 0] * k, seeds[:, 1]])
    minx, miny, maxx, maxy = parent.bounds
    frame = shapely.box(minx * k - 1, miny - 1, maxx * k + 1, maxy + 1)
    cells = shapely.voronoi_polygons(shapely.multipoints(scaled), extend_to=frame, ordered=True)
    out: list[MultiPolygon] = []
    for cell in cells.geoms:
        unscaled = shapely.transform(cell, lambda xy: xy * np.array([1.0 / k, 1.0]))
        out.append(as_multipolygon(shapely.intersection(unscaled, parent)))
    return out


def random_points_in(
    polygon: BaseGeometry,
    n: int,
    rng: np.random.Generator,
    weight: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """``n`` random points (n×2) inside ``polygon``; ``weight(lon, lat)`` in [0, 1] thins them."""
    shapely.prepare(polygon)
    minx, miny, maxx, maxy = polygon.bounds
    got: list[np.ndarray] = []
    have = 0
    for _ in range(1000):
        batch = max(64, 4 * (n - have))
        x = rng.uniform(minx, maxx, batch)
        y = rng.uniform(miny, maxy, batch)
        keep = shapely.contains_xy(polygon, x, y)
        if weight is not None:
            keep &= rng.uniform(0, 1, batch) < weight(x, y)
        pts = np.column_stack([x[keep], y[keep]])
        got.append(pts)
        have += len(pts)
        if have >= n:
            break
    points = np.concatenate(got)[:n]
    if len(points) < n:
        raise ValueError(f"could not place {n} points in a polygon of area {polygon.area}")
    return points


def lloyd_relax(
    parent: BaseGeometry, seeds: np.ndarray, iterations: int
) -> tuple[np.ndarray, list[MultiPolygon]]:
    """Move seeds to their cells' centres ``iterations`` times: rounder, more even cells."""
    cells = voronoi_partition(parent, seeds)
    for _ in range(iterations):
        moved = []
        for cell in cells:
            c = cell.centroid
            if not cell.contains(c):
                c = cell.point_on_surface()
            moved.append((c.x, c.y))
        seeds = np.array(moved)
        cells = voronoi_partition(parent, seeds)
    return seeds, cells
