"""The signboard of a grid chosen by code: JSON for apps, a printable card for the office."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session


def _level2_with_posts(db: Session) -> dict[str, str]:
    row = db.execute(
        text(
            """
            SELECT g.code, sa.name AS a_name, sa.phone AS a_phone, sb.name AS b_name
            FROM grids g
            JOIN grid_assignments a ON a.grid_id = g.id AND a.post = 'A' AND a.valid_to IS NULL
            JOIN staff sa ON sa.id = a.staff_id AND sa.availability = 'on_duty'
            JOIN grid_assignments b ON b.grid_id = g.id AND b.post = 'B' AND b.valid_to IS NULL
            JOIN staff sb ON sb.id = b.staff_id
            WHERE g.level = 2 AND g.kind = 'general' AND g.retired_at IS NULL
            ORDER BY g.code LIMIT 1
            """
        )
    ).one()
    return dict(row._mapping)


def test_signboard_json_names_the_posts_and_the_party_branch(
    client: TestClient, db: Session
) -> None:
    grid = _level2_with_posts(db)
    body = client.get(f"/grids/{grid['code']}/signboard").json()
    assert body["grid"]["code"] == grid["code"]
    assert body["post_a"]["name"] == grid["a_name"] and body["post_a"]["phone"] == grid["a_phone"]
    assert body["post_b"]["name"] == grid["b_name"]
    assert body["on_duty"]["name"] == grid["a_name"]
    assert [c["level"] for c in body["chain"]] == [1, 2]
    kinds = {p["kind"] for p in body["party_organisations"]}
    assert kinds == {"branch", "group"}  # the community's branch and the grid's group


def test_signboard_card_is_printable_html(client: TestClient, db: Session) -> None:
    grid = _level2_with_posts(db)
    page = client.get(f"/grids/{grid['code']}/signboard", params={"format": "html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for expected in ("网格信息公示牌", grid["code"], grid["a_name"], grid["a_phone"], "@page"):
        assert expected in page.text


def test_signboard_of_an_unknown_grid_is_404(client: TestClient) -> None:
    answer = client.get("/grids/610503999999999/signboard")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
