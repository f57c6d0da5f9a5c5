"""The ledger (台账): issues filtered by grid subtree, category, status, source, period and
overdue, sorted by grid code; as pages of JSON or as CSV / XLSX with Chinese headers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.errors import InvalidInputError
from geogrid.issues.workflow import LABELS, WORKING_STATES

__all__ = [
    "COLUMNS",
    "LedgerFilter",
    "ledger_page",
    "ledger_rows",
    "write_csv",
    "write_csv_to",
    "write_xlsx",
    "write_xlsx_to",
]

#: (key, Chinese header) in export order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "编号"),
    ("category_code", "类别编码"),
    ("category_name", "类别"),
    ("description", "描述"),
    ("grid_code", "网格编码"),
    ("grid_name", "网格名称"),
    ("status_label", "状态"),
    ("handling_level_label", "办理层级"),
    ("source", "来源"),
    ("assignee_name", "责任人"),
    ("department_name", "承办部门"),
    ("reported_at", "上报时间"),
    ("deadline_at", "期限"),
    ("closed_at", "结案时间"),
    ("overdue_label", "是否超期"),
    ("rating_label", "满意度"),
    ("lon", "经度"),
    ("lat", "纬度"),
)


@dataclass
class LedgerFilter:
    grid_code: str | None = None
    category: str | None = None
    status: str | None = None
    source: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    overdue: bool | None = None
    district_adcode: str | None = None


def _where(f: LedgerFilter, now: datetime) -> tuple[str, dict[str, Any]]:
    clauses = ["TRUE"]
    params: dict[str, Any] = {"now": now, "working": list(WORKING_STATES)}
    if f.grid_code:
        if not f.grid_code.isdigit():
            raise InvalidInputError(f"grid code {f.grid_code!r} is not digits.")
        clauses.append("g.code LIKE :grid_prefix")
        params["grid_prefix"] = f.grid_code + "%"
    if f.category:
        # a class code (2 digits) takes its subclasses too
        clauses.append("(c.code = :category OR pc.code = :category)")
        params["category"] = f.category
    if f.status:
        clauses.append("i.status = ANY(:statuses)")
        params["statuses"] = f.status.split(",")
    if f.source:
        clauses.append("i.source = :source")
        params["source"] = f.source
    if f.date_from:
        clauses.append("i.reported_at >= :date_from")
        params["date_from"] = f.date_from
    if f.date_to:
        clauses.append("i.reported_at < :date_to")
        params["date_to"] = f.date_to
    if f.district_adcode:
        clauses.append("i.district_adcode = :adcode")
        params["adcode"] = f.district_adcode
    overdue = "(i.status = ANY(:working) AND i.deadline_at < :now)"
    if f.overdue is True:
        clauses.append(overdue)
    elif f.overdue is False:
        clauses.append(f"NOT {overdue} OR i.deadline_at IS NULL")
    return " AND ".join(f"({c})" for c in clauses), params


_SELECT = """
    SELECT i.id, c.code AS category_code, c.name AS category_name, i.description,
           g.code AS grid_code, gv.name AS grid_name, i.status, i.handling_level, i.source,
           s.name AS assignee_name, d.name AS department_name,
           i.reported_at, i.deadline_at, i.closed_at, i.rating,
           (i.status = ANY(:working) AND i.deadline_at < :now) AS overdue,
           ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat
    FROM issues i
    JOIN issue_categories c ON c.id = i.category_id
    LEFT JOIN issue_categories pc ON pc.id = c.parent_id
    LEFT JOIN grids g ON g.id = i.grid_id
    LEFT JOIN grid_versions gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
    LEFT JOIN staff s ON s.id = i.assignee_staff_id
    LEFT JOIN departments d ON d.id = i.department_id
"""


def _decorate(row: dict[str, Any]) -> dict[str, Any]:
    row["status_label"] = LABELS.get(row["status"], row["status"])
    row["handling_level_label"] = LABELS.get(row["handling_level"], row["handling_level"])
    row["rating_label"] = LABELS.get(row["rating"], "") if row["rating"] else ""
    row["overdue"] = bool(row["overdue"])
    row["overdue_label"] = "是" if row["overdue"] else "否"
    return row


def ledger_page(
    session: Session, f: LedgerFilter, *, now: datetime, limit: int = 100, offset: int = 0
) -> dict[str, Any]:
    where, params = _where(f, now)
    base = _SELECT + " WHERE " + where
    total = session.execute(
        text(
            "SELECT count(*) FROM issues i JOIN issue_categories c ON c.id = i.category_id "
            "LEFT JOIN issue_categories pc ON pc.id = c.parent_id "
            "LEFT JOIN grids g ON g.id = i.grid_id WHERE " + where
        ),
        params,
    ).scalar_one()
    rows = session.execute(
        text(base + " ORDER BY g.code NULLS LAST, i.reported_at, i.id LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset},
    ).mappings()
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": [_decorate(dict(r)) for r in rows],
    }


def ledger_rows(session: Session, f: LedgerFilter, *, now: datetime) -> Iterator[dict[str, Any]]:
    """Every matching row, streamed in grid-code order (for exports)."""
    where, params = _where(f, now)
    result = session.execute(
        text(_SELECT + " WHERE " + where + " ORDER BY g.code NULLS LAST, i.reported_at, i.id"),
        params,
        execution_options={"yield_per": 2000},
    ).mappings()
    for row in result:
        yield _decorate(dict(row))


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M")
    return "" if value is None else value


def write_csv_to(rows: Iterable[dict[str, Any]], out: IO[bytes]) -> None:
    """The ledger as CSV into the binary file ``out``, row by row (UTF-8 with a BOM, so Excel
    on a Chinese Windows opens the headers correctly)."""
    text_out = io.TextIOWrapper(out, encoding="utf-8", newline="")
    text_out.write("\ufeff")
    writer = csv.writer(text_out)
    writer.writerow([label for _, label in COLUMNS])
    for row in rows:
        writer.writerow([_cell(row[key]) for key, _ in COLUMNS])
    text_out.flush()
    text_out.detach()  # ``out`` stays open for the caller


def write_csv(rows: Iterable[dict[str, Any]]) -> str:
    """:func:`write_csv_to` into a string."""
    out = io.BytesIO()
    write_csv_to(rows, out)
    return out.getvalue().decode("utf-8")


def write_xlsx_to(rows: Iterable[dict[str, Any]], out: IO[bytes]) -> None:
    """The ledger as an XLSX workbook into the binary file ``out``: bold Chinese headers, the
    header row frozen. Written in openpyxl's write-only mode, which keeps no row in memory."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("问题台账")
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for _, label in COLUMNS:
        cell = WriteOnlyCell(sheet, value=label)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append([_cell(row[key]) for key, _ in COLUMNS])
    workbook.save(out)


def write_xlsx(rows: Iterable[dict[str, Any]]) -> bytes:
    """:func:`write_xlsx_to` into bytes."""
    out = io.BytesIO()
    write_xlsx_to(rows, out)
    return out.getvalue()
