"""A resident's report from the page, followed by a tracking token, and their rating (满意本).

The report page makes a random key per submission (``crypto.randomUUID`` in the browser) and
sends it with the report: it is the idempotency key (a double tap, or a retry after a lost
answer, files one issue) and, once the issue exists, the tracking token of the resident's
tracking page. Nobody else knows it, so the tracking page needs no login; it shows what the
public may see (status, category, what was done, when), never names of staff or reporters.

The rating closes the loop of the five-step workflow (群众评事): a resident's rating of a
resolved issue is also the check (核查) that the work was done, so it moves the issue
``resolved → verified → evaluated`` and, when satisfied (满意/基本满意), on to ``closed``;
``unsatisfied`` reopens it, as :func:`geogrid.issues.transitions.transition` already does.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.errors import ConflictError, InvalidInputError, NotFoundError
from geogrid.issues.detail import issue_detail
from geogrid.issues.intake import CreatedIssue, NewIssue, create_issue
from geogrid.issues.transitions import TransitionRequest, transition
from geogrid.issues.workflow import LABELS

__all__ = [
    "MAX_REPORT_PHOTOS",
    "PUBLIC_STEPS",
    "REPORT_KEY_PREFIX",
    "check_token",
    "issue_by_token",
    "rate_issue",
    "report_from_page",
    "tracking_view",
]

REPORT_KEY_PREFIX: Final = "report:"
MAX_REPORT_PHOTOS: Final = 3
#: The random UUID of the page (hex, with or without dashes): a guessable token would open
#: somebody else's tracking page.
_TOKEN: Final = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
#: What the tracking page tells the resident, by status.
PUBLIC_STEPS: Final = (
    "reported",
    "accepted",
    "in_progress",
    "resolved",
    "closed",
)
#: The rater of the public page, in the issue's timeline.
RESIDENT: Final = "居民(追踪页)"


def check_token(token: str) -> str:
    """``token`` lower-cased, or 422 if it is not a random UUID."""
    token = token.strip().lower()
    if not _TOKEN.match(token):
        raise InvalidInputError(
            "The report key must be a random UUID made by the report page (crypto.randomUUID()).",
            rule="tracking_token",
        )
    return token


def report_from_page(
    session: Session,
    report: NewIssue,
    token: str,
    *,
    now: datetime,
    default_adcode: str,
) -> CreatedIssue:
    """File the report under the page's key; the same key again answers the first issue."""
    token = check_token(token)
    keyed = replace(report, idempotency_key=REPORT_KEY_PREFIX + token)
    return create_issue(session, keyed, now=now, actor="reporter", default_adcode=default_adcode)


def issue_by_token(session: Session, token: str) -> int:
    """The issue a tracking token follows (404 with the rule ``tracking_token``)."""
    try:
        token = check_token(token)
    except InvalidInputError:
        token = ""
    found = session.execute(
        text("SELECT id FROM issues WHERE idempotency_key = :key"),
        {"key": REPORT_KEY_PREFIX + token},
    ).scalar()
    if found is None:
        raise NotFoundError("There is no report with this tracking link.", rule="tracking_token")
    return int(found)


def tracking_view(session: Session, issue_id: int, *, now: datetime) -> dict[str, Any]:
    """What the resident sees: no staff names, no reporters, no internal notes."""
    detail = issue_detail(session, issue_id, now=now)
    status = detail["status"]
    steps = [
        {
            "at": e["at"],
            "status": e["to_status"],
            "label": LABELS.get(e["to_status"], e["to_status"]),
        }
        for e in detail["timeline"]
        if e["kind"] in ("reported", "transition", "reopened") and e["to_status"]
    ]
    return {
        "id": detail["id"],
        "status": status,
        "status_label": detail["status_label"],
        "category": detail["category"],
        "description": detail["description"],
        "address_text": detail["address_text"],
        "grid": detail["grid"],
        "resolution": detail["resolution"]
        if status in ("resolved", "verified", "evaluated", "closed")
        else None,
        "rating": detail["rating"],
        "rating_label": LABELS.get(detail["rating"] or "", None),
        "reported_at": detail["reported_at"],
        "resolved_at": detail["resolved_at"],
        "closed_at": detail["closed_at"],
        "can_rate": status == "resolved",
        "photos": len(detail["photos"]),
        "steps": steps,
    }


def rate_issue(session: Session, issue_id: int, rating: str, *, now: datetime) -> dict[str, Any]:
    """The resident's rating of a resolved issue (see the module docstring for the steps)."""
    status = session.execute(
        text("SELECT status FROM issues WHERE id = :id FOR UPDATE"), {"id": issue_id}
    ).scalar_one()
    if status != "resolved":
        raise ConflictError(
            f"This issue is {LABELS.get(status, status)} ({status}): only a resolved issue can "
            "be rated, once.",
            rule="rating_not_open",
            current=status,
        )
    transition(
        session,
        issue_id,
        TransitionRequest(to="verified", note="居民评价即核查"),
        actor=RESIDENT,
        now=now,
    )
    transition(
        session,
        issue_id,
        TransitionRequest(to="evaluated", rating=rating),
        actor=RESIDENT,
        now=now,
    )
    if rating != "unsatisfied":
        transition(session, issue_id, TransitionRequest(to="closed"), actor=RESIDENT, now=now)
    return tracking_view(session, issue_id, now=now)
