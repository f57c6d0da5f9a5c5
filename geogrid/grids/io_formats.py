"""Reading and writing grid files with pyogrio (GDAL bundled in its wheel).

Formats offices actually exchange: GeoJSON, GeoPackage, Shapefile (attributes in GBK from old
Chinese desktop GIS, or UTF-8), KML (Google Earth / 奥维地图) and CSV with a WKT column (Excel).
This module only moves features between files and plain Python values; what a feature *means*
(which column is the code, what gets created) is :mod:`geogrid.grids.io_plan`.

Shapefile encodings: GDAL reads a ``.dbf`` without a ``.cpg`` as ISO-8859-1, which turns GBK
names into mojibake silently. So when the ``.cpg`` is missing we look at the bytes ourselves:
strict UTF-8 first (GBK text is almost never valid UTF-8), then GBK, then GB 18030.
"""

from __future__ import annotations

import codecs
import enum
import json
import struct
import tempfile
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from geogrid.errors import InvalidInputError
from geogrid.grids.validation import CRS_MAX_SEGMENT
from geogrid.spatial.crs import CoordinateSystem, geometry_to_wgs84

__all__ = [
    "CANDIDATE_ENCODINGS",
    "GridFormat",
    "SourceData",
    "SourceFeature",
    "check_encoding",
    "detect_dbf_encoding",
    "read_features",
    "unpack_zip",
    "write_features",
]

CANDIDATE_ENCODINGS = ("utf-8", "gbk", "gb18030")
"""Tried in this order on a ``.dbf`` without ``.cpg``: strict UTF-8 first, because GBK text
is almost never valid UTF-8 while UTF-8 text often decodes (wrongly) as GB 18030."""


class GridFormat(enum.StrEnum):
    """The file formats of grid import and export."""

    GEOJSON = "geojson"
    GPKG = "gpkg"
    SHP = "shp"
    KML = "kml"
    CSV = "csv"

    @property
    def driver(self) -> str:
        return _DRIVERS[self]

    @property
    def suffix(self) -> str:
        return {"geojson": ".geojson", "gpkg": ".gpkg", "shp": ".shp", "kml": ".kml"}.get(
            self.value, ".csv"
        )

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]

    @classmethod
    def parse(cls, value: str | GridFormat | None, path: Path | None = None) -> GridFormat:
        """A format name, or the one a file name's suffix implies; the error lists the choices."""
        if isinstance(value, cls):
            return value
        key = (value or "").strip().lower().lstrip(".")
        if not key and path is not None:
            key = path.suffix.lower().lstrip(".")
        found = _ALIASES.get(key)
        if found is None:
            raise InvalidInputError(
                f"Unknown grid file format {value or (path.name if path else '')!r}: use one of "
                "geojson, gpkg, shp (or a .zip holding one), kml, csv.",
                value=value,
                allowed=[f.value for f in cls],
            )
        return found


_DRIVERS = {
    GridFormat.GEOJSON: "GeoJSON",
    GridFormat.GPKG: "GPKG",
    GridFormat.SHP: "ESRI Shapefile",
    GridFormat.KML: "KML",
    GridFormat.CSV: "CSV",
}
_MEDIA_TYPES = {
    GridFormat.GEOJSON: "application/geo+json",
    GridFormat.GPKG: "application/geopackage+sqlite3",
    GridFormat.SHP: "application/zip",
    GridFormat.KML: "application/vnd.google-earth.kml+xml",
    GridFormat.CSV: "text/csv; charset=utf-8",
}
_ALIASES = {
    "geojson": GridFormat.GEOJSON,
    "json": GridFormat.GEOJSON,
    "gpkg": GridFormat.GPKG,
    "geopackage": GridFormat.GPKG,
    "shp": GridFormat.SHP,
    "shapefile": GridFormat.SHP,
    "zip": GridFormat.SHP,
    "kml": GridFormat.KML,
    "csv": GridFormat.CSV,
    "wkt": GridFormat.CSV,
}

# GDAL's CSV driver: take the geometry from a WKT column, whatever its usual names.
_CSV_OPEN_OPTIONS = {
    "GEOM_POSSIBLE_NAMES": "WKT,wkt,geometry,geom,the_geom,GEOMETRY,几何,边界",
    "KEEP_GEOM_COLUMNS": "NO",
    "AUTODETECT_TYPE": "NO",
}
# Columns the KML drivers add to every placemark; they are not attributes of a grid.
_KML_NOISE = frozenset(
    {
        "id",
        "description",
        "timestamp",
        "begin",
        "end",
        "altitudemode",
        "tessellate",
        "extrude",
        "visibility",
        "draworder",
        "icon",
        "snippet",
    }
)


@dataclass(frozen=True)
class SourceFeature:
    """One feature as read: its 1-based position, plain-Python attributes and WGS84 geometry
    (``None`` when the file has none)."""

    index: int
    properties: dict[str, Any]
    geometry: BaseGeometry | None


@dataclass
class SourceData:
    """A file's features and what was found out while reading it."""

    features: list[SourceFeature]
    format: GridFormat
    encoding: str | None = None
    """The attribute encoding used (Shapefile only)."""
    encoding_source: str | None = None
    """``cpg``, ``detected`` or ``given``."""
    source_crs: str | None = None
    notes: list[str] = field(default_factory=list)


# --- encodings ---------------------------------------------------------------------------------


def _dbf_text_values(dbf: bytes) -> Iterable[bytes]:
    """The raw bytes of every character field of a dBASE file (header read by hand: GDAL would
    already have decoded them)."""
    if len(dbf) < 32:
        return
    n_records, header_len, record_len = struct.unpack("<IHH", dbf[4:12])
    fields: list[tuple[int, int]] = []  # (offset in record, length) of character fields
    offset = 1  # the deletion flag
    pos = 32
    while pos + 32 <= header_len and dbf[pos] != 0x0D:
        kind = chr(dbf[pos + 11])
        length = dbf[pos + 16]
        if kind == "C":
            length += dbf[pos + 17] << 8  # Clipper-style long character fields
            fields.append((offset, length))
        offset += length
        pos += 32
    for r in range(n_records):
        start = header_len + r * record_len
        record = dbf[start : start + record_len]
        for off, length in fields:
            value = record[off : off + length].rstrip(b" \x00")
            if value:
                yield value


def detect_dbf_encoding(dbf_path: Path) -> str:
    """The encoding of a ``.dbf``'s text: ``utf-8``, ``gbk`` or ``gb18030``.

    Every character value must decode strictly; pure ASCII counts as UTF-8.

    Raises
    ------
    InvalidInputError
        When no candidate decodes every value (the message says how to name the encoding).
    """
    values = list(_dbf_text_values(dbf_path.read_bytes()))
    for encoding in CANDIDATE_ENCODINGS:
        try:
            for value in values:
                value.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    raise InvalidInputError(
        f"{dbf_path.name}: the attribute text is neither UTF-8 nor GBK/GB 18030. Add a .cpg file "
        "naming its code page (e.g. 'GBK' or 'UTF-8') or give the encoding explicitly.",
        file=dbf_path.name,
    )


def _shapefile_encoding(shp: Path, given: str | None) -> tuple[str, str]:
    if given:
        return given, "given"
    cpg = shp.with_suffix(".cpg")
    if not cpg.exists():
        cpg = next((p for p in shp.parent.glob(shp.stem + ".*") if p.suffix.lower() == ".cpg"), cpg)
    if cpg.exists():
        declared = cpg.read_text(encoding="ascii", errors="replace").strip()
        if declared:
            return _normalise_codepage(declared), "cpg"
    dbf = next((p for p in shp.parent.glob(shp.stem + ".*") if p.suffix.lower() == ".dbf"), None)
    if dbf is None:
        return "utf-8", "detected"
    return detect_dbf_encoding(dbf), "detected"


def _normalise_codepage(declared: str) -> str:
    """``.cpg`` contents seen in the wild: ``UTF-8``, ``GBK``, ``936``, ``CP936``, ``ANSI 936``."""
    key = declared.upper().replace("ANSI", "").strip()
    if key in ("936", "CP936"):
        return "gbk"
    if key in ("65001", "UTF8"):
        return "utf-8"
    return declared


# --- reading -----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """numpy/pandas scalars and missing values as plain Python."""
    if value is None:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and np.isnan(value):
            return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str) and value == "":
        return None
    if value.__class__.__name__ == "NaTType":
        return None
    return value


def _geometry_converter(source_crs: str | None, crs: str | None) -> Any:
    """How to bring a geometry to WGS84: from the file's own CRS with pyproj, or from the
    Chinese offset system the user names (GCJ-02/BD-09 files say EPSG:4326 but are not)."""
    if crs:
        try:
            system = CoordinateSystem.parse(crs)
        except InvalidInputError:
            system = None
        if system is not None:
            return lambda g: geometry_to_wgs84(g, system, max_segment=CRS_MAX_SEGMENT)
        source_crs = crs
    if not source_crs:
        return lambda g: g
    try:
        src = CRS.from_user_input(source_crs)
    except Exception as exc:
        raise InvalidInputError(
            f"cannot read the coordinate system {source_crs!r}: {exc}. Name it with --crs "
            "(e.g. EPSG:4490, EPSG:4546, gcj02).",
            value=source_crs,
        ) from exc
    if (
        src.is_geographic
        and src.ellipsoid is not None
        and src.ellipsoid.name
        in (
            "WGS 84",
            "CGCS2000",
            "GRS 1980",
        )
    ):
        return lambda g: g  # WGS84 / CGCS2000 lon-lat: the identity (see geogrid.spatial.crs)
    transformer = Transformer.from_crs(src, "EPSG:4326", always_xy=True)
    return lambda g: shapely.transform(
        g, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )


#: Defaults of the unpacking caps (the API passes its settings): a district's Shapefile is a
#: few MB unpacked; a 2 MB zip must not become 2 GiB on disk.
MAX_UNPACKED_BYTES = 512 << 20
MAX_UNPACK_RATIO = 200.0
#: Members smaller than this are not held to the ratio (a tiny .cpg or .prj compresses well).
_RATIO_FLOOR = 1 << 20


def _archive_error(path: Path, why: str) -> InvalidInputError:
    return InvalidInputError(f"{path.name}: {why}", rule="archive", file=path.name)


def unpack_zip(
    path: Path,
    workdir: Path,
    *,
    max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
    max_ratio: float = MAX_UNPACK_RATIO,
) -> list[Path]:
    """Unpack the files of a zip into ``workdir`` (flat: directories inside are dropped),
    refusing corrupt archives and zip bombs.

    The sizes a zip declares can lie, so the caps are checked twice: on the declared sizes
    before anything is written, and on the bytes actually written, member by member, which
    stops a lying archive after ``max_unpacked_bytes``.

    Raises
    ------
    InvalidInputError
        ``rule="archive"``: not a zip, corrupt, encrypted, unpacking past the caps.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _archive_error(path, "is not a readable zip archive.") from exc
    written: list[Path] = []
    total = 0
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        declared = sum(m.file_size for m in members)
        if declared > max_unpacked_bytes:
            raise _archive_error(
                path,
                f"unpacks to {declared / 2**20:.0f} MB, more than the "
                f"{max_unpacked_bytes / 2**20:.0f} MB allowed.",
            )
        for member in members:
            if member.file_size > _RATIO_FLOOR and member.file_size > max_ratio * max(
                member.compress_size, 1
            ):
                raise _archive_error(
                    path, f"{member.filename!r} compresses too well to be a real file."
                )
            name = Path(member.filename.replace("\\", "/")).name
            if not name or name.startswith(".") or any(ord(ch) < 32 for ch in name):
                continue
            target = workdir / name[-200:]
            try:
                with archive.open(member) as src, target.open("wb") as out:
                    left = member.file_size
                    while chunk := src.read(1 << 20):
                        left -= len(chunk)
                        total += len(chunk)
                        if left < 0 or total > max_unpacked_bytes:
                            raise _archive_error(
                                path, f"{member.filename!r} unpacks larger than it declares."
                            )
                        out.write(chunk)
            except (
                zipfile.BadZipFile,
                EOFError,
                OSError,
                RuntimeError,
                NotImplementedError,
            ) as exc:
                # corrupt data, a bad CRC, an encrypted member, an unknown compression
                raise _archive_error(
                    path, f"{member.filename!r} cannot be unpacked (corrupt or encrypted)."
                ) from exc
            written.append(target)
    return written


def _find_shapefile(
    path: Path,
    workdir: Path,
    *,
    max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
    max_ratio: float = MAX_UNPACK_RATIO,
) -> Path:
    if path.suffix.lower() != ".zip":
        return path
    unpack_zip(path, workdir, max_unpacked_bytes=max_unpacked_bytes, max_ratio=max_ratio)
    shps = sorted(p for p in workdir.rglob("*") if p.suffix.lower() == ".shp")
    if len(shps) != 1:
        raise InvalidInputError(
            f"{path.name} must hold exactly one .shp (found {len(shps)}).", file=path.name
        )
    return shps[0]


def check_encoding(encoding: str) -> str:
    """``encoding`` if Python knows it, else a 422 naming the ones files use.

    >>> check_encoding("GBK")
    'GBK'
    """
    try:
        codecs.lookup(encoding)
    except (LookupError, ValueError):
        raise InvalidInputError(
            f"Unknown encoding {encoding[:40]!r}: use utf-8, gbk or gb18030 (or leave it out "
            "to have it detected).",
            rule="encoding",
            value=encoding[:40],
        ) from None
    return encoding


def read_features(
    path: Path,
    fmt: GridFormat | str | None = None,
    *,
    encoding: str | None = None,
    crs: str | None = None,
    layer: str | int | None = None,
    max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
    max_unpack_ratio: float = MAX_UNPACK_RATIO,
) -> SourceData:
    """Every feature of a grid file, geometries in WGS84 (2-D).

    Parameters
    ----------
    path : Path
        The file; for a Shapefile the ``.shp`` or a ``.zip`` holding it with its sidecars.
    fmt : GridFormat or str, optional
        Defaults to what the suffix says.
    encoding : str, optional
        Attribute encoding of a Shapefile or CSV; by default the ``.cpg``, else detected.
    crs : str, optional
        Override the file's coordinate system: ``gcj02``/``bd09`` for files drawn on Amap or
        Baidu, or any EPSG code. CSV files have none and are read as WGS84 unless told.
    max_unpacked_bytes, max_unpack_ratio : optional
        Caps when unpacking a zipped Shapefile (see :func:`unpack_zip`).
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"there is no file {path}", file=str(path))
    fmt = GridFormat.parse(fmt, path)
    with tempfile.TemporaryDirectory(prefix="geogrid-import-") as tmp:
        if encoding:
            check_encoding(encoding)
        data_path = (
            _find_shapefile(
                path,
                Path(tmp),
                max_unpacked_bytes=max_unpacked_bytes,
                max_ratio=max_unpack_ratio,
            )
            if fmt is GridFormat.SHP
            else path
        )
        kwargs: dict[str, Any] = {}
        encoding_source = None
        if fmt is GridFormat.SHP:
            encoding, encoding_source = _shapefile_encoding(data_path, encoding)
            kwargs["encoding"] = encoding
        elif encoding:
            kwargs["encoding"] = encoding
            encoding_source = "given"
        if fmt is GridFormat.CSV:
            kwargs.update(_CSV_OPEN_OPTIONS)
        if layer is not None:
            kwargs["layer"] = layer
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                frame = pyogrio.read_dataframe(data_path, **kwargs)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            why = _without_paths(str(exc), tmp, path.parent)
            raise InvalidInputError(
                f"{path.name} cannot be read as {fmt.value}: {why}",
                file=path.name,
            ) from exc
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"{path.name}: the attribute text does not decode as "
                f"{encoding or 'UTF-8'}; give the encoding it is in (e.g. gbk).",
                rule="encoding",
                file=path.name,
            ) from exc
        except ValueError as exc:
            raise InvalidInputError(
                f"{path.name} cannot be read as {fmt.value}: the file is damaged or not what "
                "its name says.",
                file=path.name,
            ) from exc
    source_crs = frame.crs.to_string() if frame.crs is not None else None
    to_wgs84 = _geometry_converter(source_crs, crs)
    columns = [
        c
        for c in frame.columns
        if c != frame.geometry.name
        and not (fmt is GridFormat.KML and c.lower() in _KML_NOISE)
        and not (fmt is GridFormat.CSV and c.upper() == "WKT")
    ]
    features: list[SourceFeature] = []
    geometries = frame.geometry.array
    records = frame[columns].to_dict(orient="records")
    for i, (props, geom) in enumerate(zip(records, geometries, strict=True), start=1):
        geometry = None
        if geom is not None and not geom.is_empty:
            geometry = to_wgs84(shapely.force_2d(geom))
        clean = {str(k): _plain(v) for k, v in props.items()}
        features.append(SourceFeature(i, clean, geometry))
    return SourceData(
        features=features,
        format=fmt,
        encoding=encoding,
        encoding_source=encoding_source,
        source_crs=source_crs,
    )


def _without_paths(message: str, *directories: str | Path) -> str:
    """GDAL's message with the server's directories taken out (it names the files it read)."""
    for directory in (*directories, tempfile.gettempdir()):
        message = message.replace(str(directory).rstrip("/") + "/", "")
    return message


# --- writing -----------------------------------------------------------------------------------


def _column_values(rows: Sequence[dict[str, Any]], name: str) -> list[Any]:
    values = [row.get(name) for row in rows]
    return [json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v for v in values]


def write_features(
    rows: Sequence[dict[str, Any]],
    geometries: Sequence[BaseGeometry],
    directory: Path,
    stem: str,
    fmt: GridFormat | str,
    *,
    columns: Sequence[str],
    encoding: str = "utf-8",
    layer: str = "grids",
) -> Path:
    """Write WGS84 features; returns the file written (for Shapefile a ``.zip`` of its parts,
    with a ``.cpg`` naming ``encoding``)."""
    import geopandas as gpd

    fmt = GridFormat.parse(fmt)
    directory.mkdir(parents=True, exist_ok=True)
    frame = gpd.GeoDataFrame(
        {name: _column_values(rows, name) for name in columns},
        geometry=list(geometries),
        crs="EPSG:4326",
    )
    target = directory / f"{stem}{fmt.suffix}"
    kwargs: dict[str, Any] = {"driver": fmt.driver}
    if fmt is GridFormat.CSV:
        kwargs["layer_options"] = {"GEOMETRY": "AS_WKT", "STRING_QUOTING": "IF_NEEDED"}
    elif fmt is GridFormat.SHP:
        kwargs["encoding"] = encoding.upper()
    elif fmt is GridFormat.GEOJSON:
        kwargs["layer_options"] = {"RFC7946": "NO", "WRITE_NAME": "NO"}
    if fmt in (GridFormat.GPKG, GridFormat.KML, GridFormat.SHP):
        kwargs["layer"] = layer if fmt is not GridFormat.SHP else stem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pyogrio.write_dataframe(frame, target, **kwargs)
    if fmt is not GridFormat.SHP:
        return target
    archive = directory / f"{stem}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(directory.glob(f"{stem}.*")):
            if part.suffix.lower() in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                zf.write(part, part.name)
    return archive
