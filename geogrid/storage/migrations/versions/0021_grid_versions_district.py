"""Grid versions carry their district, and a spatial index that leads with it.

A vector tile asks for one district's grids in an envelope. The only spatial index on
``grid_versions`` answered by box across all districts: over 610503 at the 107-district
province, a z10 tile's index scan returned thousands of neighbouring grids that the district
filter then dropped, and the tile took 3× its one-district time (bench/run). The district is
now a column of every version (copied from its grid on insert by a trigger, as the Citus
rule's child tables will be) and the index ``(district_adcode, geom)`` (GiST, with
``btree_gist`` for the text column) reads one district's part of the envelope only.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a trusted extension: the database's owner may create it
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.add_column("grid_versions", sa.Column("district_adcode", sa.String(6), nullable=True))
    # Filling a new column changes nothing a trigger watches (no boundary, no state): the
    # revision bump, the audit and the deferred state check are off while it is filled, so it
    # neither writes an audit row per version nor leaves events that the ALTER below refuses.
    op.execute("ALTER TABLE grid_versions DISABLE TRIGGER USER")
    op.execute(
        "UPDATE grid_versions v SET district_adcode = g.district_adcode "
        "FROM grids g WHERE g.id = v.grid_id"
    )
    op.execute("ALTER TABLE grid_versions ENABLE TRIGGER USER")
    op.alter_column("grid_versions", "district_adcode", nullable=False)
    op.execute(
        """
        CREATE FUNCTION geogrid_grid_versions_district() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            -- a grid never changes district (its code begins with the adcode)
            NEW.district_adcode := (SELECT district_adcode FROM grids WHERE id = NEW.grid_id);
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER grid_versions_district BEFORE INSERT OR UPDATE OF grid_id
        ON grid_versions FOR EACH ROW EXECUTE FUNCTION geogrid_grid_versions_district();
        """
    )
    op.create_index(
        "ix_grid_versions_district_geom",
        "grid_versions",
        ["district_adcode", "geom"],
        postgresql_using="gist",
    )


def downgrade() -> None:
    op.drop_index("ix_grid_versions_district_geom", table_name="grid_versions")
    op.execute("DROP TRIGGER grid_versions_district ON grid_versions")
    op.execute("DROP FUNCTION geogrid_grid_versions_district()")
    op.drop_column("grid_versions", "district_adcode")
