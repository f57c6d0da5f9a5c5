"""Working-time calendar (holidays and make-up workdays), the request hash of an idempotent
report, and the reporter's e-mail (Open311 ``email``).

Why: deadlines are counted in working hours (08:30–12:00, 14:30–18:00 China time, Mon–Fri) and
must skip public holidays and count make-up Saturdays (调休), which change every year by State
Council notice: they are data, managed through ``GET/POST /calendar/days``. Seeded with the 2026
national arrangement (国务院办公厅关于2026年部分节假日安排的通知, 2025-11-04).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from collections.abc import Sequence
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, first day off, last day off, make-up working days) — 2026, national.
HOLIDAYS_2026: tuple[tuple[str, date, date, tuple[date, ...]], ...] = (
    ("元旦", date(2026, 1, 1), date(2026, 1, 3), (date(2026, 1, 4),)),
    ("春节", date(2026, 2, 15), date(2026, 2, 23), (date(2026, 2, 14), date(2026, 2, 28))),
    ("清明节", date(2026, 4, 4), date(2026, 4, 6), ()),
    ("劳动节", date(2026, 5, 1), date(2026, 5, 5), (date(2026, 5, 9),)),
    ("端午节", date(2026, 6, 19), date(2026, 6, 21), ()),
    ("中秋节", date(2026, 9, 25), date(2026, 9, 27), ()),
    ("国庆节", date(2026, 10, 1), date(2026, 10, 7), (date(2026, 9, 20), date(2026, 10, 10))),
)


def _seed_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name, first, last, workdays in HOLIDAYS_2026:
        day = first
        while day <= last:
            rows.append({"district_adcode": None, "day": day, "is_workday": False, "name": name})
            day += timedelta(days=1)
        for work in workdays:
            rows.append(
                {
                    "district_adcode": None,
                    "day": work,
                    "is_workday": True,
                    "name": f"{name}调休上班",
                }
            )
    return rows


def upgrade() -> None:
    calendar_days = op.create_table(
        "calendar_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district_adcode", sa.String(length=6), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("is_workday", sa.Boolean(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_days")),
        sa.UniqueConstraint(
            "district_adcode",
            "day",
            name=op.f("uq_calendar_days_district_adcode_day"),
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(op.f("ix_calendar_days_day"), "calendar_days", ["day"], unique=False)
    op.bulk_insert(calendar_days, _seed_rows())
    op.add_column("issues", sa.Column("idempotency_hash", sa.String(length=64), nullable=True))
    op.add_column("issue_reporters", sa.Column("email", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("issue_reporters", "email")
    op.drop_column("issues", "idempotency_hash")
    op.drop_index(op.f("ix_calendar_days_day"), table_name="calendar_days")
    op.drop_table("calendar_days")
