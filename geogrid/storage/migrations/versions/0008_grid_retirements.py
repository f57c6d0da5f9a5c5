"""Grid retirements: who retired a grid, when, why, by which operation, and its restoration.

Why a table and not ``grids.retired_by``/``grids.retire_reason``: a grid can be retired,
restored and retired again, and each retirement is history the office must be able to read.
Why not a row of ``grid_versions``: those rows are boundaries in force over a period (``at=``
reads, exports and the OGC API read them); a retirement is an event, not a boundary.

Grids already retired before this migration get a row saying the actor is not known.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grid_retirements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=16), server_default="retire", nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_by", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restored_by", sa.Text(), nullable=True),
        sa.Column("restore_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "operation IN ('retire', 'split', 'merge')",
            name=op.f("ck_grid_retirements_operation"),
        ),
        sa.CheckConstraint(
            "restored_at IS NULL OR restored_at >= retired_at",
            name=op.f("ck_grid_retirements_restored_after_retired"),
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["grids.id"],
            name=op.f("fk_grid_retirements_grid_id_grids"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_retirements")),
    )
    op.create_index(
        op.f("ix_grid_retirements_grid_id"), "grid_retirements", ["grid_id"], unique=False
    )
    op.create_index(
        "uq_grid_retirements_open",
        "grid_retirements",
        ["grid_id"],
        unique=True,
        postgresql_where=sa.text("restored_at IS NULL"),
    )
    op.execute(
        """
        INSERT INTO grid_retirements (grid_id, version, operation, retired_at, retired_by, reason)
        SELECT id, current_version, 'retire', retired_at, 'unknown (retired before migration 0009)',
               NULL
        FROM grids WHERE retired_at IS NOT NULL
        """
    )


def downgrade() -> None:
    op.drop_index("uq_grid_retirements_open", table_name="grid_retirements")
    op.drop_index(op.f("ix_grid_retirements_grid_id"), table_name="grid_retirements")
    op.drop_table("grid_retirements")
