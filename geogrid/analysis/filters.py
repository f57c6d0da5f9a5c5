"""Which issues an analysis counts: a period, a category (class or subclass), statuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select

from geogrid.errors import InvalidInputError
from geogrid.storage.models import Issue, IssueCategory
from geogrid.vocabulary import ISSUE_STATUSES

__all__ = ["IssueFilter"]


@dataclass(frozen=True)
class IssueFilter:
    """Issues reported in ``[start, end)``, of ``category`` (a class code such as ``"12"``
    takes its subclasses too), in one of ``statuses`` (empty: any status).

    >>> IssueFilter(statuses=("closed",)).statuses
    ('closed',)
    """

    start: datetime | None = None
    end: datetime | None = None
    category: str | None = None
    statuses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [s for s in self.statuses if s not in ISSUE_STATUSES]
        if unknown:
            raise InvalidInputError(
                f"unknown issue status {', '.join(map(repr, unknown))}; "
                f"use one of {', '.join(ISSUE_STATUSES)}",
                value=unknown,
            )
        if self.start and self.end and self.end <= self.start:
            raise InvalidInputError(
                f"the period is empty: end {self.end.isoformat()} is not after start "
                f"{self.start.isoformat()}",
            )

    def clauses(self) -> list[ColumnElement[Any]]:
        """SQL conditions on :class:`~geogrid.storage.models.Issue` for this filter."""
        out: list[ColumnElement[Any]] = []
        if self.start is not None:
            out.append(Issue.reported_at >= self.start)
        if self.end is not None:
            out.append(Issue.reported_at < self.end)
        if self.category:
            parent = select(IssueCategory.id).where(IssueCategory.code == self.category)
            ids = select(IssueCategory.id).where(
                or_(IssueCategory.code == self.category, IssueCategory.parent_id.in_(parent))
            )
            out.append(Issue.category_id.in_(ids))
        if self.statuses:
            out.append(Issue.status.in_(self.statuses))
        return out

    def describe(self) -> str:
        """A short label for map titles."""
        parts = []
        if self.start or self.end:
            start = self.start.date().isoformat() if self.start else "…"
            end = self.end.date().isoformat() if self.end else "…"
            parts.append(f"{start} – {end}")
        if self.category:
            parts.append(f"类别 {self.category}")
        if self.statuses:
            parts.append("状态 " + "/".join(self.statuses))
        return "; ".join(parts) or "全部问题"
