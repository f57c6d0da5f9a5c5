"""The deliberation-day agenda (5号议事日): the open and escalated issues of a grid and its
subtree, grouped by category, for the meeting on the 5th of the month; and the decisions taken
there, recorded as transitions to ``decided``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from jinja2 import Environment
from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.errors import ConflictError, InvalidInputError, NotFoundError
from geogrid.issues.transitions import TransitionRequest, transition
from geogrid.issues.workflow import LABELS, WORKING_STATES

__all__ = ["agenda", "meeting_day", "record_decisions", "render_agenda_html"]

MEETING_DAY = 5


def meeting_day(month: str) -> date:
    """The meeting of ``YYYY-MM``: the 5th."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", month or "")
    if not match or not 1 <= int(match[2]) <= 12:
        raise InvalidInputError(f"month must look like 2026-11, got {month!r}.", value=month)
    return date(int(match[1]), int(match[2]), MEETING_DAY)


def _grid(session: Session, code: str) -> dict[str, Any]:
    row = (
        session.execute(
            text(
                "SELECT g.id, g.code, g.level, v.name FROM grids g JOIN grid_versions v "
                "ON v.grid_id = g.id AND v.valid_to IS NULL WHERE g.code = :code"
            ),
            {"code": code},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"There is no grid {code!r}.", value=code)
    return dict(row)


def agenda(session: Session, code: str, month: str, *, now: datetime) -> dict[str, Any]:
    """Issues still being worked, reported before the meeting day, grouped by category.

    An issue is ``escalated`` when its handling level is above the grid or it has an
    escalation event; those are listed first in each group.
    """
    grid = _grid(session, code)
    day = meeting_day(month)
    cutoff = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rows = session.execute(
        text(
            """
            SELECT i.id, i.status, i.description, i.handling_level, i.reported_at,
                   i.deadline_at, i.row_version, g.code AS grid_code, gv.name AS grid_name,
                   c.code AS category_code, c.name AS category_name,
                   coalesce(pc.name, c.name) AS class_name, s.name AS assignee_name,
                   (i.handling_level <> 'grid' OR EXISTS (
                        SELECT 1 FROM issue_events e
                        WHERE e.issue_id = i.id AND e.kind = 'escalated')) AS escalated,
                   (i.deadline_at < :now) AS overdue
            FROM issues i
            JOIN grids g ON g.id = i.grid_id
            JOIN grid_versions gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
            JOIN issue_categories c ON c.id = i.category_id
            LEFT JOIN issue_categories pc ON pc.id = c.parent_id
            LEFT JOIN staff s ON s.id = i.assignee_staff_id
            WHERE g.code LIKE :prefix AND i.status = ANY(:working) AND i.reported_at < :cutoff
            ORDER BY c.code, escalated DESC, i.reported_at
            """
        ),
        {"prefix": code + "%", "working": list(WORKING_STATES), "cutoff": cutoff, "now": now},
    ).mappings()
    groups: dict[str, dict[str, Any]] = {}
    total = 0
    for r in rows:
        item = dict(r)
        item["status_label"] = LABELS.get(item["status"], item["status"])
        item["handling_level_label"] = LABELS.get(item["handling_level"], "")
        item["overdue"] = bool(item["overdue"])
        group = groups.setdefault(
            item["category_code"],
            {
                "category_code": item["category_code"],
                "category_name": item["category_name"],
                "class_name": item["class_name"],
                "issues": [],
            },
        )
        group["issues"].append(item)
        total += 1
    return {
        "grid": {"code": grid["code"], "name": grid["name"], "level": grid["level"]},
        "month": month,
        "meeting_date": day.isoformat(),
        "total": total,
        "escalated": sum(i["escalated"] for g in groups.values() for i in g["issues"]),
        "groups": list(groups.values()),
    }


def record_decisions(
    session: Session,
    code: str,
    decisions: list[dict[str, Any]],
    *,
    actor: str,
    now: datetime,
) -> list[dict[str, Any]]:
    """Record each decision against its issue: discussing (if still accepted) → decided."""
    _grid(session, code)
    out = []
    for item in decisions:
        issue_id = int(item["issue_id"])
        row = session.execute(
            text(
                "SELECT i.status FROM issues i JOIN grids g ON g.id = i.grid_id "
                "WHERE i.id = :id AND g.code LIKE :prefix"
            ),
            {"id": issue_id, "prefix": code + "%"},
        ).first()
        if row is None:
            raise NotFoundError(
                f"Issue {issue_id} is not an issue of grid {code} or its subtree.",
                issue_id=issue_id,
            )
        if row.status not in ("accepted", "discussing"):
            raise ConflictError(
                f"Issue {issue_id} is {row.status!r}; a meeting decision applies to accepted or "
                "discussing issues.",
                issue_id=issue_id,
                current=row.status,
                allowed=["accepted", "discussing"],
            )
        note = item.get("note") or f"5号议事日 {code}"
        if row.status == "accepted":
            transition(
                session,
                issue_id,
                TransitionRequest(to="discussing", note=note),
                actor=actor,
                now=now,
            )
        version = transition(
            session,
            issue_id,
            TransitionRequest(to="decided", decision=item["decision"], note=note),
            actor=actor,
            now=now,
        )
        out.append({"issue_id": issue_id, "status": "decided", "row_version": version})
    return out


_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{{ a.grid.name }} {{ a.meeting_date }} 议事日议题</title>
<style>
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 2em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1.5em; }
th, td { border: 1px solid #666; padding: 4px 6px; font-size: 0.9em; vertical-align: top; }
th { background: #eee; } .esc { font-weight: bold; color: #a00; }
td.decision { width: 25%; }
@media print { body { margin: 0; } h2 { page-break-after: avoid; }
  tr { page-break-inside: avoid; } .noprint { display: none; } }
</style></head><body>
<h1>{{ a.grid.name }}（{{ a.grid.code }}）{{ a.meeting_date }} 议事日议题清单</h1>
<p>待议事项 {{ a.total }} 件，其中升级事项 {{ a.escalated }} 件。</p>
{% for g in a.groups %}
<h2>{{ g.class_name }} · {{ g.category_name }}（{{ g.category_code }}）·
 {{ g.issues|length }} 件</h2>
<table><tr><th>编号</th><th>网格</th><th>描述</th><th>状态</th><th>办理层级</th><th>上报时间</th>
<th>期限</th><th>责任人</th><th>议定事项</th></tr>
{% for i in g.issues %}<tr>
<td>{{ i.id }}</td><td>{{ i.grid_name }}<br>{{ i.grid_code }}</td><td>{{ i.description }}</td>
<td>{{ i.status_label }}</td>
<td class="{{ 'esc' if i.escalated else '' }}">{{ i.handling_level_label }}
{{- '（已升级）' if i.escalated else '' }}</td>
<td>{{ i.reported_at.strftime('%Y-%m-%d') }}</td>
<td>{{ i.deadline_at.strftime('%Y-%m-%d') if i.deadline_at else '' }}
{{- '（超期）' if i.overdue else '' }}</td>
<td>{{ i.assignee_name or '' }}</td><td class="decision"></td></tr>
{% endfor %}</table>
{% else %}<p>本期无待议事项。</p>{% endfor %}
</body></html>
"""

_ENV = Environment(autoescape=True)


def render_agenda_html(data: dict[str, Any]) -> str:
    """A printable page (print CSS, Chinese labels, an empty column to write decisions in)."""
    return _ENV.from_string(_TEMPLATE).render(a=data)
