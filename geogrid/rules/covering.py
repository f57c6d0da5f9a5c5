"""Which grid a point belongs to: the covering rule, written once.

The rule
--------
A grid *covers* a point when ``ST_Covers(grid, point)`` holds: interior **or boundary**, so a
point exactly on a shared edge or vertex is covered by every grid that touches it (an issue
reported on a street between two grids is never "in no grid"). Among the grids covering a
point, the one the point *belongs to* is the **deepest general grid**: the highest level wins,
and among grids of that level the **smallest code** wins (codes compared character by
character, as Python compares ``str`` and PostgreSQL compares ``COLLATE "C"``). Dedicated grids
(a school, a market) overlap general grids by design and never win: an issue is tagged with
them but belongs to the general grid.

Why one place: the rule used to be restated in the issue router, the locate chain, the
boundary follow-ups and the in-memory index, each with its own ORDER BY or integer trick; a
copy that drifts sends one report to two different grid workers depending on the door it came
in through. Here it is one pure function (:func:`deepest_general`) over anything with
``level``, ``code`` and ``kind``, its sort key (:func:`precedence`), the ranks the in-memory
index derives from it (:func:`precedence_ranks`), and its one SQL counterpart
(:func:`deepest_first_sql`), an ``ORDER BY`` list every SQL caller puts after its
``ST_Covers`` filter. Tests check the four agree on 100 000 points of the demo district.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

__all__ = [
    "Covering",
    "deepest_first_sql",
    "deepest_general",
    "precedence",
    "precedence_ranks",
]


class Covering(Protocol):
    """What the rule needs to know about a candidate grid."""

    @property
    def level(self) -> int: ...

    @property
    def code(self) -> str: ...

    @property
    def kind(self) -> str: ...


C = TypeVar("C", bound=Covering)


def precedence(level: int, code: str, kind: str) -> tuple[bool, int, str]:
    """The sort key of the rule: among covering grids, the smallest key is the one a point
    belongs to (general before dedicated, then deeper level, then smaller code).

    >>> sorted([(1, "610503001000", "general"), (2, "610503001002", "general"),
    ...         (2, "610503001001", "general"), (3, "610503001001001", "dedicated")],
    ...        key=lambda g: precedence(*g))[0]
    (2, '610503001001', 'general')
    """
    return (kind != "general", -int(level), code)


def deepest_general(candidates: Iterable[C]) -> C | None:
    """The grid a point belongs to among the grids covering it: the deepest general grid,
    smallest code on ties; None when no general grid covers the point.

    ``candidates`` must be the grids that cover the point (the rule does not look at
    geometry); any object with ``level``, ``code`` and ``kind`` will do.

    >>> from types import SimpleNamespace as G
    >>> hits = [G(level=1, code="610503001000", kind="general"),
    ...         G(level=2, code="610503001002", kind="general"),
    ...         G(level=2, code="610503001001", kind="general"),   # same edge, smaller code
    ...         G(level=3, code="610503001003001", kind="dedicated")]  # a school: never wins
    >>> deepest_general(hits).code
    '610503001001'
    >>> deepest_general([G(level=3, code="610503001003001", kind="dedicated")]) is None
    True
    """
    best: C | None = None
    for grid in candidates:
        if grid.kind != "general":
            continue
        if best is None or precedence(grid.level, grid.code, grid.kind) < precedence(
            best.level, best.code, best.kind
        ):
            best = grid
    return best


def precedence_ranks(
    levels: Sequence[int], codes: Sequence[str], kinds: Sequence[str]
) -> list[int]:
    """One integer per grid such that, among any set of grids covering a point, the largest
    rank is :func:`deepest_general`'s choice; dedicated grids get ``-1`` (never chosen).

    Why: the in-memory index picks winners for a million points with one numpy
    ``maximum.reduceat``; deriving its ranks from :func:`precedence` (rather than from an
    arithmetic trick of its own) keeps it the same rule. Ranks of general grids are distinct,
    ``0 .. n_general - 1``, so a rank also names its grid.

    >>> precedence_ranks([1, 2, 2, 3], ["610503001000", "610503001002", "610503001001",
    ...                                 "610503001001001"],
    ...                  ["general", "general", "general", "dedicated"])
    [0, 1, 2, -1]
    """
    general = [i for i, kind in enumerate(kinds) if kind == "general"]
    general.sort(key=lambda i: precedence(levels[i], codes[i], kinds[i]), reverse=True)
    ranks = [-1] * len(levels)
    for rank, i in enumerate(general):
        ranks[i] = rank
    return ranks


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def deepest_first_sql(grid: str = "g") -> str:
    """The rule as an SQL ``ORDER BY`` list over the ``grids`` row aliased ``grid``: after an
    ``ST_Covers`` filter, the first row is the grid the point belongs to when it is general
    (``LIMIT 1`` with ``kind = 'general'`` in the filter gives it directly).

    ``COLLATE "C"`` compares codes byte by byte, exactly as :func:`precedence` compares Python
    strings, whatever the database's collation.

    >>> deepest_first_sql("g")
    '(g.kind <> \\'general\\'), g.level DESC, g.code COLLATE "C"'
    """
    if not _IDENTIFIER.match(grid):
        raise ValueError(f"{grid!r} is not an SQL table alias (lower-case letters, digits, _)")
    return f"({grid}.kind <> 'general'), {grid}.level DESC, {grid}.code COLLATE \"C\""
