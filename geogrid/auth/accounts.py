"""Logins: users with argon2 password hashes, page sessions and API bearer tokens, Open311
client keys, the failed-login throttle, and the first admin of a fresh installation.

Tokens are opaque random secrets; only their SHA-256 is stored. That choice (over short-lived
JWTs) is argued in the README: a token must be revocable at once (a worker leaves, a phone is
lost), and a database that is read on every request anyway answers "is it still valid" for
free, where a JWT would need a deny-list, that is a table, to do the same.

Every function takes the session and ``now``; none commits (the caller owns the transaction).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from geogrid.auth.principal import ROLES, Principal
from geogrid.errors import (
    InvalidInputError,
    NotFoundError,
    TooManyRequestsError,
)
from geogrid.settings import Settings
from geogrid.storage.models import (
    AuthToken,
    Department,
    Grid,
    GridAssignment,
    LoginFailure,
    Open311Key,
    Staff,
    User,
)

__all__ = [
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "IssuedToken",
    "authenticate_token",
    "check_open311_key",
    "create_open311_key",
    "create_user",
    "csrf_matches",
    "disable_user",
    "ensure_first_admin",
    "hash_password",
    "issue_token",
    "list_tokens",
    "list_users",
    "log_in",
    "new_password",
    "principal_of",
    "reset_password",
    "revoke_secret",
    "revoke_token",
    "secret_digest",
]

MIN_PASSWORD: Final = 10
MAX_PASSWORD: Final = 200
_HASHER: Final = PasswordHasher()
#: A hash to verify against when the user does not exist, so that a wrong name takes as long
#: as a wrong password (no user enumeration by timing).
_DUMMY_HASH: Final = _HASHER.hash("geogrid-no-such-user")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (after checking its length)."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInputError(
            f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters; this one has "
            f"{len(password)}.",
            rule="password",
            field="password",
        )
    return _HASHER.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """A one-time password for a new or reset account (shown once, changed at first use)."""
    return secrets.token_urlsafe(12)


def secret_digest(secret: str) -> str:
    """The SHA-256 (hex) kept for a token or key: the secret itself is never stored.

    A plain hash is enough here (unlike passwords): the secrets are 256 random bits.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


# -- users ----------------------------------------------------------------------------------------


def _check_role(
    session: Session,
    role: str,
    reach: Sequence[str],
    staff_id: int | None,
    department_id: int | None,
) -> None:
    if role not in ROLES:
        raise InvalidInputError(
            f"Unknown role {role!r}; the roles are {', '.join(ROLES)}.", rule="user", field="role"
        )
    for prefix in reach:
        if not prefix.isdigit() or len(prefix) < 6:
            raise InvalidInputError(
                f"A reach is the digits that start grid codes (at least the 6-digit adcode), "
                f"got {prefix!r}.",
                rule="user",
                field="reach",
            )
    needs_reach = {"district_officer", "street_officer", "community_officer"}
    if role in needs_reach and not reach:
        raise InvalidInputError(
            f"A {role} needs a reach (--reach 610503 for a district, a 9-digit street or a "
            "12-digit community code).",
            rule="user",
            field="reach",
        )
    if role == "grid_worker" and (staff_id is None or session.get(Staff, staff_id) is None):
        raise InvalidInputError(
            "A grid worker is linked to their staff record (--staff-id); their reach is the "
            "grids they hold a post on.",
            rule="user",
            field="staff_id",
        )
    if role == "department" and (
        department_id is None or session.get(Department, department_id) is None
    ):
        raise InvalidInputError(
            "A department login is linked to its department (--department-id).",
            rule="user",
            field="department_id",
        )


def create_user(
    session: Session,
    username: str,
    *,
    role: str,
    password: str,
    reach: Sequence[str] = (),
    staff_id: int | None = None,
    department_id: int | None = None,
    display_name: str | None = None,
    must_change_password: bool = False,
) -> User:
    """Create a login. Refuses an existing name, an unknown role and a role without the link
    it needs (an officer's reach, a worker's staff record, a department)."""
    username = username.strip()
    if not username or len(username) > 64 or any(not ch.isprintable() for ch in username):
        raise InvalidInputError(
            "A user name has 1 to 64 printable characters.", rule="user", field="username"
        )
    _check_role(session, role, reach, staff_id, department_id)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise InvalidInputError(f"User {username!r} already exists.", rule="user")
    user = User(
        username=username,
        display_name=display_name,
        password_hash=hash_password(password),
        role=role,
        reach=list(reach),
        staff_id=staff_id,
        department_id=department_id,
        must_change_password=must_change_password,
    )
    session.add(user)
    session.flush()
    return user


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"There is no user {username!r}; `geogrid users list` lists them.")
    return user


def list_users(session: Session) -> list[dict[str, Any]]:
    """Every login, without secrets."""
    rows = session.scalars(select(User).order_by(User.username)).all()
    return [
        {
            "username": u.username,
            "role": u.role,
            "reach": list(u.reach),
            "staff_id": u.staff_id,
            "department_id": u.department_id,
            "active": u.active,
            "created_at": u.created_at,
        }
        for u in rows
    ]


def disable_user(session: Session, username: str, *, now: datetime) -> None:
    """Disable a login and revoke its sessions and tokens at once."""
    user = _user(session, username)
    user.active = False
    user.disabled_at = now
    session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user.id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.flush()


def reset_password(
    session: Session, username: str, *, now: datetime, password: str | None = None
) -> str:
    """Set a new password (a generated one-time password unless given), revoke the user's
    sessions, and return the password to hand over."""
    user = _user(session, username)
    password = password or new_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    session.execute(
        update(AuthToken)
        .where(
            AuthToken.user_id == user.id,
            AuthToken.kind == "session",
            AuthToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    session.flush()
    return password


def ensure_first_admin(session: Session, *, username: str = "admin") -> str | None:
    """On a fresh installation (no admin at all), create ``username`` with a generated
    one-time password and return it, to be printed once. ``None`` when an admin exists:
    there is never a default password."""
    exists = session.scalar(select(func.count()).select_from(User).where(User.role == "admin"))
    if exists:
        return None
    password = new_password()
    create_user(session, username, role="admin", password=password, must_change_password=True)
    return password


# -- tokens ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued secret, shown once; ``csrf`` is the page session's CSRF token."""

    secret: str
    expires_at: datetime
    csrf: str | None = None


def issue_token(
    session: Session,
    username: str,
    *,
    now: datetime,
    lifetime: timedelta,
    kind: str = "api",
    name: str | None = None,
) -> IssuedToken:
    """Issue a session or API token for an active user; only its digest is stored."""
    user = _user(session, username)
    if not user.active:
        raise InvalidInputError(f"User {username!r} is disabled.", rule="user")
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24) if kind == "session" else None
    expires_at = now + lifetime
    session.execute(
        insert(AuthToken).values(
            user_id=user.id,
            kind=kind,
            name=name,
            token_hash=secret_digest(secret),
            csrf_token=csrf,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return IssuedToken(secret=secret, expires_at=expires_at, csrf=csrf)


def list_tokens(session: Session, username: str) -> list[dict[str, Any]]:
    """A user's tokens (id, kind, name, dates), never their secrets."""
    user = _user(session, username)
    rows = session.scalars(
        select(AuthToken).where(AuthToken.user_id == user.id).order_by(AuthToken.id)
    ).all()
    return [
        {
            "id": t.id,
            "kind": t.kind,
            "name": t.name,
            "created_at": t.created_at,
            "expires_at": t.expires_at,
            "revoked_at": t.revoked_at,
        }
        for t in rows
    ]


def revoke_token(session: Session, token_id: int, *, now: datetime) -> None:
    """Revoke one token by id (``geogrid users tokens list`` shows ids)."""
    result = session.execute(
        update(AuthToken)
        .where(AuthToken.id == token_id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(AuthToken.id)
    )
    if result.first() is None:
        raise NotFoundError(f"There is no live token {token_id}.")


def revoke_secret(session: Session, secret: str, *, now: datetime) -> None:
    """Revoke the token whose secret is ``secret`` (a logout)."""
    session.execute(
        update(AuthToken)
        .where(AuthToken.token_hash == secret_digest(secret), AuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def principal_of(session: Session, user: User) -> Principal:
    """The principal of a login, its reach resolved: a worker's from their current posts."""
    reach: tuple[str, ...] | None
    if user.role == "admin":
        reach = None
    elif user.role == "grid_worker":
        codes = session.scalars(
            select(Grid.code)
            .join(GridAssignment, GridAssignment.grid_id == Grid.id)
            .where(GridAssignment.staff_id == user.staff_id, GridAssignment.valid_to.is_(None))
            .order_by(Grid.code)
        ).all()
        reach = tuple(codes)
    else:
        reach = tuple(user.reach)
    return Principal(
        username=user.username,
        role=user.role,
        reach=reach,
        user_id=user.id,
        department_id=user.department_id if user.role == "department" else None,
        staff_id=user.staff_id,
    )


def authenticate_token(
    session: Session, secret: str, *, kind: str, now: datetime
) -> tuple[Principal, AuthToken] | None:
    """The principal of a live token of ``kind`` (not expired, not revoked, user active)."""
    row = session.execute(
        select(AuthToken, User)
        .join(User, User.id == AuthToken.user_id)
        .where(AuthToken.token_hash == secret_digest(secret), AuthToken.kind == kind)
    ).first()
    if row is None:
        return None
    token, user = row
    if token.revoked_at is not None or token.expires_at <= now or not user.active:
        return None
    return principal_of(session, user), token


# -- logging in -----------------------------------------------------------------------------------


def _throttle(
    session: Session, username: str, address: str, *, settings: Settings, now: datetime
) -> None:
    window = timedelta(minutes=settings.login_failure_window_minutes)
    since = now - window
    # old failures are of no use to the throttle: keep the table small as it is read
    session.execute(delete(LoginFailure).where(LoginFailure.at < since - window))
    for column, value, limit in (
        (LoginFailure.username, username, settings.login_max_failures_per_account),
        (LoginFailure.address, address, settings.login_max_failures_per_address),
    ):
        row = session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(
                column == value, LoginFailure.at > since
            )
        ).one()
        if row[0] >= limit:
            retry = max(1, int((row[1] + window - now).total_seconds()) + 1)
            raise TooManyRequestsError(
                f"Too many failed logins; try again in {retry} seconds.",
                retry_after=retry,
                rule="login_throttled",
            )


def log_in(
    session: Session,
    username: str,
    password: str,
    *,
    address: str,
    settings: Settings,
    now: datetime,
) -> tuple[Principal, IssuedToken] | None:
    """Check a password and open a page session; ``None`` for a wrong name or password.

    Failures are counted per account and per address; past the limits every attempt is refused
    (429) until the window moves on, so a guesser gets a handful of tries per quarter hour, not
    millions. A failure is returned, not raised, so that the caller commits its record."""
    username = username.strip()[:64]
    address = address[:64]
    _throttle(session, username, address, settings=settings, now=now)
    user = session.scalar(select(User).where(User.username == username))
    ok = _verify(user.password_hash if user is not None else _DUMMY_HASH, password)
    if user is None or not ok or not user.active:
        session.execute(insert(LoginFailure).values(username=username, address=address, at=now))
        return None
    issued = issue_token(
        session,
        username,
        now=now,
        lifetime=timedelta(hours=settings.session_hours),
        kind="session",
    )
    return principal_of(session, user), issued


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of a session's CSRF token with the one a write sent."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


# -- Open311 client keys --------------------------------------------------------------------------


def create_open311_key(session: Session, name: str) -> str:
    """Issue an ``api_key`` for the client application ``name``; returns the key, shown once."""
    name = name.strip()
    if not name:
        raise InvalidInputError("Name the client application the key is for.", rule="api_key")
    if session.scalar(select(Open311Key.id).where(Open311Key.name == name)) is not None:
        raise InvalidInputError(f"A key named {name!r} exists already.", rule="api_key")
    key = secrets.token_urlsafe(24)
    session.execute(insert(Open311Key).values(name=name, key_hash=secret_digest(key)))
    return key


def check_open311_key(session: Session, key: str | None) -> str | None:
    """The application name of a live ``api_key``, else ``None``."""
    if not key:
        return None
    return session.scalar(
        select(Open311Key.name).where(
            Open311Key.key_hash == secret_digest(key), Open311Key.revoked_at.is_(None)
        )
    )
