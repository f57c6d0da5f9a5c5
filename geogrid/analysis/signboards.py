"""The signboard (网格信息公示牌) of every current grid: name, code, area, A/B workers with
phones, and who is on duty, for the grids map and its ``/analysis/grids`` data.

Who is on duty is the AB rule of :mod:`geogrid.rules.on_duty`, the same one the signboard,
``/locate``, report routing and the gaps map ask."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from geogrid.analysis.layers import GridRecord, current_grids, feature_collection, require_grids
from geogrid.rules.on_duty import OnDutyAnswer, PostHolder, load_post_holders, post_state

__all__ = ["grid_signboards", "on_duty_text"]


def on_duty_text(answer: OnDutyAnswer) -> str:
    """The map popup's one line for who answers now: the post and name, with the rule's
    Chinese reason whenever it is not simply A.

    >>> from datetime import UTC, datetime
    >>> from geogrid.rules.on_duty import on_duty
    >>> a = PostHolder(1, "张三", "away")
    >>> now = datetime(2026, 5, 5, 9, tzinfo=UTC)
    >>> on_duty_text(on_duty(a, PostHolder(2, "李四", "on_duty"), now=now))
    'B 李四 (A岗外出，B岗代岗)'
    """
    if answer.holder is None:
        return f"无人在岗 ({answer.label_zh})"
    if answer.reason == "a_on_duty":
        return f"A {answer.holder.name}"
    return f"{answer.post} {answer.holder.name} ({answer.label_zh})"


def _person(holder: PostHolder | None, now: datetime) -> str:
    state = post_state(holder, now=now)
    if holder is None or state == "vacant":
        return "—"
    away = " (外出)" if state == "away" else ""
    return f"{holder.name} {holder.phone or ''}{away}".strip()


def grid_signboards(
    session: Session,
    *,
    district_adcode: str,
    levels: tuple[int, ...] = (1, 2, 3),
    now: datetime | None = None,
) -> list[GridRecord]:
    """Current general and dedicated grids of ``levels`` with signboard properties:
    ``area_km2``, ``a_post``, ``b_post`` (name, phone; "—" for a vacant post), ``on_duty``
    (text), ``on_duty_staff_id`` and ``on_duty_code`` (the AB rule's answer at ``now``),
    ``dedicated_type``."""
    grids = current_grids(
        session, district_adcode=district_adcode, levels=levels, kinds=("general", "dedicated")
    )
    require_grids(grids, district_adcode=district_adcode, what="grids")
    now = now or datetime.now(UTC)
    posts = load_post_holders(session, [g.id for g in grids])
    for g in grids:
        answer = posts[g.id].on_duty(now=now)
        g.properties = {
            "area_km2": round(g.area_m2 / 1e6, 3),
            "a_post": _person(posts[g.id].a, now),
            "b_post": _person(posts[g.id].b, now),
            "on_duty": on_duty_text(answer),
            "on_duty_staff_id": answer.holder.staff_id if answer.holder else None,
            "on_duty_code": answer.reason,
            "households": g.households,
            "dedicated_type": g.dedicated_type,
        }
    return grids


def signboards_geojson(grids: list[GridRecord]) -> dict[str, Any]:
    return feature_collection(grids)
