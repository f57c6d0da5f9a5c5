"""Grid and division codes.

The codes follow the statistical division code (GB/T 2260 + the 12-digit statistical code)
and the unit-grid coding of the Chinese city-management standards:

====================  =======  ==========================================================
part                  digits   range
====================  =======  ==========================================================
district (adcode)     6        GB/T 2260, e.g. 610503 华州区
street / town         3        街道 001-099, 镇 100-199
community / village   3        社区 001-199, 村 200-399  (12 digits: the level-1 grid)
level-2 sequence      3        001-899 general grids, 900-999 dedicated grids
level-3 sequence      3        001-999
====================  =======  ==========================================================

Sequences run west→east, north→south (reading order over the map), see
:func:`reading_order`. A code, once issued, is never reused, even after its grid is retired.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from geogrid.errors import InvalidInputError

__all__ = [
    "DEDICATED_SEQUENCES",
    "GENERAL_SEQUENCES",
    "GridCode",
    "community_code",
    "parse_grid_code",
    "reading_order",
    "street_code",
]

STREET_RANGE = range(1, 100)
TOWN_RANGE = range(100, 200)
COMMUNITY_RANGE = range(1, 200)
VILLAGE_RANGE = range(200, 400)
GENERAL_SEQUENCES = range(1, 900)
DEDICATED_SEQUENCES = range(900, 1000)

_CODE_RE = re.compile(r"^\d{12}(\d{3}){0,2}$")


def street_code(adcode: str, seq: int, *, town: bool) -> str:
    """The 9-digit code of a street (街道, 001-099) or town (镇, 100-199)."""
    allowed = TOWN_RANGE if town else STREET_RANGE
    if seq not in allowed:
        kind = "town" if town else "street"
        raise InvalidInputError(
            f"{kind} sequence {seq} is outside {allowed.start:03d}-{allowed.stop - 1:03d}"
        )
    return f"{adcode}{seq:03d}"


def community_code(street: str, seq: int, *, village: bool) -> str:
    """The 12-digit code of a community (社区, 001-199) or village (村, 200-399)."""
    allowed = VILLAGE_RANGE if village else COMMUNITY_RANGE
    if seq not in allowed:
        kind = "village" if village else "community"
        raise InvalidInputError(
            f"{kind} sequence {seq} is outside {allowed.start:03d}-{allowed.stop - 1:03d}"
        )
    return f"{street}{seq:03d}"


@dataclass(frozen=True, slots=True)
class GridCode:
    """A parsed grid code."""

    code: str

    @property
    def level(self) -> int:
        return (len(self.code) - 12) // 3 + 1

    @property
    def adcode(self) -> str:
        return self.code[:6]

    @property
    def street(self) -> str:
        return self.code[:9]

    @property
    def community(self) -> str:
        return self.code[:12]

    @property
    def parent(self) -> str | None:
        return None if self.level == 1 else self.code[:-3]

    @property
    def sequence(self) -> int:
        return int(self.code[-3:])

    @property
    def is_dedicated(self) -> bool:
        """Dedicated grids use sequences 900-999 under their community (a level-2 code)."""
        return self.level == 2 and self.sequence in DEDICATED_SEQUENCES

    def child(self, seq: int, *, dedicated: bool = False) -> str:
        if self.level >= 3:
            raise InvalidInputError(f"grid {self.code} is level 3: it cannot have children")
        if dedicated and self.level != 1:
            raise InvalidInputError("dedicated grids are coded under a level-1 (community) grid")
        allowed = DEDICATED_SEQUENCES if dedicated else GENERAL_SEQUENCES
        if self.level == 2:
            allowed = range(1, 1000)
        if seq not in allowed:
            raise InvalidInputError(
                f"child sequence {seq} of {self.code} is outside "
                f"{allowed.start:03d}-{allowed.stop - 1:03d}"
            )
        return f"{self.code}{seq:03d}"


def parse_grid_code(code: str) -> GridCode:
    """Check a grid code's shape and ranges; the error names what is wrong.

    >>> parse_grid_code("610503001002003").level
    2
    """
    if not isinstance(code, str) or not _CODE_RE.match(code):
        raise InvalidInputError(
            f"grid code {code!r} must be 12, 15 or 18 digits "
            "(adcode + street/town + community/village [+ level-2 [+ level-3]])"
        )
    street_seq = int(code[6:9])
    if street_seq == 0 or street_seq >= 200:
        raise InvalidInputError(
            f"grid code {code}: street/town part {code[6:9]} must be 001-099 (街道) or 100-199 (镇)"
        )
    comm_seq = int(code[9:12])
    if comm_seq == 0 or comm_seq >= 400:
        raise InvalidInputError(
            f"grid code {code}: community/village part {code[9:12]} must be 001-199 (社区) "
            "or 200-399 (村)"
        )
    for start in range(12, len(code), 3):
        if int(code[start : start + 3]) == 0:
            raise InvalidInputError(f"grid code {code}: sequence 000 at digit {start + 1}")
    return GridCode(code)


def reading_order(centroids: Sequence[tuple[float, float]], row_height: float) -> list[int]:
    """Indices of ``centroids`` (lon, lat) in reading order: rows north→south, each west→east.

    ``row_height`` is the band height in degrees of latitude (about one cell's size), so cells
    roughly side by side share a row.
    """
    if not centroids:
        return []
    top = max(lat for _, lat in centroids)
    keyed = [(int((top - lat) // row_height), lon, i) for i, (lon, lat) in enumerate(centroids)]
    return [i for _, _, i in sorted(keyed)]
