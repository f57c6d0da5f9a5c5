"""Getis-Ord Gi*: our implementation against PySAL's esda, the planted demo hotspots found, and
no false hotspot on spatially random issues after the FDR correction."""

from __future__ import annotations

import esda
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geogrid.analysis.hotspots import (
    classify,
    empirical_bayes_rates,
    gi_star,
    grid_hotspots,
    issue_values,
)
from geogrid.analysis.layers import GridRecord, current_grids, issue_counts
from geogrid.analysis.weights import grid_weights, queen_weights
from geogrid.demo.hotspots import PLANTED_HOTSPOTS

HUAZHOU = "610503"


@pytest.fixture(scope="module")
def level2(demo: Engine) -> tuple[list[GridRecord], dict[int, int]]:
    with Session(demo) as session:
        grids = current_grids(session, district_adcode=HUAZHOU, levels=[2], with_geometry=True)
        counts = issue_counts(session, [g.id for g in grids])
    return grids, counts


@pytest.mark.parametrize("weights", ["queen", "distance"])
@pytest.mark.parametrize("value", ["count", "rate"])
def test_gi_star_z_scores_equal_esda_on_the_demo(
    level2: tuple[list[GridRecord], dict[int, int]], weights: str, value: str
) -> None:
    grids, counts = level2
    x = issue_values(grids, counts, value)
    w = grid_weights([g.geom for g in grids], weights)

    ours = gi_star(x, w, method="analytic")
    # G is defined for positive values (esda divides by their sum); Gi*'s z does not change
    # when a constant is added, so standardised rates, which are centred on 0, are shifted.
    positive = x - x.min() + 1 if value == "rate" else x
    theirs = esda.G_Local(positive, w, transform="B", star=True, permutations=0)

    assert np.abs(ours.z - theirs.Zs).max() < 1e-6
    # esda's p_norm is one-sided; ours is two-sided.
    assert np.allclose(ours.p, 2 * theirs.p_norm, atol=1e-9)


def test_permutation_p_values_agree_with_esda() -> None:
    """Conditional randomisation (each grid keeps its value, its neighbours are drawn from the
    others) as esda does it: the two Monte Carlo estimates differ by sampling noise only."""
    rng = np.random.default_rng(7)
    side = 12
    geoms = [shapely.box(i, j, i + 1, j + 1) for i in range(side) for j in range(side)]
    x = rng.poisson(20, side * side).astype(float)
    x[:3] += 60  # a cluster in a corner
    w = queen_weights(geoms)

    ours = gi_star(x, w, method="permutation", permutations=9999, seed=1)
    theirs = esda.G_Local(x, w, transform="B", star=True, permutations=9999, seed=1, n_jobs=1)

    assert ours.method == "permutation" and ours.permutations == 9999
    assert ours.p.min() >= 2 / 10_000
    difference = np.abs(ours.p - np.minimum(1, 2 * theirs.p_sim))  # theirs is one-sided
    assert difference.max() < 0.05 and difference.mean() < 0.02
    assert ours.p[1] < 0.01  # the middle of the cluster
    assert gi_star(x, w).method == "permutation"  # auto: few grids


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.10])
def test_fdr_rejects_the_grids_esda_fdr_rejects_on_the_demo(
    level2: tuple[list[GridRecord], dict[int, int]], alpha: float
) -> None:
    """The Benjamini-Hochberg step (SciPy's adjusted p-values) against esda's own FDR cut-off:
    ``p_fdr < alpha`` picks exactly the grids with ``p < esda.fdr(p, alpha)``."""
    grids, counts = level2
    x = issue_values(grids, counts, "count")
    result = gi_star(x, grid_weights([g.geom for g in grids], "queen"), method="analytic")

    cutoff = esda.fdr(result.p, alpha)
    theirs = result.p < cutoff
    ours = result.p_fdr < alpha

    assert theirs.sum() > 0  # the planted hotspots survive the correction
    assert np.array_equal(ours, theirs)
    assert (result.p_fdr >= result.p).all()


def test_classify_levels() -> None:
    assert classify([2.0, 2.0, 2.0, -2.0, 1.0], [0.005, 0.03, 0.07, 0.005, 0.5]) == [
        "hot_99",
        "hot_95",
        "hot_90",
        "cold_99",
        "not_significant",
    ]


def test_empirical_bayes_rates_are_zero_for_a_constant_rate() -> None:
    assert np.allclose(empirical_bayes_rates([5, 50, 500], [100, 1000, 10000]), 0)


def _grid_at(grids: list[GridRecord], lon: float, lat: float) -> int:
    point = shapely.Point(lon, lat)
    return next(i for i, g in enumerate(grids) if g.geom is not None and g.geom.covers(point))


@pytest.mark.parametrize("value", ["count", "rate"])
def test_every_planted_hotspot_is_a_significant_hot_grid(demo: Engine, value: str) -> None:
    with Session(demo) as session:
        result = grid_hotspots(session, district_adcode=HUAZHOU, level=2, value=value)
    assert result.fdr and result.result.method == "analytic"
    w = queen_weights([g.geom for g in result.grids])
    for spot in PLANTED_HOTSPOTS:
        i = _grid_at(result.grids, *spot.centre)
        assert result.classes[i].startswith("hot_"), (spot.key, result.grids[i].properties)
        if value == "count":
            assert result.classes[i] == "hot_99", spot.key
        # and the grids around it: most of its neighbourhood is hot as well
        around = [result.classes[j].startswith("hot_") for j in w.neighbors[i]]
        assert sum(around) >= len(around) / 2, spot.key


def _random_points_in(geom: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    x0, y0, x1, y1 = geom.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        xy = rng.uniform([x0, y0], [x1, y1], size=(4 * n + 16, 2))
        out = np.vstack([out, xy[shapely.contains_xy(geom, xy[:, 0], xy[:, 1])]])
    return out[:n]


def test_spatially_random_issues_give_no_significant_grid_after_fdr(
    level2: tuple[list[GridRecord], dict[int, int]],
) -> None:
    """Issues scattered in proportion to households (the null hypothesis of "no hotspot"),
    counted per grid by point in polygon, analysed as rates: nothing survives FDR."""
    grids, _ = level2
    rng = np.random.default_rng(20240605)
    households = np.array([g.households or 0 for g in grids], dtype=float)
    per_grid = rng.multinomial(46_000, households / households.sum())
    points = np.vstack(
        [_random_points_in(g.geom, int(n), rng) for g, n in zip(grids, per_grid, strict=True) if n]
    )
    tree = shapely.STRtree([g.geom for g in grids])
    _, hit = tree.query(shapely.points(points), predicate="within")
    counted = dict(zip(*np.unique(hit, return_counts=True), strict=True))
    counts = {g.id: int(counted.get(i, 0)) for i, g in enumerate(grids)}
    assert sum(counts.values()) == len(points) == 46_000

    x = issue_values(grids, counts, "rate")
    result = gi_star(x, queen_weights([g.geom for g in grids]), method="analytic")

    assert set(classify(result.z, result.p_fdr)) == {"not_significant"}
    # Without the correction some grids look significant by chance: the correction matters.
    assert set(classify(result.z, result.p)) != {"not_significant"}


def test_hotspots_endpoint(client: TestClient, demo: Engine) -> None:
    response = client.get("/analysis/hotspots", params={"level": 1, "weights": "distance"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["properties"]["method"] == "permutation"  # 159 grids: permutations
    props = body["features"][0]["properties"]
    assert {"code", "count", "z", "p", "p_fdr", "class"} <= props.keys()
    assert sum(body["properties"]["classes"].values()) == len(body["features"])


def test_hotspots_endpoint_rejects_unknown_weights(client: TestClient, demo: Engine) -> None:
    response = client.get("/analysis/hotspots", params={"weights": "rook"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
