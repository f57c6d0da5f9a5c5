"""Balance of the grids (智能划网's yardstick): households per grid worker before and after the
proposals, the Gini coefficient and the share of grids within the norm band, per community
and per street.

*Before* is today's current general grids of one level. *After* replaces the grids of every
parent that has a draft proposal (the latest one, :mod:`geogrid.grids.proposals`) by the
proposed grids; parents without a draft stay as they are, so a district's "after" is what it
would look like if every pending draft were applied.

Households per worker of a grid is its households over its workers: the active A-post holders
(or unposted grid workers and auxiliaries), as the gaps analysis counts them for ``over_norm``.
A grid with nobody on it still has its one post (一格一员), so it counts one worker: a vacancy
is a post to fill, not an infinitely loaded grid, and the Gini and band share stay defined.
A proposed grid keeps the workers of the grid whose code it keeps; a new grid has its one post.

The band is the households norm ± ``band`` (default 300 ± 30 %), the acceptance band of the
proposals. A community is the level-1 grid above the grids; its street (街道/镇) is the parent
of the community's admin area.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.analysis.gaps import DEFAULT_HOUSEHOLDS_NORM
from geogrid.errors import InvalidInputError
from geogrid.grids.proposals import DEFAULT_BAND, gini

__all__ = ["BalanceGrid", "BalanceUnit", "GridBalance", "drafts_mark", "grid_balance"]

_BEFORE = """
WITH cur AS (
    SELECT g.id, g.code, g.level, g.kind, g.parent_id, g.admin_area_id, v.name, v.households,
           v.geom
    FROM grids g JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL
    WHERE g.district_adcode = :adcode AND g.retired_at IS NULL
),
workers AS (
    SELECT a.grid_id, count(DISTINCT a.staff_id) AS n
    FROM grid_assignments a JOIN staff s ON s.id = a.staff_id AND s.active
    WHERE a.valid_to IS NULL
      AND (a.post = 'A' OR (a.post IS NULL AND s.role IN ('grid_worker', 'auxiliary')))
    GROUP BY a.grid_id
)
SELECT g.code, g.name, coalesce(g.households, 0), coalesce(w.n, 0), p.id, p.code,
       c.code, c.name, t.code, t.name, {geometry}
FROM cur g
JOIN cur p ON p.id = g.parent_id
JOIN cur c ON c.id = CASE WHEN :level = 2 THEN p.id ELSE p.parent_id END
LEFT JOIN admin_areas ca ON ca.id = c.admin_area_id
LEFT JOIN admin_areas t ON t.id = ca.parent_id
LEFT JOIN workers w ON w.grid_id = g.id
WHERE g.kind = 'general' AND g.level = :level
ORDER BY g.code
"""

_DRAFTS = """
SELECT DISTINCT ON (parent_id) parent_id, id, features
FROM grid_proposals
WHERE district_adcode = :adcode AND status = 'draft'
ORDER BY parent_id, created_at DESC, id DESC
"""

_DRAFTS_MARK = """
SELECT coalesce(md5(string_agg(id || ':' || status || ':' || md5(features::text), ','
                               ORDER BY id)), '')
FROM grid_proposals WHERE district_adcode = :adcode AND status = 'draft'
"""


def drafts_mark(session: Session, *, district_adcode: str) -> str:
    """A hash of the district's drafts and their features: the "after" depends on them, and
    the revision counters behind the analysis ETags do not follow proposals (a draft is not a
    boundary until applied, and applying bumps the boundary revision)."""
    return str(session.execute(text(_DRAFTS_MARK), {"adcode": district_adcode}).scalar_one())


@dataclass(slots=True)
class BalanceGrid:
    """One grid before or after: its households, workers (at least its one post) and ratio."""

    code: str | None
    name: str | None
    households: int
    workers: int
    community: str
    street: str | None
    proposal_id: int | None = None
    geometry: dict[str, Any] | None = None

    @property
    def per_worker(self) -> float:
        return self.households / max(self.workers, 1)

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "households": self.households,
            "workers": max(self.workers, 1),
            "households_per_worker": round(self.per_worker, 1),
            "community": self.community,
            "street": self.street,
            "proposal_id": self.proposal_id,
        }


def _figures(grids: Sequence[BalanceGrid], low: float, high: float) -> dict[str, Any]:
    ratios = [g.per_worker for g in grids]
    households = sum(g.households for g in grids)
    workers = sum(max(g.workers, 1) for g in grids)
    return {
        "grids": len(grids),
        "households": households,
        "workers": workers,
        "households_per_worker": round(households / workers, 1) if workers else None,
        "gini": round(gini(ratios), 3),
        "share_in_band": (
            round(sum(low <= r <= high for r in ratios) / len(ratios), 3) if ratios else None
        ),
    }


@dataclass(slots=True)
class BalanceUnit:
    """A community or a street: its figures before and after, and the drafts counted."""

    code: str | None
    name: str | None
    before: dict[str, Any]
    after: dict[str, Any]
    proposals: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "proposals": self.proposals,
            "before": self.before,
            "after": self.after,
        }


@dataclass(slots=True)
class GridBalance:
    """The answer of ``/analysis/balance``: district, communities, streets, and the grids."""

    level: int
    norm: int
    band: float
    district: BalanceUnit
    communities: list[BalanceUnit]
    streets: list[BalanceUnit]
    before: list[BalanceGrid]
    after: list[BalanceGrid]

    def as_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "households_norm": self.norm,
            "band": self.band,
            "band_households": [self.norm * (1 - self.band), self.norm * (1 + self.band)],
            "district": self.district.as_json(),
            "communities": [u.as_json() for u in self.communities],
            "streets": [u.as_json() for u in self.streets],
        }


def _units(
    before: Sequence[BalanceGrid],
    after: Sequence[BalanceGrid],
    key: str,
    names: dict[str, str | None],
    low: float,
    high: float,
) -> list[BalanceUnit]:
    codes = sorted({getattr(g, key) or "" for g in before})
    out = []
    for code in codes:
        b = [g for g in before if (getattr(g, key) or "") == code]
        a = [g for g in after if (getattr(g, key) or "") == code]
        drafts = sorted({g.proposal_id for g in a if g.proposal_id is not None})
        out.append(
            BalanceUnit(
                code or None,
                names.get(code),
                _figures(b, low, high),
                _figures(a, low, high),
                drafts,
            )
        )
    return out


def grid_balance(
    session: Session,
    *,
    district_adcode: str,
    level: int = 2,
    households_norm: int = DEFAULT_HOUSEHOLDS_NORM,
    band: float = DEFAULT_BAND,
    geometry: bool = False,
) -> GridBalance:
    """The balance of the general grids of ``level`` (2 or 3) before and after the drafts.

    ``geometry`` keeps each grid's GeoJSON geometry (for the map), left out of the JSON answer.
    """
    if level not in (2, 3):
        raise InvalidInputError(
            f"Balance is measured on level 2 or 3 grids (those with workers), not {level}.",
            rule="level",
            value=level,
        )
    if households_norm <= 0 or not 0 < band < 1:
        raise InvalidInputError(
            f"households_norm must be positive (got {households_norm}) and band between 0 and "
            f"1 (got {band}).",
            rule="parameters",
        )
    low, high = households_norm * (1 - band), households_norm * (1 + band)
    sql = _BEFORE.format(geometry="ST_AsGeoJSON(g.geom, 7)" if geometry else "NULL")
    params = {"adcode": district_adcode, "level": level}
    before: list[BalanceGrid] = []
    parent_of: dict[int, tuple[str, str | None]] = {}
    workers_of: dict[str, int] = {}
    names: dict[str, dict[str, str | None]] = {"community": {}, "street": {}}
    grid_parent: dict[str, int] = {}
    for code, name, hh, n, pid, _pcode, ccode, cname, scode, sname, geom in session.execute(
        text(sql), params
    ):
        before.append(
            BalanceGrid(
                code, name, int(hh), int(n), ccode, scode, None, json.loads(geom) if geom else None
            )
        )
        parent_of[pid] = (ccode, scode)
        grid_parent[code] = pid
        workers_of[code] = int(n)
        names["community"][ccode] = cname
        names["street"][scode or ""] = sname
    drafts = {
        pid: (proposal_id, features)
        for pid, proposal_id, features in session.execute(text(_DRAFTS), params)
        if pid in parent_of
    }
    after: list[BalanceGrid] = []
    replaced: set[int] = set(drafts)
    for g in before:
        if grid_parent[g.code or ""] not in replaced:
            after.append(g)
    for pid, (proposal_id, features) in sorted(drafts.items()):
        community, street = parent_of[pid]
        for f in features["features"]:
            props = f["properties"]
            kept = props.get("kept_code")
            after.append(
                BalanceGrid(
                    kept,
                    None,
                    int(props["households"]),
                    workers_of.get(kept, 0) if kept else 0,
                    community,
                    street,
                    proposal_id,
                    f["geometry"] if geometry else None,
                )
            )
    district = BalanceUnit(
        district_adcode,
        None,
        _figures(before, low, high),
        _figures(after, low, high),
        sorted(p for p, _ in drafts.values()),
    )
    return GridBalance(
        level,
        households_norm,
        band,
        district,
        _units(before, after, "community", names["community"], low, high),
        _units(before, after, "street", names["street"], low, high),
        before,
        after,
    )
