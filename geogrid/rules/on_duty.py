"""Who is on duty on a grid (AB岗): the one rule, and the one query that feeds it.

Every grid has an A post (primary worker) and a B post (backup). Residents, the report router,
the signboard and the gaps map all ask the same question — *who answers for this grid now?* —
and used to answer it in four places with three meanings. They now all call :func:`on_duty`
on :class:`PostHolder` values, loaded by :func:`load_post_holders` (or, for the signboard and
the live locator, built from the signboard's own one-round-trip query).

The rule, as a district runs it:

* a holder is **away** when ``availability = 'away'`` and ``away_until`` is unset (away until
  further notice) or still ahead of ``now``; once ``away_until`` has passed the holder is back,
  whatever ``availability`` still says, because nobody resets the flag on the morning they
  return;
* a holder whose staff record is **inactive** (left the job, account closed) no longer holds the
  post: the post counts as vacant, exactly as if nobody were assigned. The signboard does not
  print a departed worker's phone, the gaps map asks the office to fill the post, and no report
  is left with them;
* **A** is on duty unless away or vacant; then **B** if B is present (有事找B岗);
* nobody present: nobody is on duty and the reason says why. A new report still needs an owner,
  so :attr:`OnDutyAnswer.fallback` keeps it with the holder who is merely away (A first, then B),
  as routing always did; with both posts vacant the report waits in the queue unassigned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = [
    "REASONS",
    "GridPosts",
    "OnDutyAnswer",
    "PostHolder",
    "PostState",
    "answer_changes_at",
    "load_post_holders",
    "on_duty",
    "post_state",
]

Post = Literal["A", "B"]
PostState = Literal["present", "away", "vacant"]

#: Reason code -> (Chinese label, English label). Codes are stable (clients branch on them);
#: labels are for people. ``not_recorded`` is the signboard of a past date, where availability
#: was never recorded historically.
REASONS: dict[str, tuple[str, str]] = {
    "a_on_duty": ("A岗在岗", "A post on duty"),
    "a_away_b_covers": ("A岗外出，B岗代岗", "A post away, B post covers"),
    "no_a_b_covers": ("无A岗，B岗在岗", "no A post, B post on duty"),
    "both_away": ("A、B岗均外出", "A and B posts both away"),
    "a_away_no_b": ("A岗外出，无B岗", "A post away, no B post"),
    "no_a_b_away": ("无A岗，B岗外出", "no A post, B post away"),
    "no_posts": ("无A、B岗", "no A or B post"),
    "not_recorded": ("过去日期不记录在岗情况", "availability is not recorded for past dates"),
}


@dataclass(frozen=True)
class PostHolder:
    """The staff member holding a grid's A or B post, with what the rule needs.

    ``phone`` rides along for display (signboards); the rule never reads it.
    """

    staff_id: int
    name: str
    availability: str
    away_until: datetime | None = None
    active: bool = True
    phone: str | None = None


@dataclass(frozen=True)
class OnDutyAnswer:
    """Who answers for a grid at one moment, and why.

    ``holder``/``post``: the person on duty, or None. ``reason``: a code of :data:`REASONS`.
    ``fallback``/``fallback_post``: who keeps a new report — the on-duty person, or when nobody
    is on duty the holder who is merely away (A before B); None when both posts are vacant.
    ``a_state``/``b_state``: each post as the rule saw it (gaps name vacant posts from these).
    """

    holder: PostHolder | None
    post: Post | None
    reason: str
    fallback: PostHolder | None
    fallback_post: Post | None
    a_state: PostState
    b_state: PostState

    @property
    def label_zh(self) -> str:
        return REASONS[self.reason][0]

    @property
    def label_en(self) -> str:
        return REASONS[self.reason][1]


@dataclass(frozen=True)
class GridPosts:
    """The A and B post holders of one grid (None: nobody assigned)."""

    a: PostHolder | None = None
    b: PostHolder | None = None

    def on_duty(self, *, now: datetime) -> OnDutyAnswer:
        return on_duty(self.a, self.b, now=now)


def post_state(holder: PostHolder | None, *, now: datetime) -> PostState:
    """``vacant`` (nobody, or an inactive staff record), ``away`` or ``present`` at ``now``.

    >>> from datetime import UTC, datetime
    >>> now = datetime(2026, 5, 5, 9, tzinfo=UTC)
    >>> post_state(PostHolder(1, "张三", "away", datetime(2026, 5, 4, tzinfo=UTC)), now=now)
    'present'
    """
    if holder is None or not holder.active:
        return "vacant"
    if holder.availability == "away" and (holder.away_until is None or holder.away_until > now):
        return "away"
    return "present"


_NOBODY: dict[tuple[PostState, PostState], str] = {
    ("away", "away"): "both_away",
    ("away", "vacant"): "a_away_no_b",
    ("vacant", "away"): "no_a_b_away",
    ("vacant", "vacant"): "no_posts",
}


def on_duty(a: PostHolder | None, b: PostHolder | None, *, now: datetime) -> OnDutyAnswer:
    """Who is on duty on a grid whose A post is held by ``a`` and B post by ``b``, at ``now``.

    A, unless A is away or the post is vacant (see the module docstring); then B if present;
    otherwise nobody, with a reason and the fallback owner of a new report.

    Parameters
    ----------
    a, b
        The holders of the A and B posts, None where nobody is assigned.
    now
        The moment asked about (timezone-aware, like ``away_until``); injected so that the
        answer is reproducible and a cache can know when it expires
        (:func:`answer_changes_at`).

    Returns
    -------
    OnDutyAnswer
        The person on duty (or None), the post, the reason code and the fallback.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> now = datetime(2026, 5, 5, 9, tzinfo=UTC)
    >>> a = PostHolder(1, "张三", "away", away_until=datetime(2026, 5, 6, tzinfo=UTC))
    >>> b = PostHolder(2, "李四", "on_duty")
    >>> answer = on_duty(a, b, now=now)
    >>> answer.holder.name, answer.post, answer.reason, answer.label_zh
    ('李四', 'B', 'a_away_b_covers', 'A岗外出，B岗代岗')
    >>> on_duty(a, b, now=datetime(2026, 5, 7, tzinfo=UTC)).reason  # A is back
    'a_on_duty'
    >>> nobody = on_duty(a, PostHolder(2, "李四", "away"), now=now)
    >>> nobody.holder, nobody.reason, nobody.fallback.name, nobody.fallback_post
    (None, 'both_away', '张三', 'A')
    """
    a_state, b_state = post_state(a, now=now), post_state(b, now=now)
    if a_state == "present":
        return OnDutyAnswer(a, "A", "a_on_duty", a, "A", a_state, b_state)
    if b_state == "present":
        reason = "a_away_b_covers" if a_state == "away" else "no_a_b_covers"
        return OnDutyAnswer(b, "B", reason, b, "B", a_state, b_state)
    reason = _NOBODY[(a_state, b_state)]
    if a_state == "away":
        return OnDutyAnswer(None, None, reason, a, "A", a_state, b_state)
    if b_state == "away":
        return OnDutyAnswer(None, None, reason, b, "B", a_state, b_state)
    return OnDutyAnswer(None, None, reason, None, None, a_state, b_state)


def answer_changes_at(holders: Iterable[PostHolder | None], *, now: datetime) -> datetime | None:
    """When an :func:`on_duty` answer over ``holders`` may change by itself after ``now``: the
    earliest ``away_until`` still ahead among holders away at ``now`` (that one is back then).
    None: not before the data changes. Caches of the answer expire then.

    >>> from datetime import UTC, datetime
    >>> now = datetime(2026, 5, 5, 9, tzinfo=UTC)
    >>> back = datetime(2026, 5, 6, tzinfo=UTC)
    >>> answer_changes_at([PostHolder(1, "张三", "away", back), None], now=now) == back
    True
    >>> answer_changes_at([PostHolder(1, "张三", "away", None)], now=now) is None
    True
    """
    soonest: datetime | None = None
    for holder in holders:
        if holder is None or post_state(holder, now=now) != "away" or holder.away_until is None:
            continue
        if soonest is None or holder.away_until < soonest:
            soonest = holder.away_until
    return soonest


_HOLDERS_SQL = text(
    """
    SELECT a.grid_id, a.post, s.id, s.name, s.availability, s.away_until, s.active, s.phone
    FROM grid_assignments a JOIN staff s ON s.id = a.staff_id
    WHERE a.valid_to IS NULL AND a.post IN ('A', 'B') AND a.grid_id = ANY(:grid_ids)
    """
)


def load_post_holders(session: Session, grid_ids: Sequence[int]) -> dict[int, GridPosts]:
    """The current A and B post holders of ``grid_ids`` (every id is a key; a grid with no
    posts maps to an empty :class:`GridPosts`). Inactive staff are loaded too: whether they
    count is the rule's decision, not the query's. One current holder per post and grid is a
    database constraint (``uq_grid_assignments_current_post``)."""
    found: dict[int, dict[str, PostHolder]] = {int(g): {} for g in grid_ids}
    for row in session.execute(_HOLDERS_SQL, {"grid_ids": list(found)}):
        found[row.grid_id][row.post] = PostHolder(
            staff_id=row.id,
            name=row.name,
            availability=row.availability,
            away_until=row.away_until,
            active=row.active,
            phone=row.phone,
        )
    return {g: GridPosts(p.get("A"), p.get("B")) for g, p in found.items()}
