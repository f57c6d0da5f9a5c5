"""Reading the audit trail. Writing it is the database's job: a trigger on every audited table
(migration 0016) records who (the transaction's ``geogrid.actor``), when, which row, and the
row before and after, whoever writes, through the API, the CLI or SQL by hand; and the table
refuses UPDATE, DELETE and TRUNCATE.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from geogrid.storage.models import AuditEntry

__all__ = ["AuditFilter", "audit_csv_rows", "audit_page"]


@dataclass(frozen=True)
class AuditFilter:
    """What to read: a table, an actor, a grid (code prefix), a time window."""

    table: str | None = None
    actor: str | None = None
    grid: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _where(f: AuditFilter, reach: Sequence[str] | None) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if f.table:
        clauses.append(AuditEntry.table_name == f.table)
    if f.actor:
        clauses.append(AuditEntry.actor == f.actor)
    if f.grid:
        clauses.append(AuditEntry.grid_code.startswith(f.grid, autoescape=True))
    if f.since:
        clauses.append(AuditEntry.at >= f.since)
    if f.until:
        clauses.append(AuditEntry.at < f.until)
    if reach is not None:
        # an officer reads what happened in their grids; rows about no grid are the admin's
        clauses.append(
            or_(*[AuditEntry.grid_code.startswith(p, autoescape=True) for p in reach])
            if reach
            else false()
        )
    return clauses


def _entry(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at,
        "actor": e.actor,
        "table": e.table_name,
        "operation": e.operation,
        "row": e.row_key,
        "grid": e.grid_code,
        "before": e.before,
        "after": e.after,
    }


def audit_page(
    session: Session,
    f: AuditFilter,
    *,
    reach: Sequence[str] | None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Newest first, filtered by ``f`` and limited to ``reach`` (``None``: everything)."""
    rows = session.scalars(
        select(AuditEntry)
        .where(*_where(f, reach))
        .order_by(AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return {"entries": [_entry(e) for e in rows], "limit": limit, "offset": offset}


def audit_csv_rows(
    session: Session, f: AuditFilter, *, reach: Sequence[str] | None = None
) -> Iterator[str]:
    """The whole filtered trail as CSV lines, oldest first, read in batches."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at", "actor", "table", "operation", "row", "grid", "before", "after"])
    yield out.getvalue()
    last = 0
    while True:
        batch = session.scalars(
            select(AuditEntry)
            .where(*_where(f, reach), AuditEntry.id > last)
            .order_by(AuditEntry.id)
            .limit(1000)
        ).all()
        if not batch:
            return
        for e in batch:
            out.seek(0)
            out.truncate()
            writer.writerow(
                [
                    e.id,
                    e.at.isoformat(),
                    e.actor,
                    e.table_name,
                    e.operation,
                    e.row_key,
                    e.grid_code,
                    json.dumps(e.before, ensure_ascii=False) if e.before is not None else "",
                    json.dumps(e.after, ensure_ascii=False) if e.after is not None else "",
                ]
            )
            yield out.getvalue()
            last = e.id
