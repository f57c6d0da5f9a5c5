"""Photos of issues: checked (type by magic bytes, size), written under a configurable
directory, recorded in ``issue_photos``.

The directory comes from ``GEOGRID_ISSUE_PHOTOS_DIR`` (default ``data/issue_photos``); files are
named by their SHA-256 so the same photo uploaded twice is stored once. Reading back goes through
the ``issue_photos`` row (never a client-given path), so only files we stored are served.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.settings import PROJECT_ROOT
from geogrid.storage.models import Issue, IssuePhoto

__all__ = [
    "MAX_PHOTO_BYTES",
    "PhotoSettings",
    "PhotoStore",
    "StoredPhoto",
    "photo_href",
    "sniff_image_type",
]

MAX_PHOTO_BYTES = 5 * 1024 * 1024
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


class PhotoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEOGRID_ISSUE_", extra="ignore")

    photos_dir: Path = Field(default=PROJECT_ROOT / "data" / "issue_photos")
    max_photo_bytes: int = Field(default=MAX_PHOTO_BYTES, gt=0)


def sniff_image_type(head: bytes) -> str | None:
    """The real type from the first bytes; a client's Content-Type is not trusted."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True)
class StoredPhoto:
    """A stored photo file on disk, ready to be served."""

    path: Path
    content_type: str
    sha256: str | None


def photo_href(issue_id: int, photo_id: int) -> str:
    return f"/issues/{issue_id}/photos/{photo_id}"


@dataclass
class PhotoStore:
    directory: Path
    max_bytes: int = MAX_PHOTO_BYTES

    def save(
        self, session: Session, issue_id: int, content: bytes, *, actor: str
    ) -> dict[str, Any]:
        if session.get(Issue, issue_id) is None:
            raise NotFoundError(f"There is no issue {issue_id}.", issue_id=issue_id)
        if len(content) > self.max_bytes:
            raise InvalidInputError(
                f"The photo is {len(content)} bytes; the limit is {self.max_bytes} "
                f"({self.max_bytes // (1024 * 1024)} MB).",
                size=len(content),
                limit=self.max_bytes,
            )
        kind = sniff_image_type(content[:16])
        if kind is None:
            raise InvalidInputError(
                "The file is not a JPEG, PNG or WebP image.", allowed=sorted(_EXTENSIONS)
            )
        digest = hashlib.sha256(content).hexdigest()
        name = f"{digest[:2]}/{digest}.{_EXTENSIONS[kind]}"
        path = self.directory / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(content)
            tmp.replace(path)
        photo_id = session.execute(
            insert(IssuePhoto)
            .values(
                issue_id=issue_id,
                stored_name=name,
                content_type=kind,
                size_bytes=len(content),
                sha256=digest,
                uploaded_by=actor,
            )
            .returning(IssuePhoto.id)
        ).scalar_one()
        return {
            "id": photo_id,
            "href": photo_href(issue_id, photo_id),
            "content_type": kind,
            "size_bytes": len(content),
            "sha256": digest,
        }

    def list_photos(self, session: Session, issue_id: int) -> list[dict[str, Any]]:
        """The photos of an issue: stored files (with the ``href`` that serves them) and links
        a client gave (Open311 ``media_url``), oldest first."""
        if session.get(Issue, issue_id) is None:
            raise NotFoundError(f"There is no issue {issue_id}.", issue_id=issue_id)
        rows = session.execute(
            select(
                IssuePhoto.id,
                IssuePhoto.stored_name,
                IssuePhoto.url,
                IssuePhoto.content_type,
                IssuePhoto.size_bytes,
                IssuePhoto.sha256,
                IssuePhoto.uploaded_by,
                IssuePhoto.created_at,
            )
            .where(IssuePhoto.issue_id == issue_id)
            .order_by(IssuePhoto.id)
        ).all()
        return [
            {
                "id": r.id,
                "href": photo_href(issue_id, r.id) if r.stored_name else None,
                "url": r.url,
                "content_type": r.content_type,
                "size_bytes": r.size_bytes,
                "sha256": r.sha256,
                "uploaded_by": r.uploaded_by,
                "created_at": r.created_at,
            }
            for r in rows
        ]

    def open_photo(self, session: Session, issue_id: int, photo_id: int) -> StoredPhoto:
        """The file of one stored photo of this issue; 404 for another issue's photo, a link
        photo (we hold no file for it) or a file that has gone missing from the directory."""
        row = session.execute(
            select(
                IssuePhoto.stored_name, IssuePhoto.url, IssuePhoto.content_type, IssuePhoto.sha256
            ).where(IssuePhoto.id == photo_id, IssuePhoto.issue_id == issue_id)
        ).first()
        if row is None:
            raise NotFoundError(
                f"Issue {issue_id} has no photo {photo_id}; GET /issues/{issue_id}/photos lists "
                "them.",
                issue_id=issue_id,
                photo_id=photo_id,
            )
        if row.stored_name is None:
            raise NotFoundError(
                f"Photo {photo_id} of issue {issue_id} is a link, not a file stored here.",
                issue_id=issue_id,
                photo_id=photo_id,
                url=row.url,
            )
        root = self.directory.resolve()
        path = (root / row.stored_name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise NotFoundError(
                f"The file of photo {photo_id} of issue {issue_id} is missing from the photo "
                "directory (GEOGRID_ISSUE_PHOTOS_DIR); upload it again.",
                issue_id=issue_id,
                photo_id=photo_id,
            )
        return StoredPhoto(path, row.content_type or "application/octet-stream", row.sha256)
