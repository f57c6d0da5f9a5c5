"""Rates, heatmap data and the dashboard summary, checked against direct SQL on the demo."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geogrid.analysis.filters import IssueFilter
from geogrid.analysis.heatmap import MAX_POINTS, heatmap_data
from geogrid.analysis.rates import class_breaks
from geogrid.errors import InvalidInputError

HUAZHOU = "610503"


@pytest.mark.parametrize("scheme", ["quantiles", "natural_breaks"])
def test_rates_endpoint_classes_every_grid(client: TestClient, demo: Engine, scheme: str) -> None:
    response = client.get("/analysis/rates", params={"level": 1, "scheme": scheme, "k": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    breaks = body["properties"]["breaks"]
    assert len(breaks) == 5 and breaks == sorted(breaks)
    for feature in body["features"]:
        p = feature["properties"]
        assert p["rate"] == pytest.approx(1000 * p["count"] / p["households"], abs=0.01)
        assert p["rate"] <= breaks[p["class"]]
        assert p["class"] == 0 or p["rate"] > breaks[p["class"] - 1]


def test_rates_count_issues_per_grid_like_sql(demo: Engine, client: TestClient) -> None:
    body = client.get("/analysis/rates", params={"level": 1, "category": "11"}).json()
    with Session(demo) as session:
        expected = dict(
            session.execute(
                text(
                    """
                    SELECT g.code, count(*) FROM issues i
                    JOIN issue_grids ig ON ig.issue_id = i.id
                    JOIN grids g ON g.id = ig.grid_id AND g.level = 1 AND g.kind = 'general'
                    JOIN issue_categories c ON c.id = i.category_id
                    WHERE c.code LIKE '11%' GROUP BY g.code
                    """
                )
            ).all()
        )
    got = {f["properties"]["code"]: f["properties"]["count"] for f in body["features"]}
    assert {k: v for k, v in got.items() if v} == expected


def test_class_breaks_reject_unknown_schemes() -> None:
    with pytest.raises(InvalidInputError, match="natural_breaks"):
        class_breaks([1, 2, 3], scheme="jenkins")


def test_heatmap_aggregates_a_year_and_keeps_every_issue(demo: Engine) -> None:
    """The demo spreads its issues over the 365 days before it was loaded. Thirteen calendar
    months ending at its last issue hold all of them whatever the date of the load (twelve
    would miss most of a month when the load falls in a month's first days)."""
    with Session(demo) as session:
        total, latest = session.execute(
            text("SELECT count(*), max(reported_at) FROM issues WHERE district_adcode = :a"),
            {"a": HUAZHOU},
        ).one()
        until = IssueFilter(end=latest + timedelta(seconds=1))
        data = heatmap_data(session, district_adcode=HUAZHOU, issue_filter=until, months=13)
    assert total > MAX_POINTS
    assert data.aggregated and data.months_aggregated and data.cell_m == 100
    assert len(data.frame.points) < MAX_POINTS
    assert sum(p[2] for p in data.frame.points) == total == data.frame.issues
    assert len(data.months) == 13
    assert sum(f.issues for f in data.months) == total
    assert all(sum(p[2] for p in f.points) == f.issues for f in data.months)


def test_heatmap_sends_raw_points_below_the_limit(demo: Engine) -> None:
    with Session(demo) as session:
        data = heatmap_data(
            session,
            district_adcode=HUAZHOU,
            issue_filter=IssueFilter(category="11", statuses=("closed",)),
        )
        expected = session.execute(
            text(
                "SELECT count(*) FROM issues i JOIN issue_categories c ON c.id = i.category_id "
                "WHERE c.code LIKE '11%' AND i.status = 'closed'"
            )
        ).scalar_one()
    assert not data.aggregated and data.cell_m is None
    assert len(data.frame.points) == expected == data.frame.issues
    assert {p[2] for p in data.frame.points} == {1.0}


def test_heatmap_endpoint_rejects_unknown_status(client: TestClient, demo: Engine) -> None:
    response = client.get("/analysis/heatmap", params={"status": "lost"})
    assert response.status_code == 422
    assert "reported" in response.json()["detail"]


def test_summary_per_town_matches_sql(
    client: TestClient, demo: Engine, demo_clock: datetime
) -> None:
    end = demo_clock
    start = end - timedelta(days=60)
    body = client.get(
        "/analysis/summary", params={"start": start.isoformat(), "end": end.isoformat()}
    ).json()
    town = next(t for t in body["towns"] if t["name"] == "华州街道")
    with Session(demo) as session:
        opened, closed, satisfied, rated = session.execute(
            text(
                """
                SELECT count(*) FILTER (WHERE i.reported_at >= :s AND i.reported_at < :e),
                       count(*) FILTER (WHERE i.closed_at >= :s AND i.closed_at < :e),
                       count(*) FILTER (WHERE i.closed_at >= :s AND i.closed_at < :e
                                        AND i.rating IN ('satisfied', 'basically_satisfied')),
                       count(*) FILTER (WHERE i.closed_at >= :s AND i.closed_at < :e
                                        AND i.rating IS NOT NULL)
                FROM issues i JOIN issue_grids ig ON ig.issue_id = i.id
                JOIN grids g ON g.id = ig.grid_id AND g.level = 1 AND g.kind = 'general'
                WHERE g.code LIKE :town
                """
            ),
            {"s": start, "e": end, "town": town["code"] + "%"},
        ).one()
    assert (town["opened"], town["closed"]) == (opened, closed)
    assert town["satisfaction_rate"] == pytest.approx(satisfied / rated, abs=1e-4)
    assert 0 < town["overdue"] <= town["opened"]
    assert town["median_hours_to_close"] > 0
    assert body["totals"]["opened"] == sum(t["opened"] for t in body["towns"])
    assert sum(g["opened"] for g in body["grids"]) == body["totals"]["opened"]


@pytest.mark.parametrize("area", ["61", "6105"])
def test_a_province_or_city_summary_has_a_row_per_district_counted_from_its_issues(
    client: TestClient, demo: Engine, demo_clock: datetime, area: str
) -> None:
    end = demo_clock
    start = end - timedelta(days=60)
    period = {"start": start.isoformat(), "end": end.isoformat()}
    response = client.get("/analysis/summary", params={**period, "district": area})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["area"] == area
    assert [d["code"] for d in body["districts"]] == [HUAZHOU]
    row = body["districts"][0]
    assert row["name"] == "华州区"
    with Session(demo) as session:
        opened, closed, satisfied, rated, median = session.execute(
            text(
                """
                SELECT count(*) FILTER (WHERE reported_at >= :s AND reported_at < :e),
                       count(*) FILTER (WHERE closed_at >= :s AND closed_at < :e),
                       count(*) FILTER (WHERE closed_at >= :s AND closed_at < :e
                                        AND rating IN ('satisfied', 'basically_satisfied')),
                       count(*) FILTER (WHERE closed_at >= :s AND closed_at < :e
                                        AND rating IS NOT NULL),
                       percentile_cont(0.5) WITHIN GROUP
                         (ORDER BY extract(epoch FROM closed_at - reported_at) / 3600.0)
                         FILTER (WHERE closed_at >= :s AND closed_at < :e)
                FROM issues WHERE district_adcode = :d
                """
            ),
            {"s": start, "e": end, "d": HUAZHOU},
        ).one()
    assert (row["opened"], row["closed"], row["satisfied"], row["rated"]) == (
        opened,
        closed,
        satisfied,
        rated,
    )
    assert opened > 0 and closed > 0
    assert row["median_hours_to_close"] == pytest.approx(median, abs=0.05)
    assert body["totals"]["opened"] == opened
    # the district's own summary counts what its towns' grids hold: never more
    district = client.get("/analysis/summary", params=period).json()
    assert district["totals"]["opened"] <= opened


@pytest.mark.parametrize(("area", "status"), [("62", 404), ("6", 422), ("61x", 422)])
def test_a_summary_of_an_unknown_or_malformed_area_is_refused(
    client: TestClient, demo: Engine, area: str, status: int
) -> None:
    response = client.get("/analysis/summary", params={"district": area})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
