"""The words of grid management as the database stores them: levels, kinds, roles, posts,
statuses, sources, ratings.

They live here, not in ``geogrid.storage``, because the domain (the workflow, validation, the
analysis filters, the pages) speaks them whether or not a database is involved; the storage models
import them for their CHECK constraints, so a new word is added in one place.
"""

from __future__ import annotations

__all__ = [
    "ADMIN_LEVELS",
    "AVAILABILITY",
    "DEDICATED_TYPES",
    "ESTATE_TYPES",
    "GRID_KINDS",
    "HANDLING_LEVELS",
    "ISSUE_SOURCES",
    "ISSUE_STATUSES",
    "PARTY_ORG_KINDS",
    "POSTS",
    "RATINGS",
    "STAFF_ROLES",
    "TOKEN_KINDS",
    "USER_ROLES",
]

ADMIN_LEVELS = ("district", "street", "town", "community", "village")
"""区/县, 街道, 镇, 社区, 村."""

GRID_KINDS = ("general", "dedicated")
DEDICATED_TYPES = (
    "school",
    "hospital",
    "market",
    "enterprise",
    "park",
    "government",
    "scenic_area",
    "construction_site",
    "other",
)
ESTATE_TYPES = ("managed", "work_unit", "three_no", "self_built")
"""物业商住, 机关单位, 三无, 居民自建 (Mianyang Fucheng's four estate classes)."""

STAFF_ROLES = ("grid_chief", "grid_worker", "dedicated_worker", "auxiliary")
"""网格长, 网格员, 专属网格员, 辅助网格员."""

POSTS = ("A", "B")
AVAILABILITY = ("on_duty", "away")
PARTY_ORG_KINDS = ("branch", "group")
HANDLING_LEVELS = ("grid", "community", "street", "department", "district")

ISSUE_STATUSES = (
    "reported",
    "accepted",
    "rejected",
    "duplicate",
    "discussing",
    "decided",
    "in_progress",
    "resolved",
    "verified",
    "evaluated",
    "closed",
)
"""The five-step workflow (五事) as states; see ``geogrid.issues`` for the transitions."""

ISSUE_SOURCES = ("resident", "grid_round", "hotline", "mini_program", "open311", "import")
RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")

USER_ROLES = (
    "admin",
    "district_officer",
    "street_officer",
    "community_officer",
    "grid_worker",
    "department",
)
"""Who logs in: 管理员, 区/街道/社区干部, 网格员, 职能部门."""

TOKEN_KINDS = ("session", "api")
