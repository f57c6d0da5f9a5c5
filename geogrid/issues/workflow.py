"""The five-step workflow (五事工作机制) as states and allowed transitions.

居民提事 ``reported`` → 立案 ``accepted`` (or ``rejected`` / ``duplicate``) → 小区议事
``discussing`` → 民主定事 ``decided`` → 协同办事 ``in_progress`` → ``resolved`` → 核查
``verified`` → 群众评事 ``evaluated`` → 结案 ``closed``. Small matters skip the meeting
(小事不出网格: ``accepted → in_progress``); a failed check sends ``resolved`` back to work, and an
``unsatisfied`` rating reopens the issue (``evaluated → in_progress``, done by the repository).

The table is data, not code, so the 409 answer can list what *is* allowed. Each refusal names
its rule (``illegal_transition``, ``unknown_state``, ``escalation_limit``; see
:data:`geogrid.errors.RULES`).
"""

from __future__ import annotations

from typing import Final

from geogrid.errors import ConflictError, InvalidInputError

__all__ = [
    "CLOSED_STATES",
    "ESCALATION_ORDER",
    "LABELS",
    "OPEN_STATES",
    "TRANSITIONS",
    "WORKING_STATES",
    "check_transition",
    "next_level",
    "required_fields",
]

TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    "reported": ("accepted", "rejected", "duplicate"),
    "accepted": ("discussing", "in_progress", "rejected", "duplicate"),
    "discussing": ("decided", "duplicate"),
    "decided": ("in_progress",),
    "in_progress": ("resolved",),
    "resolved": ("verified", "in_progress"),
    "verified": ("evaluated",),
    "evaluated": ("closed", "in_progress"),
    "closed": (),
    "rejected": (),
    "duplicate": (),
}

#: Finished, one way or another: the Open311 "closed".
CLOSED_STATES: Final = frozenset({"closed", "rejected", "duplicate"})
OPEN_STATES: Final = frozenset(TRANSITIONS) - CLOSED_STATES
#: Work still to be done at some level: what deadlines, escalation and the agenda look at.
WORKING_STATES: Final = ("reported", "accepted", "discussing", "decided", "in_progress")

LABELS: Final[dict[str, str]] = {
    "reported": "已上报",
    "accepted": "已立案",
    "rejected": "不予立案",
    "duplicate": "重复件",
    "discussing": "议事中",
    "decided": "已定事",
    "in_progress": "办理中",
    "resolved": "已处置",
    "verified": "已核查",
    "evaluated": "已评价",
    "closed": "已结案",
    "grid": "网格",
    "community": "社区",
    "street": "街道/镇",
    "department": "部门",
    "district": "区级",
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
}

#: 小事不出网格、大事不出社区: each escalation moves one step right.
ESCALATION_ORDER: Final = ("grid", "community", "street", "district")


def next_level(level: str) -> str:
    """The handling level above ``level``; a department's issue goes to the district."""
    if level == "department":
        return "district"
    index = ESCALATION_ORDER.index(level)
    if index + 1 >= len(ESCALATION_ORDER):
        raise ConflictError(
            "The issue is already handled at district level; it cannot be escalated further.",
            rule="escalation_limit",
            handling_level=level,
        )
    return ESCALATION_ORDER[index + 1]


def check_transition(current: str, target: str) -> None:
    """Refuse a transition the table does not allow, naming the allowed ones (409)."""
    if target not in TRANSITIONS:
        raise InvalidInputError(
            f"Unknown state {target!r}.",
            rule="unknown_state",
            value=target,
            allowed=sorted(TRANSITIONS),
        )
    allowed = TRANSITIONS[current]
    if target not in allowed:
        listed = ", ".join(allowed) if allowed else "none: the issue is finished"
        raise ConflictError(
            f"An issue in state {current!r} cannot go to {target!r}. Allowed: {listed}.",
            rule="illegal_transition",
            current=current,
            requested=target,
            allowed=list(allowed),
        )


def required_fields(target: str) -> tuple[str, ...]:
    """What a transition must carry: the reason, the decision, what was done, the rating."""
    return {
        "rejected": ("note",),
        "duplicate": ("duplicate_of",),
        "decided": ("decision",),
        "resolved": ("resolution",),
        "evaluated": ("rating",),
    }.get(target, ())
