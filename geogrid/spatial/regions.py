"""Regionalisation: cut a parent polygon into contiguous, compact regions of balanced weight.

Pure shapely/numpy/PySAL, no database: :mod:`geogrid.grids.proposals` loads the parent, its
current children and the weighted address points, and calls :func:`propose_regions`.

The method is the field's, not a home-made heuristic:

1. a fine tessellation of the parent: Voronoi cells of the address points, clipped to the
   parent, cut along the current child-grid edges (so regions can follow them) and along any
   given lines (roads, rivers); units inside a dedicated grid are dissolved into one unit so
   the dedicated grid is never cut;
2. PySAL ``spopt`` max-p regionalisation on those units (Duque, Anselin & Rey 2012): as many
   regions as possible, each with households at least the floor, contiguous by construction
   (rook contiguity of the units), with the unit centroids as the attributes whose
   within-region dissimilarity it minimises, which makes regions compact;
   regions above the ceiling are split again by max-p with the same floor;
   or, when the number of regions is fixed (``k``), ``spopt`` region-k-means;
3. each region is the union of its units, a single polygon because the units are contiguous.

All lengths and areas in metres: coordinates are scaled by cos(latitude) for the diagram and
areas are measured on the ellipsoid (:func:`geogrid.grids.validation.area_m2`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geogrid.spatial.partition import as_multipolygon, voronoi_partition

__all__ = [
    "Region",
    "WeightedPoints",
    "balance_share",
    "kmeans_baseline",
    "polsby_popper",
    "propose_regions",
    "tessellate",
    "weights_of",
]

#: Shared edges shorter than this (in degrees of latitude, ~0.1 m) are corner touches.
_EDGE_DEG = 1e-6
#: Construction tries of max-p (each a random growth order); the largest p wins.
_CONSTRUCTION_TRIES = 8


@dataclass(frozen=True, slots=True)
class WeightedPoints:
    """Address points (n×2 lon/lat) and the households each stands for."""

    xy: np.ndarray
    weights: np.ndarray


@dataclass(slots=True)
class Region:
    """One proposed region: its polygon (lon/lat), the units it was built from, its weight."""

    geom: MultiPolygon
    households: float
    units: list[int] = field(default_factory=list)


def _scale(geom: BaseGeometry) -> float:
    return math.cos(math.radians(geom.centroid.y))


def polsby_popper(geom: BaseGeometry) -> float:
    """Compactness 4πA/P² (1 for a circle, ~0.785 for a square), measured on the ground.

    >>> round(polsby_popper(shapely.box(109.0, 34.0, 109.001, 34.001 * 1.0)), 2) > 0.7
    True
    """
    if geom.is_empty:
        return 0.0
    k = _scale(geom)
    flat = shapely.transform(geom, lambda xy: xy * np.array([k, 1.0]))
    return float(4 * math.pi * flat.area / (flat.length**2)) if flat.length else 0.0


def _explode(geom: BaseGeometry) -> list[Polygon]:
    return [p for p in as_multipolygon(geom).geoms if not p.is_empty]


def tessellate(
    parent: BaseGeometry,
    points: WeightedPoints,
    *,
    edges: Sequence[BaseGeometry] = (),
    keep_whole: Sequence[BaseGeometry] = (),
    lines: BaseGeometry | None = None,
) -> tuple[list[Polygon], np.ndarray]:
    """Units tiling ``parent`` and their weights.

    ``edges``: polygons whose boundaries the units must not cross (the current children);
    ``keep_whole``: polygons (dedicated grids) whose units are dissolved into one;
    ``lines``: roads/rivers cutting the units. Units are single polygons; a unit's weight is
    the sum of the weights of the points in it.
    """
    xy = np.unique(points.xy, axis=0) if len(points.xy) else points.xy
    inside = shapely.contains_xy(parent, xy[:, 0], xy[:, 1]) if len(xy) else np.zeros(0, bool)
    seeds = xy[inside]
    cells: list[BaseGeometry] = (
        list(voronoi_partition(parent, seeds)) if len(seeds) >= 2 else [parent]
    )
    if edges:
        covered = shapely.union_all(list(edges))
        pieces = [*edges, shapely.difference(parent, covered)]
        tree = shapely.STRtree(cells)
        split: list[BaseGeometry] = []
        for piece in pieces:
            for i in tree.query(piece, predicate="intersects"):
                split.append(shapely.intersection(cells[int(i)], piece))
        cells = split
    units = [p for c in cells for p in _explode(c) if p.area > 0]
    if lines is not None and not lines.is_empty:
        cut: list[Polygon] = []
        for u in units:
            if u.intersects(lines):
                cut.extend(
                    p
                    for p in shapely.ops.split(u, lines).geoms
                    if isinstance(p, Polygon) and p.area > 0
                )
            else:
                cut.append(u)
        units = cut
    for whole in keep_whole:
        inner = [i for i, u in enumerate(units) if whole.contains(u.representative_point())]
        if len(inner) > 1:
            merged = _explode(shapely.union_all([units[i] for i in inner]))
            units = [u for i, u in enumerate(units) if i not in set(inner)] + merged
    units = _absorb_slivers(units)
    weights = weights_of(units, points)
    return units, weights


def _absorb_slivers(units: list[Polygon], min_ratio: float = 1e-2) -> list[Polygon]:
    """Merge units far smaller than the typical one (crumbs of the overlay of Voronoi cells
    with the child edges, often touching their neighbours only at a corner) into the
    neighbour they touch most, so they do not become islands of the contiguity graph."""
    if len(units) < 2:
        return units
    floor = float(np.median([u.area for u in units])) * min_ratio
    out = list(units)
    small = sorted((i for i, u in enumerate(out) if u.area < floor), key=lambda i: out[i].area)
    gone: set[int] = set()
    tree = shapely.STRtree(out)
    for i in small:
        u = out[i].buffer(_EDGE_DEG / 100)
        best, touch = -1, 0.0
        for j in tree.query(u, predicate="intersects"):
            j = int(j)
            if j == i or j in gone:
                continue
            overlap = shapely.intersection(u, out[j]).area
            if overlap > touch:
                best, touch = j, overlap
        if best < 0:
            continue
        merged = shapely.union_all([out[best], out[i]])
        if not isinstance(merged, Polygon):
            # a corner touch: close the pinch (well below a centimetre)
            merged = shapely.union_all([out[best], out[i].buffer(_EDGE_DEG / 100)])
            merged = shapely.intersection(merged, shapely.union_all([out[best], out[i]]).envelope)
        pieces = _explode(merged)
        if len(pieces) == 1:
            out[best] = pieces[0]
            gone.add(i)
    return [u for i, u in enumerate(out) if i not in gone]


def weights_of(polys: Sequence[BaseGeometry], points: WeightedPoints) -> np.ndarray:
    """Sum of point weights per polygon (a point on a shared edge counts once)."""
    out = np.zeros(len(polys))
    if not len(points.xy):
        return out
    tree = shapely.STRtree(list(polys))
    pts = shapely.points(points.xy)
    pi, gi = tree.query(pts, predicate="intersects")
    seen = np.zeros(len(points.xy), bool)
    for p, g in zip(pi, gi, strict=True):
        if not seen[p]:
            seen[p] = True
            out[g] += points.weights[p]
    return out


def _neighbours(units: Sequence[Polygon]) -> dict[int, list[int]]:
    """Rook contiguity: units sharing an edge (not only a corner)."""
    tree = shapely.STRtree(list(units))
    # edges of neighbouring units need not share vertices (they come from different clips):
    # a unit grown by ~1 cm overlaps its rook neighbours along their edge, not at a corner
    grown = shapely.buffer(np.array(list(units), dtype=object), _EDGE_DEG / 100)
    left, right = tree.query(grown, predicate="intersects")
    out: dict[int, list[int]] = {i: [] for i in range(len(units))}
    for a, b in zip(left, right, strict=True):
        a, b = int(a), int(b)
        if a < b and shapely.intersection(grown[a], units[b]).area > _EDGE_DEG * _EDGE_DEG:
            out[a].append(b)
            out[b].append(a)
    return out


def _components(nbrs: dict[int, list[int]]) -> list[list[int]]:
    seen: set[int] = set()
    out = []
    for start in nbrs:
        if start in seen:
            continue
        comp, stack = [], [start]
        seen.add(start)
        while stack:
            i = stack.pop()
            comp.append(i)
            for j in nbrs[i]:
                if j not in seen:
                    seen.add(j)
                    stack.append(j)
        out.append(sorted(comp))
    return out


def _solve(
    units: Sequence[Polygon],
    weights: np.ndarray,
    members: list[int],
    nbrs: dict[int, list[int]],
    *,
    floor: float,
    k: int | None,
    seed: int,
) -> list[list[int]]:
    """Labels of one connected set of units: max-p (floor) or region-k-means (k)."""
    import libpysal
    from spopt.region import RegionKMeansHeuristic

    total = float(weights[members].sum())
    if len(members) == 1 or (k is None and total < 2 * floor) or k == 1:
        return [members]
    index = {u: n for n, u in enumerate(members)}
    local = {index[u]: [index[v] for v in nbrs[u] if v in index] for u in members}
    cent = np.array(
        [[units[u].centroid.x * _scale(units[u]), units[u].centroid.y] for u in members]
    )
    cent = (cent - cent.mean(axis=0)) * 111_320.0  # metres, roughly: only their spread matters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = libpysal.weights.W(local, silence_warnings=True)
        np.random.seed(seed)
        if k is not None:
            model = RegionKMeansHeuristic(cent, min(k, len(members)), w)
            model.solve()
            labels = np.asarray(model.labels_)
        else:
            labels = _maxp_construction(cent, weights[members], w, floor, seed=seed)
    groups: dict[int, list[int]] = {}
    for n, lab in enumerate(labels):
        groups.setdefault(int(lab), []).append(members[n])
    # max-p leaves units it could not place (label 0 / -1 in some versions) as their own group:
    # give each to the neighbouring region it touches most
    return [g for g in groups.values() if g]


def _maxp_construction(
    attrs: np.ndarray, households: np.ndarray, w: object, floor: float, *, seed: int
) -> np.ndarray:
    """Labels from the construction phase of spopt's max-p heuristic (Wei, Rey & Knaap 2021):
    grow regions from seeds until each reaches the floor, enclaves assigned to the nearest
    region, several tries, the largest p kept; of those, the least heterogeneous.

    spopt's ``MaxPHeuristic`` follows this with a simulated annealing that only lowers the
    heterogeneity (never changes p) and stops after ``n`` moves without improvement: minutes
    on the ~500 address cells of one community, so we stop after construction and let the
    tries pick the tightest partition.
    """
    from scipy.spatial.distance import pdist, squareform
    from spopt.region.maxp import _construction_phase

    np.random.seed(seed)
    dist = squareform(pdist(attrs, metric="cityblock"))
    _, tries = _construction_phase(
        np.arange(len(attrs)), attrs, households, dist, w, floor, 2, _CONSTRUCTION_TRIES
    )
    best: np.ndarray | None = None
    best_cost = math.inf
    for label, regions, _ in tries:
        cost = sum(float(dist[np.ix_(m, m)].sum()) for m in regions.values())
        if cost < best_cost:
            best, best_cost = np.asarray(label), cost
    assert best is not None
    return best


def _reattach_small(
    groups: list[list[int]], weights: np.ndarray, nbrs: dict[int, list[int]], floor: float
) -> list[list[int]]:
    """Regions below the floor (leftovers of max-p) join their lightest neighbouring region."""
    groups = [list(g) for g in groups]
    while True:
        owner = {u: gi for gi, g in enumerate(groups) for u in g}
        light = [gi for gi, g in enumerate(groups) if weights[g].sum() < floor and len(groups) > 1]
        if not light:
            return groups
        gi = min(light, key=lambda i: weights[groups[i]].sum())
        near = {owner[v] for u in groups[gi] for v in nbrs[u]} - {gi}
        if not near:
            return groups
        to = min(near, key=lambda i: weights[groups[i]].sum())
        groups[to].extend(groups[gi])
        del groups[gi]


def propose_regions(
    parent: BaseGeometry,
    units: Sequence[Polygon],
    weights: np.ndarray,
    *,
    target: float,
    band: float = 0.3,
    k: int | None = None,
    seed: int = 0,
) -> list[Region]:
    """Regions tiling ``parent`` from ``units``: max-p with the floor ``target·(1-band)``, heavy
    regions (above ``target·(1+band)``) cut again; or region-k-means with ``k`` regions."""
    nbrs = _neighbours(units)
    floor = target * (1 - band)
    ceiling = target * (1 + band)
    groups: list[list[int]] = []
    comps = _components(nbrs)
    # crumbs cut off from the rest (a unit touching its neighbours only at a corner) join
    # whichever region they touch once the regions exist
    crumbs = [c for c in comps if weights[c].sum() < floor and len(comps) > 1]
    for comp in [c for c in comps if c not in crumbs]:
        if k is not None:
            share = max(1, round(k * weights[comp].sum() / max(weights.sum(), 1e-9)))
            groups.extend(_solve(units, weights, comp, nbrs, floor=floor, k=share, seed=seed))
            continue
        found = _solve(units, weights, comp, nbrs, floor=floor, k=None, seed=seed)
        found = _reattach_small(found, weights, {u: nbrs[u] for u in comp}, floor)
        for g in found:
            if weights[g].sum() > ceiling and len(g) > 1:
                sub = _solve(units, weights, g, nbrs, floor=floor, k=None, seed=seed + 1)
                groups.extend(sub)
            else:
                groups.append(g)
    if k is None:
        groups = _reattach_small(groups, weights, nbrs, floor)
    if not groups:
        groups = [[]]
    for crumb in crumbs:
        shape = shapely.union_all([units[u] for u in crumb])
        near = min(
            range(len(groups)),
            key=lambda gi: min((units[u].distance(shape) for u in groups[gi]), default=math.inf),
        )
        groups[near].extend(crumb)
    regions = []
    for g in groups:
        geom = as_multipolygon(shapely.union_all([units[u] for u in g]))
        if len(geom.geoms) > 1:  # a crumb touching at a corner: close the pinch (~1 mm)
            geom = as_multipolygon(geom.buffer(1e-8).buffer(-1e-8).intersection(parent))
        regions.append(Region(geom, float(weights[g].sum()), sorted(g)))
    return regions


def kmeans_baseline(
    parent: BaseGeometry, points: WeightedPoints, k: int, *, seed: int = 0
) -> list[Region]:
    """The naive answer: k-means of the address points, Voronoi cells of the k centres clipped
    to the parent. What a balanced proposal must beat."""
    from sklearn.cluster import KMeans

    k = max(1, min(k, len(points.xy)))
    if k == 1:
        return [Region(as_multipolygon(parent), float(points.weights.sum()))]
    s = _scale(parent)
    scaled = points.xy * np.array([s, 1.0])
    model = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(
        scaled, sample_weight=points.weights
    )
    centres = model.cluster_centers_ / np.array([s, 1.0])
    cells = voronoi_partition(parent, centres)
    weights = weights_of(cells, points)
    return [Region(c, float(w)) for c, w in zip(cells, weights, strict=True) if not c.is_empty]


def balance_share(households: Sequence[float], target: float, band: float = 0.3) -> float:
    """Share of grids whose households are within ``target`` ± ``band``.

    >>> balance_share([300, 100, 350, 600], 300)
    0.5
    """
    if not households:
        return 0.0
    lo, hi = target * (1 - band), target * (1 + band)
    return sum(1 for h in households if lo <= h <= hi) / len(households)


def as_single(geom: BaseGeometry) -> MultiPolygon:
    """``geom`` as a MultiPolygon (what grid versions store)."""
    return as_multipolygon(geom) if not isinstance(geom, MultiPolygon) else geom
