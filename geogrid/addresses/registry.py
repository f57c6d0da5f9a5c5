"""Import standard addresses from CSV, all or nothing.

Columns (header row, names case-insensitive): ``text`` (or ``full_text``/``address``/``地址``),
``lon`` and ``lat`` (or ``x``/``y``, ``lng``, ``经度``/``纬度``), optional ``crs`` per row
(``wgs84`` by default, or ``cgcs2000``, ``gcj02``, ``bd09``; a whole file from Amap is
``crs=gcj02``). UTF-8 (with or without BOM) or GBK, as Excel writes it in China.

Every row is checked before anything is written: text present and not a duplicate (in the file
or in the registry, compared on the normal form), coordinates numbers in range, coordinate
system known, point inside the district. Any problem: :class:`InvalidInputError` (422) naming
each bad row (its line number in the file) and what is wrong; nothing is written. The caller
owns the transaction, as everywhere in geogrid.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from geogrid.addresses.normalize import normalize_address
from geogrid.addresses.prefixes import district_prefixes
from geogrid.errors import InvalidInputError
from geogrid.spatial.crs import CoordinateSystem, to_wgs84

__all__ = ["ImportReport", "import_addresses_csv", "read_csv_text"]

_TEXT = ("text", "full_text", "address", "地址", "标准地址")
_LON = ("lon", "lng", "longitude", "x", "经度")
_LAT = ("lat", "latitude", "y", "纬度")
_CRS = ("crs", "坐标系")
#: How many row problems an error lists (the count is always complete).
MAX_LISTED_ERRORS = 50


@dataclass(frozen=True)
class ImportReport:
    imported: int
    district_adcode: str


def read_csv_text(data: str | bytes) -> str:
    """Decode CSV bytes: UTF-8 (BOM or not), else GBK."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInputError("The file is neither UTF-8 nor GBK text.")


def _column(header: list[str], names: tuple[str, ...], what: str, required: bool) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    if required:
        raise InvalidInputError(
            f"The CSV has no {what} column: expected one of {', '.join(names)} in the header "
            f"(found: {', '.join(header) or 'nothing'}).",
            header=header,
        )
    return None


def import_addresses_csv(
    session: Session,
    data: str | bytes,
    *,
    district_adcode: str,
    default_crs: str = "wgs84",
    source: str = "import",
) -> ImportReport:
    """Validate every row, then insert all of them in one statement (or raise, writing nothing).

    Raises
    ------
    InvalidInputError
        Naming the bad rows: ``extra["errors"]`` is ``[{"row": line, "problem": ...}]``.
    """
    default_system = CoordinateSystem.parse(default_crs)
    reader = csv.reader(io.StringIO(read_csv_text(data)))
    header = next(reader, None)
    if header is None:
        raise InvalidInputError("The CSV is empty: it needs a header row and address rows.")
    i_text = _column(header, _TEXT, "address text", True)
    i_lon = _column(header, _LON, "longitude", True)
    i_lat = _column(header, _LAT, "latitude", True)
    i_crs = _column(header, _CRS, "crs", False)
    prefixes = district_prefixes(session, district_adcode)

    errors: list[dict[str, Any]] = []
    texts: list[str] = []
    norms: list[str] = []
    lines: list[int] = []
    xs: list[float] = []
    ys: list[float] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue

        def cell(i: int | None, row: list[str] = row) -> str:
            return row[i].strip() if i is not None and i < len(row) else ""

        full = cell(i_text)
        problem = None
        if not full:
            problem = "the address text is empty"
        normalized = normalize_address(full, prefixes) if full else ""
        if full and not normalized:
            problem = f"the address {full!r} has no letters or digits"
        elif normalized in seen:
            problem = f"duplicate of line {seen[normalized]} ({full!r})"
        try:
            lon, lat = float(cell(i_lon)), float(cell(i_lat))
            if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lon) > 180 or abs(lat) > 90:
                raise ValueError
        except ValueError:
            problem = problem or (
                f"lon/lat ({cell(i_lon)!r}, {cell(i_lat)!r}) are not a longitude -180..180 and "
                "a latitude -90..90"
            )
            lon = lat = math.nan
        try:
            system = CoordinateSystem.parse(cell(i_crs)) if cell(i_crs) else default_system
        except InvalidInputError as exc:
            problem = problem or exc.detail
            system = default_system
        if problem:
            errors.append({"row": line, "problem": problem})
            continue
        seen[normalized] = line
        x, y = to_wgs84(lon, lat, system)
        texts.append(full)
        norms.append(normalized)
        lines.append(line)
        xs.append(float(x))
        ys.append(float(y))

    if not errors and texts:
        errors.extend(_check_against_database(session, district_adcode, norms, lines, xs, ys))
    if errors:
        errors.sort(key=lambda e: e["row"])
        listed = "; ".join(f"line {e['row']}: {e['problem']}" for e in errors[:5])
        raise InvalidInputError(
            f"{len(errors)} bad row(s), nothing imported. {listed}"
            + (" …" if len(errors) > 5 else ""),
            errors=errors[:MAX_LISTED_ERRORS],
            error_count=len(errors),
        )
    if not texts:
        raise InvalidInputError("The CSV has a header but no address rows.")

    towns = [
        r.name
        for r in session.execute(
            sql(
                "SELECT name FROM admin_areas WHERE district_adcode = :d "
                "AND level IN ('street', 'town') ORDER BY length(name) DESC"
            ),
            {"d": district_adcode},
        )
    ]
    town_of = [next((t for t in towns if n.startswith(t)), None) for n in norms]
    session.execute(
        sql(
            """
            INSERT INTO addresses (district_adcode, full_text, normalized, town, community,
                                   admin_area_id, geom, source)
            SELECT :d, u.t, u.n, u.town, a.name, a.id,
                   ST_SetSRID(ST_MakePoint(u.x, u.y), 4326), :source
            FROM unnest(CAST(:texts AS text[]), CAST(:norms AS text[]), CAST(:towns AS text[]),
                        CAST(:xs AS float8[]), CAST(:ys AS float8[])) AS u(t, n, town, x, y)
            LEFT JOIN LATERAL (
              SELECT id, name FROM admin_areas
              WHERE district_adcode = :d AND level IN ('community', 'village')
                AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(u.x, u.y), 4326))
              ORDER BY code LIMIT 1) a ON true
            """
        ),
        {
            "d": district_adcode,
            "source": source,
            "texts": texts,
            "norms": norms,
            "towns": town_of,
            "xs": xs,
            "ys": ys,
        },
    )
    return ImportReport(imported=len(texts), district_adcode=district_adcode)


def _check_against_database(
    session: Session,
    district_adcode: str,
    norms: list[str],
    lines: list[int],
    xs: list[float],
    ys: list[float],
) -> list[dict[str, Any]]:
    """Rows already registered, and rows outside the district, in two set queries."""
    errors: list[dict[str, Any]] = []
    existing = session.execute(
        sql(
            "SELECT normalized, min(id) AS id FROM addresses WHERE district_adcode = :d "
            "AND normalized = ANY(:norms) GROUP BY normalized"
        ),
        {"d": district_adcode, "norms": norms},
    ).all()
    registered = {r.normalized: r.id for r in existing}
    for n, line in zip(norms, lines, strict=True):
        if n in registered:
            errors.append(
                {"row": line, "problem": f"already in the registry (address id {registered[n]})"}
            )
    has_district = session.execute(
        sql("SELECT 1 FROM admin_areas WHERE district_adcode = :d AND level = 'district'"),
        {"d": district_adcode},
    ).first()
    if has_district is None:
        errors.append({"row": 1, "problem": f"district {district_adcode} is not in the database"})
        return errors
    outside = session.execute(
        sql(
            """
            SELECT u.i FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[]))
                 WITH ORDINALITY AS u(x, y, i)
            WHERE NOT EXISTS (
              SELECT 1 FROM admin_areas d WHERE d.district_adcode = :d AND d.level = 'district'
                AND ST_Covers(d.geom, ST_SetSRID(ST_MakePoint(u.x, u.y), 4326)))
            """
        ),
        {"d": district_adcode, "xs": xs, "ys": ys},
    ).all()
    for (i,) in outside:
        k = int(i) - 1
        errors.append(
            {
                "row": lines[k],
                "problem": f"the point ({xs[k]:.6f}, {ys[k]:.6f}) (WGS 84) is outside district "
                f"{district_adcode}: check lon/lat order and the crs column",
            }
        )
    return errors
