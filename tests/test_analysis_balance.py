"""``/analysis/balance`` and ``/maps/balance`` on the demo, checked against SQL written apart
from :mod:`geogrid.analysis.balance`: households per worker, Gini and the band share per
community before, and after a draft proposal replaces one community's grids."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from tests.rolled_back import rolled_back_app

COMMUNITY = "610503001008"

# Per grid: households over workers, a grid without workers counting its one post; the Gini
# as the mean absolute difference over twice the mean; the band is 300 ± 30 %.
_PER_GRID = """
WITH cur AS (
    SELECT g.id, g.code, g.level, g.kind, g.parent_id, v.households
    FROM grids g JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL
    WHERE g.district_adcode = '610503' AND g.retired_at IS NULL),
w AS (
    SELECT a.grid_id, count(DISTINCT a.staff_id) AS n
    FROM grid_assignments a JOIN staff s ON s.id = a.staff_id AND s.active
    WHERE a.valid_to IS NULL
      AND (a.post = 'A' OR (a.post IS NULL AND s.role IN ('grid_worker', 'auxiliary')))
    GROUP BY a.grid_id)
SELECT p.code AS community, coalesce(c.households, 0)::float / greatest(coalesce(w.n, 0), 1) AS r,
       coalesce(c.households, 0) AS h, greatest(coalesce(w.n, 0), 1) AS n, c.code
FROM cur c JOIN cur p ON p.id = c.parent_id
LEFT JOIN w ON w.grid_id = c.id
WHERE c.kind = 'general' AND c.level = 2
"""
_FIGURES = """
, x AS ({rows})
SELECT community, count(*), sum(h), sum(n),
       CASE WHEN sum(r) = 0 THEN 0 ELSE
         (SELECT sum(abs(a.r - b.r)) FROM x a JOIN x b USING (community)
          WHERE a.community = x1.community) / (2 * count(*) * sum(r)) END,
       avg((r BETWEEN 210 AND 390)::int)
FROM x x1 GROUP BY community
"""
_AFTER_ROWS = """
SELECT :community AS community, (f->'properties'->>'households')::float
         / greatest(coalesce(k.n, 0), 1) AS r,
       (f->'properties'->>'households')::int AS h, greatest(coalesce(k.n, 0), 1) AS n,
       f->'properties'->>'kept_code' AS code
FROM grid_proposals gp, jsonb_array_elements(gp.features->'features') f
LEFT JOIN (SELECT code, n FROM per_grid) k ON k.code = f->'properties'->>'kept_code'
WHERE gp.id = :proposal
"""


def _sql_figures(conn: Connection, rows_sql: str, **params: Any) -> dict[str, tuple[Any, ...]]:
    sql = f"WITH per_grid AS ({_PER_GRID})" + _FIGURES.format(rows=rows_sql)
    return {r[0]: tuple(r[1:]) for r in conn.execute(text(sql), params)}


def _matches(figures: dict[str, Any], row: tuple[Any, ...]) -> None:
    grids, households, workers, gini, share = row
    assert figures["grids"] == grids
    assert figures["households"] == households
    assert figures["workers"] == workers
    assert abs(figures["gini"] - float(gini)) < 1e-3
    assert abs(figures["share_in_band"] - float(share)) < 1e-3


def test_balance_before_matches_sql_per_community_and_the_district(
    client: TestClient, engine: Engine
) -> None:
    body = client.get("/analysis/balance", params={"level": 2}).json()
    assert body["households_norm"] == 300 and body["band_households"] == [210, 390]
    with engine.connect() as conn:
        expected = _sql_figures(conn, "SELECT * FROM per_grid")
        district = _sql_figures(conn, "SELECT 'all' AS community, r, h, n, code FROM per_grid")
    communities = {c["code"]: c for c in body["communities"]}
    assert set(communities) == set(expected)
    for code, row in expected.items():
        _matches(communities[code]["before"], row)
        if not communities[code]["proposals"]:
            assert communities[code]["after"] == communities[code]["before"]
    _matches(body["district"]["before"], district["all"])
    streets = body["streets"]
    assert sum(s["before"]["grids"] for s in streets) == body["district"]["before"]["grids"]
    assert all(s["code"] and s["name"] for s in streets)


def test_a_draft_changes_its_community_after_and_nothing_else(
    settings: Any, engine: Engine
) -> None:
    with rolled_back_app(settings, engine) as (client, conn, _):
        before = client.get("/analysis/balance").json()
        made = client.post(f"/grids/{COMMUNITY}/proposals", headers={"X-Actor": "office"})
        assert made.status_code == 201, made.text
        proposal = made.json()["id"]
        body = client.get("/analysis/balance").json()
        after_rows = _AFTER_ROWS.replace(":community", f"'{COMMUNITY}'")
        expected = _sql_figures(conn, after_rows, proposal=proposal)[COMMUNITY]
        row = next(c for c in body["communities"] if c["code"] == COMMUNITY)
        assert row["proposals"] == [proposal]
        _matches(row["after"], expected)
        old = next(c for c in before["communities"] if c["code"] == COMMUNITY)
        assert row["before"] == old["before"]
        assert row["after"]["households"] == sum(made.json()["figures"]["households_after"])
        others = [c for c in body["communities"] if c["code"] != COMMUNITY]
        assert all(c["after"] == c["before"] for c in others)
        assert body["district"]["proposals"] == [proposal]
        # a discarded draft no longer counts
        client.post(f"/proposals/{proposal}/discard", headers={"X-Actor": "office"})
        gone = client.get("/analysis/balance").json()
        assert gone["district"]["after"] == gone["district"]["before"]


def test_balance_page_and_refusals(client: TestClient, client_as: Any, demo: Engine) -> None:
    page = client.get("/maps/balance")
    assert page.status_code == 200, page.text[:500]
    assert "户数/网格员" in page.text and "标准带" in page.text
    bad = client.get("/analysis/balance", params={"level": 1})
    assert bad.status_code == 422
    worker = client_as("grid_worker")
    assert worker.get("/analysis/balance").status_code == 403
