"""Open311 GeoReport v2 mapping: our categories as services, our issues as service requests.

service_code = our category code; category attributes are the service definitions; our eleven
states map to ``open`` / ``closed`` with the precise state in ``status_notes``. Errors are
raised as :class:`Open311Error` and rendered in Open311's ``[{code, description}]`` form by the
router. The reporter's ``email`` is kept with their name and phone (private, like them).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geogrid.errors import GeogridError
from geogrid.issues.catalog import category_attributes
from geogrid.issues.intake import NewIssue, create_issue
from geogrid.issues.workflow import CLOSED_STATES, LABELS, OPEN_STATES
from geogrid.storage.models import IssueCategory

__all__ = [
    "MAX_DAYS",
    "MAX_ROWS",
    "Open311Error",
    "discovery",
    "get_request",
    "list_requests",
    "post_request",
    "service_definition",
    "services",
    "token_lookup",
]

MAX_DAYS = 90
MAX_ROWS = 1000
TOKEN_PREFIX = "open311-token:"


class Open311Error(GeogridError):
    """An error answered as ``[{"code": status, "description": ...}]``."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status


def discovery(base_url: str) -> dict[str, Any]:
    return {
        "changeset": "2026-11-29T00:00:00Z",
        "contact": "网格化管理服务中心 (geogrid)",
        "key_service": "api_key is optional on this server",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": base_url,
                "changeset": "2026-11-29T00:00:00Z",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def services(session: Session) -> list[dict[str, Any]]:
    """Every active leaf category (a subclass, or a class without subclasses)."""
    cats = session.scalars(
        select(IssueCategory).where(IssueCategory.active).order_by(IssueCategory.code)
    ).all()
    parents = {c.parent_id for c in cats if c.parent_id}
    names = {c.id: c.name for c in cats}
    with_attributes = set(
        session.execute(text("SELECT DISTINCT category_id FROM issue_category_attributes"))
        .scalars()
        .all()
    )
    return [
        {
            "service_code": c.code,
            "service_name": c.name,
            "description": c.description or c.name,
            "metadata": c.id in with_attributes,
            "type": "realtime",
            "keywords": "",
            "group": names.get(c.parent_id or 0, c.name),
        }
        for c in cats
        if c.id not in parents
    ]


def _category(session: Session, code: str) -> IssueCategory:
    cat = session.scalars(
        select(IssueCategory).where(IssueCategory.code == code, IssueCategory.active)
    ).first()
    if cat is None:
        raise Open311Error(404, f"service_code {code!r} not found")
    return cat


def service_definition(session: Session, code: str) -> dict[str, Any]:
    cat = _category(session, code)
    return {
        "service_code": cat.code,
        "attributes": [
            {
                "variable": True,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": a.datatype_description or "",
                "order": a.position,
                "description": a.description,
                "values": a.values,
            }
            for a in category_attributes(session, cat.id)
        ],
    }


def post_request(
    session: Session,
    form: dict[str, Any],
    attributes: dict[str, Any],
    *,
    now: datetime,
    default_adcode: str,
) -> list[dict[str, Any]]:
    """Create a service request from the documented form fields."""
    code = form.get("service_code")
    if not code:
        raise Open311Error(400, "service_code is required")
    cat = _category(session, code)
    for attr in category_attributes(session, cat.id):
        if attr.required and not attributes.get(attr.code):
            raise Open311Error(400, f"attribute[{attr.code}] is required: {attr.description}")
    lat, lon, address = form.get("lat"), form.get("long"), form.get("address_string")
    try:
        lat_f = float(lat) if lat not in (None, "") else None
        lon_f = float(lon) if lon not in (None, "") else None
    except ValueError as exc:
        raise Open311Error(400, "lat and long must be decimal degrees (WGS 84)") from exc
    if (lat_f is None or lon_f is None) and not address:
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    name = " ".join(p for p in (form.get("last_name"), form.get("first_name")) if p) or None
    email = (form.get("email") or "").strip() or None
    if email is not None and (
        len(email) > 254 or "@" not in email or any(c.isspace() for c in email)
    ):
        raise Open311Error(400, f"email {email[:60]!r} is not an e-mail address")
    token = uuid.uuid4().hex
    media = form.get("media_url")
    created = create_issue(
        session,
        NewIssue(
            category_code=code,
            description=(form.get("description") or "").strip() or cat.name,
            lon=lon_f,
            lat=lat_f,
            address=address or None,
            source="open311",
            reporter_name=name,
            reporter_phone=form.get("phone") or None,
            reporter_email=email,
            idempotency_key=TOKEN_PREFIX + token,
            attributes=attributes,
            media_urls=[media] if media else [],
        ),
        now=now,
        actor="open311",
        default_adcode=default_adcode,
    )
    return [
        {
            "service_request_id": str(created.id),
            "token": token,
            "service_notice": "已受理，将由所在网格的网格员处理",
            "account_id": None,
        }
    ]


_REQUEST_SQL = """
    SELECT i.id, i.status, i.description, i.resolution, i.decision, i.reported_at,
           i.updated_at, i.deadline_at, i.address_text, i.address_id,
           ST_Y(i.geom) AS lat, ST_X(i.geom) AS lon,
           c.code AS service_code, c.name AS service_name,
           coalesce(d.name, gv.name) AS agency,
           (SELECT p.url FROM issue_photos p WHERE p.issue_id = i.id AND p.url IS NOT NULL
            ORDER BY p.id LIMIT 1) AS media_url
    FROM issues i
    JOIN issue_categories c ON c.id = i.category_id
    LEFT JOIN departments d ON d.id = i.department_id
    LEFT JOIN grid_versions gv ON gv.grid_id = i.grid_id AND gv.valid_to IS NULL
"""


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _as_request(r: Any) -> dict[str, Any]:
    status = r["status"]
    notes = f"{status}: {LABELS.get(status, status)}"
    if r["resolution"]:
        notes += f" — {r['resolution']}"
    elif r["decision"]:
        notes += f" — {r['decision']}"
    return {
        "service_request_id": str(r["id"]),
        "status": "closed" if status in CLOSED_STATES else "open",
        "status_notes": notes,
        "service_name": r["service_name"],
        "service_code": r["service_code"],
        "description": r["description"],
        "agency_responsible": r["agency"],
        "service_notice": None,
        "requested_datetime": _iso(r["reported_at"]),
        "updated_datetime": _iso(r["updated_at"]),
        "expected_datetime": _iso(r["deadline_at"]),
        "address": r["address_text"],
        "address_id": str(r["address_id"]) if r["address_id"] else None,
        "zipcode": None,
        "lat": r["lat"],
        "long": r["lon"],
        "media_url": r["media_url"],
    }


def get_request(session: Session, request_id: str) -> list[dict[str, Any]]:
    if not request_id.isdigit():
        raise Open311Error(404, f"service request {request_id!r} not found")
    row = session.execute(text(_REQUEST_SQL + " WHERE i.id = :id"), {"id": int(request_id)})
    found = row.mappings().first()
    if found is None:
        raise Open311Error(404, f"service request {request_id!r} not found")
    return [_as_request(found)]


def _parse_time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be a W3C date-time, got {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def list_requests(
    session: Session,
    *,
    now: datetime,
    service_request_id: str | None = None,
    service_code: str | None = None,
    status: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
) -> list[dict[str, Any]]:
    """Requests by id list, or filtered by service, status and a window of at most 90 days
    (default: the last 90 days), newest first, at most 1 000."""
    params: dict[str, Any] = {"limit": MAX_ROWS}
    clauses: list[str] = []
    if service_request_id:
        ids = [p.strip() for p in service_request_id.split(",") if p.strip()]
        if not all(p.isdigit() for p in ids):
            raise Open311Error(400, "service_request_id must be comma-separated numbers")
        clauses.append("i.id = ANY(:ids)")
        params["ids"] = [int(p) for p in ids]
    else:
        end = _parse_time(end_date, "end_date") if end_date else now
        start = _parse_time(start_date, "start_date") if start_date else end - timedelta(MAX_DAYS)
        if end - start > timedelta(days=MAX_DAYS):
            raise Open311Error(400, f"start_date to end_date spans more than {MAX_DAYS} days")
        if end < start:
            raise Open311Error(400, "end_date is before start_date")
        clauses.append("i.reported_at >= :start AND i.reported_at <= :end")
        params |= {"start": start, "end": end}
        if service_code:
            clauses.append("c.code = ANY(:codes)")
            params["codes"] = service_code.split(",")
        if status:
            wanted = set(status.split(","))
            if not wanted <= {"open", "closed"}:
                raise Open311Error(400, "status must be open or closed")
            states: set[str] = set()
            if "open" in wanted:
                states |= OPEN_STATES
            if "closed" in wanted:
                states |= CLOSED_STATES
            clauses.append("i.status = ANY(:states)")
            params["states"] = sorted(states)
    sql = _REQUEST_SQL + " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY i.reported_at DESC, i.id DESC LIMIT :limit"
    return [_as_request(r) for r in session.execute(text(sql), params).mappings()]


def token_lookup(session: Session, token: str) -> list[dict[str, Any]]:
    found = session.execute(
        text("SELECT id FROM issues WHERE idempotency_key = :key"), {"key": TOKEN_PREFIX + token}
    ).scalar()
    if found is None:
        raise Open311Error(404, f"token {token!r} not found")
    return [{"service_request_id": str(found), "token": token}]
