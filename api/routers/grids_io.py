"""Grid files in and out: ``GET /grids/export`` and ``POST /grids/import``.

Registered before the grids router, so these paths win over ``/grids/{code}``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import ActorDep, SessionDep, SettingsDep
from api.downloads import download
from api.responses import answers_in
from geogrid.errors import InvalidInputError
from geogrid.grids.io_export import export_to_file
from geogrid.grids.io_formats import GridFormat
from geogrid.grids.io_plan import FieldMapping
from geogrid.grids.io_write import import_grids
from geogrid.grids.isolated import read_features_isolated
from geogrid.grids.repository import parse_at

router = APIRouter(tags=["grids"])

FormatName = Literal["geojson", "gpkg", "shp", "kml", "csv"]
#: Uploads larger than this are refused (a district is a few MB); the body limit
#: (``settings.max_upload_bytes``, api/limits.py) already stops larger bodies while they arrive.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
#: The longest file name kept (the suffix survives the cut: it names the format).
MAX_FILENAME = 100


def upload_filename(name: str | None) -> str:
    r"""A safe local name for an uploaded file: its last path component, without control
    characters, at most :data:`MAX_FILENAME` characters with its suffix kept.

    >>> upload_filename("../../etc/网格\x00.geojson")
    '网格.geojson'
    >>> len(upload_filename("a" * 5000 + ".zip"))
    100
    """
    base = Path((name or "").replace("\\", "/")).name
    clean = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".") or "upload"
    if len(clean) > MAX_FILENAME:
        suffix = Path(clean).suffix[:10]
        clean = clean[: MAX_FILENAME - len(suffix)] + suffix
    return clean


@router.get(
    "/grids/export",
    summary="Download the grids as a file (GeoJSON, GeoPackage, zipped Shapefile, KML, CSV+WKT)",
    response_class=StreamingResponse,
    responses=answers_in(*sorted({f.media_type.split(";")[0] for f in GridFormat})),
)
def export_grids(
    session: SessionDep,
    format: Annotated[FormatName, Query(description="File format.")] = "geojson",
    level: Annotated[int | None, Query(ge=1, le=3, description="Only this level.")] = None,
    at: Annotated[
        str | None,
        Query(description="ISO date or datetime (no offset: UTC+8): boundaries as they stood."),
    ] = None,
    district: Annotated[
        str | None, Query(pattern=r"^\d{6}$", description="Only this adcode.")
    ] = None,
    encoding: Annotated[
        Literal["utf-8", "gbk"], Query(description="Shapefile attribute encoding (.cpg says it).")
    ] = "utf-8",
) -> StreamingResponse:
    # written to a temporary file (GeoPackage and Shapefile need one), then streamed from it
    file, fmt = export_to_file(
        session,
        fmt=format,
        level=level,
        at=parse_at(at),
        district_adcode=district,
        encoding=encoding,
    )
    suffix = ".zip" if fmt is GridFormat.SHP else fmt.suffix
    name = f"grids{'-level' + str(level) if level else ''}{suffix}"
    return download(file, media_type=fmt.media_type, filename=name)


@router.post(
    "/grids/import",
    summary="Import grids from a file: a per-feature report; all or nothing",
    responses={
        200: {"description": "The per-feature report (dry run, or committed)."},
        422: {"description": "A feature was refused: nothing written; the report is in `report`."},
    },
)
# A plain ``def``: the import is CPU and database work, so it runs in the thread pool and
# does not hold up the event loop.
def import_grids_file(
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    file: Annotated[
        UploadFile, File(description="GeoJSON, GeoPackage, Shapefile as .zip, KML, CSV.")
    ],
    mapping: Annotated[
        str | None, Form(description="name=COL,code=COL,parent=COL,level=COL (any subset).")
    ] = None,
    dry_run: Annotated[bool, Form(description="Check and report only (default).")] = True,
    format: Annotated[FormatName | None, Form(description="Default: from the file name.")] = None,
    crs: Annotated[
        str | None, Form(description="Coordinates when the file does not say: gcj02, EPSG:4490...")
    ] = None,
    encoding: Annotated[
        str | None, Form(description="Attribute encoding (default: detected).")
    ] = None,
) -> JSONResponse:
    filename = upload_filename(file.filename)
    fmt = GridFormat.parse(format, Path(filename))
    if filename.lower().endswith(".shp"):
        raise InvalidInputError(
            "A Shapefile is several files: upload the .shp with its .dbf, .shx, .prj (and .cpg) "
            "as one .zip.",
            file=filename,
        )
    parsed_mapping = FieldMapping.parse(mapping)
    with tempfile.TemporaryDirectory(prefix="geogrid-upload-") as tmp:
        path = Path(tmp) / filename
        size = 0
        with path.open("wb") as out:
            while chunk := file.file.read(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise InvalidInputError(
                        f"The file is larger than {MAX_UPLOAD_BYTES // 2**20} MB.", file=filename
                    )
                out.write(chunk)
        # In a child process with memory and CPU limits: GDAL parsing a hostile file must not
        # take the server down with it (geogrid.grids.isolated).
        source = read_features_isolated(
            path,
            fmt,
            encoding=encoding,
            crs=crs,
            max_unpacked_bytes=settings.max_unpacked_bytes,
            max_unpack_ratio=settings.max_unpack_ratio,
            memory_bytes=settings.parse_memory_bytes,
            cpu_seconds=settings.parse_seconds,
        )
    report = import_grids(
        session,
        source,
        mapping=parsed_mapping,
        dry_run=dry_run,
        boundaries_dir=settings.boundaries_dir,
        tolerance_m=settings.geometry_tolerance_m,
        actor=actor,
        reason=f"import of {filename}",
    )
    body: dict[str, Any] = report.to_dict()
    body["file"] = filename
    return JSONResponse(body)
