"""Entity tags and ``If-Match``: the one place HTTP preconditions are written and read.

One convention for every versioned resource (grids and issues): the strong entity tag
``"<identifier>-v<version>"`` — a grid's code or an issue's id, and the version the library
counts (a grid's ``current_version``, an issue's ``row_version``). Reads send it as ``ETag``;
changes send it back in ``If-Match``. The identifier is in the tag so that one header can name
several resources (a merge names every grid it merges) and a tag copied from the wrong
resource is refused instead of matching by accident.

The library never sees a header: it takes ``expected_version: int | None`` and raises
``PreconditionRequiredError`` / ``PreconditionFailedError`` (:mod:`geogrid.errors`) with plain
messages. This module turns the header into that number, answers 428 with the
header to send when a required precondition is missing, and names the tag to send in 412s
(see :mod:`api.problems`).

``If-Match`` compares strongly (RFC 9110 §13.1.1): weak tags (``W/"…"``) never match. ``*``
means "whatever version is current"; the caller resolves it to that version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Final

from fastapi import Header

from geogrid.errors import PreconditionFailedError, PreconditionRequiredError

__all__ = [
    "IfMatch",
    "IfMatchHeader",
    "entity_tag",
    "expected_version",
    "expected_versions",
    "parse_if_match",
]

_TAG_RE: Final = re.compile(r'\s*(W/)?"([^"]*)"\s*')
_VERSIONED_RE: Final = re.compile(r"(?P<identifier>.+)-v(?P<version>[0-9]{1,9})")


def entity_tag(identifier: str | int, version: int | str) -> str:
    """The strong entity tag of a resource at a version, quotes included.

    >>> entity_tag("610503001001", 3)
    '"610503001001-v3"'
    >>> entity_tag(42, 1)
    '"42-v1"'
    """
    return f'"{identifier}-v{version}"'


@dataclass(frozen=True)
class IfMatch:
    """A parsed ``If-Match``: ``*``, and the versions its strong tags name, by identifier."""

    raw: str
    any: bool = False
    versions: dict[str, int] = field(default_factory=dict)


def parse_if_match(value: str | None) -> IfMatch | None:
    """``None`` when the header is absent or blank; weak and foreign tags are dropped.

    >>> parse_if_match('"610503001001-v3", W/"610503001002-v1", "x"').versions
    {'610503001001': 3}
    >>> parse_if_match(" * ").any
    True
    >>> parse_if_match("  ") is None
    True
    """
    if value is None or not value.strip():
        return None
    if value.strip() == "*":
        return IfMatch(raw=value.strip(), any=True)
    versions: dict[str, int] = {}
    for part in value.split(","):
        tag = _TAG_RE.fullmatch(part)
        if tag is None or tag.group(1):
            continue
        versioned = _VERSIONED_RE.fullmatch(tag.group(2))
        if versioned:
            versions[versioned.group("identifier")] = int(versioned.group("version"))
    return IfMatch(raw=value.strip(), versions=versions)


def _required(what: str, identifiers: Sequence[str], read_path: str) -> PreconditionRequiredError:
    example = ", ".join(entity_tag(i, "<version>") for i in identifiers)
    return PreconditionRequiredError(
        f"This change needs an If-Match header naming the version of the {what} you changed, "
        f"e.g. If-Match: {example}; GET {read_path} returns it as the ETag.",
        codes=list(identifiers),
    )


def _named_version(
    if_match: IfMatch,
    key: str,
    *,
    what: str,
    read_path: str,
    current: Callable[[], int],
    id_field: str,
) -> int:
    """The version a present ``If-Match`` names for ``key``; 412 when it names none."""
    if if_match.any:
        return current()
    if key in if_match.versions:
        return if_match.versions[key]
    now = current()
    raise PreconditionFailedError(
        f"If-Match ({if_match.raw}) names no version of {what} {key}: send the ETag that "
        f"GET {read_path} returned, {entity_tag(key, now)}.",
        identifier=key,
        current_version=now,
        **{id_field: key},
    )


def expected_version(
    if_match: IfMatch | None,
    identifier: str | int,
    *,
    what: str,
    read_path: str,
    required: bool,
    current: Callable[[], int],
    id_field: str = "id",
) -> int | None:
    """The version ``if_match`` names for ``identifier``, to hand to the library.

    Absent: 428 when ``required`` (grids), else ``None`` (issues: no precondition, though a
    concurrent change is still refused with 409). ``*``: the version now current (``current``
    reads it). A header naming no version of this resource: 412, since no tag can match
    (the 412 carries the identifier as ``id_field``, as the library's 412s do).
    """
    key = str(identifier)
    if if_match is None:
        if required:
            raise _required(what, [key], read_path)
        return None
    return _named_version(
        if_match, key, what=what, read_path=read_path, current=current, id_field=id_field
    )


def expected_versions(
    if_match: IfMatch | None,
    identifiers: Sequence[str],
    *,
    what: str,
    read_path: Callable[[str], str],
    current: Callable[[str], int],
    id_field: str = "id",
) -> dict[str, int]:
    """:func:`expected_version` for several resources changed together (a merge): required."""
    if not identifiers:
        return {}
    if if_match is None:
        raise _required(what, identifiers, read_path(identifiers[0]))
    return {
        key: _named_version(
            if_match,
            key,
            what=what,
            read_path=read_path(key),
            current=lambda key=key: current(key),  # type: ignore[misc]
            id_field=id_field,
        )
        for key in identifiers
    }


IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The ETag of the version you changed: "<code>-v<n>" for a grid, '
        '"<id>-v<n>" for an issue (several, comma-separated, for a merge).',
    ),
]
