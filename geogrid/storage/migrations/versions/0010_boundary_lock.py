"""Boundary writes take the district's boundary lock, whoever makes them.

The library takes the lock before it locks any grid row (``geogrid.storage.locks``); the
revision triggers take it as well, so a writer that bypasses the library (SQL by hand, another
tool) still waits for the reports being tagged in the district and keeps new ones out until it
commits. Districts are locked in code order, so two multi-district statements cannot deadlock.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "geogrid_boundaries"
#: Same key as geogrid.storage.locks.BOUNDARY_LOCK_PREFIX.
PREFIX = "geogrid.boundaries:"


def _bump(name: str, districts_sql: str, *, lock: bool) -> str:
    take = (
        f"PERFORM pg_advisory_xact_lock(hashtextextended('{PREFIX}' || d, 0)) "
        f"FROM (SELECT DISTINCT d FROM ({districts_sql}) AS s(d) WHERE d IS NOT NULL "
        "ORDER BY d) AS k;"
        if lock
        else ""
    )
    return f"""
        CREATE OR REPLACE FUNCTION {name}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            {take}
            INSERT INTO boundary_revisions AS b (district_adcode, revision, changed_at)
            SELECT DISTINCT d, 1, now() FROM ({districts_sql}) AS s(d) WHERE d IS NOT NULL
            ON CONFLICT (district_adcode)
            DO UPDATE SET revision = b.revision + 1, changed_at = now();
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END $$;
    """


_FUNCTIONS = {
    "geogrid_bump_boundary_revision": (
        "SELECT g.district_adcode FROM grids g WHERE g.id IN (SELECT grid_id FROM changed_versions)"
    ),
    "geogrid_bump_boundary_revision_grids": "SELECT district_adcode FROM changed_grids",
    "geogrid_bump_boundary_revision_admin": "SELECT district_adcode FROM changed_admin_areas",
}


def upgrade() -> None:
    for name, districts in _FUNCTIONS.items():
        op.execute(_bump(name, districts, lock=True))


def downgrade() -> None:
    for name, districts in _FUNCTIONS.items():
        op.execute(_bump(name, districts, lock=False))
