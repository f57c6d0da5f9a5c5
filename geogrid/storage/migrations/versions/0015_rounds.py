"""Visits (走访) and patrols (巡查) of grid workers, with the patrols' GPS tracks.

Why: the gaps map calls a grid with "no activity in N days" inactive, and until now activity
was only issues. A worker who walks their grid every day and finds nothing wrong looked idle.
Visits and patrols are stored here and read by ``geogrid.analysis.gaps``. Row-level security
follows the grids: a worker writes and reads only the rounds of grids in reach.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TSTZ = sa.DateTime(timezone=True)
_GRID_IN_REACH = (
    "geogrid_reach_unrestricted() OR EXISTS "
    "(SELECT 1 FROM grids g WHERE g.id = {table}.grid_id AND geogrid_code_in_reach(g.code))"
)


def upgrade() -> None:
    op.create_table(
        "visits",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("grid_id", sa.Integer(), sa.ForeignKey("grids.id"), nullable=False),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("household", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("visited_at", _TSTZ, nullable=False),
        sa.Column("client_key", sa.String(64), nullable=True, unique=True),
        sa.Column("created_at", _TSTZ, server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_visits_grid_at", "visits", ["grid_id", "visited_at"])
    op.create_index("ix_visits_staff_id", "visits", ["staff_id"])
    op.create_table(
        "patrols",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("grid_id", sa.Integer(), sa.ForeignKey("grids.id"), nullable=False),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("started_at", _TSTZ, nullable=False),
        sa.Column("ended_at", _TSTZ, nullable=True),
        sa.Column("client_key", sa.String(64), nullable=True, unique=True),
        sa.Column("created_at", _TSTZ, server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_patrols_grid_started", "patrols", ["grid_id", "started_at"])
    op.create_index("ix_patrols_staff_id", "patrols", ["staff_id"])
    op.create_table(
        "patrol_points",
        sa.Column(
            "patrol_id",
            sa.BigInteger(),
            sa.ForeignKey("patrols.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("accuracy_m", sa.Double(), nullable=True),
        sa.Column("recorded_at", _TSTZ, nullable=False),
    )
    for table in ("visits", "patrols"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        rule = _GRID_IN_REACH.format(table=table)
        op.execute(f"CREATE POLICY {table}_reach ON {table} USING ({rule}) WITH CHECK ({rule})")
    op.execute("ALTER TABLE patrol_points ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE patrol_points FORCE ROW LEVEL SECURITY")
    # the subquery on patrols is itself filtered by the patrols policy
    op.execute(
        "CREATE POLICY patrol_points_reach ON patrol_points USING "
        "(geogrid_reach_unrestricted() OR EXISTS "
        "(SELECT 1 FROM patrols p WHERE p.id = patrol_points.patrol_id)) WITH CHECK "
        "(geogrid_reach_unrestricted() OR EXISTS "
        "(SELECT 1 FROM patrols p WHERE p.id = patrol_points.patrol_id))"
    )


def downgrade() -> None:
    op.drop_table("patrol_points")
    op.drop_table("patrols")
    op.drop_table("visits")
