"""Regionalisation: cut a parent polygon into contiguous, compact regions of balanced weight.

Pure shapely/numpy/PySAL, no database: :mod:`geogrid.grids.proposals` loads the parent, its
current children and the weighted address points, and calls :func:`propose_regions`.

The method is the field's, not a home-made heuristic:

1. a fine tessellation of the parent: Voronoi cells of the address points, clipped to the
   parent, cut along the current child-grid edges (so regions can follow them) and along any
   given lines (roads, rivers); units inside a dedicated grid (or overlapping dedicated grids
   together) are dissolved into one unit so the dedicated grid is never cut;
2. the contiguity of the units, without the links across the edge of two current child
   grids that can each stand alone, so regions end on the current edges, nor across a given
   line where each side can stand alone (:func:`_cut_lines`);
3. on each connected piece, PySAL ``spopt`` SKATER (Assunção et al. 2006) with
   ``round(households / target)`` regions, its dissimilarity replaced so that the score weighs
   compactness, balance of households and a households floor, and the spanning tree avoids
   crossing given lines (see :func:`_skater`); regions above the ceiling are cut again;
   or, when the number of regions is fixed (``k``), ``spopt`` region-k-means;
4. each region is the union of its units, a single polygon because the units are contiguous.

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
import shapely.ops
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geogrid.spatial.partition import as_multipolygon, voronoi_partition

__all__ = [
    "Region",
    "WeightedPoints",
    "balance_share",
    "edge_share",
    "faces_of",
    "kmeans_baseline",
    "labels_of",
    "polsby_popper",
    "propose_regions",
    "tessellate",
    "weights_of",
]

#: Shared edges shorter than this (in degrees of latitude, ~0.1 m) are corner touches.
_EDGE_DEG = 1e-6
#: How much balance weighs against compactness in SKATER's score: a region 10 % off its
#: share of households costs as much as 10 % of the whole piece's spread around its centre.
_BALANCE_WEIGHT = 10.0
#: What a region pays per pair of units on opposite sides of a given line (m of centroid
#: distance): a few times the spacing of address cells, so a border moves onto a nearby road
#: rather than through the cells beside it, but not across a whole block for it.
_LINE_PENALTY_M = 250.0
#: One metre in degrees of latitude.
_ONE_M_DEG = 1 / 111_320


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
    for whole in _merge_overlapping(keep_whole):
        # cut the units along its edge first, so no unit straddles it
        units = [
            p
            for u in units
            for g in (
                (shapely.intersection(u, whole), shapely.difference(u, whole))
                if u.intersects(whole.boundary)
                else (u,)
            )
            for p in _explode(g)
            if p.area > 0
        ]
        inner = [i for i, u in enumerate(units) if whole.contains(u.representative_point())]
        if len(inner) > 1:
            merged = _explode(shapely.union_all([units[i] for i in inner]))
            units = [u for i, u in enumerate(units) if i not in set(inner)] + merged
    units = _absorb_slivers(units)
    weights = weights_of(units, points)
    return units, weights


def _merge_overlapping(polys: Sequence[BaseGeometry]) -> list[BaseGeometry]:
    """``polys`` with each set of overlapping ones (sharing area, not only an edge) replaced by
    their union: two dedicated grids overlapping each other are kept whole together, else the
    edge of one would cut the other.

    >>> a, b, c = shapely.box(0, 0, 2, 1), shapely.box(1, 0, 3, 1), shapely.box(3, 0, 4, 1)
    >>> [round(p.area) for p in _merge_overlapping([a, b, c])]
    [3, 1]
    """
    groups = [[g] for g in polys]
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a, b = shapely.union_all(groups[i]), shapely.union_all(groups[j])
                if shapely.intersection(a, b).area > 0:
                    groups[i] += groups.pop(j)
                    merged = True
                    break
            if merged:
                break
    return [shapely.union_all(g) for g in groups]


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
    attrs: np.ndarray,
    target: float,
    ceiling: float = math.inf,
) -> list[list[int]]:
    """Groups of one connected set of units: SKATER with ``round(households / target)``
    regions and the households floor (``k`` None), or region-k-means with ``k`` regions."""
    import libpysal
    from spopt.region import RegionKMeansHeuristic

    total = float(weights[members].sum())
    # about households/target regions, but enough that none need exceed the ceiling
    n = k if k is not None else max(1, round(total / target), math.ceil(total / ceiling))
    if len(members) == 1 or n <= 1:
        return [members]
    index = {u: i for i, u in enumerate(members)}
    local = {index[u]: [index[v] for v in nbrs[u] if v in index] for u in members}
    sub = attrs[members]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = libpysal.weights.W(local, silence_warnings=True)
        np.random.seed(seed)
        if k is not None:
            model = RegionKMeansHeuristic(sub[:, :2], min(k, len(members)), w)
            model.solve()
            labels = np.asarray(model.labels_)
        else:
            labels = _skater(sub, weights[members], w, n=n, floor=floor)
    groups: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(int(lab), []).append(members[i])
    return [g for g in groups.values() if g]


def _skater(
    attrs: np.ndarray, households: np.ndarray, w: object, *, n: int, floor: float
) -> np.ndarray:
    """Labels from spopt's SKATER (Assunção et al. 2006): the minimum spanning tree of the
    units' dissimilarity, cut ``n - 1`` times where the cut lowers the map's score most.

    spopt lets the dissimilarity be replaced (``spanning_forest_kwds``), which is how the
    office's rules enter:

    - between neighbours (the tree): centroid distance, plus :data:`_LINE_PENALTY_M` when a
      road or river separates them, so the tree crosses each line as rarely as it can and
      the cut that splits a piece in two falls on a line when one is near;
    - within a region (the score): its units' distance to its centre (compactness) plus the
      squared relative gap between its households and ``total / n`` (balance); infinite
      below the households ``floor``, so no region is cut below it.
    """
    import pandas as pd
    from sklearn.metrics.pairwise import manhattan_distances
    from spopt.region import Skater

    goal = float(households.sum()) / n
    xy = attrs[:, :2]
    spread = float(np.abs(xy - xy.mean(axis=0)).sum()) or 1.0
    data = np.column_stack(
        [xy, households, attrs[:, 2:].argmax(axis=1) if attrs.shape[1] > 2 else np.zeros(len(xy))]
    )
    lined = attrs.shape[1] > 2

    def dissimilarity(x: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
        if centre is None:
            d = manhattan_distances(x[:, :2])
            if lined:
                d = d + _LINE_PENALTY_M * (x[:, 3][:, None] != x[:, 3][None, :])
            return d
        held = float(x[:, 2].sum())
        if held < floor:
            return np.full((len(x), 1), np.inf)
        d = manhattan_distances(x[:, :2], centre[:, :2])
        return d + _BALANCE_WEIGHT * spread * ((held - goal) / goal) ** 2 / len(x)

    names = ["x", "y", "hh", "face"]
    frame = pd.DataFrame(data, columns=names)
    model = Skater(
        frame,
        w,
        names,
        n_clusters=n,
        spanning_forest_kwds={"dissimilarity": dissimilarity},
    )
    model.solve()
    return np.asarray(model.labels_)


def _reattach_small(
    groups: list[list[int]], weights: np.ndarray, nbrs: dict[int, list[int]], floor: float
) -> list[list[int]]:
    """Regions below the floor (leftovers of SKATER) join their lightest neighbouring region."""
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


def _attributes(
    units: Sequence[Polygon], faces: Sequence[int] | None, penalty_m: float
) -> np.ndarray:
    """What SKATER's dissimilarity reads: the unit centroids in metres
    (compact regions) and, when lines are given, which face of the line network the unit lies
    in, one-hot × ``penalty_m`` (a region spanning a road pays that for every pair of units
    on opposite sides, so borders move onto the roads)."""
    cent = np.array([[u.centroid.x * _scale(u), u.centroid.y] for u in units]).reshape(-1, 2)
    cent = (cent - cent.mean(axis=0)) * 111_320.0  # metres, roughly: only their spread matters
    if faces is None:
        return cent
    ids = sorted(set(faces))
    onehot = np.zeros((len(units), len(ids)))
    for i, f in enumerate(faces):
        onehot[i, ids.index(f)] = penalty_m
    return np.hstack([cent, onehot])


def _cut_links(
    nbrs: dict[int, list[int]], blocks: Sequence[int], whole: set[int]
) -> dict[int, list[int]]:
    """Contiguity without the links across the edge of two blocks that can each stand
    alone (``whole``): regions then end on the current child edges; a block too light to be
    a grid keeps its links and joins a neighbour."""
    return {
        u: [
            v
            for v in vs
            if blocks[u] == blocks[v] or blocks[u] not in whole or blocks[v] not in whole
        ]
        for u, vs in nbrs.items()
    }


def _stands_alone(households: float, low: float, ceiling: float) -> bool:
    """Whether ``households`` can be divided into regions all between ``low`` and ``ceiling``
    (with low = 0.7 and ceiling = 1.3 targets, all but below 0.7 and between 1.3 and 1.4).

    >>> [_stands_alone(h, 210, 390) for h in (200, 300, 400, 420, 900)]
    [False, True, False, True, True]
    """
    if households < low:
        return False
    return households / math.ceil(households / ceiling) >= low


def _cut_lines(
    graph: dict[int, list[int]],
    faces: Sequence[int],
    weights: np.ndarray,
    *,
    low: float,
    ceiling: float,
) -> dict[int, list[int]]:
    """Contiguity without the links across a given line (units in two faces of the line
    network), so regions end on the lines, as they end on the current child edges. A side
    that cannot stand alone (:func:`_stands_alone`) keeps its links to its lightest
    neighbouring side, and the two are one side from then on, until every side can."""
    same = {u: [v for v in vs if faces[u] == faces[v]] for u, vs in graph.items()}
    side = {u: si for si, comp in enumerate(_components(same)) for u in comp}
    group = list(range(len(set(side.values()))))

    def root(g: int) -> int:
        while group[g] != g:
            g = group[g]
        return g

    held = np.zeros(len(group))
    members: dict[int, list[int]] = {g: [] for g in group}
    for u, si in side.items():
        held[si] += weights[u]
        members[si].append(u)
    stuck: set[int] = set()
    while True:
        roots = {root(g) for g in range(len(group))}
        light = [g for g in roots if g not in stuck and not _stands_alone(held[g], low, ceiling)]
        if not light:
            break
        g = min(light, key=lambda r: held[r])
        near = {root(side[v]) for u in members[g] for v in graph[u]} - {g}
        if not near:
            stuck.add(g)
            continue
        to = min(near, key=lambda r: held[r])
        group[g] = to
        held[to] += held[g]
        members[to] += members.pop(g)
    return {u: [v for v in vs if root(side[u]) == root(side[v])] for u, vs in graph.items()}


def propose_regions(
    parent: BaseGeometry,
    units: Sequence[Polygon],
    weights: np.ndarray,
    *,
    target: float,
    band: float = 0.3,
    k: int | None = None,
    seed: int = 0,
    blocks: Sequence[int] | None = None,
    faces: Sequence[int] | None = None,
) -> list[Region]:
    """Regions tiling ``parent`` from ``units``.

    SKATER (``k`` None): each piece of the contiguity graph is solved on its own with about
    ``households / target`` regions, none below ``target·(1-band)`` (:func:`_skater`); regions
    above ``target·(1+band)`` are cut again. With ``k``: region-k-means with ``k`` regions.

    ``blocks`` (one id per unit, -1 for none): the current child grid of each unit; units of
    two children that can each stand alone (households at least ``target·(1-band)``) are not
    neighbours, so regions follow the current child edges and a child is only divided inside.
    ``faces`` (one id per unit): the face of the line network (roads, rivers) each unit lies
    in; units of two faces whose sides can each stand alone are not neighbours
    (:func:`_cut_lines`), and inside a piece the tree avoids crossing lines
    (:func:`_attributes`), so regions end on the lines where they can.
    """
    nbrs = _neighbours(units)
    low = target * (1 - band)
    ceiling = target * (1 + band)
    if blocks is not None:
        heavy = {b for b in set(blocks) if b >= 0 and weights[np.asarray(blocks) == b].sum() >= low}
        graph = _cut_links(nbrs, blocks, heavy)
    else:
        graph = nbrs
    if faces is not None:
        graph = _cut_lines(graph, faces, weights, low=low, ceiling=ceiling)
    attrs = _attributes(units, faces, _LINE_PENALTY_M)

    groups: list[list[int]] = []
    comps = _components(graph)
    # crumbs cut off from the rest (a unit touching its neighbours only at a corner) join
    # whichever region they touch once the regions exist
    crumbs = [c for c in comps if weights[c].sum() < low and len(comps) > 1]
    for comp in [c for c in comps if c not in crumbs]:
        if k is not None:
            share = max(1, round(k * weights[comp].sum() / max(weights.sum(), 1e-9)))
            groups.extend(
                _solve(
                    units,
                    weights,
                    comp,
                    graph,
                    floor=low,
                    k=share,
                    seed=seed,
                    attrs=attrs,
                    target=target,
                    ceiling=ceiling,
                )
            )
            continue
        found = _solve(
            units,
            weights,
            comp,
            graph,
            floor=low,
            k=None,
            seed=seed,
            attrs=attrs,
            target=target,
            ceiling=ceiling,
        )
        found = _reattach_small(found, weights, {u: graph[u] for u in comp}, low)
        for g in found:
            if weights[g].sum() > ceiling and len(g) > 1:
                groups.extend(
                    _solve(
                        units,
                        weights,
                        g,
                        graph,
                        floor=low,
                        k=None,
                        seed=seed + 1,
                        attrs=attrs,
                        target=target,
                        ceiling=ceiling,
                    )
                )
            else:
                groups.append(g)
    if k is None:
        groups = _reattach_small(groups, weights, graph, low)
        groups = _reattach_small(groups, weights, nbrs, low)
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


def edge_share(
    regions: Sequence[BaseGeometry],
    parent: BaseGeometry,
    along: BaseGeometry | None,
    *,
    within_m: float = 1.0,
    besides: BaseGeometry | None = None,
) -> float:
    """Share of the inner edge length of ``regions`` (their borders, not the parent's, nor
    ``besides``'s within 1 m: the new edges when ``besides`` is the current child edges) lying
    on ``along`` (the current child edges, roads, rivers), within ``within_m``.

    >>> halves = [shapely.box(0, 0, 0.01, 0.01), shapely.box(0.01, 0, 0.02, 0.01)]
    >>> cut = shapely.LineString([(0.01, -1), (0.01, 1)])
    >>> edge_share(halves, shapely.box(0, 0, 0.02, 0.01), cut)
    1.0
    """
    if along is None or along.is_empty:
        return 0.0
    k = _scale(parent)

    def flat(g: BaseGeometry) -> BaseGeometry:
        return shapely.transform(g, lambda xy: xy * np.array([k, 1.0]))

    edges = shapely.union_all([flat(g).boundary for g in regions])
    inner = shapely.difference(edges, flat(parent).boundary.buffer(_ONE_M_DEG))
    if besides is not None and not besides.is_empty:
        inner = shapely.difference(inner, flat(besides).buffer(_ONE_M_DEG))
    if inner.is_empty:
        return 0.0
    on = shapely.intersection(inner, flat(along).buffer(within_m * _ONE_M_DEG))
    return float(on.length / inner.length)


def faces_of(parent: BaseGeometry, lines: BaseGeometry) -> list[Polygon]:
    """The faces into which ``lines`` (roads, rivers, current child edges) cut ``parent``.

    >>> cross = shapely.LineString([(0.5, -1), (0.5, 2)])
    >>> len(faces_of(shapely.box(0, 0, 1, 1), cross))
    2
    """
    noded = shapely.union_all([parent.boundary, shapely.intersection(lines, parent)])
    faces = shapely.polygonize(list(getattr(noded, "geoms", [noded])))
    inside = [p for p in _explode(faces) if parent.contains(p.representative_point())]
    return inside or _explode(parent)


def labels_of(units: Sequence[BaseGeometry], polygons: Sequence[BaseGeometry]) -> list[int]:
    """For each unit, the index of the polygon holding its representative point (-1: none).

    >>> labels_of([shapely.box(0, 0, 1, 1)], [shapely.box(2, 2, 3, 3), shapely.box(0, 0, 2, 2)])
    [1]
    """
    out = [-1] * len(units)
    if not polygons:
        return out
    tree = shapely.STRtree(list(polygons))
    points = [u.representative_point() for u in units]
    for i, j in zip(*tree.query(points, predicate="intersects"), strict=True):
        if out[int(i)] < 0:
            out[int(i)] = int(j)
    return out


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
