"""The signboard (网格信息公示牌) of a grid: what the public card on the wall says.

Name, code and area of the grid; the A and B post workers with role and public work phone; who
answers *now* (B covers when A is away: 有事找B岗); the other members (grid chief, auxiliaries);
the party branch (level 1) or group (level 2) of the grid and of the grids above it.

Everything for every grid of one answer comes from **one** query, which also returns the
district's boundary revision, so the in-memory index is validated in the same round trip
(:mod:`geogrid.locate.chain`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.locate.index import revision_token
from geogrid.locate.types import GridRef
from geogrid.rules.on_duty import REASONS, PostHolder, answer_changes_at, on_duty

__all__ = [
    "PartyOrgRef",
    "Signboard",
    "SignboardData",
    "StaffCard",
    "build_signboard",
    "fetch_district_signboard_data",
    "fetch_signboard_data",
    "on_duty_changes_at",
]

ROLE_LABELS = {
    "grid_chief": "网格长",
    "grid_worker": "网格员",
    "dedicated_worker": "专属网格员",
    "auxiliary": "辅助网格员",
}


@dataclass(frozen=True)
class StaffCard:
    """A person on a signboard. ``phone`` is the public work phone (staff.phone)."""

    staff_id: int
    name: str
    role: str
    role_label: str
    post: str | None
    phone: str | None
    availability: str
    away_until: datetime | None


@dataclass(frozen=True)
class PartyOrgRef:
    """网格党支部 (``branch``) or 党小组 (``group``), with the grid it belongs to."""

    name: str
    kind: str
    secretary: str | None
    grid_code: str


@dataclass(frozen=True)
class Signboard:
    """The public card of one grid. ``on_duty_code`` is the reason code of
    :func:`geogrid.rules.on_duty.on_duty` (stable, for clients to branch on);
    ``on_duty_reason`` and ``on_duty_label`` are its English and Chinese labels."""

    grid: GridRef
    post_a: StaffCard | None
    post_b: StaffCard | None
    on_duty: StaffCard | None
    on_duty_reason: str
    on_duty_code: str
    on_duty_label: str
    members: list[StaffCard] = field(default_factory=list)
    party_organisations: list[PartyOrgRef] = field(default_factory=list)


@dataclass(frozen=True)
class SignboardData:
    """Raw rows of one signboard query, keyed by grid id."""

    revision: str
    staff: dict[int, list[dict[str, Any]]]
    party: dict[int, list[dict[str, Any]]]


_DISTRICT_GRIDS = "IN (SELECT id FROM grids WHERE district_adcode = :d)"


def _query(at: datetime | None, *, district_wide: bool = False) -> Any:
    validity = (
        "a.valid_to IS NULL"
        if at is None
        else "a.valid_from <= :at AND (a.valid_to IS NULL OR a.valid_to > :at)"
    )
    staff_grids = _DISTRICT_GRIDS if district_wide else "= ANY(:staff_grids)"
    party_grids = _DISTRICT_GRIDS if district_wide else "= ANY(:party_grids)"
    return text(
        f"""
        SELECT
          (SELECT revision FROM boundary_revisions WHERE district_adcode = :d) AS revision,
          (SELECT changed_at FROM boundary_revisions WHERE district_adcode = :d) AS changed_at,
          (SELECT coalesce(json_agg(json_build_object(
                'grid_id', a.grid_id, 'staff_id', s.id, 'name', s.name, 'role', s.role,
                'post', a.post, 'phone', s.phone, 'availability', s.availability,
                'away_until', s.away_until, 'active', s.active)
              ORDER BY a.grid_id, a.post NULLS LAST, s.role, s.name, s.id), '[]'::json)
           FROM grid_assignments a JOIN staff s ON s.id = a.staff_id
           WHERE a.grid_id {staff_grids} AND {validity}) AS staff,
          (SELECT coalesce(json_agg(json_build_object(
                'grid_id', p.grid_id, 'name', p.name, 'kind', p.kind, 'secretary', p.secretary)
              ORDER BY p.grid_id, p.kind, p.name), '[]'::json)
           FROM party_organisations p WHERE p.grid_id {party_grids}) AS party
        """
    )


def fetch_signboard_data(
    session: Session,
    *,
    district_adcode: str,
    staff_grid_ids: Sequence[int],
    party_grid_ids: Sequence[int],
    at: datetime | None = None,
) -> SignboardData:
    """Staff of ``staff_grid_ids`` (current, or valid at ``at``), party organisations of
    ``party_grid_ids`` and the district's boundary revision, in one round trip."""
    params: dict[str, Any] = {
        "d": district_adcode,
        "staff_grids": list(staff_grid_ids),
        "party_grids": list(party_grid_ids),
    }
    if at is not None:
        params["at"] = at
    return _data(session.execute(_query(at), params).one())


def fetch_district_signboard_data(session: Session, *, district_adcode: str) -> SignboardData:
    """Current staff and party organisations of *every* grid of a district, in one query
    (a few thousand rows): what the live locator keeps in memory per staff revision. Same
    rows, same order per grid as :func:`fetch_signboard_data`, so signboards are identical."""
    row = session.execute(_query(None, district_wide=True), {"d": district_adcode}).one()
    return _data(row)


def _data(row: Any) -> SignboardData:
    staff: dict[int, list[dict[str, Any]]] = {}
    for item in _as_list(row.staff):
        staff.setdefault(int(item["grid_id"]), []).append(item)
    party: dict[int, list[dict[str, Any]]] = {}
    for item in _as_list(row.party):
        party.setdefault(int(item["grid_id"]), []).append(item)
    return SignboardData(
        revision=revision_token(row.revision, row.changed_at), staff=staff, party=party
    )


def _as_list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or [])


def _away_until(item: dict[str, Any]) -> datetime | None:
    """``away_until`` of a staff row (JSON from the query gives it as an ISO string)."""
    away = item.get("away_until")
    return datetime.fromisoformat(away) if isinstance(away, str) else away


def _card(item: dict[str, Any]) -> StaffCard:
    return StaffCard(
        staff_id=int(item["staff_id"]),
        name=item["name"],
        role=item["role"],
        role_label=ROLE_LABELS.get(item["role"], item["role"]),
        post=item.get("post"),
        phone=item.get("phone"),
        availability=item["availability"],
        away_until=_away_until(item),
    )


def _holder(item: dict[str, Any]) -> PostHolder:
    return PostHolder(
        staff_id=int(item["staff_id"]),
        name=item["name"],
        availability=item["availability"],
        away_until=_away_until(item),
        active=bool(item.get("active", True)),
        phone=item.get("phone"),
    )


def _post_holders(items: list[dict[str, Any]]) -> tuple[PostHolder | None, PostHolder | None]:
    a = next((_holder(i) for i in items if i.get("post") == "A"), None)
    b = next((_holder(i) for i in items if i.get("post") == "B"), None)
    return a, b


def on_duty_changes_at(
    data: SignboardData, grid_ids: Sequence[int], now: datetime
) -> datetime | None:
    """The next moment a signboard of ``grid_ids`` built at ``now`` may change by itself
    (:func:`geogrid.rules.on_duty.answer_changes_at` over their A and B posts). None: not
    before the data changes. Cached signboards expire then."""
    holders = [h for grid_id in grid_ids for h in _post_holders(data.staff.get(grid_id, []))]
    return answer_changes_at(holders, now=now)


def build_signboard(
    grid: GridRef,
    data: SignboardData,
    *,
    party_chain: Sequence[GridRef] = (),
    at: datetime | None = None,
    now: datetime | None = None,
) -> Signboard:
    """The signboard of ``grid`` from fetched rows.

    Who is on duty is :func:`geogrid.rules.on_duty.on_duty` at ``now`` (A, or B when A is
    away). Staff whose record is inactive are not on the card: they no longer hold their post.
    For a past date (``at``) availability is not recorded historically, so the card shows who
    held the posts then and names nobody on duty.
    """
    items = data.staff.get(grid.id, [])
    party: list[PartyOrgRef] = []
    grids = list(party_chain) if grid in party_chain else [*party_chain, grid]
    for g in grids:
        for item in data.party.get(g.id, []):
            party.append(PartyOrgRef(item["name"], item["kind"], item.get("secretary"), g.code))
    if at is not None:
        cards = [_card(item) for item in items]
        zh, en = REASONS["not_recorded"]
        return Signboard(
            grid,
            next((c for c in cards if c.post == "A"), None),
            next((c for c in cards if c.post == "B"), None),
            None,
            en,
            "not_recorded",
            zh,
            [c for c in cards if c.post is None],
            party,
        )
    cards = [_card(item) for item in items if item.get("active", True)]
    post_a = next((c for c in cards if c.post == "A"), None)
    post_b = next((c for c in cards if c.post == "B"), None)
    answer = on_duty(*_post_holders(items), now=now or datetime.now(UTC))
    duty = {"A": post_a, "B": post_b}.get(answer.post) if answer.post else None
    members = [c for c in cards if c.post is None]
    return Signboard(
        grid,
        post_a,
        post_b,
        duty,
        answer.label_en,
        answer.reason,
        answer.label_zh,
        members,
        party,
    )
