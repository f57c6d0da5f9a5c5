"""The schema is Alembic's: migrations and models agree, and constraints guard the data."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geogrid.storage.migrate import include_object
from geogrid.storage.models import Base


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True}
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_postgis_extension_is_installed(engine: Engine) -> None:
    with engine.connect() as conn:
        version = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
    assert version.startswith("3.")


@pytest.mark.parametrize(
    "sql",
    [
        # a code that is not 12/15/18 digits
        "INSERT INTO grids (code, district_adcode, level, kind) VALUES ('61050300100', '610503', 1, 'general')",
        # a dedicated grid without its entity type
        "INSERT INTO grids (code, district_adcode, level, kind) VALUES ('610503001001', '610503', 1, 'dedicated')",
        # level 2 without a parent
        "INSERT INTO grids (code, district_adcode, level, kind) VALUES ('610503001001001', '610503', 2, 'general')",
        # an unknown staff role
        "INSERT INTO staff (district_adcode, name, role) VALUES ('610503', 'x', 'mayor')",
    ],
)
def test_check_constraints_refuse_bad_rows(db: Session, sql: str) -> None:
    with pytest.raises(IntegrityError):
        db.execute(text(sql))
        db.flush()


def test_api_literals_are_the_vocabulary() -> None:
    """The OpenAPI enums are typed Literals (mypy needs them spelt out): they must stay the
    vocabulary's words, so a new dedicated or estate type is added in both or the test fails."""
    from typing import get_args

    from api.schemas_grids import DedicatedType, EstateType
    from geogrid.vocabulary import DEDICATED_TYPES, ESTATE_TYPES

    assert get_args(DedicatedType) == DEDICATED_TYPES
    assert get_args(EstateType) == ESTATE_TYPES
