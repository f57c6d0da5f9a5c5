"""What anyone may read about an issue: its detail, with reporters' contacts masked.

Reporters' contacts are encrypted at rest (:mod:`geogrid.auth.privacy`); what leaves here is a
masked phone (:func:`mask_phone`), enough to recognise one's own number and not to call it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geogrid.auth.privacy import reporter_contacts
from geogrid.errors import NotFoundError
from geogrid.issues.photos import photo_href
from geogrid.issues.workflow import LABELS, TRANSITIONS, WORKING_STATES
from geogrid.storage.models import IssueEvent, IssuePhoto

__all__ = [
    "issue_detail",
    "mask_phone",
]


def mask_phone(phone: str | None) -> str | None:
    """138****5678: enough to recognise one's own number, not enough to call it."""
    if not phone:
        return None
    digits = phone.strip()
    if len(digits) >= 8:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def issue_detail(session: Session, issue_id: int, *, now: datetime) -> dict[str, Any]:
    """Everything public about an issue: grids, assignee (name, post), timeline. The reporters
    appear only as masked phones."""
    row = (
        session.execute(
            text(
                """
                SELECT i.*, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
                       c.code AS category_code, c.name AS category_name,
                       g.code AS grid_code, gv.name AS grid_name, g.level AS grid_level,
                       s.name AS assignee_name, s.phone AS assignee_phone,
                       (SELECT a.post FROM grid_assignments a
                        WHERE a.grid_id = i.grid_id AND a.staff_id = i.assignee_staff_id
                          AND a.valid_to IS NULL LIMIT 1) AS assignee_post,
                       d.code AS department_code, d.name AS department_name
                FROM issues i
                JOIN issue_categories c ON c.id = i.category_id
                LEFT JOIN grids g ON g.id = i.grid_id
                LEFT JOIN grid_versions gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
                LEFT JOIN staff s ON s.id = i.assignee_staff_id
                LEFT JOIN departments d ON d.id = i.department_id
                WHERE i.id = :id
                """
            ),
            {"id": issue_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"There is no issue {issue_id}.", issue_id=issue_id)
    grids = session.execute(
        text(
            """
            SELECT g.code, g.kind, g.level, ig.grid_version AS version
            FROM issue_grids ig JOIN grids g ON g.id = ig.grid_id
            WHERE ig.issue_id = :id ORDER BY g.kind DESC, g.level, g.code
            """
        ),
        {"id": issue_id},
    ).mappings()
    events = session.execute(
        select(
            IssueEvent.at,
            IssueEvent.actor,
            IssueEvent.kind,
            IssueEvent.from_status,
            IssueEvent.to_status,
            IssueEvent.note,
            IssueEvent.data,
        )
        .where(IssueEvent.issue_id == issue_id)
        .order_by(IssueEvent.at, IssueEvent.id)
    ).mappings()
    photos = session.execute(
        select(
            IssuePhoto.id,
            IssuePhoto.url,
            IssuePhoto.content_type,
            IssuePhoto.size_bytes,
            IssuePhoto.stored_name,
        )
        .where(IssuePhoto.issue_id == issue_id)
        .order_by(IssuePhoto.id)
    ).mappings()
    status = row["status"]
    deadline = row["deadline_at"]
    return {
        "id": row["id"],
        "status": status,
        "status_label": LABELS.get(status, status),
        "category": {"code": row["category_code"], "name": row["category_name"]},
        "description": row["description"],
        "lon": row["lon"],
        "lat": row["lat"],
        "address_text": row["address_text"],
        "source": row["source"],
        "handling_level": row["handling_level"],
        "district_adcode": row["district_adcode"],
        "grid": None
        if row["grid_code"] is None
        else {
            "code": row["grid_code"],
            "name": row["grid_name"],
            "level": row["grid_level"],
            "version": row["grid_version"],
        },
        "grids": [dict(g) for g in grids],
        "routing_note": row["routing_note"],
        "assignee": None
        if row["assignee_staff_id"] is None
        else {
            "id": row["assignee_staff_id"],
            "name": row["assignee_name"],
            "post": row["assignee_post"],
            "phone": row["assignee_phone"],
        },
        "department": None
        if row["department_code"] is None
        else {"code": row["department_code"], "name": row["department_name"]},
        "duplicate_of": row["duplicate_of_id"],
        "decision": row["decision"],
        "resolution": row["resolution"],
        "rating": row["rating"],
        "reported_at": row["reported_at"],
        "accepted_at": row["accepted_at"],
        "deadline_at": deadline,
        "resolved_at": row["resolved_at"],
        "closed_at": row["closed_at"],
        "overdue": bool(deadline and status in WORKING_STATES and deadline < now),
        "row_version": row["row_version"],
        "reporters": reporter_contacts(session, issue_id, full=False),
        "photos": [
            {
                "id": p["id"],
                "href": photo_href(issue_id, p["id"]) if p["stored_name"] else None,
                "url": p["url"],
                "content_type": p["content_type"],
                "size_bytes": p["size_bytes"],
            }
            for p in photos
        ],
        "allowed_transitions": list(TRANSITIONS[status]),
        "timeline": [dict(e) for e in events],
    }
