"""The work queues of the pages: a worker's, an office's, a department's.

One ordering for every queue, because it is the one a person works in: overdue first (the
oldest deadline first among them), then by deadline, issues without a deadline last. The rows
are the ledger's (:mod:`geogrid.issues.ledger`), so a queue and the exported ledger agree;
reach is the database's (row-level security), so a worker's queue is their grids' issues
without any filter written here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.issues.ledger import _SELECT, LedgerFilter, _decorate, _where
from geogrid.issues.workflow import OPEN_STATES, TRANSITIONS

__all__ = ["queue"]

_ORDER = " ORDER BY overdue DESC, i.deadline_at ASC NULLS LAST, i.reported_at DESC, i.id DESC"


def queue(
    session: Session,
    f: LedgerFilter,
    *,
    now: datetime,
    department_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Open issues matching ``f`` (all open states when ``f.status`` is empty) in queue order,
    each with the transitions allowed from its state (the page's buttons)."""
    if not f.status:
        f = LedgerFilter(**{**f.__dict__, "status": ",".join(sorted(OPEN_STATES))})
    where, params = _where(f, now)
    if department_id is not None:
        where += " AND i.department_id = :department_id"
        params["department_id"] = department_id
    total = session.execute(
        text(
            "SELECT count(*) FROM issues i JOIN issue_categories c ON c.id = i.category_id "
            "LEFT JOIN issue_categories pc ON pc.id = c.parent_id "
            "LEFT JOIN grids g ON g.id = i.grid_id WHERE " + where
        ),
        params,
    ).scalar_one()
    rows = session.execute(
        text(_SELECT + " WHERE " + where + _ORDER + " LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset},
    ).mappings()
    items = []
    for r in rows:
        item = _decorate(dict(r))
        item["allowed_transitions"] = list(TRANSITIONS[item["status"]])
        items.append(item)
    return {"total": total, "limit": limit, "offset": offset, "items": items}
