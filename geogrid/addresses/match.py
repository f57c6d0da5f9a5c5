"""Match a free-text Chinese address against the standard address registry (标准地址库).

How, in order (the first that answers wins):

1. **Exact** on ``addresses.normalized`` (indexed) with the normalised query, with and without
   a trailing room: score 100. No in-memory state needed, so the common case is one query.
2. **Keys in memory**, per district: every standard address is cut into
   ``town | road+number | rest`` and reduced to a *skeleton* (digits replaced by ``#``) plus its
   tuple of numbers. A query is cut the same way; its town, when given, must agree, and may be
   missing; the road+number may be missing (people say "米兰花园3号楼2单元"); the unit may be
   missing (then the answer is the building, ``precision="building"``, when all its units share
   one point). The skeleton is compared with ``rapidfuzz.fuzz.ratio`` against the registry's
   skeletons of the same shape (``process.extract``, a few thousand distinct skeletons per
   district), so typos in road, estate or village names cost a few points, while **numbers
   must agree exactly** (a wrong building number is a different address, not a typo): each
   differing number costs 25 points.
3. **Decision**: the best candidate is answered only if its score is at least
   :data:`THRESHOLD` and beats the best candidate at a *different place* by
   :data:`MARGIN`; otherwise :class:`~geogrid.errors.NotFoundError` (404) lists the top five
   candidates and their scores. Never a silent guess.

Scores: 100 exact; 97 exact but the road+number was missing; 95 building-level; fuzzy matches
score their skeleton similarity (0-100) minus penalties.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from geogrid.addresses.normalize import DEFAULT_PREFIXES, normalize_address
from geogrid.addresses.prefixes import district_prefixes
from geogrid.errors import InvalidInputError, NotFoundError

__all__ = [
    "MARGIN",
    "THRESHOLD",
    "AddressIndex",
    "AddressIndexCache",
    "AddressMatch",
    "default_cache",
    "match_address",
    "match_in_index",
]

#: Minimum score of an answer.
THRESHOLD = 80.0
#: How far the answer must beat the best candidate at another place.
MARGIN = 5.0
#: Units of one building closer than this (degrees, ~10 m) are "the same place".
SAME_PLACE_DEG = 1e-4

_ROOM = re.compile(r"(?<=单元)\d+室?$|(?<=号楼)\d+室$|\d+室$")
_ROAD = re.compile(r"^(?P<road>.+?(?:路|街|大道|巷|道))(?P<number>\d+)号(?!楼)")
_UNIT = re.compile(r"\d+单元$")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class AddressMatch:
    """A standard address a query matched, with its point (WGS 84) and score (0-100)."""

    address_id: int
    full_text: str
    lon: float
    lat: float
    score: float
    precision: str  # "exact", "fuzzy" or "building" (the query had no unit)
    normalized_query: str
    town: str | None = None
    community: str | None = None


@dataclass(frozen=True)
class _Parts:
    town: str | None
    has_road: bool
    building_level: bool
    skeleton: str
    numbers: tuple[int, ...]


def _split(key: str, towns: Sequence[str], communities: Sequence[str]) -> tuple[str | None, str]:
    town = next((t for t in towns if key.startswith(t)), None)
    if town:
        key = key[len(town) :]
    community = next((c for c in communities if key.startswith(c)), None)
    if community and len(key) > len(community):
        key = key[len(community) :]
    return town, key


def _parts(key: str, town: str | None, *, drop_road: bool, drop_unit: bool) -> _Parts | None:
    has_road = _ROAD.match(key) is not None
    if drop_road and has_road:  # addresses without a road (villages) stay as they are
        key = key[_ROAD.match(key).end() :]  # type: ignore[union-attr]
    if drop_unit:
        if not _UNIT.search(key):
            return None
        key = _UNIT.sub("", key)
    numbers = tuple(int(d) for d in _DIGITS.findall(key))
    return _Parts(town, has_road and not drop_road, drop_unit, _DIGITS.sub("#", key), numbers)


@dataclass
class _View:
    """The registry in one shape (with/without road, with/without unit): skeleton → entries."""

    by_skeleton: dict[str, list[tuple[int, tuple[int, ...]]]] = field(default_factory=dict)
    skeletons: list[str] = field(default_factory=list)

    def add(self, skeleton: str, entry: int, numbers: tuple[int, ...]) -> None:
        bucket = self.by_skeleton.get(skeleton)
        if bucket is None:
            bucket = self.by_skeleton[skeleton] = []
            self.skeletons.append(skeleton)
        bucket.append((entry, numbers))


@dataclass
class AddressIndex:
    """The standard addresses of one district, cut into skeletons for fuzzy matching."""

    district_adcode: str
    stamp: tuple[int, int]
    ids: list[int]
    full_text: list[str]
    lon: list[float]
    lat: list[float]
    town: list[str | None]
    community: list[str | None]
    towns: list[str]
    communities: list[str]
    views: dict[tuple[bool, bool], _View] = field(default_factory=dict)
    #: The district's own province/city/district prefixes (:func:`district_prefixes`).
    prefixes: tuple[tuple[str, ...], ...] = DEFAULT_PREFIXES

    @classmethod
    def load(cls, session: Session, district_adcode: str) -> AddressIndex:
        stamp = _stamp(session, district_adcode)
        rows = session.execute(
            sql(
                "SELECT id, full_text, town, community, ST_X(geom) AS lon, ST_Y(geom) AS lat "
                "FROM addresses WHERE district_adcode = :d ORDER BY id"
            ),
            {"d": district_adcode},
        ).all()
        admin = session.execute(
            sql(
                "SELECT name, level FROM admin_areas WHERE district_adcode = :d "
                "AND level IN ('street', 'town', 'community')"
            ),
            {"d": district_adcode},
        ).all()
        towns = {r.name for r in admin if r.level in ("street", "town")}
        towns |= {r.town for r in rows if r.town}
        communities = {r.name for r in admin if r.level == "community"}
        # Longest first, so that 华州街道 wins over a shorter name it starts with.
        index = cls(
            district_adcode=district_adcode,
            stamp=stamp,
            ids=[int(r.id) for r in rows],
            full_text=[r.full_text for r in rows],
            lon=[float(r.lon) for r in rows],
            lat=[float(r.lat) for r in rows],
            town=[r.town for r in rows],
            community=[r.community for r in rows],
            towns=sorted(towns, key=len, reverse=True),
            communities=sorted(communities, key=len, reverse=True),
            prefixes=district_prefixes(session, district_adcode),
        )
        index._build_views()
        return index

    def _build_views(self) -> None:
        for shape in ((False, False), (True, False), (False, True), (True, True)):
            self.views[shape] = _View()
        for entry, full in enumerate(self.full_text):
            town, key = _split(normalize_address(full, self.prefixes), self.towns, [])
            if self.town[entry] is None and town is not None:
                self.town[entry] = town
            for drop_road, drop_unit in self.views:
                parts = _parts(key, town, drop_road=drop_road, drop_unit=drop_unit)
                if parts is not None:
                    self.views[(drop_road, drop_unit)].add(parts.skeleton, entry, parts.numbers)

    # -- matching ----------------------------------------------------------------------------

    def candidates(self, normalized: str, *, limit: int = 10) -> list[tuple[float, int, str]]:
        """Scored candidates ``(score, entry, precision)``, best first, one per place."""
        query = _ROOM.sub("", normalized)
        town, key = _split(query, self.towns, self.communities)
        has_road = _ROAD.match(key) is not None
        has_unit = _UNIT.search(key) is not None
        q = _parts(key, town, drop_road=False, drop_unit=False)
        assert q is not None
        # The query's shape picks the view: what the query lacks, the registry drops too.
        view = self.views[(not has_road, False)]
        building_view = self.views[(not has_road, True)]
        scored: dict[int, tuple[float, str]] = {}

        def consider(v: _View, omission_cost: float, precision: str) -> None:
            found = process.extract(
                q.skeleton, v.skeletons, scorer=fuzz.ratio, limit=limit, score_cutoff=50
            )
            for skeleton, similarity, _ in found:
                for entry, numbers in v.by_skeleton[skeleton]:
                    score = float(similarity) - omission_cost
                    score -= _number_penalty(q.numbers, numbers)
                    if town is not None and self.town[entry] not in (None, town):
                        score -= 15
                    if similarity == 100 and score == 100 - omission_cost:
                        kind = precision
                    else:
                        kind = "fuzzy" if precision == "exact" else precision
                    best = scored.get(entry)
                    if best is None or score > best[0]:
                        scored[entry] = (score, kind)

        consider(view, 0.0 if has_road else 3.0, "exact")
        if not has_unit and _looks_like_building(key):
            consider(building_view, 5.0, "building")
        ranked = sorted(scored.items(), key=lambda kv: (-kv[1][0], self.ids[kv[0]]))
        out: list[tuple[float, int, str]] = []
        for entry, (score, precision) in ranked:
            if any(self._same_place(entry, other) for _, other, _ in out):
                continue
            out.append((round(score, 1), entry, precision))
            if len(out) >= limit:
                break
        return out

    def _same_place(self, a: int, b: int) -> bool:
        return (
            abs(self.lon[a] - self.lon[b]) < SAME_PLACE_DEG
            and abs(self.lat[a] - self.lat[b]) < SAME_PLACE_DEG
        )


def _looks_like_building(key: str) -> bool:
    return key.endswith("号楼")


def _number_penalty(query: tuple[int, ...], standard: tuple[int, ...]) -> float:
    if len(query) != len(standard):
        return 40.0
    return 25.0 * sum(a != b for a, b in zip(query, standard, strict=True))


def _stamp(session: Session, district_adcode: str) -> tuple[int, int]:
    row = session.execute(
        sql(
            "SELECT count(*) AS n, coalesce(max(id), 0) AS m FROM addresses "
            "WHERE district_adcode = :d"
        ),
        {"d": district_adcode},
    ).one()
    return int(row.n), int(row.m)


class AddressIndexCache:
    """One :class:`AddressIndex` per (database, district), reloaded when the registry's
    (count, max id) moves — an import by any process shows up on the next fuzzy query."""

    def __init__(self) -> None:
        self._indexes: dict[tuple[str, str], AddressIndex] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, district_adcode: str) -> AddressIndex:
        key = (str(session.get_bind().engine.url), district_adcode)
        stamp = _stamp(session, district_adcode)
        with self._lock:
            index = self._indexes.get(key)
            if index is None or index.stamp != stamp:
                index = AddressIndex.load(session, district_adcode)
                self._indexes[key] = index
            return index

    def clear(self) -> None:
        with self._lock:
            self._indexes.clear()


_DEFAULT_CACHE = AddressIndexCache()


def default_cache() -> AddressIndexCache:
    """The process-wide cache :func:`match_address` uses unless given another."""
    return _DEFAULT_CACHE


def _exact(session: Session, district_adcode: str, normalized: str) -> Sequence[Any]:
    forms = list(dict.fromkeys([normalized, _ROOM.sub("", normalized)]))
    return session.execute(
        sql(
            "SELECT id, full_text, town, community, ST_X(geom) AS lon, ST_Y(geom) AS lat "
            "FROM addresses WHERE district_adcode = :d AND normalized = ANY(:forms) ORDER BY id"
        ),
        {"d": district_adcode, "forms": forms},
    ).all()


def match_address(
    session: Session,
    text: str,
    *,
    district_adcode: str,
    cache: AddressIndexCache | None = None,
) -> AddressMatch:
    """The standard address ``text`` means, or a 404 listing the five best candidates.

    Raises
    ------
    InvalidInputError
        Empty text.
    NotFoundError
        No candidate reaches :data:`THRESHOLD` with a :data:`MARGIN` over the runner-up at
        another place; ``extra["candidates"]`` holds up to five ``{address_id, full_text,
        score}``.
    """
    normalized = normalize_address(text or "", district_prefixes(session, district_adcode))
    if not normalized:
        raise InvalidInputError("The address is empty: give a Chinese address.", address=text)
    rows = _exact(session, district_adcode, normalized)
    if len(rows) == 1:
        r = rows[0]
        return AddressMatch(
            int(r.id),
            r.full_text,
            float(r.lon),
            float(r.lat),
            100.0,
            "exact",
            normalized,
            r.town,
            r.community,
        )
    index = (cache or _DEFAULT_CACHE).get(session, district_adcode)
    return match_in_index(index, text, normalized)


def match_in_index(index: AddressIndex, text: str, normalized: str | None = None) -> AddressMatch:
    """The in-memory stages of :func:`match_address` (no database): keys, fuzzy, decision."""
    if normalized is None:
        normalized = normalize_address(text, index.prefixes)
    found = index.candidates(normalized)
    if found:
        score, entry, precision = found[0]
        runner_up = found[1][0] if len(found) > 1 else None
        if score >= THRESHOLD and (runner_up is None or score - runner_up >= MARGIN):
            return AddressMatch(
                index.ids[entry],
                index.full_text[entry],
                index.lon[entry],
                index.lat[entry],
                score,
                precision,
                normalized,
                index.town[entry],
                index.community[entry],
            )
    candidates = [
        {"address_id": index.ids[e], "full_text": index.full_text[e], "score": s}
        for s, e, _ in found[:5]
    ]
    if found and found[0][0] >= THRESHOLD:
        why = "several standard addresses match it almost equally well"
    else:
        why = f"no standard address matches it with a score of at least {THRESHOLD:.0f}"
    raise NotFoundError(
        f"The address {text!r} was not matched: {why}. Pick one of the candidates or give "
        "more detail (town, road and number, estate, building, unit).",
        address=text,
        normalized=normalized,
        threshold=THRESHOLD,
        candidates=candidates,
    )
