"""Proposed grids (智能划网): draw balanced child grids of a grid, store them as a draft, and
apply the draft as one all-or-nothing boundary change, or discard it.

The partition itself is :mod:`geogrid.spatial.regions` (PySAL ``spopt`` SKATER on Voronoi
cells of the address registry); this module loads what it needs from the database, keeps the
codes of the children that barely change, stores the draft with its figures, lets an officer
move a vertex, and applies it through the boundary machinery of :mod:`geogrid.grids.restructure`
(with the preconditions of :mod:`geogrid.grids.preconditions`):
new versions for the kept grids, new codes for the new ones, retirement of the others, open
issues re-tagged by location and staff decisions listed (:mod:`geogrid.grids.followups`).

Households weight the addresses: a child grid's households spread evenly over the addresses
inside it (the registry has no per-address count yet); a child with no address spreads its
households over its area, as one weighted point at its centre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import shapely
from shapely.geometry import Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geogrid.analysis.gaps import DEFAULT_HOUSEHOLDS_NORM
from geogrid.errors import ConflictError, InvalidInputError, NotFoundError
from geogrid.grids import drawing, preconditions, restructure
from geogrid.grids import repository as repo
from geogrid.grids.followups import BoundaryChange, end_staff_assignments, settle_by_location
from geogrid.grids.geojson import GridRecord
from geogrid.grids.validation import area_m2, check_polygonal
from geogrid.spatial.partition import as_multipolygon
from geogrid.spatial.regions import (
    Region,
    WeightedPoints,
    balance_share,
    edge_share,
    faces_of,
    kmeans_baseline,
    labels_of,
    polsby_popper,
    propose_regions,
    tessellate,
)
from geogrid.storage.models import GridProposal

__all__ = [
    "DEFAULT_BAND",
    "KEEP_CODE_IOU",
    "ProposalInputs",
    "apply_proposal",
    "discard_proposal",
    "draw",
    "get_proposal",
    "gini",
    "load_inputs",
    "move_feature",
    "propose",
]

#: Households per grid within target ± this share count as balanced (the acceptance band).
DEFAULT_BAND: Final = 0.3
#: A proposed grid keeps the code of the current child it overlaps this much (intersection
#: over union) or more: its staff and history stay attached.
KEEP_CODE_IOU: Final = 0.8
#: Tiling tolerance: gaps and overlaps below this (m²) are floating-point seams.
TILE_TOLERANCE_M2: Final = 1.0


def expect_version(locked: repo.LockedGrid, version: int) -> None:
    """412 unless ``locked`` is still at ``version``: the edits' precondition check
    (:func:`geogrid.grids.preconditions.check_version`)."""
    preconditions.check_version(version, locked)


@dataclass(slots=True)
class ProposalInputs:
    """What a proposal is computed from: the parent, its current children, weighted addresses."""

    parent: GridRecord
    children: list[GridRecord]
    dedicated: list[GridRecord]
    points: WeightedPoints


_ADDRESSES = text(
    "SELECT ST_X(geom), ST_Y(geom) FROM addresses "
    "WHERE district_adcode = :adcode AND ST_Intersects(geom, ST_GeomFromWKB(:wkb, 4326))"
)


def load_inputs(
    session: Session, code: str, *, reach: Sequence[str] | None = None
) -> ProposalInputs:
    """The parent grid, its current general and dedicated children, and the address points
    inside it weighted by the households of the child they fall in."""
    parent = repo.get_current(session, code, reach=reach)
    if parent.kind != "general" or parent.level > 2:
        raise InvalidInputError(
            f"Grid {code} is a level-{parent.level} {parent.kind} grid: proposals divide a "
            "level-1 or level-2 general grid into child grids.",
            rule="level",
        )
    kids = repo.children(session, code)
    general = [k for k in kids if k.kind == "general"]
    dedicated = [k for k in kids if k.kind == "dedicated"]
    rows = session.execute(
        _ADDRESSES, {"adcode": parent.district_adcode, "wkb": shapely.to_wkb(parent.geom)}
    ).all()
    xy = np.array(rows, dtype=float).reshape(-1, 2)
    weights = np.zeros(len(xy))
    extra_xy: list[tuple[float, float]] = []
    extra_w: list[float] = []
    free = np.ones(len(xy), bool)
    for child in general:
        inside = free & shapely.contains_xy(child.geom, xy[:, 0], xy[:, 1]) if len(xy) else free
        free &= ~inside
        households = float(child.households or 0)
        if inside.any():
            weights[inside] = households / inside.sum()
        elif households:
            where = child.geom.representative_point()
            extra_xy.append((where.x, where.y))
            extra_w.append(households)
    if not general and parent.households and len(xy):
        weights[:] = parent.households / len(xy)
    if extra_xy:
        xy = np.vstack([xy, np.array(extra_xy)])
        weights = np.concatenate([weights, np.array(extra_w)])
    return ProposalInputs(parent, general, dedicated, WeightedPoints(xy, weights))


def gini(values: Sequence[float]) -> float:
    """Gini coefficient of ``values`` (0: all equal).

    >>> gini([1, 1, 1, 1])
    0.0
    >>> round(gini([0, 0, 0, 4]), 2)
    0.75
    """
    v = np.sort(np.asarray(values, dtype=float))
    if len(v) == 0 or v.sum() == 0:
        return 0.0
    n = len(v)
    return float((2 * np.arange(1, n + 1) - n - 1).dot(v) / (n * v.sum()))


def _keep_codes(geoms: Sequence[BaseGeometry], children: Sequence[GridRecord]) -> list[str | None]:
    """The code each proposed grid keeps: the child it overlaps at ``KEEP_CODE_IOU`` or more
    (each child at most once, best match first)."""
    pairs = []
    for i, g in enumerate(geoms):
        for c in children:
            if not g.intersects(c.geom):
                continue
            inter = shapely.intersection(g, c.geom).area
            union = shapely.union(g, c.geom).area
            if union and inter / union >= KEEP_CODE_IOU:
                pairs.append((inter / union, i, c.code))
    out: list[str | None] = [None] * len(geoms)
    used: set[str] = set()
    for _, i, code in sorted(pairs, reverse=True):
        if out[i] is None and code not in used:
            out[i] = code
            used.add(code)
    return out


def _feature(
    geom: BaseGeometry,
    households: int,
    *,
    kept: str | None,
    children: Sequence[GridRecord],
    norm: int,
) -> dict[str, Any]:
    multi = as_multipolygon(geom)
    from_codes = sorted(
        c.code for c in children if shapely.intersection(multi, c.geom).area > 1e-12
    )
    return {
        "type": "Feature",
        "geometry": mapping(multi),
        "properties": {
            "households": households,
            "workers_needed": max(1, math.ceil(households / norm)),
            "area_m2": round(area_m2(multi), 1),
            "polsby_popper": round(polsby_popper(multi), 3),
            "parts": len(multi.geoms),
            "kept_code": kept,
            "from": from_codes,
        },
    }


def _figures(
    before: Sequence[int], after: Sequence[int], *, target: float, band: float, norm: int
) -> dict[str, Any]:
    return {
        "target_households": target,
        "band": band,
        "grids_before": len(before),
        "grids_after": len(after),
        "households_before": list(before),
        "households_after": list(after),
        "workers_needed_before": sum(max(1, math.ceil(h / norm)) for h in before),
        "workers_needed_after": sum(max(1, math.ceil(h / norm)) for h in after),
        "share_in_band_before": round(balance_share(before, target, band), 3),
        "share_in_band_after": round(balance_share(after, target, band), 3),
        "gini_before": round(gini(before), 3),
        "gini_after": round(gini(after), 3),
    }


def _households_of(
    geoms: Sequence[BaseGeometry], points: WeightedPoints, total: int | None
) -> list[int]:
    """Whole households per geometry, summing to ``total`` (largest remainders)."""
    from geogrid.spatial.regions import weights_of

    raw = weights_of(list(geoms), points)
    whole = round(float(raw.sum())) if total is None else total
    shares = restructure.apportion(whole, [float(r) for r in raw])
    return [int(s or 0) for s in shares]


def _edges_of(children: Sequence[GridRecord]) -> BaseGeometry | None:
    """The current child grids' edges (lines), or None when there is no child."""
    if not children:
        return None
    return shapely.union_all([c.geom.boundary for c in children])


def _lines_of(lines: BaseGeometry | None, parent: BaseGeometry) -> BaseGeometry | None:
    if lines is None:
        return None
    clipped = shapely.intersection(lines, parent)
    return None if clipped.is_empty else clipped


def draw(
    inputs: ProposalInputs,
    *,
    target: float,
    band: float = DEFAULT_BAND,
    k: int | None = None,
    lines: BaseGeometry | None = None,
    seed: int = 0,
    follow: bool = True,
) -> tuple[list[Polygon], np.ndarray, list[Region]]:
    """The proposed regions of ``inputs`` (no database): the units (address Voronoi cells cut
    along the current child edges, the dedicated grids and ``lines``), their households, and
    the regions :func:`geogrid.spatial.regions.propose_regions` draws from them.

    ``follow`` (default) makes regions end on the current child edges and prefer the lines;
    ``follow=False`` ignores both (to measure what following them gains).
    """
    parent = inputs.parent.geom
    clipped = _lines_of(lines, parent)
    units, weights = tessellate(
        parent,
        inputs.points,
        edges=[c.geom for c in inputs.children] if follow else (),
        keep_whole=[d.geom for d in inputs.dedicated],
        lines=clipped,
    )
    blocks = labels_of(units, [c.geom for c in inputs.children]) if follow else None
    faces = None
    if follow and clipped is not None:
        # with the current edges, so a road ending at a child edge still closes a side
        network = shapely.union_all([clipped, _edges_of(inputs.children) or clipped])
        faces = labels_of(units, faces_of(parent, network))
    regions = propose_regions(
        parent,
        units,
        weights,
        target=target,
        band=band,
        k=k,
        seed=seed,
        blocks=blocks,
        faces=faces,
    )
    return units, weights, regions


def propose(
    session: Session,
    code: str,
    *,
    actor: str,
    now: datetime,
    target_households: int | None = None,
    k: int | None = None,
    lines: BaseGeometry | None = None,
    band: float = DEFAULT_BAND,
    seed: int = 0,
    reach: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Compute a proposal for the children of ``code`` and store it as a draft.

    ``target_households`` defaults to the households norm of the gaps analysis; ``k`` fixes the
    number of grids (region-k-means instead of SKATER); ``lines`` (roads, rivers) cut the cells
    so that grid edges can follow them. Returns the stored draft (:func:`get_proposal`).
    """
    target = target_households or DEFAULT_HOUSEHOLDS_NORM
    if target <= 0 or (k is not None and k < 1) or not 0 < band < 1:
        raise InvalidInputError(
            f"target_households must be positive (got {target}), k at least 1 (got {k}) and "
            f"band between 0 and 1 (got {band}).",
            rule="parameters",
        )
    inputs = load_inputs(session, code, reach=reach)
    parent = inputs.parent
    if not len(inputs.points.xy):
        raise InvalidInputError(
            f"Grid {code} has no address in the registry: import addresses (geogrid addresses "
            "import) so a proposal can weigh households.",
            rule="no_addresses",
        )
    units, _, regions = draw(inputs, target=target, band=band, k=k, lines=lines, seed=seed)
    geoms = [r.geom for r in regions]
    total = parent.households if not inputs.children else None
    if inputs.children and all(c.households is not None for c in inputs.children):
        total = sum(int(c.households or 0) for c in inputs.children)
    households = _households_of(geoms, inputs.points, total)
    kept = _keep_codes(geoms, inputs.children)
    features = [
        _feature(g, h, kept=c, children=inputs.children, norm=target)
        for g, h, c in zip(geoms, households, kept, strict=True)
    ]
    before = [int(c.households or 0) for c in inputs.children]
    baseline = kmeans_baseline(
        parent.geom, inputs.points, max(1, round(sum(households) / target)), seed=seed
    )
    figures = _figures(before, households, target=target, band=band, norm=target)
    figures["share_in_band_kmeans_baseline"] = round(
        balance_share([r.households for r in baseline], target, band), 3
    )
    figures["codes_kept"] = [c for c in kept if c]
    figures["tiling"] = _tiling(parent.geom, geoms)
    figures["grids_for_target"] = max(1, round(sum(households) / target))
    current_edges = _edges_of(inputs.children)
    figures["edges_on_current_share"] = round(edge_share(geoms, parent.geom, current_edges), 3)
    figures["edges_on_current_share_kmeans_baseline"] = round(
        edge_share([r.geom for r in baseline], parent.geom, current_edges), 3
    )
    clipped = _lines_of(lines, parent.geom)
    if clipped is not None:
        figures["edges_on_lines_share"] = round(edge_share(geoms, parent.geom, clipped), 3)
    row = GridProposal(
        district_adcode=parent.district_adcode,
        parent_id=parent.grid_id,
        status="draft",
        created_by=actor,
        created_at=now,
        parameters={
            "target_households": target,
            "k": k,
            "band": band,
            "seed": seed,
            "method": "region-k-means" if k else "skater",
            "lines": lines is not None,
            "units": len(units),
        },
        based_on={c.code: c.current_version for c in inputs.children},
        features={"type": "FeatureCollection", "features": features},
        figures=figures,
    )
    session.add(row)
    session.flush()
    return _as_dict(row, parent.code)


def _tiling(parent: BaseGeometry, geoms: Sequence[BaseGeometry]) -> dict[str, float]:
    """Gap and overlap of ``geoms`` against ``parent``, in m²."""
    union = shapely.union_all(list(geoms))
    overlap = sum(area_m2(g) for g in geoms) - area_m2(union)
    return {
        "gap_m2": round(area_m2(shapely.difference(parent, union)), 3),
        "outside_m2": round(area_m2(shapely.difference(union, parent)), 3),
        "overlap_m2": round(max(overlap, 0.0), 3),
    }


def _as_dict(row: GridProposal, parent_code: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "parent": parent_code,
        "status": row.status,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "parameters": row.parameters,
        "based_on": row.based_on,
        "figures": row.figures,
        "decided_by": row.decided_by,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "outcome": row.outcome,
        "type": "FeatureCollection",
        "features": row.features["features"],
    }


def _load(session: Session, proposal_id: int, *, lock: bool = False) -> tuple[GridProposal, str]:
    stmt = select(GridProposal).where(GridProposal.id == proposal_id)
    row = session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"There is no proposal {proposal_id}.", proposal=proposal_id)
    code = session.execute(
        text("SELECT code FROM grids WHERE id = :id"), {"id": row.parent_id}
    ).scalar_one()
    return row, code


def get_proposal(session: Session, proposal_id: int) -> dict[str, Any]:
    """A stored proposal: parameters, figures, the proposed grids as GeoJSON Features."""
    row, code = _load(session, proposal_id)
    return _as_dict(row, code)


def _draft(session: Session, proposal_id: int) -> tuple[GridProposal, str]:
    row, code = _load(session, proposal_id, lock=True)
    if row.status != "draft":
        raise ConflictError(
            f"Proposal {proposal_id} was {row.status} by {row.decided_by} at "
            f"{row.decided_at.isoformat() if row.decided_at else '?'}: make a new proposal "
            f"(POST /grids/{code}/proposals).",
            proposal=proposal_id,
            proposal_status=row.status,
        )
    return row, code


def move_feature(
    session: Session,
    proposal_id: int,
    index: int,
    geometry: dict[str, Any],
    *,
    actor: str,
) -> dict[str, Any]:
    """Replace the boundary of proposed grid ``index`` (a vertex moved in the editor); its
    neighbours give up or take the ground that changed hands, so the draft still tiles the
    parent; households and figures are recomputed."""
    row, code = _draft(session, proposal_id)
    features = list(row.features["features"])
    if not 0 <= index < len(features):
        raise InvalidInputError(
            f"Proposal {proposal_id} has grids 0 to {len(features) - 1}, not {index}.",
            rule="index",
        )
    inputs = load_inputs(session, code)
    parent = inputs.parent.geom
    try:
        edited = shapely.intersection(check_polygonal(shape(geometry)), parent)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"The geometry of grid {index} is not a GeoJSON Polygon: {exc}.", rule="geometry"
        ) from exc
    geoms: list[BaseGeometry] = [shape(f["geometry"]) for f in features]
    geoms[index] = edited
    for i, g in enumerate(geoms):
        if i != index:
            geoms[i] = shapely.difference(g, edited)
    hole = shapely.difference(parent, shapely.union_all(geoms))
    for piece in as_multipolygon(hole).geoms:
        # ground the moved vertex gave up goes to the neighbour sharing most edge with it
        grown = piece.buffer(1e-7)
        best = max(
            (i for i in range(len(geoms)) if i != index),
            key=lambda i: shapely.intersection(grown, geoms[i]).area,
            default=index,
        )
        geoms[best] = shapely.union(geoms[best], piece)
    if any(as_multipolygon(g).is_empty for g in geoms):
        raise InvalidInputError(
            f"Moving that vertex swallows a whole neighbouring grid of proposal {proposal_id}: "
            "move it less far, or make a proposal with fewer grids (k).",
            rule="swallowed",
        )
    target = int(row.parameters["target_households"])
    total = sum(int(f["properties"]["households"]) for f in features)
    households = _households_of(geoms, inputs.points, total)
    kept = _keep_codes(geoms, inputs.children)
    row.features = {
        "type": "FeatureCollection",
        "features": [
            _feature(g, h, kept=c, children=inputs.children, norm=target)
            for g, h, c in zip(geoms, households, kept, strict=True)
        ],
    }
    before = [int(c.households or 0) for c in inputs.children]
    band = float(row.parameters["band"])
    row.figures = row.figures | _figures(before, households, target=target, band=band, norm=target)
    row.figures = row.figures | {
        "codes_kept": [c for c in kept if c],
        "tiling": _tiling(parent, geoms),
        "edited_by": actor,
    }
    session.flush()
    return _as_dict(row, code)


def discard_proposal(
    session: Session, proposal_id: int, *, actor: str, now: datetime
) -> dict[str, Any]:
    """Mark a draft discarded (kept for the record); nothing else changes."""
    row, code = _draft(session, proposal_id)
    row.status, row.decided_by, row.decided_at = "discarded", actor, now
    session.flush()
    return _as_dict(row, code)


def apply_proposal(
    session: Session,
    proposal_id: int,
    *,
    actor: str,
    reason: str | None = None,
    reach: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Apply a draft as one change (the caller's transaction: all or nothing).

    Refused (412) when a child grid changed since the proposal was made, (409) when children
    were added. Kept codes get a new version, the other current children are retired
    (operation ``split``), the other proposed grids are created with new codes; then every
    open issue in the parent is re-tagged to the grid now at its point and the staff decisions
    (empty posts, who held them) are listed.
    """
    row, code = _draft(session, proposal_id)
    parent = repo.get_current(session, code, reach=reach)
    repo.lock_family(session, district_adcode=parent.district_adcode, parent_code=code)
    current = {c.code: c for c in repo.children(session, code, kind="general")}
    added = sorted(set(current) - set(row.based_on))
    if added:
        raise ConflictError(
            f"Grid(s) {', '.join(added)} appeared under {code} after proposal {proposal_id} "
            "was made: make a new proposal.",
            proposal=proposal_id,
            added=added,
        )
    lockeds = {}
    for child_code, version in sorted(row.based_on.items()):
        locked = repo.lock_grid(session, child_code, family=False)
        if locked.retired_at is not None:
            raise ConflictError(
                f"Grid {child_code} was retired after proposal {proposal_id} was made: make a "
                "new proposal.",
                proposal=proposal_id,
                code=child_code,
            )
        expect_version(locked, int(version))
        lockeds[child_code] = locked
    features = row.features["features"]
    geoms = [as_multipolygon(check_polygonal(shape(f["geometry"]))) for f in features]
    tiling = _tiling(parent.geom, geoms)
    if max(tiling.values()) > TILE_TOLERANCE_M2:
        raise InvalidInputError(
            f"Proposal {proposal_id} does not tile {code}: gap {tiling['gap_m2']} m², overlap "
            f"{tiling['overlap_m2']} m², outside {tiling['outside_m2']} m². Move the vertex "
            "back or make a new proposal.",
            rule="tiling",
            **tiling,
        )
    at = repo.now(session)
    why = reason or f"proposal {proposal_id} for {code}"
    kept_codes = {f["properties"]["kept_code"] for f in features} - {None}
    created: list[GridRecord] = []
    reshaped: list[str] = []
    flags = {
        "households_estimated": True,
        "estimated_from": f"address share, proposal {proposal_id}",
    }
    for feat, geom in zip(features, geoms, strict=True):
        props = feat["properties"]
        fields_households = int(props["households"])
        kept = props["kept_code"]
        if kept:
            old = current[kept]
            fields = drawing.fields_of(old) | {
                "households": fields_households,
                "attributes": dict(old.attributes) | flags,
            }
            repo.add_version(
                session,
                lockeds[kept],
                fields=fields,
                geom=geom,
                area_m2=area_m2(geom),
                actor=actor,
                reason=why,
                at=at,
            )
            reshaped.append(kept)
            continue
        new_code = repo.next_child_code(session, code)
        source = current[props["from"][0]] if props["from"] else None
        fields = {
            "name": f"{parent.name}网格{new_code[-3:]}",
            "dedicated_type": None,
            "estate_type": source.estate_type if source else None,
            "households": fields_households,
            "population": None,
            "attributes": flags | {"proposal": proposal_id},
        }
        repo.insert_grid(
            session,
            code=new_code,
            district_adcode=parent.district_adcode,
            level=parent.level + 1,
            kind="general",
            parent_id=parent.grid_id,
            fields=fields,
            geom=geom,
            area_m2=area_m2(geom),
            actor=actor,
            reason=why,
            valid_from=at,
        )
        created.append(repo.get_current(session, new_code))
    retired = [c for code_, c in sorted(current.items()) if code_ not in kept_codes]
    for old in retired:
        repo.retire_grid(
            session, lockeds[old.code], at=at, actor=actor, reason=why, operation="split"
        )
    decisions = end_staff_assignments(session, BoundaryChange("split", retired, created), at=at)
    retags = settle_by_location(
        session,
        district_adcode=parent.district_adcode,
        area=parent.geom,
        grid_ids=[r.grid_id for r in retired],
        operation="split",
        actor=actor,
        at=at,
    )
    row.status, row.decided_by, row.decided_at = "applied", actor, at
    row.outcome = {
        "kept": sorted(reshaped),
        "created": [c.code for c in created],
        "retired": [r.code for r in retired],
        "retagged_issues": len(retags),
        "retags": retags,
        "staff_decisions": decisions,
        "posts_to_fill": [
            {"grid": d["grid"], "missing_posts": d["missing_posts"]} for d in decisions
        ],
    }
    session.flush()
    return _as_dict(row, code)
