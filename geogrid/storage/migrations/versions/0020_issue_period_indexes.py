"""A district's issues of a period, read from two covering indexes.

The dashboard summary counts the issues reported in its period and those closed in it (closed,
median time to close, satisfaction). Reported ones had ``(district_adcode, reported_at)``;
closed ones were found by scanning every issue of the district, or, for a city or province
summary, every issue: at a 5-million-issue province a month's summary read all of them (2 s).
Both indexes now carry what the summary reads (and the columns the row-security policy
tests), so both halves of the period are index-only ranges, whatever the province holds.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: What the summary reads of an issue, and what the issues' row-security policy tests.
COVERED = ["id", "deadline_at", "resolved_at", "status", "rating", "grid_id", "department_id"]


def upgrade() -> None:
    op.drop_index("ix_issues_district_reported_at", table_name="issues")
    op.create_index(
        "ix_issues_district_reported_at",
        "issues",
        ["district_adcode", "reported_at"],
        postgresql_include=["closed_at", *COVERED],
    )
    op.create_index(
        "ix_issues_district_closed_at",
        "issues",
        ["district_adcode", "closed_at"],
        postgresql_include=["reported_at", *COVERED],
    )


def downgrade() -> None:
    op.drop_index("ix_issues_district_closed_at", table_name="issues")
    op.drop_index("ix_issues_district_reported_at", table_name="issues")
    op.create_index("ix_issues_district_reported_at", "issues", ["district_adcode", "reported_at"])
