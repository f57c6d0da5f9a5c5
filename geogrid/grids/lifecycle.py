"""Retiring a grid and bringing it back.

A retired grid keeps its code (never reused) and its history. Who retired it, when and why is a
``grid_retirements`` row, shown in the history; a retired grid can be brought back
(:func:`restore_grid`) when its boundary still fits among today's grids, checked as a drawing is
(:mod:`geogrid.grids.drawing`).

Retiring and restoring change which grid covers a point; what hangs on the grids (open issues,
staff assignments) then follows by location in :mod:`geogrid.grids.followups`, which is also
where a re-tagged issue gets its worker (through :func:`geogrid.issues.routing.on_duty_post`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geogrid.errors import ConflictError, InvalidInputError
from geogrid.grids import repository as repo
from geogrid.grids.drawing import EditResult, children_geoms, context_for, fields_of
from geogrid.grids.followups import BoundaryChange, follow
from geogrid.grids.geojson import GridRecord
from geogrid.grids.preconditions import lock_for_edit, refuse_with_children
from geogrid.grids.validation import Fix, check_children_within, check_placement, check_polygonal
from geogrid.storage.models import Grid

__all__ = [
    "RetireResult",
    "restore_grid",
    "retire",
]


@dataclass(slots=True)
class RetireResult:
    """What retiring a grid did: the last version, the retirement (who, when, why), the open
    issues moved by location, and the staff whose assignments ended."""

    record: GridRecord
    retirement: dict[str, Any]
    retagged: list[dict[str, Any]]
    staff_decisions: list[dict[str, Any]]

    def members(self) -> dict[str, Any]:
        """Foreign members added to the retired grid's Feature in the response."""
        return {
            "retirement": self.retirement,
            "retagged_issues": len(self.retagged),
            "district_queue": sum(1 for r in self.retagged if r.get("district_queue")),
            "retags": self.retagged,
            "staff_decisions": self.staff_decisions,
        }


def retire(
    session: Session,
    code: str,
    *,
    expected_version: int | None,
    actor: str,
    reason: str | None = None,
    reach: Sequence[str] | None = None,
) -> RetireResult:
    """Retire a grid: its validity ends now, its code and history stay. 409 with children.

    Who, when and why are recorded (``grid_retirements``, shown in the history). Open issues
    of the grid move by location to the deepest current general grid at their point (for a
    level-2 grid, its parent), or to the district queue with a note when no grid covers them;
    each gets a ``retag`` event and keeps its assignee until someone reassigns it. Staff
    assignments on the grid end now and are listed as decisions to make.
    """
    locked = lock_for_edit(session, code, expected_version, reach)
    refuse_with_children(session, locked, "retire")
    current = repo.get_current(session, code)
    at = repo.now(session)
    repo.retire_grid(session, locked, at=at, actor=actor, reason=reason)
    done = follow(session, BoundaryChange("retire", retired=[current]), actor=actor, at=at)
    record = repo.history(session, code)[-1]
    assert record.retirement is not None
    return RetireResult(record, record.retirement, done.retagged, done.staff_decisions)


def restore_grid(
    session: Session,
    code: str,
    version: int | None,
    *,
    expected_version: int | None,
    actor: str,
    reason: str | None = None,
    fix: Fix = None,
    tolerance_m: float = 0.5,
    reach: Sequence[str] | None = None,
) -> EditResult:
    """Bring back version ``version`` (boundary and attributes) as a new version, checked
    against today's parent and siblings like any edit.

    On a retired grid this un-retires it, same code (codes are never reused by another grid, so
    the code is still its own): ``version`` defaults to the last one, the parent must be current
    (409 otherwise: restore the parent first) and the boundary must still fit among today's
    grids (422 naming what it overlaps, e.g. the pieces a split made: merge those instead).
    The retirement is closed with who restored it; open issues of the parent at points the grid
    covers come back to it (a ``retag`` event each); staff are not re-assigned.
    """
    locked = lock_for_edit(session, code, expected_version, reach, retired_ok=True)
    retired = locked.retired_at is not None
    if version is None:
        if not retired:
            raise InvalidInputError(
                f"Give the version of {code} to restore (a body like {{'version': 2}}); its "
                "history lists its versions.",
                rule="version",
            )
        version = locked.current_version
    old = repo.get_version(session, code, version)
    if version == locked.current_version and not retired:
        raise InvalidInputError(
            f"Version {version} is the current version of {code}: nothing to restore.",
            rule="version",
        )
    if retired and locked.parent_code is not None:
        # FOR SHARE: a concurrent retirement of the parent (FOR UPDATE) waits for this restore
        # and then sees the restored child, or this waits for it and sees the parent retired
        parent_retired = session.execute(
            select(Grid.retired_at).where(Grid.id == locked.parent_id).with_for_update(read=True)
        ).scalar_one()
        if parent_retired is not None:
            raise ConflictError(
                f"Grid {code} cannot come back: its parent {locked.parent_code} is retired. "
                f"Restore {locked.parent_code} first, or draw a new grid under the parent that "
                "replaced it.",
                rule="parent_retired",
                code=code,
                parent=locked.parent_code,
            )
    context = context_for(session, old, near=old.geom, dedicated_type=locked.dedicated_type)
    try:
        checked = check_placement(
            check_polygonal(old.geom), context, tolerance_m=tolerance_m, fix=fix
        )
    except InvalidInputError as exc:
        if retired and exc.rule in ("overlaps_sibling", "overlaps_same_type"):
            exc.detail += (
                f" Grid {code} was retired and its ground has since gone to these grids: to bring "
                "it back, merge or shrink them first, or restore with fix=clip."
            )
            exc.args = (exc.detail,)
        raise
    if not retired:  # a retired grid has no current children: retirement refuses them
        check_children_within(checked.geom, children_geoms(session, code), tolerance_m=tolerance_m)
    at = repo.now(session)
    write = repo.unretire_grid if retired else repo.add_version
    write(
        session,
        locked,
        fields=fields_of(old),
        geom=checked.geom,
        area_m2=checked.area_m2,
        actor=actor,
        reason=reason
        or (
            f"restored after retirement (version {version})"
            if retired
            else f"restored version {version}"
        ),
        at=at,
    )
    restored = repo.get_current(session, code)
    if retired:
        follow(session, BoundaryChange("restore", created=[restored]), actor=actor, at=at)
    return EditResult(restored, checked.fixes)
