"""Issues in the database: report, read, move through the workflow, escalate.

Keyword-only functions that take a session and a clock (``now``) and never commit: the request
or the CLI command owns the transaction, and tests pass a test clock.

Concurrency: every change is ``UPDATE ... WHERE row_version = :seen``; when another writer got
there first the update touches no row and the caller gets a 409 (412 with ``If-Match``), so two
concurrent transitions never both apply. A retried report carries an ``Idempotency-Key`` and the
unique constraint on ``issues.idempotency_key`` (``INSERT ... ON CONFLICT DO NOTHING``) makes it
one issue even when the copies arrive at once; the SHA-256 of the report is stored with the key,
so the same key with a different report is refused (422) rather than answered with the first.

Deadlines: ``deadline_at`` is the deadline at the issue's current handling level, counted in the
category's ``deadline_hours`` (working hours, or calendar hours when ``deadline_working_time``
is false; ``geogrid.issues.calendar``) from the report, then again from acceptance, from each
escalation and from a dispatch to a department. The ledger, the indicators, the agenda and
:func:`escalate_overdue` all read that one column.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geogrid.auth.privacy import cipher_of, reporter_contacts
from geogrid.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
)
from geogrid.issues.calendar import WorkingCalendar, issue_deadline, load_calendar
from geogrid.issues.duplicates import duplicate_candidates
from geogrid.issues.photos import photo_href
from geogrid.issues.routing import Tagging, on_duty_post, tag_point
from geogrid.issues.workflow import (
    LABELS,
    TRANSITIONS,
    WORKING_STATES,
    check_transition,
    next_level,
    required_fields,
)
from geogrid.spatial.crs import to_wgs84
from geogrid.storage.locks import lock_boundaries_for_tagging
from geogrid.storage.models import (
    Department,
    Issue,
    IssueCategory,
    IssueEvent,
    IssueGrid,
    IssuePhoto,
    IssueReporter,
    Staff,
)
from geogrid.vocabulary import ISSUE_SOURCES, RATINGS

__all__ = [
    "CreatedIssue",
    "NewIssue",
    "TransitionRequest",
    "create_issue",
    "escalate",
    "escalate_overdue",
    "issue_detail",
    "mask_phone",
    "report_fingerprint",
    "transition",
]


@dataclass
class NewIssue:
    """A report as it arrives: a point (in any accepted CRS) or an address, and what it is."""

    category_code: str
    description: str
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    address: str | None = None
    source: str = "resident"
    reporter_name: str | None = None
    reporter_phone: str | None = None
    reporter_email: str | None = None
    idempotency_key: str | None = None
    district_adcode: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    media_urls: list[str] = field(default_factory=list)


@dataclass
class CreatedIssue:
    id: int
    created: bool
    possible_duplicates: list[dict[str, Any]]


@dataclass
class TransitionRequest:
    to: str
    note: str | None = None
    decision: str | None = None
    resolution: str | None = None
    rating: str | None = None
    department: str | None = None
    assignee_staff_id: int | None = None
    duplicate_of: int | None = None


def mask_phone(phone: str | None) -> str | None:
    """138****5678: enough to recognise one's own number, not enough to call it."""
    if not phone:
        return None
    digits = phone.strip()
    if len(digits) >= 8:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def category_by_code(session: Session, code: str) -> IssueCategory:
    category = session.scalars(select(IssueCategory).where(IssueCategory.code == code)).first()
    if category is None or not category.active:
        known = session.scalars(
            select(IssueCategory.code).where(IssueCategory.active).order_by(IssueCategory.code)
        ).all()
        raise InvalidInputError(
            f"Unknown category {code!r}; GET /categories lists the codes.",
            value=code,
            allowed=list(known)[:200],
        )
    return category


def _locate(session: Session, report: NewIssue, default_adcode: str) -> dict[str, Any]:
    """WGS 84 lon/lat (and the matched address) for a point or an address report."""
    if report.lon is not None and report.lat is not None:
        wgs_lon, wgs_lat = to_wgs84(report.lon, report.lat, report.crs)
        lon, lat = float(wgs_lon), float(wgs_lat)
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInputError(f"({report.lon}, {report.lat}) is not a longitude/latitude.")
        return {"lon": lon, "lat": lat, "address_text": report.address, "address_id": None}
    if report.address:
        try:
            from geogrid.addresses.match import match_address
        except ImportError as exc:
            raise InvalidInputError(
                "Address lookup is not available on this server yet; send lon/lat instead."
            ) from exc
        found = match_address(
            session, report.address, district_adcode=report.district_adcode or default_adcode
        )
        return {
            "lon": float(found.lon),
            "lat": float(found.lat),
            "address_text": found.full_text,
            "address_id": found.address_id,
        }
    raise InvalidInputError("A report needs lon and lat, or an address.")


def report_fingerprint(report: NewIssue) -> str:
    """SHA-256 of what a report says (everything but the key and the server's default
    district): two sends of one report have the same fingerprint, two different reports not."""
    content = asdict(report)
    for server_side in ("idempotency_key", "district_adcode"):
        content.pop(server_side)
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _existing_by_key(session: Session, key: str, fingerprint: str) -> int | None:
    """The issue first reported with ``key``; refused if that report said something else
    (as the IETF Idempotency-Key draft and Stripe do: same key, different request = error)."""
    row = session.execute(
        select(Issue.id, Issue.idempotency_hash).where(Issue.idempotency_key == key)
    ).first()
    if row is None:
        return None
    if row.idempotency_hash is not None and row.idempotency_hash != fingerprint:
        raise InvalidInputError(
            "This Idempotency-Key was already used for a different report. A retry must send "
            "exactly the same report; a new report needs a new key.",
            idempotency_key=key,
        )
    return int(row.id)


def level_deadline(
    session: Session,
    category_id: int,
    district_adcode: str | None,
    start: datetime,
    *,
    calendar: WorkingCalendar | None = None,
) -> datetime:
    """The deadline of a level whose clock starts at ``start``, by the category's rule."""
    hours, working = session.execute(
        select(IssueCategory.deadline_hours, IssueCategory.deadline_working_time).where(
            IssueCategory.id == category_id
        )
    ).one()
    if working and calendar is None:
        calendar = load_calendar(session, district_adcode)
    return issue_deadline(
        start, int(hours), working_time=bool(working), calendar=calendar or WorkingCalendar()
    )


def _tag_held_still(session: Session, lon: float, lat: float, district_adcode: str) -> Tagging:
    """The grids at the point, read after the district's boundaries are locked against change
    until this transaction ends (:mod:`geogrid.storage.locks`): the tag cannot go stale before
    the issue is committed. A point that lies in another district's grid locks that district
    too and is read again."""
    locked: set[str] = set()
    district = district_adcode
    while district not in locked:
        lock_boundaries_for_tagging(session, district)
        locked.add(district)
        tagging = tag_point(session, lon, lat)
        if tagging.deepest is not None:
            district = tagging.deepest.district_adcode
    return tagging


def create_issue(
    session: Session, report: NewIssue, *, now: datetime, actor: str, default_adcode: str
) -> CreatedIssue:
    """Report an issue: locate, tag, assign, and log it; a repeated key returns the first."""
    fingerprint = report_fingerprint(report)
    if report.idempotency_key:
        found = _existing_by_key(session, report.idempotency_key, fingerprint)
        if found is not None:
            return CreatedIssue(found, False, [])
    if report.source not in ISSUE_SOURCES:
        raise InvalidInputError(
            f"Unknown source {report.source!r}.", value=report.source, allowed=list(ISSUE_SOURCES)
        )
    if not report.description.strip():
        raise InvalidInputError("The description is empty: say what the problem is.")
    category = category_by_code(session, report.category_code)
    where = _locate(session, report, default_adcode)
    tagging = _tag_held_still(
        session, where["lon"], where["lat"], report.district_adcode or default_adcode
    )

    values: dict[str, Any] = {
        "category_id": category.id,
        "description": report.description.strip(),
        "geom": func.ST_SetSRID(func.ST_MakePoint(where["lon"], where["lat"]), 4326),
        "address_text": where["address_text"],
        "address_id": where["address_id"],
        "source": report.source,
        "status": "reported",
        "idempotency_key": report.idempotency_key,
        "idempotency_hash": fingerprint if report.idempotency_key else None,
        "reported_at": now,
        "updated_at": now,
    }
    if tagging.deepest is None:
        values |= {
            "district_adcode": report.district_adcode or default_adcode,
            "handling_level": "district",
            "routing_note": "point in no current grid: sent to the district queue",
        }
    else:
        grid = tagging.deepest
        post = on_duty_post(session, grid.id, now=now)
        values |= {
            "district_adcode": grid.district_adcode,
            "grid_id": grid.id,
            "grid_version": grid.version,
            "handling_level": category.default_level,
            "assignee_staff_id": post.staff_id,
            "routing_note": post.note,
        }
        if category.default_level == "department" and category.department_id:
            values["department_id"] = category.department_id
    # the clock of the first level starts at the report (acceptance restarts it)
    values["deadline_at"] = level_deadline(session, category.id, values["district_adcode"], now)

    stmt = pg_insert(Issue).values(**values)
    if report.idempotency_key:
        stmt = stmt.on_conflict_do_nothing(index_elements=["idempotency_key"])
    issue_id = session.execute(stmt.returning(Issue.id)).scalar()
    if issue_id is None:  # a concurrent copy with the same key won the race
        found = _existing_by_key(session, report.idempotency_key or "", fingerprint)
        if found is None:
            raise ConflictError("A report with this Idempotency-Key is being written; retry.")
        return CreatedIssue(found, False, [])

    if tagging.all:
        session.execute(
            insert(IssueGrid),
            [
                {"issue_id": issue_id, "grid_id": g.id, "grid_version": g.version}
                for g in tagging.all
            ],
        )
    if report.reporter_name or report.reporter_phone or report.reporter_email:
        cipher = cipher_of(session)  # encrypted at rest (geogrid.auth.privacy)
        session.execute(
            insert(IssueReporter).values(
                issue_id=issue_id,
                name=cipher.encrypt(report.reporter_name),
                phone=cipher.encrypt(report.reporter_phone),
                email=cipher.encrypt(report.reporter_email),
                created_at=now,
            )
        )
    for url in report.media_urls:
        session.execute(insert(IssuePhoto).values(issue_id=issue_id, url=url, uploaded_by=actor))
    data: dict[str, Any] = {"grids": [g.code for g in tagging.all]}
    if report.attributes:
        data["attributes"] = report.attributes
    _event(
        session, issue_id, now, actor, "reported", None, "reported", values["routing_note"], data
    )
    duplicates = duplicate_candidates(
        session,
        lon=where["lon"],
        lat=where["lat"],
        category_id=category.id,
        now=now,
        exclude_id=issue_id,
    )
    return CreatedIssue(issue_id, True, duplicates)


def _event(
    session: Session,
    issue_id: int,
    at: datetime,
    actor: str,
    kind: str,
    from_status: str | None,
    to_status: str | None,
    note: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    session.execute(
        insert(IssueEvent).values(
            issue_id=issue_id,
            at=at,
            actor=actor,
            kind=kind,
            from_status=from_status,
            to_status=to_status,
            note=note,
            data=data or {},
        )
    )


def _current(session: Session, issue_id: int) -> Any:
    row = session.execute(
        select(
            Issue.id,
            Issue.status,
            Issue.row_version,
            Issue.handling_level,
            Issue.category_id,
            Issue.district_adcode,
        ).where(Issue.id == issue_id)
    ).first()
    if row is None:
        raise NotFoundError(f"There is no issue {issue_id}.", issue_id=issue_id)
    return row


def _seen_version(row: Any, expected_version: int | None) -> int:
    if expected_version is not None and expected_version != row.row_version:
        raise PreconditionFailedError(
            f"Issue {row.id} is at version {row.row_version}, not {expected_version}: read it "
            "again and retry on the current version.",
            identifier=str(row.id),
            current_version=row.row_version,
            issue_id=row.id,
        )
    return int(row.row_version)


def _apply(
    session: Session,
    issue_id: int,
    seen: int,
    now: datetime,
    values: dict[str, Any],
    *,
    conditional: bool = False,
) -> int:
    """The conditional update: it applies only if nobody changed the issue since ``seen``.

    When another writer commits first (even while this one waits on the row lock), PostgreSQL
    re-checks ``row_version = seen`` on the new row and updates nothing: 412 if the client sent
    an expected version (``conditional``: its precondition failed), 409 otherwise.
    """
    new_version = session.execute(
        update(Issue)
        .where(Issue.id == issue_id, Issue.row_version == seen)
        .values(**values, row_version=Issue.row_version + 1, updated_at=now)
        .returning(Issue.row_version)
        .execution_options(synchronize_session=False)
    ).scalar()
    if new_version is None:
        current = session.scalar(select(Issue.row_version).where(Issue.id == issue_id))
        message = f"Issue {issue_id} was changed by someone else meanwhile; reload it and retry."
        if conditional:
            raise PreconditionFailedError(
                message, identifier=str(issue_id), current_version=current, issue_id=issue_id
            )
        raise ConflictError(message, issue_id=issue_id, current_version=current)
    return int(new_version)


def _department_id(session: Session, code: str, adcode: str) -> int:
    dept = session.scalar(
        select(Department.id).where(
            Department.code == code, Department.district_adcode == adcode, Department.active
        )
    )
    if dept is None:
        raise InvalidInputError(
            f"Unknown department {code!r}; GET /departments lists the codes.", value=code
        )
    return int(dept)


def transition(
    session: Session,
    issue_id: int,
    request: TransitionRequest,
    *,
    actor: str,
    now: datetime,
    expected_version: int | None = None,
) -> int:
    """Move an issue to ``request.to``; returns the new row version.

    Raises ConflictError (409, with the allowed states) for a transition the workflow does not
    allow or when another writer changed the issue first.
    """
    row = _current(session, issue_id)
    seen = _seen_version(row, expected_version)
    target = request.to
    check_transition(row.status, target)
    for name in required_fields(target):
        if getattr(request, name) in (None, ""):
            raise InvalidInputError(
                f"Moving an issue to {target!r} needs {name!r}.", field=name, state=target
            )
    values: dict[str, Any] = {"status": target}
    data: dict[str, Any] = {}
    extra_events: list[tuple[str, str | None, str | None, str | None, dict[str, Any]]] = []

    if target == "accepted":
        deadline = level_deadline(session, row.category_id, row.district_adcode, now)
        values |= {"accepted_at": now, "deadline_at": deadline}
        data["deadline_at"] = deadline.isoformat()
    elif target == "rejected":
        values["resolution"] = request.note
    elif target == "duplicate":
        kept = request.duplicate_of
        if kept == issue_id:
            raise InvalidInputError("An issue cannot be a duplicate of itself.")
        kept_row = session.execute(select(Issue.id, Issue.status).where(Issue.id == kept)).first()
        if kept_row is None:
            raise InvalidInputError(f"duplicate_of: there is no issue {kept}.", value=kept)
        if kept_row.status in ("duplicate", "rejected"):
            raise ConflictError(
                f"Issue {kept} is itself {kept_row.status}; mark this one a duplicate of the "
                "issue that is kept.",
            )
        values["duplicate_of_id"] = kept
        data["duplicate_of"] = kept
    elif target == "decided":
        values["decision"] = request.decision
    elif target == "in_progress":
        if row.status in ("resolved", "evaluated"):
            # sent back to work: the clock of the current level starts again
            deadline = level_deadline(session, row.category_id, row.district_adcode, now)
            values |= {"resolved_at": None, "deadline_at": deadline}
            data["deadline_at"] = deadline.isoformat()
        if request.department:
            dept = _department_id(session, request.department, row.district_adcode)
            # 部门报到: the department's clock starts now
            deadline = level_deadline(session, row.category_id, row.district_adcode, now)
            values |= {
                "department_id": dept,
                "handling_level": "department",
                "deadline_at": deadline,
            }
            data["department"] = request.department
            data["deadline_at"] = deadline.isoformat()
            extra_events.append(
                ("dispatched", None, None, "吹哨报到: dispatched to a department", dict(data))
            )
        if request.assignee_staff_id is not None:
            if session.get(Staff, request.assignee_staff_id) is None:
                raise InvalidInputError(
                    f"There is no staff member {request.assignee_staff_id}.",
                    value=request.assignee_staff_id,
                )
            values["assignee_staff_id"] = request.assignee_staff_id
            data["assignee_staff_id"] = request.assignee_staff_id
    elif target == "resolved":
        values |= {"resolution": request.resolution, "resolved_at": now}
    elif target == "evaluated":
        if request.rating not in RATINGS:
            raise InvalidInputError(
                f"Unknown rating {request.rating!r}.", value=request.rating, allowed=list(RATINGS)
            )
        values["rating"] = request.rating
        data["rating"] = request.rating
        if request.rating == "unsatisfied":
            # 群众评事: an unsatisfied resident sends the work back, the rating stays on record,
            # and the work gets a fresh deadline at its level
            deadline = level_deadline(session, row.category_id, row.district_adcode, now)
            values |= {"status": "in_progress", "resolved_at": None, "deadline_at": deadline}
            data["deadline_at"] = deadline.isoformat()
            extra_events.append(
                ("reopened", "evaluated", "in_progress", "unsatisfied rating: reopened", {})
            )
    elif target == "closed":
        values["closed_at"] = now

    version = _apply(session, issue_id, seen, now, values, conditional=expected_version is not None)
    note = request.note or request.decision or request.resolution
    _event(session, issue_id, now, actor, "transition", row.status, target, note, data)
    for kind, src, dst, extra_note, extra_data in extra_events:
        _event(session, issue_id, now, actor, kind, src, dst, extra_note, extra_data)
    if target == "duplicate" and request.duplicate_of is not None:
        session.execute(
            text(
                "INSERT INTO issue_reporters (issue_id, name, phone, email, created_at) "
                "SELECT :kept, name, phone, email, created_at FROM issue_reporters "
                "WHERE issue_id = :dup"
            ),
            {"kept": request.duplicate_of, "dup": issue_id},
        )
        _event(
            session,
            request.duplicate_of,
            now,
            actor,
            "duplicate_merged",
            None,
            None,
            f"issue {issue_id} merged as a duplicate; its reporters were copied here",
            {"duplicate": issue_id},
        )
    return version


def escalate(
    session: Session,
    issue_id: int,
    *,
    actor: str,
    now: datetime,
    note: str | None = None,
    expected_version: int | None = None,
) -> int:
    """Move an issue one handling level up (grid → community → street → district)."""
    row = _current(session, issue_id)
    seen = _seen_version(row, expected_version)
    if row.status not in WORKING_STATES:
        raise ConflictError(
            f"Only issues still being worked can be escalated; this one is {row.status!r}.",
            rule="escalation_not_working",
            current=row.status,
            allowed_states=list(WORKING_STATES),
        )
    to_level = next_level(row.handling_level)
    deadline = level_deadline(session, row.category_id, row.district_adcode, now)
    version = _apply(
        session,
        issue_id,
        seen,
        now,
        {"handling_level": to_level, "deadline_at": deadline},
        conditional=expected_version is not None,
    )
    _event(
        session,
        issue_id,
        now,
        actor,
        "escalated",
        None,
        None,
        note or "escalated by hand",
        {
            "from_level": row.handling_level,
            "to_level": to_level,
            "reason": "manual",
            "deadline_at": deadline.isoformat(),
        },
    )
    return version


_DUE_SQL = text(
    """
    SELECT id, row_version, handling_level, category_id, district_adcode, deadline_at,
           clock_start, deadline_hours, deadline_working_time
    FROM (
        SELECT i.id, i.row_version, i.handling_level, i.category_id, i.district_adcode,
               i.deadline_at, c.deadline_hours, c.deadline_working_time,
               -- only issues written before deadlines were stored lack deadline_at: their
               -- clock starts at the last escalation or dispatch, else acceptance, else report
               CASE WHEN i.deadline_at IS NULL THEN COALESCE(
                   (SELECT max(e.at) FROM issue_events e
                    WHERE e.issue_id = i.id AND e.kind IN ('escalated', 'dispatched')),
                   i.accepted_at, i.reported_at) END AS clock_start
        FROM issues i JOIN issue_categories c ON c.id = i.category_id
        WHERE i.status = ANY(:working) AND i.handling_level <> 'district'
          AND (CAST(:adcode AS text) IS NULL OR i.district_adcode = :adcode)
    ) candidate
    -- N working hours never end before N calendar hours: a safe pre-filter for the old rows
    WHERE COALESCE(deadline_at, clock_start + make_interval(hours => deadline_hours)) <= :now
    """
)

_ESCALATE_SQL = text(
    """
    WITH due AS (
        SELECT * FROM unnest(
            CAST(:ids AS bigint[]), CAST(:versions AS integer[]), CAST(:levels AS text[]),
            CAST(:deadlines AS timestamptz[])
        ) AS d(id, seen_version, from_level, deadline)
    ),
    moved AS (
        UPDATE issues i
        SET handling_level = CASE i.handling_level
                WHEN 'grid' THEN 'community' WHEN 'community' THEN 'street' ELSE 'district' END,
            deadline_at = due.deadline,
            row_version = i.row_version + 1,
            updated_at = :now
        FROM due
        WHERE i.id = due.id AND i.row_version = due.seen_version
        RETURNING i.id, due.from_level, i.handling_level AS to_level, i.deadline_at
    )
    INSERT INTO issue_events (issue_id, at, actor, kind, note, data)
    SELECT id, :now, :actor, 'escalated', 'deadline passed at ' || from_level || ' level',
           jsonb_build_object('from_level', from_level, 'to_level', to_level,
                              'reason', 'deadline', 'deadline_at', deadline_at)
    FROM moved
    RETURNING issue_id
    """
)


def escalate_overdue(
    session: Session,
    now: datetime,
    *,
    district_adcode: str | None = None,
    actor: str = "system: deadline",
) -> list[int]:
    """Escalate, one level, every issue whose deadline at its current level has passed.

    The deadline is ``deadline_at`` (set at report, acceptance, escalation and dispatch); the
    next level gets a fresh deadline counted from ``now`` by the category's rule (working or
    calendar hours). Rows written before deadlines were stored are judged by the same rule from
    the start of their level's clock. The update is conditional on the ``row_version`` read, so
    a concurrent run, or a worker acting on the issue meanwhile, is never escalated twice.
    """
    candidates = session.execute(
        _DUE_SQL, {"working": list(WORKING_STATES), "now": now, "adcode": district_adcode}
    ).all()
    calendars: dict[str | None, WorkingCalendar] = {}

    def calendar_of(adcode: str | None) -> WorkingCalendar:
        if adcode not in calendars:
            calendars[adcode] = load_calendar(session, adcode)
        return calendars[adcode]

    next_deadlines: dict[tuple[int, str | None], datetime] = {}
    ids: list[int] = []
    versions: list[int] = []
    levels: list[str] = []
    deadlines: list[datetime] = []
    for c in candidates:
        if c.deadline_at is None:
            due_at = issue_deadline(
                c.clock_start,
                int(c.deadline_hours),
                working_time=bool(c.deadline_working_time),
                calendar=calendar_of(c.district_adcode),
            )
            if due_at > now:
                continue
        key = (c.category_id, c.district_adcode)
        if key not in next_deadlines:
            next_deadlines[key] = issue_deadline(
                now,
                int(c.deadline_hours),
                working_time=bool(c.deadline_working_time),
                calendar=calendar_of(c.district_adcode),
            )
        ids.append(int(c.id))
        versions.append(int(c.row_version))
        levels.append(str(c.handling_level))
        deadlines.append(next_deadlines[key])
    if not ids:
        return []
    rows = session.execute(
        _ESCALATE_SQL,
        {
            "ids": ids,
            "versions": versions,
            "levels": levels,
            "deadlines": deadlines,
            "now": now,
            "actor": actor,
        },
    ).scalars()
    return sorted(int(r) for r in rows)


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
