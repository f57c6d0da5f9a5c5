"""Moving an issue through the workflow: transitions, escalation, deadlines, and its event log.

Keyword-only functions that take a session and a clock (``now``) and never commit: the request
or the CLI command owns the transaction, and tests pass a test clock.

Concurrency: every change is ``UPDATE ... WHERE row_version = :seen``; when another writer got
there first the update touches no row and the caller gets a 409 (412 with ``If-Match``), so two
concurrent transitions never both apply.

Deadlines: ``deadline_at`` is the deadline at the issue's current handling level, counted in the
category's ``deadline_hours`` (working hours, or calendar hours when ``deadline_working_time``
is false; ``geogrid.issues.calendar``) from the report, then again from acceptance, from each
escalation and from a dispatch to a department. The ledger, the indicators, the agenda and
:func:`escalate_overdue` all read that one column; :func:`level_deadline` computes it, here and
at intake (:mod:`geogrid.issues.intake`).

Assignment: a transition may carry a person's explicit choice of assignee (dispatch); the
automatic choice of a worker is made only by :func:`geogrid.issues.routing.on_duty_post`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from geogrid.errors import ConflictError, InvalidInputError, NotFoundError, PreconditionFailedError
from geogrid.issues.calendar import WorkingCalendar, issue_deadline, load_calendar
from geogrid.issues.workflow import WORKING_STATES, check_transition, next_level, required_fields
from geogrid.storage.models import Department, Issue, IssueCategory, IssueEvent, Staff
from geogrid.vocabulary import RATINGS

__all__ = [
    "TransitionRequest",
    "escalate",
    "escalate_overdue",
    "level_deadline",
    "record_event",
    "transition",
]


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


def record_event(
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
    record_event(session, issue_id, now, actor, "transition", row.status, target, note, data)
    for kind, src, dst, extra_note, extra_data in extra_events:
        record_event(session, issue_id, now, actor, kind, src, dst, extra_note, extra_data)
    if target == "duplicate" and request.duplicate_of is not None:
        session.execute(
            text(
                "INSERT INTO issue_reporters (issue_id, name, phone, email, created_at) "
                "SELECT :kept, name, phone, email, created_at FROM issue_reporters "
                "WHERE issue_id = :dup"
            ),
            {"kept": request.duplicate_of, "dup": issue_id},
        )
        record_event(
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
    record_event(
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
