"""Bulk import of issues from CSV/XLSX, all or nothing.

Every row goes through the same :func:`create_issue` as the API (tagging, assignment, log);
the first bad row raises with its row number and the caller rolls the whole file back.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from geogrid.errors import GeogridError, InvalidInputError
from geogrid.issues.intake import NewIssue, create_issue

__all__ = ["HEADERS", "import_rows", "read_rows"]

HEADERS = {
    "类别编码": "category",
    "类别": "category",
    "描述": "description",
    "经度": "lon",
    "纬度": "lat",
    "坐标系": "crs",
    "地址": "address",
    "来源": "source",
    "上报人": "reporter_name",
    "联系电话": "reporter_phone",
}


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows as dicts with English keys; CSV may be UTF-8 (with or without BOM) or GBK."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        sheet = load_workbook(path, read_only=True).active
        assert sheet is not None
        values = list(sheet.iter_rows(values_only=True))
        header = [str(h).strip() if h is not None else "" for h in values[0]] if values else []
        raw = [dict(zip(header, row, strict=False)) for row in values[1:]]
    else:
        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gbk")
        raw = list(csv.DictReader(text.splitlines()))
    return [
        {HEADERS.get(k.strip(), k.strip()): v for k, v in r.items() if k}
        for r in raw
        if any(v not in (None, "") for v in r.values())
    ]


def _float(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def import_rows(
    session: Session,
    rows: list[dict[str, Any]],
    *,
    default_adcode: str,
    now: datetime,
    advance: Callable[[], None] = lambda: None,
) -> list[int]:
    ids = []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        try:
            report = NewIssue(
                category_code=str(row.get("category") or "").strip(),
                description=str(row.get("description") or ""),
                lon=_float(row.get("lon")),
                lat=_float(row.get("lat")),
                crs=str(row.get("crs") or "wgs84"),
                address=row.get("address") or None,
                source=str(row.get("source") or "import"),
                reporter_name=row.get("reporter_name") or None,
                reporter_phone=str(row["reporter_phone"]) if row.get("reporter_phone") else None,
            )
            ids.append(
                create_issue(
                    session, report, now=now, actor="import", default_adcode=default_adcode
                ).id
            )
        except (GeogridError, ValueError) as exc:
            detail = exc.detail if isinstance(exc, GeogridError) else str(exc)
            raise InvalidInputError(f"row {number}: {detail}", row=number) from exc
        advance()
    return ids
