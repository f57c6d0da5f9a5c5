"""Test logins, one per role, committed once per test session with fresh bearer tokens.

Hashing a password with argon2 is slow on purpose, so the users are made once (a second run
finds them and only issues new tokens); every ``client`` is then an admin by sending the
admin's token. The reach of each role is picked from the demo district: its first street, the
first community of that street, a worker holding an A post in that street, a department.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography.fernet import Fernet
from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session

from geogrid.auth import accounts
from geogrid.auth.principal import Principal
from geogrid.storage.models import AuthToken, User

__all__ = ["ISSUED_AT", "TEST_PASSWORD", "TEST_REPORTER_KEY", "TestLogin", "ensure_test_logins"]

#: Tokens are issued "now" = this fixed instant, valid for a century: tests never read the clock.
ISSUED_AT: Final = datetime(2026, 1, 1, tzinfo=UTC)
TEST_PASSWORD: Final = "correct horse battery staple"
#: The reporter key of the test run (conftest's settings): contacts are encrypted in tests too.
TEST_REPORTER_KEY: Final = Fernet.generate_key().decode()


@dataclass(frozen=True)
class TestLogin:
    """A committed user with a live bearer token."""

    __test__ = False  # not a test class, for pytest

    username: str
    role: str
    token: str
    principal: Principal
    headers: dict[str, str] = field(default_factory=dict)


def _demo_reach(session: Session) -> dict[str, object]:
    """Reaches inside the demo district that do not cover it all: the street of the first
    level-1 grid that has an A post, one community in it, that A post's worker."""
    row = session.execute(
        text(
            "SELECT g.code, a.staff_id FROM grids g "
            "JOIN grid_assignments a ON a.grid_id = g.id AND a.valid_to IS NULL AND a.post = 'A' "
            "WHERE g.retired_at IS NULL AND g.level = 2 AND g.district_adcode = '610503' "
            "ORDER BY g.code LIMIT 1"
        )
    ).one()
    code, staff_id = row
    department_id = session.execute(
        text("SELECT id FROM departments WHERE district_adcode = '610503' ORDER BY id LIMIT 1")
    ).scalar_one()
    return {
        "street": code[:9],
        "community": code[:12],
        "staff_id": staff_id,
        "department_id": department_id,
    }


_ISSUED: dict[str, dict[str, TestLogin]] = {}


def ensure_test_logins(engine: Engine) -> dict[str, TestLogin]:
    """One login per role (``test-<role>``), created if missing, each with a new token; once
    per test database and process."""
    key = engine.url.render_as_string(hide_password=False)
    if key not in _ISSUED:
        _ISSUED[key] = _issue_logins(engine)
    return _ISSUED[key]


def _issue_logins(engine: Engine) -> dict[str, TestLogin]:
    logins: dict[str, TestLogin] = {}
    with Session(engine) as session, session.begin():
        demo = _demo_reach(session)
        specs: dict[str, dict[str, object]] = {
            "admin": {},
            "district_officer": {"reach": ["610503"]},
            "street_officer": {"reach": [demo["street"]]},
            "community_officer": {"reach": [demo["community"]]},
            "grid_worker": {"staff_id": demo["staff_id"]},
            "department": {"department_id": demo["department_id"]},
        }
        names = [f"test-{role}" for role in specs]
        # tokens of earlier runs are of no use: nobody kept their secrets
        session.execute(
            delete(AuthToken).where(
                AuthToken.user_id.in_(select(User.id).where(User.username.in_(names)))
            )
        )
        for role, spec in specs.items():
            username = f"test-{role}"
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                user = accounts.create_user(
                    session,
                    username,
                    role=role,
                    password=TEST_PASSWORD,
                    reach=spec.get("reach", ()),  # type: ignore[arg-type]
                    staff_id=spec.get("staff_id"),  # type: ignore[arg-type]
                    department_id=spec.get("department_id"),  # type: ignore[arg-type]
                )
            issued = accounts.issue_token(
                session, username, now=ISSUED_AT, lifetime=timedelta(days=36500), name="tests"
            )
            logins[role] = TestLogin(
                username=username,
                role=role,
                token=issued.secret,
                principal=accounts.principal_of(session, user),
                headers={"Authorization": f"Bearer {issued.secret}"},
            )
    return logins
