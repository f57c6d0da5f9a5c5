"""Former home of the issue functions, kept so that existing imports keep working.

New code imports from where each job now lives:

- intake of a report (``NewIssue``, ``CreatedIssue``, ``create_issue``,
  ``report_fingerprint``, ``category_by_code``): :mod:`geogrid.issues.intake`
- the workflow (``TransitionRequest``, ``transition``, ``escalate``, ``escalate_overdue``,
  ``level_deadline``): :mod:`geogrid.issues.transitions`
- reading an issue (``issue_detail``, ``mask_phone``): :mod:`geogrid.issues.detail`
- assignment of an issue to a worker: :func:`geogrid.issues.routing.on_duty_post`, the one
  place, called by intake and by :mod:`geogrid.grids.followups` when issues are re-tagged.
"""

from __future__ import annotations

from geogrid.issues.detail import issue_detail, mask_phone
from geogrid.issues.intake import (
    CreatedIssue,
    NewIssue,
    category_by_code,
    create_issue,
    report_fingerprint,
)
from geogrid.issues.transitions import (
    TransitionRequest,
    escalate,
    escalate_overdue,
    level_deadline,
    transition,
)

__all__ = [
    "CreatedIssue",
    "NewIssue",
    "TransitionRequest",
    "category_by_code",
    "create_issue",
    "escalate",
    "escalate_overdue",
    "issue_detail",
    "level_deadline",
    "mask_phone",
    "report_fingerprint",
    "transition",
]
