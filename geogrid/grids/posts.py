"""Appointing and ending the A/B posts (AB岗) of a grid.

A post is a row of ``grid_assignments`` with ``post`` 'A' or 'B' and no ``valid_to``; ending it
sets ``valid_to`` (history stays). Who is on duty is then decided by the one rule
(:mod:`geogrid.rules.on_duty`); the staff revision triggers (migration 0007) expire the cached
signboards, locate answers and gaps when these rows change, and the audit trigger records who
changed them.

Race-safe: every change of a grid's posts first locks the grid's row (``FOR NO KEY UPDATE``),
so two appointments to the same grid run one after the other and the second sees the first's
holder; the partial unique indexes remain the last word, and a violation of theirs is answered
as the same conflict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geogrid.errors import ConflictError, InvalidInputError, NotFoundError
from geogrid.storage.models import Grid, GridAssignment, Staff
from geogrid.vocabulary import POSTS

__all__ = ["PostChange", "appoint_post", "end_post"]


@dataclass(frozen=True)
class PostChange:
    """What an appointment or an ending did: the new holder (``None`` after an ending) and the
    holder whose post ended (``None`` when the post was vacant)."""

    grid_code: str
    post: str
    holder: dict[str, Any] | None
    ended: dict[str, Any] | None
    created: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "grid": self.grid_code,
            "post": self.post,
            "holder": self.holder,
            "ended": self.ended,
        }


def _check_post(post: str) -> None:
    if post not in POSTS:
        raise InvalidInputError(f"The post is A or B, not {post!r}.", field="post", rule="post")


def _locked_grid(session: Session, code: str, reach: Sequence[str] | None) -> Grid:
    """The grid, its row locked for the change; 404 outside reach, 409 once retired."""
    if reach is not None and not any(code.startswith(p) for p in reach):
        raise NotFoundError(f"There is no grid {code} within your reach.", rule="reach")
    grid = session.execute(
        select(Grid).where(Grid.code == code).with_for_update(key_share=True)
    ).scalar_one_or_none()
    if grid is None:
        raise NotFoundError(f"There is no grid {code}.")
    if grid.retired_at is not None:
        raise ConflictError(
            f"Grid {code} is retired: its posts cannot change. Restore it first.", rule="retired"
        )
    return grid


def _current(session: Session, grid_id: int) -> list[tuple[GridAssignment, Staff]]:
    rows = session.execute(
        select(GridAssignment, Staff)
        .join(Staff, Staff.id == GridAssignment.staff_id)
        .where(GridAssignment.grid_id == grid_id, GridAssignment.valid_to.is_(None))
    ).all()
    return [(a, s) for a, s in rows]


def _person(assignment: GridAssignment, staff: Staff) -> dict[str, Any]:
    return {
        "staff_id": staff.id,
        "name": staff.name,
        "post": assignment.post,
        "valid_from": assignment.valid_from,
        "valid_to": assignment.valid_to,
    }


def appoint_post(
    session: Session,
    code: str,
    *,
    staff_id: int,
    post: str,
    now: datetime,
    replace: bool = False,
    reach: Sequence[str] | None = None,
) -> PostChange:
    """Make ``staff_id`` the holder of ``post`` of grid ``code`` from ``now``.

    The current holder of that post is ended at ``now`` when ``replace``, else the appointment
    is refused (409 ``post_taken``). A person holding the other post of the grid is refused
    (409 ``other_post``): a grid's A and B are two people. A plain membership of the grid (no
    post) ends and the post starts in its place. The holder already in that post: nothing
    changes (``created`` False). Staff must exist, be active and belong to the grid's district
    (422 ``staff``).
    """
    _check_post(post)
    grid = _locked_grid(session, code, reach)
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise InvalidInputError(
            f"There is no staff member {staff_id}: pick someone from the district's staff list.",
            field="staff_id",
            rule="staff",
        )
    if not staff.active:
        raise InvalidInputError(
            f"{staff.name} (staff {staff_id}) is no longer active and cannot hold a post; "
            "pick an active member of staff.",
            field="staff_id",
            rule="staff",
        )
    if staff.district_adcode != grid.district_adcode:
        raise InvalidInputError(
            f"{staff.name} (staff {staff_id}) works in district {staff.district_adcode}, "
            f"not in grid {code}'s district {grid.district_adcode}; pick staff of that district.",
            field="staff_id",
            rule="staff",
        )
    current = _current(session, grid.id)
    mine = next(((a, s) for a, s in current if s.id == staff_id), None)
    holder = next(((a, s) for a, s in current if a.post == post), None)
    if mine is not None and mine[0].post == post:
        return PostChange(code, post, _person(*mine), None, created=False)
    if mine is not None and mine[0].post is not None:
        raise ConflictError(
            f"{staff.name} already holds post {mine[0].post} of grid {code}; a grid's A and B "
            f"posts are two people. End post {mine[0].post} first, or pick someone else.",
            rule="other_post",
            other_post=mine[0].post,
        )
    if holder is not None and not replace:
        raise ConflictError(
            f"Post {post} of grid {code} is held by {holder[1].name} (staff {holder[1].id}). "
            "End that post first, or send replace: true to end it and appoint in one step.",
            rule="post_taken",
            holder_staff_id=holder[1].id,
        )
    ended = None
    if holder is not None:
        holder[0].valid_to = now
        ended = _person(*holder)
    if mine is not None:  # a plain membership gives way to the post
        mine[0].valid_to = now
    session.flush()  # the ended rows first: the partial unique indexes see them ended
    new = GridAssignment(grid_id=grid.id, staff_id=staff_id, post=post, valid_from=now)
    try:
        with session.begin_nested():
            session.add(new)
    except IntegrityError as exc:  # the lock makes this unreachable; the index is the last word
        raise ConflictError(
            f"Post {post} of grid {code} was just changed by someone else; reload and retry.",
            rule="post_taken",
        ) from exc
    return PostChange(code, post, _person(new, staff), ended)


def end_post(
    session: Session,
    code: str,
    post: str,
    *,
    now: datetime,
    reach: Sequence[str] | None = None,
) -> PostChange:
    """End the current holder of ``post`` of grid ``code`` at ``now`` (404 ``post_vacant``
    when nobody holds it). The person stays on the staff list; the post is vacant until
    someone is appointed, and the on-duty rule says who answers meanwhile."""
    _check_post(post)
    grid = _locked_grid(session, code, reach)
    holder = next(((a, s) for a, s in _current(session, grid.id) if a.post == post), None)
    if holder is None:
        raise NotFoundError(
            f"Post {post} of grid {code} is vacant: nobody to end.", rule="post_vacant"
        )
    session.execute(
        update(GridAssignment).where(GridAssignment.id == holder[0].id).values(valid_to=now)
    )
    session.flush()
    session.refresh(holder[0])
    return PostChange(code, post, None, _person(*holder))
