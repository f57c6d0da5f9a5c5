"""CLI commands for access: ``geogrid users ...``, ``geogrid open311 keys create NAME``,
``geogrid audit export``, ``geogrid privacy purge|rotate-key``.

Secrets (one-time passwords, tokens, keys) are printed once, to standard output, and never
stored in clear. Every command signs its writes as ``cli:<os user>`` in the audit trail.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from geogrid.settings import Settings

console = Console(stderr=True)

users_app = typer.Typer(help="Logins: create, list, disable, reset passwords, tokens.")
tokens_app = typer.Typer(help="A user's API bearer tokens.")
open311_app = typer.Typer(help="Open311 GeoReport v2 client applications.")
keys_app = typer.Typer(help="Open311 api_keys, one per client application.")
audit_app = typer.Typer(help="The audit trail of every write.")
privacy_app = typer.Typer(help="Reporters' personal data: retention and encryption keys.")
users_app.add_typer(tokens_app, name="tokens")
open311_app.add_typer(keys_app, name="keys")


def cli_session(session: Session, settings: Settings) -> Session:
    """Bind the reporter cipher and sign the session's writes as the operating-system user."""
    from geogrid.auth.principal import Principal, apply_principal
    from geogrid.auth.privacy import bind_cipher, cipher_from_settings

    bind_cipher(session, cipher_from_settings(settings))
    apply_principal(session, Principal(f"cli:{getpass.getuser()}", "admin", None))
    return session


@contextmanager
def _session() -> Iterator[Session]:
    from geogrid.settings import get_settings
    from geogrid.storage.database import create_db_engine, make_session_factory, session_scope

    settings = get_settings()
    engine = create_db_engine(settings)
    try:
        with session_scope(make_session_factory(engine)) as session:
            yield cli_session(session, settings)
    finally:
        engine.dispose()


def _fail(exc: Exception) -> typer.Exit:
    detail = getattr(exc, "detail", str(exc))
    console.print(f"[red]{detail}[/red]")
    return typer.Exit(1)


@users_app.command("create")
def users_create(
    username: str,
    role: str = typer.Option(
        ...,
        help="admin, district_officer, street_officer, "
        "community_officer, grid_worker or department.",
    ),
    reach: list[str] = typer.Option([], help="Grid-code prefix an officer reaches (repeat)."),
    staff_id: int | None = typer.Option(None, help="A grid worker's staff record."),
    department_id: int | None = typer.Option(None, help="A department login's department."),
) -> None:
    """Create a login with a one-time password (printed once; changed at first login)."""
    from geogrid.auth import accounts
    from geogrid.errors import GeogridError

    password = accounts.new_password()
    try:
        with _session() as session:
            accounts.create_user(
                session,
                username,
                role=role,
                password=password,
                reach=reach,
                staff_id=staff_id,
                department_id=department_id,
                must_change_password=True,
            )
    except GeogridError as exc:
        raise _fail(exc) from exc
    typer.echo(f"user {username} ({role}) created; one-time password: {password}")


@users_app.command("list")
def users_list() -> None:
    """Every login: role, reach, active."""
    from geogrid.auth import accounts

    with _session() as session:
        for u in accounts.list_users(session):
            reach = ",".join(u["reach"]) or "-"
            state = "active" if u["active"] else "disabled"
            typer.echo(f"{u['username']}\t{u['role']}\t{reach}\t{state}")


@users_app.command("disable")
def users_disable(username: str) -> None:
    """Disable a login and revoke its sessions and tokens."""
    from geogrid.auth import accounts
    from geogrid.errors import GeogridError

    try:
        with _session() as session:
            accounts.disable_user(session, username, now=datetime.now(UTC))
    except GeogridError as exc:
        raise _fail(exc) from exc
    typer.echo(f"user {username} disabled")


@users_app.command("reset-password")
def users_reset_password(username: str) -> None:
    """Give a login a new one-time password (printed once) and end its page sessions."""
    from geogrid.auth import accounts
    from geogrid.errors import GeogridError

    try:
        with _session() as session:
            password = accounts.reset_password(session, username, now=datetime.now(UTC))
    except GeogridError as exc:
        raise _fail(exc) from exc
    typer.echo(f"new one-time password for {username}: {password}")


@tokens_app.command("create")
def tokens_create(
    username: str,
    name: str = typer.Option("api", help="What the token is for."),
    days: int | None = typer.Option(None, help="Lifetime (default GEOGRID_API_TOKEN_DAYS)."),
) -> None:
    """Issue an API bearer token (printed once; only its hash is kept)."""
    from geogrid.auth import accounts
    from geogrid.errors import GeogridError
    from geogrid.settings import get_settings

    lifetime = timedelta(days=days or get_settings().api_token_days)
    try:
        with _session() as session:
            issued = accounts.issue_token(
                session, username, now=datetime.now(UTC), lifetime=lifetime, name=name
            )
    except GeogridError as exc:
        raise _fail(exc) from exc
    typer.echo(issued.secret)
    console.print(f"expires {issued.expires_at.isoformat()}; send `Authorization: Bearer <token>`")


@tokens_app.command("list")
def tokens_list(username: str) -> None:
    """A user's tokens (never their secrets)."""
    from geogrid.auth import accounts

    with _session() as session:
        for t in accounts.list_tokens(session, username):
            state = "revoked" if t["revoked_at"] else f"expires {t['expires_at']:%Y-%m-%d}"
            typer.echo(f"{t['id']}\t{t['kind']}\t{t['name'] or '-'}\t{state}")


@tokens_app.command("revoke")
def tokens_revoke(token_id: int) -> None:
    """Revoke a token by id (see `tokens list`)."""
    from geogrid.auth import accounts
    from geogrid.errors import GeogridError

    try:
        with _session() as session:
            accounts.revoke_token(session, token_id, now=datetime.now(UTC))
    except GeogridError as exc:
        raise _fail(exc) from exc
    typer.echo(f"token {token_id} revoked")


@keys_app.command("create")
def open311_keys_create(name: str) -> None:
    """Issue an Open311 api_key for the client application NAME (printed once)."""
    from geogrid.auth import accounts
    from geogrid.errors import GeogridError

    try:
        with _session() as session:
            key = accounts.create_open311_key(session, name)
    except GeogridError as exc:
        raise _fail(exc) from exc
    typer.echo(key)


@audit_app.command("export")
def audit_export(
    out: Path | None = typer.Option(None, help="CSV file (default: standard output)."),
    table: str | None = typer.Option(None, help="Only this table (grids, issues, users...)."),
    actor: str | None = typer.Option(None, help="Only this actor."),
    grid: str | None = typer.Option(None, help="Only rows about grids under this code."),
    since: datetime | None = typer.Option(None, help="From this time (ISO 8601)."),
    until: datetime | None = typer.Option(None, help="Before this time (ISO 8601)."),
) -> None:
    """Export the audit trail as CSV, oldest first."""
    from geogrid.auth.audit import AuditFilter, audit_csv_rows

    f = AuditFilter(table=table, actor=actor, grid=grid, since=since, until=until)
    with _session() as session:
        if out is None:
            for line in audit_csv_rows(session, f):
                sys.stdout.write(line)
            return
        with out.open("w", encoding="utf-8", newline="") as fh:
            for line in audit_csv_rows(session, f):
                fh.write(line)
    console.print(f"audit trail written to {out}")


@privacy_app.command("purge")
def privacy_purge(
    older_than: int | None = typer.Option(
        None, "--older-than", help="Days since closing (default GEOGRID_PRIVACY_RETENTION_DAYS)."
    ),
) -> None:
    """Remove reporters' contact details of issues closed more than DAYS ago."""
    from geogrid.auth.privacy import purge_contacts
    from geogrid.settings import get_settings

    days = older_than if older_than is not None else get_settings().privacy_retention_days
    with _session() as session:
        n = purge_contacts(session, older_than_days=days, now=datetime.now(UTC))
    typer.echo(f"{n} reporter(s) purged (issues closed more than {days} days ago)")


@privacy_app.command("rotate-key")
def privacy_rotate_key() -> None:
    """Re-encrypt every reporter's contact under the first configured key."""
    from geogrid.auth.privacy import cipher_from_settings, rotate_contacts
    from geogrid.errors import GeogridError
    from geogrid.settings import get_settings

    try:
        with _session() as session:
            n = rotate_contacts(session, cipher_from_settings(get_settings()))
    except GeogridError as exc:
        raise _fail(exc) from exc
    typer.echo(f"{n} reporter row(s) re-encrypted under the first key")


def first_admin(settings: Settings) -> str | None:
    """For `geogrid up`: the one-time password of the first admin, created when there is none."""
    from geogrid.auth import accounts
    from geogrid.storage.database import create_db_engine, make_session_factory, session_scope

    engine = create_db_engine(settings)
    try:
        with session_scope(make_session_factory(engine)) as session:
            cli_session(session, settings)
            return accounts.ensure_first_admin(session)
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(open311_app, name="open311")
    app.add_typer(audit_app, name="audit")
    app.add_typer(privacy_app, name="privacy")
