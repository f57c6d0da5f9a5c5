"""Issues closed in a period, per district, by index: ``(district_adcode, closed_at)``.

The dashboard summary counts the issues closed in its period (closed, median time to close,
satisfaction) beside those reported in it. Reported ones had ``(district_adcode,
reported_at)``; closed ones were found by scanning every issue of the district, or, for a
city or province summary, every issue. With this index both halves of the period are index
ranges, and a province-wide summary reads the period's issues only.

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


def upgrade() -> None:
    op.create_index("ix_issues_district_closed_at", "issues", ["district_adcode", "closed_at"])


def downgrade() -> None:
    op.drop_index("ix_issues_district_closed_at", table_name="issues")
