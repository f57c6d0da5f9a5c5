"""The boundary editor in headless Chromium: pick a parent, draw a grid by clicking on the map,
name it and save it through the grids API; a boundary outside the parent comes back as a 422
marked on the map; a stale edit (412) is explained and reloads.

A proposal (智能划网) loads beside the current grids with its table, a vertex of the draft moves
by dragging its handle, and applying it shows the new grids; the page's writes carry its
session's CSRF token.

The live server commits for real: every grid and proposal the test creates is deleted at the end.
"""

from __future__ import annotations

import math

import httpx
import pytest
import shapely
from shapely.ops import polylabel
from sqlalchemy import Engine, text

from tests import browser
from tests.logins import TEST_PASSWORD, TestLogin

chromium = browser.chromium
chromium_page = browser.chromium_page
live_server = browser.live_server

pytestmark = pytest.mark.browser

NEW_NAME = "测试新网格（编辑器）"
# Expected answers of this test: the page shows them, the browser logs them as failed loads.
EXPECTED_STATUSES = ("HTTP 422", "HTTP 412", "status of 422", "status of 412")


def _empty_level2_parent(engine: Engine) -> tuple[str, shapely.Geometry]:
    """A level-2 grid of 华州街道 with no children: room to draw a level-3 grid in."""
    with engine.connect() as conn:
        code, wkb = conn.execute(
            text(
                "SELECT g.code, ST_AsBinary(v.geom) FROM grids g "
                "JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL "
                "WHERE g.level = 2 AND g.kind = 'general' AND g.retired_at IS NULL "
                "AND g.code LIKE '610503001%' "
                "AND NOT EXISTS (SELECT 1 FROM grids c WHERE c.parent_id = g.id) "
                "ORDER BY v.area_m2 DESC LIMIT 1"
            )
        ).one()
    return code, shapely.from_wkb(bytes(wkb))


def _triangle(
    center: shapely.Point, radius: float, start_deg: float = 90
) -> list[tuple[float, float]]:
    return [
        (
            center.x + radius * math.cos(math.radians(start_deg + k * 120)),
            center.y + radius * math.sin(math.radians(start_deg + k * 120)),
        )
        for k in range(3)
    ]


def _click_polygon(page, vertices: list[tuple[float, float]]) -> None:
    """Click each (lon, lat) on the map, then the first again to close the ring."""
    for lon, lat in [*vertices, vertices[0]]:
        x, y = page.evaluate(
            """([lat, lng]) => {
                const p = geogridEditor.map.latLngToContainerPoint([lat, lng]);
                const r = document.getElementById('map').getBoundingClientRect();
                return [p.x + r.left, p.y + r.top];
            }""",
            [lat, lon],
        )
        page.mouse.click(x, y)
        page.wait_for_timeout(150)


def _wait_state(page, *states: str) -> str:
    selector = ", ".join(f'body[data-state="{s}"]' for s in states)
    page.wait_for_selector(selector, timeout=20_000)
    return page.evaluate("document.body.dataset.state")


def _delete_children(engine: Engine, parent: str) -> None:
    with engine.begin() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT c.id FROM grids c JOIN grids p ON p.id = c.parent_id WHERE p.code = :p"
                ),
                {"p": parent},
            )
        ]
        if ids:
            conn.execute(text("DELETE FROM grid_versions WHERE grid_id = ANY(:ids)"), {"ids": ids})
            conn.execute(text("DELETE FROM grids WHERE id = ANY(:ids)"), {"ids": ids})


def _log_in(page, live_server: browser.LiveServer, login: TestLogin) -> None:
    """Log in on the login page and land on the editor: a session cookie and its CSRF token."""
    page.goto(live_server.url("/login?next=/editor"))
    page.fill("#username", login.username)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url("/editor"))


def test_draw_save_reject_and_stale_edit(
    demo: Engine,
    live_server: browser.LiveServer,
    chromium_page: browser.WatchedPage,
    logins: dict[str, TestLogin],
    admin_headers: dict[str, str],
) -> None:
    page = chromium_page.page
    parent, parent_geom = _empty_level2_parent(demo)
    center = polylabel(parent_geom.geoms[0] if hasattr(parent_geom, "geoms") else parent_geom, 1e-6)
    inradius = parent_geom.boundary.distance(center)
    try:
        _log_in(page, live_server, logins["admin"])
        _wait_state(page, "parents")
        assert page.inner_text("h1") == "网格边界编辑"
        page.fill("#parent-search", parent)
        page.select_option("#parent", parent)
        _wait_state(page, "ready")
        assert parent in page.inner_text("#parent-info")

        # 1. Draw a triangle well inside the parent, name it, save it.
        page.click("#draw")
        _wait_state(page, "drawing")
        _click_polygon(page, _triangle(center, inradius * 0.5))
        _wait_state(page, "drawn")
        page.fill("#name", NEW_NAME)
        page.fill("#households", "120")
        page.click("#save")
        state = _wait_state(page, "saved", "rejected")
        assert state == "saved", page.inner_text("#message")
        assert NEW_NAME in page.inner_text("#message")

        listed = httpx.get(live_server.url("/grids"), params={"parent": parent}).json()
        created = [f for f in listed["features"] if f["properties"]["name"] == NEW_NAME]
        assert len(created) == 1, listed
        new_code = created[0]["properties"]["code"]
        assert new_code.startswith(parent) and created[0]["properties"]["households"] == 120
        drawn = shapely.geometry.shape(created[0]["geometry"])
        assert drawn.within(parent_geom) and drawn.area > 0.1 * math.pi * (inradius * 0.5) ** 2 / 2

        # 2. A boundary reaching out of the parent: refused, and the fault is marked on the map.
        minx, miny, maxx, maxy = parent_geom.bounds
        outside = [
            (center.x, center.y - inradius * 0.6),
            (maxx + (maxx - minx) * 0.15, center.y - inradius * 0.6),
            (maxx + (maxx - minx) * 0.15, miny - (maxy - miny) * 0.1),
        ]
        # Zoom out one step so the points outside the parent are on screen.
        page.evaluate(
            "geogridEditor.map.setZoom(geogridEditor.map.getZoom() - 1, {animate: false})"
        )
        page.click("#draw")
        _wait_state(page, "drawing")
        _click_polygon(page, outside)
        _wait_state(page, "drawn")
        page.fill("#name", "越界网格")
        page.click("#save")
        assert _wait_state(page, "saved", "rejected") == "rejected"
        assert "未保存（422）" in page.inner_text("#message")
        page.wait_for_selector(".leaflet-marker-icon")
        assert page.locator(".fault-popup").count() >= 1
        page.click("#cancel")

        # 3. A stale edit: someone else saves the grid while it is open here.
        page.evaluate(
            """(code) => geogridEditor.children.eachLayer(
                (layer) => { if (layer.feature.properties.code === code) layer.fire('click'); })""",
            new_code,
        )
        _wait_state(page, "editing")
        assert page.input_value("#name") == NEW_NAME
        current = httpx.get(live_server.url(f"/grids/{new_code}"))
        other = httpx.patch(
            live_server.url(f"/grids/{new_code}"),
            json={"type": "Feature", "properties": {"name": "别人改的名字"}},
            headers={
                **admin_headers,
                "If-Match": current.headers["ETag"],
                "X-Actor": "someone-else",
            },
        )
        assert other.status_code == 200, other.text
        page.fill("#name", "我改的名字")
        page.click("#save")
        assert _wait_state(page, "saved", "rejected", "stale") == "stale"
        assert "已被他人修改" in page.inner_text("#message")
        page.click("#reload")
        _wait_state(page, "editing")
        assert page.input_value("#name") == "别人改的名字"
        assert "第 2 版" in page.inner_text("#message")
        page.fill("#name", "我改的名字")
        page.click("#save")
        assert _wait_state(page, "saved", "rejected", "stale") == "saved"
        final = httpx.get(live_server.url(f"/grids/{new_code}")).json()
        assert (final["properties"]["name"], final["properties"]["version"]) == ("我改的名字", 3)

        unexpected = [
            p for p in chromium_page.problems() if not any(s in p for s in EXPECTED_STATUSES)
        ]
        assert not unexpected, unexpected
    finally:
        _delete_children(demo, parent)


def _proposal_parent(engine: Engine) -> str:
    """A level-2 grid with no children, households, addresses and no open issue: a proposal
    there creates level-3 grids only and re-tags nothing (only open issues are re-tagged), so
    the test can remove them afterwards without a trace on issues or staff. Not the grid the drawing test uses (the largest)."""
    with engine.connect() as conn:
        return str(
            conn.execute(
                text(
                    "SELECT g.code FROM grids g "
                    "JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL "
                    "WHERE g.level = 2 AND g.kind = 'general' AND g.retired_at IS NULL "
                    "AND v.households > 300 "
                    "AND NOT EXISTS (SELECT 1 FROM grids c WHERE c.parent_id = g.id) "
                    "AND NOT EXISTS (SELECT 1 FROM issues i WHERE ST_Intersects(i.geom, v.geom) "
                    "AND i.status NOT IN ('closed', 'rejected', 'duplicate')) "
                    "AND (SELECT count(*) FROM addresses a WHERE ST_Intersects(a.geom, v.geom))"
                    " >= 20 "
                    "ORDER BY v.area_m2 LIMIT 1"
                )
            ).scalar_one()
        )


def _remove_proposal_and_children(engine: Engine, parent: str) -> None:
    with engine.begin() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT c.id FROM grids c JOIN grids p ON p.id = c.parent_id WHERE p.code = :p"
                ),
                {"p": parent},
            )
        ]
        if ids:
            for table in ("grid_activity", "issue_grids", "grid_assignments", "grid_retirements"):
                conn.execute(text(f"DELETE FROM {table} WHERE grid_id = ANY(:ids)"), {"ids": ids})
        conn.execute(
            text(
                "DELETE FROM grid_proposals WHERE parent_id = (SELECT id FROM grids WHERE code = :p)"
            ),
            {"p": parent},
        )
    _delete_children(engine, parent)


def _screen(page, lon: float, lat: float) -> tuple[float, float]:
    x, y = page.evaluate(
        """([lat, lng]) => {
            const p = geogridEditor.map.latLngToContainerPoint([lat, lng]);
            const r = document.getElementById('map').getBoundingClientRect();
            return [p.x + r.left, p.y + r.top];
        }""",
        [lat, lon],
    )
    return x, y


def test_load_move_a_vertex_and_apply_a_proposal(
    demo: Engine,
    live_server: browser.LiveServer,
    chromium_page: browser.WatchedPage,
    logins: dict[str, TestLogin],
    admin_headers: dict[str, str],
) -> None:
    page = chromium_page.page
    parent = _proposal_parent(demo)
    try:
        made = httpx.post(
            live_server.url(f"/grids/{parent}/proposals"),
            params={"k": 2},
            headers={**admin_headers, "X-Actor": "test"},
            timeout=120,
        )
        assert made.status_code == 201, made.text
        proposal = made.json()
        assert len(proposal["features"]) == 2

        _log_in(page, live_server, logins["admin"])
        _wait_state(page, "parents")

        # 1. Load the proposal: its grids beside the current ones, with the table.
        page.fill("#proposal-id", str(proposal["id"]))
        page.click("#proposal-load")
        _wait_state(page, "proposal")
        assert parent in page.inner_text("#parent-info")
        table = page.inner_text("#proposal-figures")
        assert "所需网格员" in table and "各网格户数" in table
        after = "、".join(str(h) for h in proposal["figures"]["households_after"])
        assert after in table
        assert page.inner_text("#proposal-kept").startswith("保留编码")
        assert page.evaluate("geogridEditor.proposal.layer.getLayers().length") == 2

        # 2. Move the vertex of grid 0 farthest from the parent's edge (an inner vertex shared
        # with grid 1) by dragging its handle, and save it.
        parent_geom = shapely.geometry.shape(
            httpx.get(live_server.url(f"/grids/{parent}")).json()["geometry"]
        )
        grid0 = shapely.geometry.shape(proposal["features"][0]["geometry"])
        ring = list(grid0.geoms[0].exterior.coords)[:-1]
        lon, lat = max(ring, key=lambda c: parent_geom.boundary.distance(shapely.Point(c)))
        page.evaluate(
            "geogridEditor.proposal.layer.getLayers().find((l) => l.proposalIndex === 0)"
            ".fire('click')"
        )
        _wait_state(page, "proposal-editing")
        x, y = _screen(page, lon, lat)
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 8, y + 6, steps=5)
        page.mouse.up()
        page.click("#proposal-save")
        state = _wait_state(page, "proposal-saved", "rejected")
        assert state == "proposal-saved", page.inner_text("#message")
        moved = httpx.get(
            live_server.url(f"/proposals/{proposal['id']}"), headers=admin_headers
        ).json()
        assert moved["features"][0]["geometry"] != proposal["features"][0]["geometry"]
        assert max(moved["figures"]["tiling"].values()) <= 1.0

        # 3. Apply it: the map now shows the new grids under the parent.
        page.click("#proposal-apply")
        state = _wait_state(page, "applied", "rejected")
        assert state == "applied", page.inner_text("#message")
        listed = httpx.get(live_server.url("/grids"), params={"parent": parent}).json()
        codes = sorted(f["properties"]["code"] for f in listed["features"])
        assert len(codes) == 2 and all(c.startswith(parent) for c in codes)
        shown = page.evaluate(
            "geogridEditor.children.getLayers().map((l) => l.feature.properties.code).sort()"
        )
        assert shown == codes
        new_geom = shapely.union_all(
            [shapely.geometry.shape(f["geometry"]) for f in listed["features"]]
        )
        assert abs(new_geom.area - parent_geom.area) < 1e-9
        assert str(len(codes)) in page.inner_text("#parent-info")
        chromium_page.assert_clean()
    finally:
        _remove_proposal_and_children(demo, parent)
