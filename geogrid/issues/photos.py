"""Photos of issues: checked (type by magic bytes, size), written under a configurable
directory, recorded in ``issue_photos``.

The directory comes from ``GEOGRID_ISSUE_PHOTOS_DIR`` (default ``data/issue_photos``); files are
named by their SHA-256 so the same photo uploaded twice is stored once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import insert
from sqlalchemy.orm import Session

from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.settings import PROJECT_ROOT
from geogrid.storage.models import Issue, IssuePhoto

__all__ = ["MAX_PHOTO_BYTES", "PhotoSettings", "PhotoStore", "sniff_image_type"]

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
        return {"id": photo_id, "content_type": kind, "size_bytes": len(content), "sha256": digest}
