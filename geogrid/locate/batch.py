"""Many points and addresses at once: a CSV or JSON of rows in, grid codes out.

:func:`locate_points` is the vectorised core (numpy arrays in, numpy arrays out; a million
points in a fraction of a second through :mod:`geogrid.locate.cells`). :func:`locate_rows`
takes rows as dicts (``id``, ``lon``, ``lat``, ``crs``, ``address``), works through them in
chunks (one revision check per chunk, one exact-address query per chunk, fuzzy matching in
memory) and yields one output dict per input row, in order, with a ``reason`` for every row
that could not be placed. :func:`read_rows`, :func:`write_csv` and :func:`write_ndjson` convert
from and to the wire formats.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from geogrid.addresses.match import THRESHOLD, AddressIndexCache, AddressMatch, default_cache
from geogrid.addresses.normalize import normalize_address
from geogrid.addresses.registry import read_csv_text
from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.locate.index import GridIndex, IndexCache
from geogrid.spatial.crs import CoordinateSystem, to_wgs84

__all__ = [
    "MAX_ROWS",
    "OUTPUT_FIELDS",
    "BulkResult",
    "locate_points",
    "locate_rows",
    "read_rows",
    "write_csv",
    "write_ndjson",
]

MAX_ROWS = 100_000
CHUNK = 10_000
OUTPUT_FIELDS = (
    "row",
    "id",
    "address",
    "matched_address",
    "match_score",
    "lon",
    "lat",
    "grid_code",
    "grid_name",
    "grid_level",
    "level1_code",
    "level2_code",
    "level3_code",
    "dedicated_codes",
    "reason",
)


@dataclass(frozen=True)
class BulkResult:
    """Per point: ``deepest`` position in the index (-1 none), and the covering pairs."""

    deepest: NDArray[np.int64]
    pair_point: NDArray[np.int64]
    pair_grid: NDArray[np.int64]

    def codes(self, index: GridIndex) -> NDArray[np.object_]:
        """The deepest general grid code per point (None where none)."""
        out = np.full(len(self.deepest), None, dtype=object)
        found = self.deepest >= 0
        out[found] = index.code[self.deepest[found]]
        return out


def locate_points(
    index: GridIndex, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> BulkResult:
    """Every grid covering each WGS 84 point, and the deepest general one (same rule as one
    point: deepest level, then smallest code)."""
    pt, pos = index.covering_pairs(lon, lat)
    return BulkResult(index.deepest_many(len(lon), pt, pos), pt, pos)


# -- rows ------------------------------------------------------------------------------------

_ALIASES = {
    "id": ("id", "row_id", "编号"),
    "lon": ("lon", "lng", "longitude", "x", "经度"),
    "lat": ("lat", "latitude", "y", "纬度"),
    "crs": ("crs", "坐标系"),
    "address": ("address", "text", "full_text", "地址"),
}


def _canonical(row: dict[str, Any]) -> dict[str, Any]:
    lowered = {str(k).strip().lower(): v for k, v in row.items()}
    out: dict[str, Any] = {}
    for key, names in _ALIASES.items():
        for name in names:
            if name in lowered and lowered[name] not in (None, ""):
                out[key] = lowered[name]
                break
    return out


def read_rows(body: str | bytes, content_type: str) -> list[dict[str, Any]]:
    """Rows from a CSV, JSON (a list, or ``{"rows": [...]}``) or NDJSON body."""
    kind = content_type.split(";")[0].strip().lower()
    text = read_csv_text(body)
    if kind in ("application/json", ""):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"The body is not JSON: {exc}.") from exc
        rows = data.get("rows") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise InvalidInputError('JSON must be a list of row objects or {"rows": [...]}.')
    elif kind in ("application/x-ndjson", "application/ndjson", "application/jsonl"):
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"A line of the NDJSON body is not JSON: {exc}.") from exc
    elif kind in ("text/csv", "application/csv", "text/plain"):
        rows = list(csv.DictReader(io.StringIO(text)))
    else:
        raise InvalidInputError(
            f"Unsupported content type {kind!r}: send text/csv, application/json or "
            "application/x-ndjson.",
            content_type=kind,
        )
    if len(rows) > MAX_ROWS:
        raise InvalidInputError(
            f"{len(rows)} rows: at most {MAX_ROWS} per request; split the file.",
            rows=len(rows),
            max_rows=MAX_ROWS,
        )
    return rows


def locate_rows(
    session: Session,
    rows: Iterable[dict[str, Any]],
    *,
    district_adcode: str,
    cache: IndexCache,
    address_cache: AddressIndexCache | None = None,
    default_crs: str = "wgs84",
    progress: Callable[[int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """One output dict per input row (fields :data:`OUTPUT_FIELDS`), in input order.

    A row with ``lon``/``lat`` is located by its point; a row with only ``address`` is first
    matched to the registry. Unplaceable rows carry a ``reason`` and empty grid fields.
    """
    chunk: list[dict[str, Any]] = []
    for number, row in enumerate(rows, start=1):
        chunk.append({"row": number, **_canonical(row)})
        if len(chunk) >= CHUNK:
            yield from _chunk(session, chunk, district_adcode, cache, address_cache, default_crs)
            if progress:
                progress(len(chunk))
            chunk = []
    if chunk:
        yield from _chunk(session, chunk, district_adcode, cache, address_cache, default_crs)
        if progress:
            progress(len(chunk))


def _chunk(
    session: Session,
    rows: list[dict[str, Any]],
    district_adcode: str,
    cache: IndexCache,
    address_cache: AddressIndexCache | None,
    default_crs: str,
) -> Iterator[dict[str, Any]]:
    n = len(rows)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    out: list[dict[str, Any]] = [
        {"row": r["row"], "id": r.get("id"), "address": r.get("address"), "reason": None}
        for r in rows
    ]
    default_system = CoordinateSystem.parse(default_crs)
    by_system: dict[CoordinateSystem, list[int]] = {}
    needs_address: list[int] = []
    for i, r in enumerate(rows):
        if "lon" in r or "lat" in r:
            try:
                x, y = float(r["lon"]), float(r["lat"])
                system = CoordinateSystem.parse(r["crs"]) if "crs" in r else default_system
            except (KeyError, TypeError, ValueError):
                out[i]["reason"] = "lon/lat are not numbers"
                continue
            except InvalidInputError as exc:
                out[i]["reason"] = exc.detail
                continue
            if not (np.isfinite(x) and np.isfinite(y)) or abs(x) > 180 or abs(y) > 90:
                out[i]["reason"] = "lon/lat out of range (longitude first)"
                continue
            lon[i], lat[i] = x, y
            by_system.setdefault(system, []).append(i)
        elif r.get("address"):
            needs_address.append(i)
        else:
            out[i]["reason"] = "neither lon/lat nor address"
    for system, idx in by_system.items():
        sel = np.array(idx)
        lon[sel], lat[sel] = to_wgs84(lon[sel], lat[sel], system)
    if needs_address:
        matches = _match_many(
            session,
            [str(rows[i]["address"]) for i in needs_address],
            district_adcode,
            address_cache or default_cache(),
        )
        for i, found in zip(needs_address, matches, strict=True):
            if isinstance(found, str):
                out[i]["reason"] = found
                continue
            lon[i], lat[i] = found.lon, found.lat
            out[i]["matched_address"] = found.full_text
            out[i]["match_score"] = found.score
    index = cache.get(session, district_adcode)
    placed = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    result = locate_points(index, lon[placed], lat[placed])
    dedicated: dict[int, list[str]] = {}
    for p, g in zip(result.pair_point, result.pair_grid, strict=True):
        if index.dedicated[g]:
            dedicated.setdefault(int(placed[p]), []).append(str(index.code[g]))
    for k, i in enumerate(placed.tolist()):
        o = out[i]
        o["lon"], o["lat"] = round(float(lon[i]), 8), round(float(lat[i]), 8)
        pos = int(result.deepest[k])
        if pos < 0:
            o["reason"] = "outside every grid of district " + district_adcode
            continue
        chain = index.chain(pos)
        o["grid_code"] = str(index.code[pos])
        o["grid_name"] = str(index.name[pos])
        o["grid_level"] = int(index.level[pos])
        for c in chain:
            o[f"level{int(index.level[c])}_code"] = str(index.code[c])
        o["dedicated_codes"] = ";".join(dedicated.get(int(i), [])) or None
    for o in out:
        yield {f: o.get(f) for f in OUTPUT_FIELDS}


def _match_many(
    session: Session, texts: list[str], district_adcode: str, address_cache: AddressIndexCache
) -> list[AddressMatch | str]:
    """Exact matches for all texts in one query, the rest through :func:`match_address`'s
    in-memory stage; a string is the reason a text was not matched."""
    from geogrid.addresses.match import match_in_index
    from geogrid.addresses.prefixes import district_prefixes

    prefixes = district_prefixes(session, district_adcode)
    norms = [normalize_address(t, prefixes) for t in texts]
    exact: dict[str, list[Any]] = {}
    for r in session.execute(
        sql(
            "SELECT id, full_text, normalized, town, community, ST_X(geom) AS lon, "
            "ST_Y(geom) AS lat FROM addresses WHERE district_adcode = :d "
            "AND normalized = ANY(:n)"
        ),
        {"d": district_adcode, "n": list(set(norms))},
    ):
        exact.setdefault(r.normalized, []).append(r)
    index = None
    out: list[AddressMatch | str] = []
    for t, n in zip(texts, norms, strict=True):
        hits = exact.get(n, [])
        if len(hits) == 1:
            r = hits[0]
            out.append(
                AddressMatch(
                    int(r.id), r.full_text, r.lon, r.lat, 100.0, "exact", n, r.town, r.community
                )
            )
            continue
        if index is None:
            index = address_cache.get(session, district_adcode)
        try:
            out.append(match_in_index(index, t, n))
        except NotFoundError as exc:
            best = exc.extra.get("candidates") or []
            hint = f"; best candidate {best[0]['full_text']} ({best[0]['score']})" if best else ""
            out.append(f"address not matched (threshold {THRESHOLD:.0f}){hint}")
        except InvalidInputError as exc:
            out.append(exc.detail)
    return out


# -- output ----------------------------------------------------------------------------------


def write_csv(results: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV text, header first, one line per result (UTF-8; Excel wants a BOM: add it if needed)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=OUTPUT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for i, result in enumerate(results, start=1):
        writer.writerow(result)
        if i % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_ndjson(results: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One JSON object per line."""
    lines: list[str] = []
    for result in results:
        lines.append(json.dumps(result, ensure_ascii=False))
        if len(lines) >= 1000:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"
