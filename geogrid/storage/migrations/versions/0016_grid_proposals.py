"""Proposed grids (智能划网): drafts of a partition of a grid, applied or discarded by an officer.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grid_proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district_adcode", sa.String(length=6), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("based_on", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("features", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("figures", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'applied', 'discarded')",
            name=op.f("ck_grid_proposals_proposal_status"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["grids.id"], name=op.f("fk_grid_proposals_parent_id_grids")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_proposals")),
    )
    op.create_index(
        op.f("ix_grid_proposals_district_adcode"), "grid_proposals", ["district_adcode"]
    )
    op.create_index(op.f("ix_grid_proposals_parent_id"), "grid_proposals", ["parent_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_grid_proposals_parent_id"), table_name="grid_proposals")
    op.drop_index(op.f("ix_grid_proposals_district_adcode"), table_name="grid_proposals")
    op.drop_table("grid_proposals")
