"""A raster of cells over a district's grids, for bulk point lookups at numpy speed.

Why: ``STRtree.query(points, predicate=...)`` runs a GEOS predicate for every candidate pair
and needs a shapely Point per input; for a million points that is seconds. Here, each cell of a
regular lon/lat raster knows, for every grid near it, whether the grid covers the *whole* cell
("full") or only part of it ("partial"). A point's cell is two subtractions and a floor; its
grids in full cells are answered without any geometry work, and only the few points in cells
that a grid boundary crosses get the exact prepared ``intersects_xy`` test (== ``ST_Covers``
for a point and a polygon, boundary included).

Why it stays exact: a cell is "partial" for a grid whenever a boundary segment's bounding box,
widened by :data:`EPSILON_DEG`, reaches the cell widened by the same amount (edges are first
split so that no segment is longer than a cell, which keeps that test tight). A cell that is not
partial therefore has no boundary of the grid within EPSILON_DEG of it — far more than the
rounding of ``floor((x - x0) / dx)`` — so it lies wholly inside or wholly outside the grid,
and its centre tells which.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

__all__ = ["EPSILON_DEG", "CellLookup"]

#: Safety margin around cells and segments (degrees, ~1 mm): far above float rounding.
EPSILON_DEG = 1e-8
#: About this many cells over the bounding box (~110 m cells over a county-sized district).
#: Measured on the demo (1M points): 1.2M cells build in 1.2 s and answer in 0.11 s; 150k
#: cells build in 0.12 s and answer in 0.13 s, so a one-off bulk job is 5x faster in all.
TARGET_CELLS = 150_000

IntArray = NDArray[np.int64]


@dataclass(eq=False)
class CellLookup:
    """Cells in CSR form: the entries of cell ``c`` are ``start[c] : start[c + 1]``."""

    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int
    start: IntArray
    entry_pos: IntArray
    entry_full: NDArray[np.bool_]
    geoms: NDArray[np.object_]

    @classmethod
    def build(cls, geoms: NDArray[np.object_], *, target_cells: int = TARGET_CELLS) -> CellLookup:
        """Classify every (grid, cell) pair of the grids' bounding boxes. ``geoms`` prepared."""
        bx0, by0, bx1, by1 = (float(v) for v in shapely.total_bounds(geoms))
        size = max(((bx1 - bx0) * (by1 - by0) / target_cells) ** 0.5, 1e-6)
        # One empty cell of margin on every side: a point outside the raster is in no grid.
        x0, y0 = bx0 - size, by0 - size
        nx = int((bx1 - x0) / size) + 2
        ny = int((by1 - y0) / size) + 2
        n_cells = nx * ny

        # 1. Every (grid, cell) of each grid's bounding box.
        bounds = shapely.bounds(geoms)
        gx0, gx1 = _cell_range(bounds[:, 0], bounds[:, 2], x0, size, nx)
        gy0, gy1 = _cell_range(bounds[:, 1], bounds[:, 3], y0, size, ny)
        box_cells = _rectangles(gx0, gx1, gy0, gy1, nx)
        box_grid, box_cell = box_cells

        # 2. Cells reached by a boundary segment: partial.
        seg_grid, sx0, sy0, sx1, sy1 = _segments(geoms, max_length=size / 2)
        cx0, cx1 = _cell_range(np.minimum(sx0, sx1), np.maximum(sx0, sx1), x0, size, nx)
        cy0, cy1 = _cell_range(np.minimum(sy0, sy1), np.maximum(sy0, sy1), y0, size, ny)
        seg_rect_grid, seg_cell = _rectangles(cx0, cx1, cy0, cy1, nx, owner=seg_grid)
        partial_keys = np.unique(seg_rect_grid * n_cells + seg_cell)
        box_keys = box_grid * n_cells + box_cell
        partial = np.isin(box_keys, partial_keys, assume_unique=False)

        # 3. The other cells are wholly in or out: their centre decides.
        rest = np.flatnonzero(~partial)
        cx = x0 + (box_cell[rest] % nx + 0.5) * size
        cy = y0 + (box_cell[rest] // nx + 0.5) * size
        inside = shapely.intersects_xy(geoms[box_grid[rest]], cx, cy)
        keep = partial.copy()
        keep[rest[inside]] = True
        full = np.zeros(len(box_keys), dtype=bool)
        full[rest[inside]] = True

        cell = box_cell[keep]
        pos = box_grid[keep]
        full = full[keep]
        order = np.lexsort((pos, cell))
        cell, pos, full = cell[order], pos[order], full[order]
        start = np.zeros(n_cells + 1, dtype=np.int64)
        np.cumsum(np.bincount(cell, minlength=n_cells), out=start[1:])
        return cls(x0, y0, size, size, nx, ny, start, pos, full, geoms)

    def cell_of(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> IntArray:
        """Cell number of each point, ``-1`` outside the raster (or NaN)."""
        with np.errstate(invalid="ignore"):
            ix = np.floor((lon - self.x0) / self.dx)
            iy = np.floor((lat - self.y0) / self.dy)
            ok = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        cell = np.full(len(lon), -1, dtype=np.int64)
        cell[ok] = iy[ok].astype(np.int64) * self.nx + ix[ok].astype(np.int64)
        return cell

    def pairs(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[IntArray, IntArray]:
        """Every (point, grid position) with the grid covering the point, sorted by point."""
        cell = self.cell_of(lon, lat)
        valid = cell >= 0
        first = np.zeros(len(cell), dtype=np.int64)
        counts = np.zeros(len(cell), dtype=np.int64)
        first[valid] = self.start[cell[valid]]
        counts[valid] = self.start[cell[valid] + 1] - first[valid]
        total = int(counts.sum())
        pt = np.repeat(np.arange(len(cell), dtype=np.int64), counts)
        offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        entry = np.repeat(first, counts) + offsets
        pos = self.entry_pos[entry]
        keep = self.entry_full[entry].copy()
        check = np.flatnonzero(~keep)
        if len(check):
            p = pt[check]
            keep[check] = shapely.intersects_xy(self.geoms[pos[check]], lon[p], lat[p])
        return pt[keep], pos[keep]


def _cell_range(
    lo: NDArray[np.float64], hi: NDArray[np.float64], origin: float, size: float, n: int
) -> tuple[IntArray, IntArray]:
    """First and last cell (clipped to the raster) of intervals widened by EPSILON_DEG."""
    first = np.floor((lo - EPSILON_DEG - origin) / size).astype(np.int64)
    last = np.floor((hi + EPSILON_DEG - origin) / size).astype(np.int64)
    return np.clip(first, 0, n - 1), np.clip(last, 0, n - 1)


def _rectangles(
    ix0: IntArray,
    ix1: IntArray,
    iy0: IntArray,
    iy1: IntArray,
    nx: int,
    owner: IntArray | None = None,
) -> tuple[IntArray, IntArray]:
    """All cells of the rectangles ``[ix0, ix1] x [iy0, iy1]``: (owner, cell) arrays."""
    if owner is None:
        owner = np.arange(len(ix0), dtype=np.int64)
    w = ix1 - ix0 + 1
    h = iy1 - iy0 + 1
    counts = w * h
    total = int(counts.sum())
    rect = np.repeat(np.arange(len(ix0), dtype=np.int64), counts)
    k = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    cx = ix0[rect] + k % w[rect]
    cy = iy0[rect] + k // w[rect]
    return owner[rect], cy * nx + cx


def _segments(
    geoms: NDArray[np.object_], *, max_length: float
) -> tuple[
    IntArray, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]
]:
    """Boundary segments of every polygon ring, no longer than ``max_length``: (grid, x0, y0,
    x1, y1)."""
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    rings = shapely.segmentize(rings, max_length)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring_of[1:] == ring_of[:-1]
    owner = part_owner[ring_part[ring_of[:-1][same_ring]]].astype(np.int64)
    a = coords[:-1][same_ring]
    b = coords[1:][same_ring]
    return owner, a[:, 0], a[:, 1], b[:, 0], b[:, 1]
