"""Tagging a report and changing a boundary never interleave within a district.

Why: a report reads which grid covers its point, then writes the issue; a split, merge,
retirement, restore or moved edge writes new boundaries, then re-tags the open issues it can
see. With nothing between them, a report that read the grid before the change and committed
after the change's re-tag stayed on a retired grid, assigned to a worker whose post had just
ended, in nobody's queue (eight of 200 in a measured run).

How: one transaction-scoped advisory lock per district. A report takes it *shared* before it
tags (:func:`lock_boundaries_for_tagging`); a boundary change takes it *exclusive* before it
locks any grid row (:func:`lock_boundaries_for_edit`, called by
:func:`geogrid.grids.repository.lock_family`, which every edit and import goes through), and the
boundary-revision triggers take it too, so a writer that bypasses the library is serialised as
well. Both hold it to the end of their transaction. So either the report commits first and the
change, which re-tags after writing, sees it; or the change commits first and the report, whose
tagging statement starts after the lock is granted, reads the new boundaries (READ COMMITTED
takes a fresh snapshot per statement).

Why this mechanism and not another: it costs a report one statement that takes no row lock
(no MultiXact, unlike ``FOR SHARE`` on a shared row), reports never wait for each other, and it
needs no retry loop (a per-grid share lock plus a re-check does, and misses a grid that grows
over a point it did not lock). Reports wait only while a boundary change of the same district
commits, a fraction of a second. Lock order is always: district boundaries, then family, then
rows, so the lock adds no deadlock.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["BOUNDARY_LOCK_PREFIX", "lock_boundaries_for_edit", "lock_boundaries_for_tagging"]

#: The advisory key of a district is ``hashtextextended(prefix || adcode, 0)`` (the migration's
#: triggers build the same key in SQL).
BOUNDARY_LOCK_PREFIX = "geogrid.boundaries:"

_SHARED = text("SELECT pg_advisory_xact_lock_shared(hashtextextended(:k, 0))")
_EXCLUSIVE = text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))")


def lock_boundaries_for_tagging(session: Session, district_adcode: str) -> None:
    """Hold the district's boundaries still (shared) until the transaction ends."""
    session.execute(_SHARED, {"k": BOUNDARY_LOCK_PREFIX + district_adcode})


def lock_boundaries_for_edit(session: Session, district_adcode: str) -> None:
    """Wait for reports being tagged in the district, and keep new ones out until the
    transaction ends (exclusive). Take it before any grid row lock."""
    session.execute(_EXCLUSIVE, {"k": BOUNDARY_LOCK_PREFIX + district_adcode})
