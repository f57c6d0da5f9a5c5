"""What is in force at a time, and what is current: one definition.

The rule
--------
A grid version is valid over the half-open period ``[valid_from, valid_to)``; an open
``valid_to`` (NULL) means "until further notice". A version is **in force at t** when
``valid_from <= t < valid_to`` and its grid is not retired at t (``retired_at`` NULL or later
than t). A version is **current** when it is in force now and for the foreseeable future:
``valid_to IS NULL`` and the grid not retired. Retiring a grid closes its current version at
the retirement time, so "current" and "in force at now" agree.

Why one place: "current" used to be spelled ``valid_to IS NULL AND retired_at IS NULL`` in a
dozen queries, some with the retirement test and some without, and the past-date filter was
written twice with different clauses. Here the rule is :func:`in_force` (pure, over plain
values), with its SQL counterparts: :func:`in_force_sql` for text queries and
:func:`in_force_clause` for SQLAlchemy ones. The database keeps the three fields consistent
(migration 0010: a retired grid has no open version and one open ``grid_retirements`` row, a
grid that is not retired has exactly one open version, ``grids.current_version`` is it), so the
definition here never has to repair disagreements.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from geogrid.storage.models import Grid, GridVersion

__all__ = ["in_force", "in_force_clause", "in_force_sql", "is_current"]


def is_current(valid_to: datetime | None, retired_at: datetime | None) -> bool:
    """Whether a version is the current one of a grid in force: open-ended, grid not retired.

    >>> is_current(None, None)
    True
    >>> from datetime import UTC, datetime
    >>> is_current(None, datetime(2026, 3, 1, tzinfo=UTC))  # retired: nothing is current
    False
    """
    return valid_to is None and retired_at is None


def in_force(
    valid_from: datetime,
    valid_to: datetime | None,
    retired_at: datetime | None,
    at: datetime | None = None,
) -> bool:
    """Whether a version was in force at ``at`` (None: whether it is current).

    The period is half-open: a version closed at 10:00 and its successor opened at 10:00 are
    never both in force, so any instant has at most one version of a grid.

    >>> from datetime import UTC, datetime
    >>> jan, feb, mar = (datetime(2026, m, 1, tzinfo=UTC) for m in (1, 2, 3))
    >>> in_force(jan, feb, None, at=jan), in_force(jan, feb, None, at=feb)
    (True, False)
    >>> in_force(jan, None, mar, at=feb), in_force(jan, None, mar, at=mar)
    (True, False)
    >>> in_force(jan, None, None)
    True
    """
    if at is None:
        return is_current(valid_to, retired_at)
    return (
        valid_from <= at
        and (valid_to is None or valid_to > at)
        and (retired_at is None or retired_at > at)
    )


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def in_force_sql(at: datetime | None, *, version: str = "gv", grid: str = "g") -> str:
    """:func:`in_force` as an SQL condition over ``grid_versions`` aliased ``version`` and
    ``grids`` aliased ``grid``; a past moment is the bind parameter ``:at``.

    >>> in_force_sql(None, version="v")
    'v.valid_to IS NULL AND g.retired_at IS NULL'
    >>> from datetime import UTC, datetime
    >>> for clause in in_force_sql(datetime(2026, 1, 1, tzinfo=UTC)).split(" AND ("):
    ...     print(clause)
    gv.valid_from <= :at
    gv.valid_to IS NULL OR gv.valid_to > :at)
    g.retired_at IS NULL OR g.retired_at > :at)
    """
    for alias in (version, grid):
        if not _IDENTIFIER.match(alias):
            raise ValueError(f"{alias!r} is not an SQL table alias (lower-case letters, digits, _)")
    if at is None:
        return f"{version}.valid_to IS NULL AND {grid}.retired_at IS NULL"
    return (
        f"{version}.valid_from <= :at AND ({version}.valid_to IS NULL OR {version}.valid_to > :at)"
        f" AND ({grid}.retired_at IS NULL OR {grid}.retired_at > :at)"
    )


def in_force_clause(
    at: datetime | ColumnElement[datetime] | None,
    *,
    version: Any = GridVersion,
    grid: Any = Grid,
) -> ColumnElement[bool]:
    """:func:`in_force` as an SQLAlchemy condition over the ``GridVersion`` and ``Grid``
    entities (or aliases of them).

    >>> print(in_force_clause(None))
    grid_versions.valid_to IS NULL AND grids.retired_at IS NULL
    """
    if at is None:
        return and_(version.valid_to.is_(None), grid.retired_at.is_(None))
    return and_(
        version.valid_from <= at,
        or_(version.valid_to.is_(None), version.valid_to > at),
        or_(grid.retired_at.is_(None), grid.retired_at > at),
    )
