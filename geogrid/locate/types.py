"""Plain value types of locate answers (no database, no geometry)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AdminAreaRef", "GridRef"]


@dataclass(frozen=True)
class GridRef:
    """A grid as it stood in the version that answered: ``version`` is what issues record."""

    id: int
    code: str
    name: str
    level: int
    kind: str
    dedicated_type: str | None
    version: int
    area_m2: float
    parent_id: int | None = None


@dataclass(frozen=True)
class AdminAreaRef:
    """A district, street/town or community/village of ``admin_areas``."""

    id: int
    code: str
    name: str
    level: str
