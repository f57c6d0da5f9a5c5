"""Preconditions of a boundary edit, checked before anything is written.

Optimistic concurrency: an edit names the version it started from (``expected_version``; the web
layer reads it from ``If-Match``, see ``api.preconditions``). Missing → 428; stale → 412 with the
current version. The check is made after the grid row is locked (see
:mod:`geogrid.grids.repository`), so of two edits from the same version exactly one wins.

A retired grid cannot be edited (409 ``retired``) and a grid with current children cannot be
retired, split or merged (409 ``has_children``). Every edit module (:mod:`geogrid.grids.drawing`,
:mod:`geogrid.grids.lifecycle`, :mod:`geogrid.grids.restructure`) and the proposals take their
locks through :func:`lock_for_edit`, so these rules are written once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from geogrid.errors import ConflictError, PreconditionFailedError, PreconditionRequiredError
from geogrid.grids import repository as repo

__all__ = [
    "check_version",
    "lock_for_edit",
    "refuse_with_children",
    "require_version",
]


def require_version(expected_version: int | None, codes: Sequence[str]) -> None:
    """428 unless the caller named the version it edited (checked before any lock is taken)."""
    if expected_version is None:
        raise PreconditionRequiredError(
            f"An edit of grid {', '.join(codes)} must name the version it was made on, so that "
            "it cannot overwrite a change made meanwhile.",
            codes=list(codes),
        )


def check_version(expected_version: int | None, locked: repo.LockedGrid) -> None:
    """412 unless ``expected_version`` is the current version of ``locked`` (read under the
    row lock, so of two edits from the same version exactly one passes)."""
    require_version(expected_version, [locked.code])
    if expected_version == locked.current_version:
        return
    raise PreconditionFailedError(
        f"Grid {locked.code} is at version {locked.current_version}, but this edit was made on "
        f"version {expected_version}. Read it again, re-apply your change to version "
        f"{locked.current_version} and send that.",
        identifier=locked.code,
        current_version=locked.current_version,
        code=locked.code,
    )


def lock_for_edit(
    session: Session,
    code: str,
    expected_version: int | None,
    reach: Sequence[str] | None,
    *,
    retired_ok: bool = False,
) -> repo.LockedGrid:
    """428 without an expected version, lock, 409 if retired (unless ``retired_ok``), 412 if
    stale."""
    require_version(expected_version, [code])
    locked = repo.lock_grid(session, code, reach=reach)
    if locked.retired_at is not None and not retired_ok:
        raise ConflictError(
            f"Grid {code} was retired at {locked.retired_at.isoformat()}: it cannot be edited. "
            "Its history keeps every version.",
            rule="retired",
            code=code,
        )
    check_version(expected_version, locked)
    return locked


def refuse_with_children(session: Session, locked: repo.LockedGrid, what: str) -> None:
    kids = repo.current_children_codes(session, locked.id)
    if kids:
        shown = ", ".join(kids[:10]) + (f" and {len(kids) - 10} more" if len(kids) > 10 else "")
        raise ConflictError(
            f"Grid {locked.code} has {len(kids)} current child grid(s) ({shown}): {what} them "
            "first (retire, split or merge the children), then try again.",
            rule="has_children",
            code=locked.code,
            children=kids,
        )
