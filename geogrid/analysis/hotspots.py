"""Hotspots: the Getis-Ord Gi* statistic per grid, with analytic or permutation p-values and a
Benjamini-Hochberg false-discovery-rate correction.

Gi* (Getis & Ord 1992; Ord & Getis 1995) compares the sum of a value over a grid and its
neighbours (the grid itself included, hence the star) with what it would be if values were
scattered at random::

    z_i = (sum_j w_ij x_j - xbar W_i) / (s * sqrt((n S1_i - W_i^2) / (n - 1)))

with W_i = sum_j w_ij, S1_i = sum_j w_ij^2, xbar and s the mean and (population) standard
deviation of x. It is a short formula, so it is implemented here rather than depending on a
statistics package at run time; tests check it against PySAL's ``esda.G_Local(star=True)``
(esda is a test dependency only). The FDR correction is SciPy's
``stats.false_discovery_control``, a maintained copy of the same step-up procedure.

Which p-value: ``analytic`` reads z against the normal distribution (fine for the thousand-odd
level-2 grids of a district); ``permutation`` holds each grid's value and draws its neighbours'
values at random from the other grids (conditional randomisation, as esda does), which makes no
normality assumption but cannot go below ``1 / (permutations + 1)``. ``auto`` permutes for up to
:data:`PERMUTATION_MAX_N` grids and is analytic beyond. p-values are two-sided, classes are
hot/cold at 99/95/90 % (p < 0.01/0.05/0.10), after the FDR correction when it is on: a district
has a thousand grids, and without it a hundred would look "significant" by chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import numpy as np
from libpysal.weights import W
from numpy.typing import ArrayLike, NDArray
from scipy import sparse, stats
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
from geogrid.analysis.weights import grid_weights
from geogrid.errors import InvalidInputError

__all__ = [
    "CLASSES",
    "PERMUTATION_MAX_N",
    "GiStar",
    "GridHotspots",
    "HotspotOptions",
    "classify",
    "empirical_bayes_rates",
    "gi_star",
    "grid_hotspots",
]

Method = Literal["auto", "analytic", "permutation"]
PERMUTATION_MAX_N = 500
CLASSES = (
    "hot_99",
    "hot_95",
    "hot_90",
    "not_significant",
    "cold_90",
    "cold_95",
    "cold_99",
)
"""Hot/cold at 99, 95 and 90 % confidence, and not significant."""
_LEVELS = ((0.01, "99"), (0.05, "95"), (0.10, "90"))
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class GiStar:
    """Gi* for each observation: ``z``, the p-value used (``p``, two-sided), its ``method``,
    and ``p_fdr`` (Benjamini-Hochberg adjusted by ``scipy.stats.false_discovery_control``:
    ``p_fdr < alpha`` keeps the expected share of false discoveries under ``alpha``)."""

    z: FloatArray
    p: FloatArray
    p_fdr: FloatArray
    method: str
    permutations: int


def _star_matrix(weights: W | sparse.spmatrix | ArrayLike) -> sparse.csr_matrix:
    """The weights as CSR with the self-weight on the diagonal (1 where it is missing)."""
    if isinstance(weights, W):
        matrix = sparse.csr_matrix(weights.sparse, dtype=float)
    else:
        matrix = sparse.csr_matrix(weights, dtype=float)
    diagonal = matrix.diagonal()
    if (diagonal == 0).any():
        matrix = matrix.tolil()
        matrix.setdiag(np.where(diagonal == 0, 1.0, diagonal))
        matrix = matrix.tocsr()
    return matrix


def _analytic(x: FloatArray, matrix: sparse.csr_matrix) -> FloatArray:
    n = x.size
    mean = x.mean()
    s = np.sqrt((x**2).mean() - mean**2)
    wi = np.asarray(matrix.sum(axis=1)).ravel()
    s1 = np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel()
    numerator = matrix @ x - mean * wi
    denominator = s * np.sqrt((n * s1 - wi**2) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = numerator / denominator
    # Constant values (s = 0) or a grid whose neighbourhood is everything: no evidence.
    return np.where(np.isfinite(z), z, 0.0)


def _permutation_p(
    x: FloatArray, matrix: sparse.csr_matrix, permutations: int, seed: int | None
) -> FloatArray:
    """Two-sided pseudo p-values by conditional randomisation: grid i keeps its value and its
    self-weight, its neighbours' weights go to values drawn without replacement from the other
    n - 1 grids. As in esda, one set of random draws is shared by all grids."""
    n = x.size
    rng = np.random.default_rng(seed)
    k_max = max(int(np.diff(matrix.indptr).max()) - 1, 0)
    draws = np.argsort(rng.random((permutations, n - 1)), axis=1)[:, :k_max]
    p = np.ones(n)
    for i in range(n):
        start, end = matrix.indptr[i], matrix.indptr[i + 1]
        cols = matrix.indices[start:end]
        vals = matrix.data[start:end]
        self_weight = vals[cols == i].sum()
        others = vals[cols != i]
        observed = vals @ x[cols]
        k = others.size
        if k == 0:
            continue
        idx = draws[:, :k]
        idx = idx + (idx >= i)  # skip grid i itself
        simulated = x[i] * self_weight + x[idx] @ others
        larger = int((simulated >= observed).sum())
        folded = min(larger, permutations - larger)
        p[i] = min(1.0, 2 * (folded + 1) / (permutations + 1))
    return p


def gi_star(
    values: ArrayLike,
    weights: W | sparse.spmatrix | ArrayLike,
    *,
    method: Method = "auto",
    permutations: int = 9999,
    seed: int | None = 0,
) -> GiStar:
    """Getis-Ord Gi* of ``values`` with ``weights`` (libpysal ``W`` or an n x n matrix; a
    missing self-weight counts as 1, as for binary weights).

    >>> import numpy as np
    >>> w = np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]])
    >>> gi_star([10, 8, 1, 1], w, method="analytic").z.round(3).tolist()
    [1.706, 0.985, -1.231, -1.706]
    """
    x = np.asarray(values, dtype=float).ravel()
    n = x.size
    matrix = _star_matrix(weights)
    if matrix.shape != (n, n):
        raise InvalidInputError(f"weights are {matrix.shape}, values have {n} entries")
    if n < 3:
        raise InvalidInputError(f"Gi* needs at least 3 grids, got {n}")
    if method not in ("auto", "analytic", "permutation"):
        raise InvalidInputError(
            f"unknown method {method!r}: use 'auto', 'analytic' or 'permutation'"
        )
    if permutations < 99:
        raise InvalidInputError(f"use at least 99 permutations, got {permutations}")
    z = _analytic(x, matrix)
    chosen = (
        method if method != "auto" else ("permutation" if n <= PERMUTATION_MAX_N else "analytic")
    )
    if chosen == "permutation":
        p = _permutation_p(x, matrix, permutations, seed)
    else:
        p = 2 * stats.norm.sf(np.abs(z))
    return GiStar(
        z=z,
        p=p,
        p_fdr=stats.false_discovery_control(p, method="bh"),
        method=chosen,
        permutations=permutations if chosen == "permutation" else 0,
    )


def classify(z: ArrayLike, p: ArrayLike) -> list[str]:
    """``hot_99`` ... ``cold_99`` or ``not_significant`` from z (sign) and p (level).

    >>> classify([3.0, -2.0, 0.5], [0.001, 0.04, 0.6])
    ['hot_99', 'cold_95', 'not_significant']
    """
    out = []
    for zi, pi in zip(np.asarray(z, float), np.asarray(p, float), strict=True):
        label = "not_significant"
        for level, name in _LEVELS:
            if pi < level:
                label = f"{'hot' if zi > 0 else 'cold'}_{name}"
                break
        out.append(label)
    return out


# --- per grid, from the database ---------------------------------------------------------------


@dataclass(frozen=True)
class GridHotspots:
    """Gi* per current grid of one level, with the inputs that produced it."""

    grids: list[GridRecord]
    level: int
    value: str
    weights: str
    result: GiStar
    classes: list[str]
    fdr: bool
    issue_filter: IssueFilter

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(CLASSES, 0)
        for c in self.classes:
            out[c] += 1
        return out

    def geojson(self, *, geometry: Any = None) -> dict[str, Any]:
        fc = feature_collection(self.grids, geometry=geometry)
        fc["properties"] = {
            "value": self.value,
            "weights": self.weights,
            "method": self.result.method,
            "permutations": self.result.permutations,
            "fdr": self.fdr,
            "period": self.issue_filter.describe(),
            "classes": self.counts(),
        }
        return fc


def empirical_bayes_rates(counts: ArrayLike, base: ArrayLike) -> FloatArray:
    """Assuncao-Reis empirical-Bayes standardised rates of ``counts`` per ``base``.

    A raw rate over a grid of 60 households swings far more by chance than one over 600, and
    Gi* reads that noise as clustering wherever small grids sit together. Standardising each
    rate by its own expected variance (``a + b / n_i``, with ``b`` the overall rate and ``a``
    the between-grid variance) makes the values comparable, so only real excess shows.
    Grids with no base get 0 (the overall rate).

    >>> empirical_bayes_rates([10, 10, 40], [100, 100, 100]).round(3).tolist()
    [-0.707, -0.707, 1.414]
    """
    o = np.asarray(counts, dtype=float)
    n = np.asarray(base, dtype=float)
    ok = n > 0
    out = np.zeros(o.size)
    if not ok.any() or o[ok].sum() == 0:
        return out
    b = o[ok].sum() / n[ok].sum()
    r = o[ok] / n[ok]
    a = max((n[ok] * (r - b) ** 2).sum() / n[ok].sum() - b / n[ok].mean(), 0.0)
    out[ok] = (r - b) / np.sqrt(a + b / n[ok])
    return out


def issue_values(grids: Sequence[GridRecord], counts: dict[int, int], value: str) -> FloatArray:
    """The Gi* input: issue counts, or (``rate``) issues per household, empirical-Bayes
    standardised (see :func:`empirical_bayes_rates`)."""
    c = np.array([counts.get(g.id, 0) for g in grids], dtype=float)
    if value == "count":
        return c
    if value == "rate":
        return empirical_bayes_rates(c, [g.households or 0 for g in grids])
    raise InvalidInputError(
        f"unknown value {value!r}: use 'count' (issues per grid) or 'rate' "
        "(issues per household, empirical-Bayes standardised)",
        value=value,
    )


class HotspotOptions(TypedDict, total=False):
    """The options of :func:`grid_hotspots`, for functions that pass them on (the maps)."""

    level: int
    value: str
    weights: str
    distance_m: float | None
    method: Method
    permutations: int
    fdr: bool
    issue_filter: IssueFilter | None
    seed: int | None


def grid_hotspots(
    session: Session,
    *,
    district_adcode: str,
    level: int = 2,
    value: str = "count",
    weights: str = "queen",
    distance_m: float | None = None,
    method: Method = "auto",
    permutations: int = 9999,
    fdr: bool = True,
    issue_filter: IssueFilter | None = None,
    seed: int | None = 0,
    fresh: bool = False,
) -> GridHotspots:
    """Gi* on issues per current general grid of ``level``.

    Every grid carries ``count``, ``households``, ``rate``, ``z``, ``p``, ``p_fdr`` and
    ``class`` in its properties.
    Counts are summed from the per-day store (:func:`~geogrid.analysis.stores.stored_issue_counts`);
    ``fresh`` counts the issues themselves, the reference the store is tested against.
    """
    issue_filter = issue_filter or IssueFilter()
    grids = current_grids(
        session, district_adcode=district_adcode, levels=[level], with_geometry=True
    )
    require_grids(grids, district_adcode=district_adcode, what=f"level-{level} grids")
    counter = issue_counts if fresh else stored_issue_counts
    counts = counter(session, [g.id for g in grids], issue_filter)
    x = issue_values(grids, counts, value)
    w = grid_weights([g.geom for g in grids], weights, distance_m=distance_m)  # type: ignore[misc]
    result = gi_star(x, w, method=method, permutations=permutations, seed=seed)
    classes = classify(result.z, result.p_fdr if fdr else result.p)
    for i, g in enumerate(grids):
        count = counts.get(g.id, 0)
        g.properties = {
            "count": count,
            "households": g.households,
            "rate": round(1000 * count / g.households, 2) if g.households else None,
            "z": round(float(result.z[i]), 4),
            "p": float(f"{result.p[i]:.4g}"),
            "p_fdr": float(f"{result.p_fdr[i]:.4g}"),
            "class": classes[i],
        }
    return GridHotspots(
        grids=grids,
        level=level,
        value=value,
        weights=weights,
        result=result,
        classes=classes,
        fdr=fdr,
        issue_filter=issue_filter,
    )
