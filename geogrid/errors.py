"""The library's exceptions.

Each carries the HTTP status the web layer answers with and a message written for the person
who has to act on it (``detail``), kept apart from anything logged.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConflictError",
    "GeogridError",
    "InvalidInputError",
    "NotFoundError",
    "PreconditionFailedError",
    "PreconditionRequiredError",
]


class GeogridError(Exception):
    """Base class: ``status`` for HTTP, ``title`` short, ``detail`` actionable, ``extra`` data."""

    status: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInputError(GeogridError):
    status = 422
    title = "Invalid input"


class NotFoundError(GeogridError):
    status = 404
    title = "Not found"


class ConflictError(GeogridError):
    status = 409
    title = "Conflict"


class PreconditionRequiredError(GeogridError):
    status = 428
    title = "Precondition required"


class PreconditionFailedError(GeogridError):
    status = 412
    title = "Precondition failed"
