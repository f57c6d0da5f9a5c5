"""Issue photos and category attributes (Open311 service definitions).

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issue_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.BigInteger(), nullable=False),
        sa.Column("stored_name", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("content_type", sa.String(length=32), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("uploaded_by", sa.Text(), server_default="anonymous", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "stored_name IS NOT NULL OR url IS NOT NULL", name=op.f("ck_issue_photos_file_or_url")
        ),
        sa.CheckConstraint(
            "content_type IS NULL OR content_type IN ('image/jpeg', 'image/png', 'image/webp')",
            name=op.f("ck_issue_photos_content_type"),
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_photos_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_photos")),
    )
    op.create_index(op.f("ix_issue_photos_issue_id"), "issue_photos", ["issue_id"], unique=False)
    op.create_table(
        "issue_category_attributes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("datatype", sa.String(length=16), server_default="string", nullable=False),
        sa.Column("required", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("datatype_description", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "values",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "datatype IN ('string', 'number', 'datetime', 'text', 'singlevaluelist', 'multivaluelist')",
            name=op.f("ck_issue_category_attributes_datatype"),
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["issue_categories.id"],
            name=op.f("fk_issue_category_attributes_category_id_issue_categories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_category_attributes")),
        sa.UniqueConstraint(
            "category_id", "code", name=op.f("uq_issue_category_attributes_category_id_code")
        ),
    )
    op.create_index(
        op.f("ix_issue_category_attributes_category_id"),
        "issue_category_attributes",
        ["category_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_issue_category_attributes_category_id"), table_name="issue_category_attributes"
    )
    op.drop_table("issue_category_attributes")
    op.drop_index(op.f("ix_issue_photos_issue_id"), table_name="issue_photos")
    op.drop_table("issue_photos")
