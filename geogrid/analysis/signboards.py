"""The signboard (网格信息公示牌) of every current grid: name, code, area, A/B workers with
phones, and who is on duty, for the grids map and its ``/analysis/grids`` data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.analysis.layers import GridRecord, current_grids, feature_collection, require_grids

__all__ = ["grid_signboards", "on_duty"]

_POSTS = """
SELECT a.grid_id, a.post, s.name, s.phone, s.availability
FROM grid_assignments a JOIN staff s ON s.id = a.staff_id AND s.active
JOIN grids g ON g.id = a.grid_id
WHERE a.valid_to IS NULL AND a.post IS NOT NULL AND g.district_adcode = :adcode
"""


def on_duty(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    """Who answers for the grid now: A, or B when A is away (AB岗).

    >>> a = {"name": "张三", "availability": "away"}
    >>> on_duty(a, {"name": "李四", "availability": "on_duty"})
    'B 李四 (A 外出)'
    """
    if a and a["availability"] == "on_duty":
        return f"A {a['name']}"
    if b and b["availability"] == "on_duty":
        return f"B {b['name']} (A 外出)" if a else f"B {b['name']} (无A岗)"
    return "无人在岗"


def _person(p: dict[str, Any] | None) -> str:
    if not p:
        return "—"
    away = "" if p["availability"] == "on_duty" else " (外出)"
    return f"{p['name']} {p['phone'] or ''}{away}".strip()


def grid_signboards(
    session: Session, *, district_adcode: str, levels: tuple[int, ...] = (1, 2, 3)
) -> list[GridRecord]:
    """Current general and dedicated grids of ``levels`` with signboard properties:
    ``area_km2``, ``a_post``, ``b_post`` (name, phone), ``on_duty``, ``dedicated_type``."""
    grids = current_grids(
        session, district_adcode=district_adcode, levels=levels, kinds=("general", "dedicated")
    )
    require_grids(grids, district_adcode=district_adcode, what="grids")
    posts: dict[int, dict[str, dict[str, Any]]] = {}
    for grid_id, post, name, phone, availability in session.execute(
        text(_POSTS), {"adcode": district_adcode}
    ):
        posts.setdefault(grid_id, {})[post] = {
            "name": name,
            "phone": phone,
            "availability": availability,
        }
    for g in grids:
        a, b = posts.get(g.id, {}).get("A"), posts.get(g.id, {}).get("B")
        g.properties = {
            "area_km2": round(g.area_m2 / 1e6, 3),
            "a_post": _person(a),
            "b_post": _person(b),
            "on_duty": on_duty(a, b),
            "households": g.households,
            "dedicated_type": g.dedicated_type,
        }
    return grids


def signboards_geojson(grids: list[GridRecord]) -> dict[str, Any]:
    return feature_collection(grids)
