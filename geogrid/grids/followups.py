"""What follows a boundary change: open issues re-tagged by location, staff assignments ended.

A split, merge, retirement or restore changes which grid covers a point; what hangs on the old
grids must follow. The edit (:mod:`geogrid.grids.lifecycle`, :mod:`geogrid.grids.restructure`)
describes the change once, as a :class:`BoundaryChange` (the grids that left force, the grids
that came in), and calls :func:`follow` after writing the boundaries, in the same transaction:

- :func:`retag_open_issues`: open issues move to the grid now at their point (split/merge: the
  new grid nearest them; retire: the deepest current general grid, or the district queue when
  none covers them; restore: back from the grids above the restored one). Closed issues keep
  the grid they were handled in: that is their history. Each move is a ``retag`` event.
- :func:`end_staff_assignments`: assignments on grids that left force end (who works where
  next is a human decision) and come back as decisions to make. A restore re-assigns nobody.

When a re-tagged issue is reassigned, its worker comes from
:func:`geogrid.issues.routing.on_duty_post`, the one place that assigns an issue to a worker
(intake, :mod:`geogrid.issues.intake`, uses it too).

Every operation plans its moves with its own query and writes them through one writer, so an
issue's grid, its tags, its event and its ``row_version`` change the same way whatever the edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from geogrid.grids import repository as repo
from geogrid.grids.geojson import GridRecord
from geogrid.issues.routing import Assignment, on_duty_post
from geogrid.rules.covering import deepest_first_sql, deepest_general
from geogrid.rules.in_force import in_force_sql
from geogrid.storage.models import Grid, GridAssignment

__all__ = [
    "CLOSED_ISSUE_STATUSES",
    "BoundaryChange",
    "FollowUp",
    "MisplacedIssue",
    "end_staff_assignments",
    "follow",
    "misplaced_open_issues",
    "retag_open_issues",
    "settle_by_location",
]

#: Issues in these states stay with the grid they were handled in.
CLOSED_ISSUE_STATUSES: Final = ("closed", "rejected", "duplicate")

Operation = Literal["split", "merge", "retire", "restore", "reshape", "create", "import"]
_POSTS: Final = ("A", "B")


@dataclass(frozen=True, slots=True)
class BoundaryChange:
    """One boundary edit as its consequences see it.

    ``retired``: the grids that left force (as they were just before); ``created``: the grids
    that came in (split pieces, the merged grid, a restored grid).
    """

    operation: Operation
    retired: Sequence[GridRecord] = ()
    created: Sequence[GridRecord] = ()


@dataclass(slots=True)
class FollowUp:
    """What followed: the issues re-tagged (one dict each, as in the ``retag`` event's data, with
    the issue id) and the staff decisions to make."""

    retagged: list[dict[str, Any]]
    staff_decisions: list[dict[str, Any]]


def follow(session: Session, change: BoundaryChange, *, actor: str, at: Any) -> FollowUp:
    """Re-tag the open issues, then end the staff assignments, of one boundary change."""
    retagged = retag_open_issues(session, change, actor=actor, at=at)
    return FollowUp(retagged, end_staff_assignments(session, change, at=at))


# -- issues ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Retag:
    """One issue's move. ``drop``: grid ids whose tag it loses; ``tag``: (grid id, version) it
    gains; ``assign``: its grid becomes ``tag`` ("move") or the district queue ("queue")."""

    issue: int
    status: str
    note: str
    data: dict[str, Any]
    drop: list[int]
    tag: tuple[int, int] | None = None
    assign: Literal["move", "queue"] | None = None
    more_tags: list[tuple[int, int]] = field(default_factory=list)


def retag_open_issues(
    session: Session, change: BoundaryChange, *, actor: str, at: Any
) -> list[dict[str, Any]]:
    """Move the open issues a boundary change concerns to the grid now at their point, with a
    ``retag`` event each; returns the moves (issue id, from, to, operation...)."""
    if change.operation in ("split", "merge"):
        retags = _plan_restructure(session, change)
    elif change.operation == "retire":
        retags = [r for old in change.retired for r in _plan_retirement(session, old)]
    else:
        retags = [r for grid in change.created for r in _plan_restore(session, grid)]
    _write(session, retags, actor=actor, at=at)
    return [{"issue": r.issue, **r.data} for r in retags]


_OPEN_ISSUES_BY_LOCATION = text(
    f"""
    SELECT i.id, i.status, i.grid_id, og.code AS old_code,
           ARRAY(SELECT ig.grid_id FROM issue_grids ig WHERE ig.issue_id = i.id) AS tagged,
           c.ids, c.versions, c.codes, c.levels, c.kinds
    FROM issues i
    LEFT JOIN grids og ON og.id = i.grid_id
    CROSS JOIN LATERAL (
        SELECT array_agg(g.id) AS ids, array_agg(g.current_version) AS versions,
               array_agg(g.code) AS codes, array_agg(g.level) AS levels,
               array_agg(g.kind) AS kinds
        FROM grids g JOIN grid_versions v ON v.grid_id = g.id
        WHERE {in_force_sql(None, version="v")} AND ST_Covers(v.geom, i.geom)
    ) c
    WHERE i.status <> ALL(:closed)
      AND (CAST(:district AS text) IS NULL OR i.district_adcode = :district)
      AND (CAST(:wkb AS bytea) IS NULL
           OR ST_Intersects(i.geom, ST_GeomFromWKB(CAST(:wkb AS bytea), 4326))
           OR i.grid_id = ANY(:grids)
           OR EXISTS (SELECT 1 FROM issue_grids ig
                      WHERE ig.issue_id = i.id AND ig.grid_id = ANY(:grids)))
    ORDER BY i.id
    """
)


class _Candidate(NamedTuple):
    """A grid covering an issue's point, as the covering rule reads it."""

    id: int
    level: int
    code: str
    kind: str


@dataclass(frozen=True, slots=True)
class MisplacedIssue:
    """An open issue whose grid or tags are not what its point says today.

    ``reason``: ``grid`` (its grid is retired, no longer covers the point, or is not the
    deepest grid there), ``queue`` (in the district queue though a grid covers the point),
    ``tags`` (only its list of covering grids is off)."""

    issue: int
    status: str
    reason: str
    grid: str | None
    expected: str | None


def misplaced_open_issues(
    session: Session,
    *,
    district_adcode: str | None = None,
    area: BaseGeometry | None = None,
    grid_ids: Sequence[int] = (),
) -> list[MisplacedIssue]:
    """Open issues (of a district, in an area or tagged to ``grid_ids``; by default all) whose
    grid is not the deepest current general grid at their point, or whose tags are not the
    current grids covering it: the safety net behind the re-tagging of boundary changes."""
    return [m for m, _ in _plan_by_location(session, district_adcode, area, grid_ids, "check")]


def _plan_by_location(
    session: Session,
    district_adcode: str | None,
    area: BaseGeometry | None,
    grid_ids: Sequence[int],
    operation: str,
) -> list[tuple[MisplacedIssue, _Retag]]:
    # a short query: compiling it (JIT) would cost more than it saves
    session.execute(text("SET LOCAL jit = off"))
    rows = session.execute(
        _OPEN_ISSUES_BY_LOCATION,
        {
            "closed": list(CLOSED_ISSUE_STATUSES),
            "district": district_adcode,
            "wkb": None if area is None else shapely.to_wkb(area),
            "grids": list(grid_ids),
        },
    ).all()
    out = []
    for r in rows:
        ids, versions = r.ids or [], r.versions or []
        tagged, covering = set(r.tagged), set(ids)
        version_of = dict(zip(ids, versions, strict=True))
        winner = deepest_general(
            _Candidate(grid_id, level, code, kind)
            for grid_id, level, code, kind in zip(
                ids, r.levels or [], r.codes or [], r.kinds or [], strict=True
            )
        )
        new_id = winner.id if winner else None
        new_code = winner.code if winner else None
        moved = r.grid_id != new_id
        if not moved and tagged == covering:
            continue
        reason = "tags" if not moved else ("queue" if r.grid_id is None else "grid")
        data: dict[str, Any] = {"from": r.old_code, "to": new_code, "operation": operation}
        if not moved:
            note = f"tags of the issue follow the grids at its point ({operation})"
        elif new_id is None:
            note = f"no current grid covers the point: sent to the district queue ({operation})"
            data["district_queue"] = True
        else:
            note = f"grid {r.old_code or 'district queue'} → {new_code} ({operation})"
        retag = _Retag(
            issue=r.id,
            status=r.status,
            note=note,
            data=data,
            drop=sorted(tagged - covering),
            assign=None if not moved else ("queue" if new_id is None else "move"),
        )
        add = sorted(covering - tagged)
        if moved and new_id is not None:
            retag.tag = (new_id, version_of[new_id])
            add = [g for g in add if g != new_id]
        retag.more_tags = [(g, version_of[g]) for g in add]
        out.append((MisplacedIssue(r.id, r.status, reason, r.old_code, new_code), retag))
    return out


def settle_by_location(
    session: Session,
    *,
    district_adcode: str | None,
    area: BaseGeometry | None,
    grid_ids: Sequence[int] = (),
    operation: Operation | Literal["check-tags"],
    actor: str,
    at: Any,
) -> list[dict[str, Any]]:
    """Re-tag every open issue of ``area`` (or tagged to ``grid_ids``) that the boundaries now
    place elsewhere: its grid becomes the deepest current general grid at its point (or the
    district queue), its tags the grids covering it, and whoever is on duty there takes it;
    each move is a ``retag`` event. What a moved edge or a new grid needs, and what
    ``geogrid issues check-tags --fix`` does."""
    plan = _plan_by_location(session, district_adcode, area, grid_ids, operation)
    retags = [r for _, r in plan]
    _write(session, retags, actor=actor, at=at)
    return [{"issue": r.issue, **r.data} for r in retags]


_DROP_TAGS = text("DELETE FROM issue_grids WHERE issue_id = :issue AND grid_id = ANY(:drop)")
_ADD_TAG = text(
    "INSERT INTO issue_grids (issue_id, grid_id, grid_version) VALUES (:issue, :new, :ver) "
    "ON CONFLICT DO NOTHING"
)
# A moved issue goes to whoever is on duty on its new grid (nobody when the grid has no post
# yet: the routing note says so and the office's queue shows it); a queued one to nobody.
_MOVE = text(
    "UPDATE issues SET grid_id = :new, grid_version = :ver, assignee_staff_id = :assignee, "
    "routing_note = :routing_note, updated_at = :at, "
    "row_version = row_version + 1 WHERE id = :issue"
)
_QUEUE = text(
    "UPDATE issues SET grid_id = NULL, grid_version = NULL, assignee_staff_id = NULL, "
    "handling_level = 'district', routing_note = :note, updated_at = :at, "
    "row_version = row_version + 1 WHERE id = :issue"
)
_EVENT = text(
    "INSERT INTO issue_events (issue_id, at, actor, kind, from_status, to_status, note, data) "
    "VALUES (:issue, :at, :actor, 'retag', :status, :status, :note, :data)"
).bindparams(bindparam("data", type_=JSONB))


def _write(session: Session, retags: Sequence[_Retag], *, actor: str, at: Any) -> None:
    """The one writer of issue moves: tags dropped, tags added, grids set, events recorded."""
    params = [
        {
            "issue": r.issue,
            "status": r.status,
            "note": r.note,
            "data": r.data,
            "drop": r.drop,
            "new": r.tag[0] if r.tag else None,
            "ver": r.tag[1] if r.tag else None,
            "at": at,
            "actor": actor,
        }
        for r in retags
    ]
    duty: dict[int, Assignment] = {}
    for p, r in zip(params, retags, strict=True):
        if r.assign == "move" and r.tag is not None:
            grid_id = r.tag[0]
            if grid_id not in duty:
                duty[grid_id] = on_duty_post(session, grid_id, now=at)
            post = duty[grid_id]
            p |= {"assignee": post.staff_id, "routing_note": post.note}
            r.data["assignee_staff_id"] = post.staff_id
        elif r.assign == "queue":
            r.data["assignee_staff_id"] = None
    extra = [{"issue": r.issue, "new": gid, "ver": ver} for r in retags for gid, ver in r.more_tags]
    steps = [
        (_DROP_TAGS, [p for p, r in zip(params, retags, strict=True) if r.drop]),
        (_ADD_TAG, [p for p, r in zip(params, retags, strict=True) if r.tag] + extra),
        (_MOVE, [p for p, r in zip(params, retags, strict=True) if r.assign == "move"]),
        (_QUEUE, [p for p, r in zip(params, retags, strict=True) if r.assign == "queue"]),
        (_EVENT, params),
    ]
    for statement, rows in steps:
        if rows:
            session.execute(statement, rows)


_OPEN_ISSUES_ON_OLD = text(
    f"""
    WITH candidate AS (
        SELECT issue_id AS id FROM issue_grids WHERE grid_id = ANY(:old)
        UNION
        SELECT id FROM issues WHERE grid_id = ANY(:old)
    )
    SELECT i.id, i.grid_id, i.status,
           COALESCE(og.code, (SELECT g2.code FROM issue_grids ig2 JOIN grids g2
                              ON g2.id = ig2.grid_id
                              WHERE ig2.issue_id = i.id AND ig2.grid_id = ANY(:old)
                              ORDER BY g2.code LIMIT 1)) AS old_code,
           t.id AS new_id, t.code AS new_code, t.current_version AS new_version
    FROM candidate c
    JOIN issues i ON i.id = c.id
    LEFT JOIN grids og ON og.id = i.grid_id AND og.id = ANY(:old)
    CROSS JOIN LATERAL (
        SELECT g.id, g.code, g.current_version FROM grids g
        JOIN grid_versions v ON v.grid_id = g.id AND {in_force_sql(None, version="v")}
        WHERE g.id = ANY(:new)
        ORDER BY ST_Distance(v.geom, i.geom), g.code LIMIT 1
    ) t
    WHERE i.status <> ALL(:closed)
    ORDER BY i.id
    """
)


def _plan_restructure(session: Session, change: BoundaryChange) -> list[_Retag]:
    """Split/merge: each open issue of the old grids goes to the new grid nearest its point
    (the one containing it); an issue that only carried an old grid as a tag gets the new tag."""
    old_ids = [r.grid_id for r in change.retired]
    rows = session.execute(
        _OPEN_ISSUES_ON_OLD,
        {
            "old": old_ids,
            "new": [r.grid_id for r in change.created],
            "closed": list(CLOSED_ISSUE_STATUSES),
        },
    ).all()
    olds = ", ".join(g.code for g in change.retired)
    return [
        _Retag(
            issue=r.id,
            status=r.status,
            note=f"grid {r.old_code} → {r.new_code} ({change.operation} of {olds})",
            data={"from": r.old_code, "to": r.new_code, "operation": change.operation},
            drop=old_ids,
            tag=(r.new_id, r.new_version),
            assign="move" if r.grid_id in old_ids else None,
        )
        for r in rows
    ]


_OPEN_ISSUES_OF_RETIRED = text(
    f"""
    WITH candidate AS (
        SELECT issue_id AS id FROM issue_grids WHERE grid_id = :old
        UNION
        SELECT id FROM issues WHERE grid_id = :old
    )
    SELECT i.id, i.status, COALESCE(i.grid_id = :old, false) AS moved,
           t.id AS new_id, t.code AS new_code, t.current_version AS new_version
    FROM candidate c
    JOIN issues i ON i.id = c.id
    LEFT JOIN LATERAL (
        SELECT g.id, g.code, g.current_version FROM grids g
        JOIN grid_versions v ON v.grid_id = g.id
        WHERE {in_force_sql(None, version="v")} AND g.kind = 'general'
          AND g.district_adcode = i.district_adcode AND ST_Covers(v.geom, i.geom)
        ORDER BY {deepest_first_sql("g")} LIMIT 1
    ) t ON true
    WHERE i.status <> ALL(:closed)
    ORDER BY i.id
    """
)


def _plan_retirement(session: Session, old: GridRecord) -> list[_Retag]:
    """Retire: open issues of the grid go to the deepest current general grid at their point,
    or to the district queue when none covers it; an issue that only carried the grid as a tag
    (a dedicated grid) loses the tag. Moved first, then queued, then untagged."""
    rows = session.execute(
        _OPEN_ISSUES_OF_RETIRED, {"old": old.grid_id, "closed": list(CLOSED_ISSUE_STATUSES)}
    ).all()
    moved, queued, untagged = [], [], []
    for r in rows:
        data: dict[str, Any] = {"from": old.code, "to": None, "operation": "retire"}
        retag = _Retag(issue=r.id, status=r.status, note="", data=data, drop=[old.grid_id])
        if not r.moved:
            retag.note = f"untagged from retired grid {old.code}"
            data["untagged"] = True
            untagged.append(retag)
        elif r.new_id is None:
            retag.note = (
                f"grid {old.code} retired and no current grid covers the point: sent to the "
                "district queue"
            )
            data["district_queue"] = True
            retag.assign = "queue"
            queued.append(retag)
        else:
            retag.note = f"grid {old.code} → {r.new_code} (retirement of {old.code})"
            data["to"] = r.new_code
            retag.tag, retag.assign = (r.new_id, r.new_version), "move"
            moved.append(retag)
    return [*moved, *queued, *untagged]


_OPEN_ISSUES_UNDER_RESTORED = text(
    """
    SELECT i.id, i.status, i.grid_id = ANY(:above) AS moved,
           (SELECT g.code FROM grids g WHERE g.id = i.grid_id) AS old_code
    FROM issues i
    WHERE i.status <> ALL(:closed) AND i.district_adcode = :district
      AND i.geom && ST_GeomFromWKB(:wkb, 4326) AND ST_Covers(ST_GeomFromWKB(:wkb, 4326), i.geom)
      AND (i.grid_id = ANY(:above) OR :dedicated)
      AND NOT EXISTS (SELECT 1 FROM issue_grids ig WHERE ig.issue_id = i.id AND ig.grid_id = :id)
    ORDER BY i.id
    """
)


def _plan_restore(session: Session, restored: GridRecord) -> list[_Retag]:
    """Un-retire: open issues at points the grid covers come back to it from the grids above it
    (a general grid), or get its tag again (a dedicated grid). Issues sent to the district queue
    stay there: someone may already be handling them at district level."""
    above = [r.grid_id for r in repo.ancestors(session, restored.code)]
    rows = session.execute(
        _OPEN_ISSUES_UNDER_RESTORED,
        {
            "above": above,
            "closed": list(CLOSED_ISSUE_STATUSES),
            "district": restored.district_adcode,
            "wkb": shapely.to_wkb(restored.geom),
            "dedicated": restored.kind == "dedicated",
            "id": restored.grid_id,
        },
    ).all()
    retags = []
    for r in rows:
        moved = bool(r.moved) and restored.kind == "general"
        retags.append(
            _Retag(
                issue=r.id,
                status=r.status,
                note=f"grid {r.old_code} → {restored.code} (restored)"
                if moved
                else f"tagged to restored grid {restored.code}",
                data={
                    "from": r.old_code if moved else None,
                    "to": restored.code,
                    "operation": "restore",
                },
                drop=[],
                tag=(restored.grid_id, restored.version),
                assign="move" if moved else None,
            )
        )
    return retags


# -- staff -----------------------------------------------------------------------------------


def end_staff_assignments(
    session: Session, change: BoundaryChange, *, at: Any
) -> list[dict[str, Any]]:
    """End the assignments on the grids that left force at ``at``; returns the decisions a
    person must make: per new grid (split/merge) its empty posts and who held them on the old
    grids; per retired grid (retire) where its staff go and which posts the grid that took over
    its ground lacks. Nothing ends on a restore."""
    if not change.retired:
        return []
    ended = repo.end_assignments(session, [r.grid_id for r in change.retired], at=at)
    if change.created:
        return [_new_grid_decision(new, ended, at=at) for new in change.created]
    return [
        _retire_decision(session, old, [e for e in ended if e.code == old.code], at=at)
        for old in change.retired
    ]


def _former(rows: Sequence[Any], at: Any) -> list[dict[str, Any]]:
    return [
        {
            "grid": row.code,
            "post": row.post,
            "staff_id": row.staff_id,
            "name": row.name,
            "role": row.role,
            "ended_at": at.isoformat(),
        }
        for row in rows
    ]


def _new_grid_decision(new: GridRecord, ended: Sequence[Any], *, at: Any) -> dict[str, Any]:
    """A new grid starts with no staff: its empty posts, and who held them on the old grids it
    came from (whose assignments ended at ``at``)."""
    messages = []
    for post in _POSTS:
        holders = [row for row in ended if row.post == post]
        if not holders:
            messages.append(f"grid {new.code} has no {post} post (the old grids had none)")
        for row in holders:
            messages.append(
                f"grid {new.code} has no {post} post: former {post} of {row.code} was "
                f"{row.name} (staff {row.staff_id}; that assignment ended when {row.code} "
                "was retired)"
            )
    return {
        "grid": new.code,
        "missing_posts": list(_POSTS),
        "former_staff": _former(ended, at),
        "messages": messages,
    }


def _retire_decision(
    session: Session, old: GridRecord, ended: Sequence[Any], *, at: Any
) -> dict[str, Any]:
    """What a person must decide after a retirement: where the grid's staff go, and which posts
    the grid that took over its ground (its parent) lacks."""
    taker = old.parent
    missing: list[str] = []
    if taker is not None:
        held = set(
            session.execute(
                select(GridAssignment.post)
                .join(Grid, Grid.id == GridAssignment.grid_id)
                .where(Grid.code == taker, GridAssignment.valid_to.is_(None))
            ).scalars()
        )
        missing = [p for p in _POSTS if p not in held]
    messages = [
        f"{row.name} (staff {row.staff_id}, {row.role}"
        + (f", post {row.post}" if row.post else "")
        + f") no longer works retired grid {old.code}: assign them to another grid or end "
        "their service"
        for row in ended
    ]
    messages += [f"grid {taker} has no {post} post" for post in missing]
    if taker is None:
        messages.append(
            f"{old.code} was a level-1 grid: its ground is in no grid now (see /grids gaps)"
        )
    return {
        "grid": taker,
        "retired_grid": old.code,
        "missing_posts": missing,
        "former_staff": _former(ended, at),
        "messages": messages,
    }
