"""Reporters' personal data (PIPL: minimum necessary, de-identification, limited retention).

Names, phones and e-mails of reporters are encrypted at rest with Fernet (AES-128-CBC +
HMAC-SHA256) under a :class:`~cryptography.fernet.MultiFernet`: the first key encrypts, every
key decrypts, so a key is rotated by putting a new one first, re-encrypting
(:func:`rotate_contacts`, ``geogrid privacy rotate-key``) and then dropping the old one. The
cipher travels with the session (``session.info``), bound by whoever opens the session (the
API's auth dependency, the CLI), so library functions keep their signatures.

Contacts are shown in full only to the issue's assigned worker and the officers whose reach
covers its grid (:func:`may_see_contacts`); everyone else gets :func:`mask_phone`-style masks.
:func:`purge_contacts` blanks them a set time after the issue closed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from geogrid.auth.principal import Principal
from geogrid.errors import GeogridError
from geogrid.settings import Settings
from geogrid.storage.models import Grid, Issue, IssueReporter

__all__ = [
    "CIPHER_KEY",
    "PrivacyKeyError",
    "ReporterCipher",
    "bind_cipher",
    "cipher_from_settings",
    "cipher_of",
    "ensure_key_file",
    "mask_email",
    "mask_name",
    "may_see_contacts",
    "purge_contacts",
    "reporter_contacts",
    "rotate_contacts",
]

#: Where a session carries its cipher (``session.info[CIPHER_KEY]``).
CIPHER_KEY: Final = "geogrid.reporter_cipher"


class PrivacyKeyError(GeogridError):
    """No usable reporter key is configured: contact details can be neither stored nor read."""

    status = 503
    title = "Personal data key missing"
    default_rule = "privacy_key"


@dataclass(frozen=True)
class ReporterCipher:
    """Encrypts and decrypts reporters' contact fields; ``None`` stays ``None``."""

    keys: tuple[str, ...]

    def _fernet(self) -> MultiFernet:
        if not self.keys:
            raise PrivacyKeyError(
                "No reporter encryption key is configured: set GEOGRID_REPORTER_KEYS (a Fernet "
                "key, `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`) or run `geogrid up` once."
            )
        try:
            return MultiFernet([Fernet(k.encode()) for k in self.keys])
        except ValueError:
            raise PrivacyKeyError(
                "A reporter key is not a Fernet key (32 url-safe base64 bytes)."
            ) from None

    def encrypt(self, value: str | None) -> str | None:
        if value is None or value == "":
            return value
        return self._fernet().encrypt(value.encode()).decode()

    def decrypt(self, token: str | None) -> str | None:
        if token is None or token == "":
            return token
        try:
            return self._fernet().decrypt(token.encode()).decode()
        except InvalidToken:
            raise PrivacyKeyError(
                "A reporter's contact was encrypted with a key that is no longer configured: "
                "put the old key back after the new one in GEOGRID_REPORTER_KEYS."
            ) from None

    def rotate(self, token: str | None) -> str | None:
        if token is None or token == "":
            return token
        return self._fernet().rotate(token.encode()).decode()


def _split(keys: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in keys.split(",") if k.strip())


def cipher_from_settings(settings: Settings) -> ReporterCipher:
    """The keys of ``GEOGRID_REPORTER_KEYS``, else of the key file (none: a cipher that
    refuses to work, with a message saying what to configure)."""
    if settings.reporter_keys.strip():
        return ReporterCipher(_split(settings.reporter_keys))
    path = settings.reporter_key_file
    if path.is_file():
        return ReporterCipher(_split(path.read_text(encoding="ascii")))
    return ReporterCipher(())


def ensure_key_file(settings: Settings) -> Path | None:
    """Write a new key to the key file (mode 0600) when no key is configured anywhere; the
    path written, or ``None`` when a key exists."""
    if settings.reporter_keys.strip() or settings.reporter_key_file.is_file():
        return None
    path = settings.reporter_key_file
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(Fernet.generate_key().decode() + "\n")
    return path


def bind_cipher(session: Session, cipher: ReporterCipher) -> Session:
    session.info[CIPHER_KEY] = cipher
    return session


def cipher_of(session: Session) -> ReporterCipher:
    """The cipher bound to ``session`` (one that refuses to work when none was bound)."""
    cipher = session.info.get(CIPHER_KEY)
    return cipher if isinstance(cipher, ReporterCipher) else ReporterCipher(())


def mask_name(name: str | None) -> str | None:
    """王秀英 → 王**: the family name only.

    >>> mask_name("王秀英")
    '王**'
    """
    if not name:
        return None
    return name[0] + "*" * (len(name) - 1)


def mask_email(email: str | None) -> str | None:
    """resident@example.org → r*******@example.org.

    >>> mask_email("resident@example.org")
    'r*******@example.org'
    """
    if not email:
        return None
    local, _, domain = email.partition("@")
    return local[:1] + "*" * max(len(local) - 1, 0) + ("@" + domain if domain else "")


def may_see_contacts(session: Session, principal: Principal, issue_id: int) -> bool:
    """Whether ``principal`` sees an issue's reporters in full: the assigned grid worker, and
    officers whose reach covers the issue's grid (admins cover everything)."""
    row = session.execute(
        select(Issue.assignee_staff_id, Grid.code)
        .outerjoin(Grid, Grid.id == Issue.grid_id)
        .where(Issue.id == issue_id)
    ).first()
    if row is None or principal.is_public:
        return False
    assignee, code = row
    if principal.role == "grid_worker":
        return principal.staff_id is not None and principal.staff_id == assignee
    if principal.is_officer:
        return principal.reach is None or principal.reaches(code)
    return False


def reporter_contacts(session: Session, issue_id: int, *, full: bool) -> list[dict[str, Any]]:
    """An issue's reporters, decrypted, in full or masked."""
    from geogrid.issues.detail import mask_phone

    cipher = cipher_of(session)
    rows = session.execute(
        select(
            IssueReporter.name, IssueReporter.phone, IssueReporter.email, IssueReporter.purged_at
        )
        .where(IssueReporter.issue_id == issue_id)
        .order_by(IssueReporter.id)
    ).all()
    out = []
    for name_t, phone_t, email_t, purged_at in rows:
        name, phone, email = (cipher.decrypt(v) for v in (name_t, phone_t, email_t))
        if full:
            out.append({"name": name, "phone": phone, "email": email, "purged": bool(purged_at)})
        else:
            out.append(
                {
                    "name": mask_name(name),
                    "phone": mask_phone(phone),
                    "email": mask_email(email),
                    "purged": bool(purged_at),
                }
            )
    return out


def purge_contacts(session: Session, *, older_than_days: int, now: datetime) -> int:
    """Blank the contact details of reporters of issues closed more than ``older_than_days``
    ago; the number of reporters purged. The row stays (an issue still had a reporter)."""
    cutoff = now - timedelta(days=older_than_days)
    result = session.execute(
        update(IssueReporter)
        .where(
            IssueReporter.purged_at.is_(None),
            IssueReporter.issue_id.in_(
                select(Issue.id).where(Issue.closed_at.is_not(None), Issue.closed_at < cutoff)
            ),
        )
        .values(name=None, phone=None, email=None, purged_at=now)
        .returning(IssueReporter.id)
    )
    return len(result.all())


def rotate_contacts(session: Session, cipher: ReporterCipher, *, batch: int = 1000) -> int:
    """Re-encrypt every contact under the first key of ``cipher``; the rows rewritten."""
    done = 0
    last_id = 0
    while True:
        rows: Sequence[Any] = session.execute(
            select(IssueReporter.id, IssueReporter.name, IssueReporter.phone, IssueReporter.email)
            .where(IssueReporter.id > last_id)
            .order_by(IssueReporter.id)
            .limit(batch)
        ).all()
        if not rows:
            return done
        for rid, name, phone, email in rows:
            session.execute(
                update(IssueReporter)
                .where(IssueReporter.id == rid)
                .values(
                    name=cipher.rotate(name), phone=cipher.rotate(phone), email=cipher.rotate(email)
                )
            )
            done += 1
            last_id = rid
