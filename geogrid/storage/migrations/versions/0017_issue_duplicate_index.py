"""An index on ``issues.duplicate_of_id``: deleting an issue checks that no issue still names
it as the report it duplicates, and without the index that check scans every issue (75 ms a
row on the demo), which made deleting a few thousand issues take minutes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_issues_duplicate_of_id", "issues", ["duplicate_of_id"])


def downgrade() -> None:
    op.drop_index("ix_issues_duplicate_of_id", table_name="issues")
