"""The locator's shared geometries are safe to use from many threads from the first lookup on:
:class:`~geogrid.locate.index.GridIndex` builds GEOS's lazy structures (prepared polygons'
point locators, the trees) before it is handed out, so request threads only read them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geogrid.locate.index import load_grid_index

DISTRICT = "610503"


def test_a_fresh_index_answers_many_threads_as_it_answers_one(demo: Engine) -> None:
    with Session(demo) as session:
        index = load_grid_index(session, DISTRICT)
        fresh = load_grid_index(session, DISTRICT)
    x0, y0, x1, y1 = index.bounds
    rng = np.random.default_rng(610503)
    lon = rng.uniform(x0, x1, 4000)
    lat = rng.uniform(y0, y1, 4000)
    expected = [
        (index.covering(a, b).tolist(), index.admin_areas(a, b))
        for a, b in zip(lon, lat, strict=True)
    ]
    assert sum(1 for grids, _ in expected if grids) > 1000  # most points fall in some grid

    def look(chunk: range) -> list[tuple[list[int], list[int]]]:
        return [
            (fresh.covering(lon[i], lat[i]).tolist(), fresh.admin_areas(lon[i], lat[i]))
            for i in chunk
        ]

    # the first lookups on ``fresh`` happen in eight threads at once
    chunks = [range(k, 4000, 8) for k in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(look, chunks))
    for k, chunk in enumerate(chunks):
        assert results[k] == [expected[i] for i in chunk]
