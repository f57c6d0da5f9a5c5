"""Who acts, and what they reach: the :class:`Principal` of a request or command, and how its
reach is handed to PostgreSQL's row-level security for one transaction.

Reach is a set of grid-code prefixes (a district officer's is the district adcode, a street
officer's the street's 9-digit prefix, a worker's the codes of the grids they hold a post on).
``None`` means everything (an admin, the CLI). The database enforces it (migration 0016): a
query written without any filter still returns only rows in reach, because the policies read
the settings that :func:`apply_principal` puts on the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.vocabulary import USER_ROLES

__all__ = [
    "OFFICER_ROLES",
    "PUBLIC",
    "ROLES",
    "Principal",
    "apply_principal",
    "encode_reach",
]

ROLES: Final = USER_ROLES
#: Roles that manage grids, staff and the queue of their subtree (and read the audit trail).
OFFICER_ROLES: Final = frozenset(
    {"admin", "district_officer", "street_officer", "community_officer"}
)


@dataclass(frozen=True)
class Principal:
    """The caller. ``role`` is ``None`` for the public (no login)."""

    username: str
    role: str | None
    reach: tuple[str, ...] | None
    user_id: int | None = None
    department_id: int | None = None
    staff_id: int | None = None

    @property
    def is_public(self) -> bool:
        return self.role is None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_officer(self) -> bool:
        return self.role in OFFICER_ROLES

    def reaches(self, code: str | None) -> bool:
        """Whether the grid ``code`` is in reach (the same rule as ``geogrid_code_in_reach``)."""
        if self.reach is None:
            return True
        return code is not None and any(code.startswith(p) for p in self.reach)


#: Nobody logged in: reaches no grid, sees no issue (the public routes say what it may do).
PUBLIC: Final = Principal(username="public", role=None, reach=())


def encode_reach(reach: Sequence[str] | None) -> str:
    """The ``geogrid.reach`` setting for ``reach``: ``*`` for everything, ``r:P1,P2`` otherwise.

    >>> encode_reach(None), encode_reach(["610503001"]), encode_reach([])
    ('*', 'r:610503001', 'r:')
    """
    if reach is None:
        return "*"
    for prefix in reach:
        if not prefix.isdigit():
            raise ValueError(f"a reach prefix is digits of a grid code, got {prefix!r}")
    return "r:" + ",".join(reach)


def apply_principal(session: Session, principal: Principal, *, unrestricted: bool = False) -> None:
    """Put ``principal`` on the session's transaction: its reach and department for the
    row-level policies, its name for the audit trigger. ``unrestricted`` lifts the reach for a
    route that is itself the boundary (a public report writes an issue it may not read back).

    The settings are local to the transaction (``set_config(..., true)``), so a pooled
    connection carries nothing into the next request.
    """
    reach = "*" if unrestricted else encode_reach(principal.reach)
    department = "" if principal.department_id is None else str(principal.department_id)
    session.execute(
        text(
            "SELECT set_config('geogrid.reach', :reach, true), "
            "set_config('geogrid.department', :department, true), "
            "set_config('geogrid.actor', :actor, true)"
        ),
        {"reach": reach, "department": department, "actor": principal.username},
    )
