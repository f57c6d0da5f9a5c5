"""Former home of grid import and export, kept so that existing imports keep working.

New code imports from where each job now lives:

- planning an import (``FieldMapping``, ``FeatureOutcome``, ``ImportReport``,
  ``ImportRefusedError``, ``ensure_district``): :mod:`geogrid.grids.io_plan`
- writing it, all or nothing (``import_grids``, ``import_file``): :mod:`geogrid.grids.io_write`
- exporting (``EXPORT_COLUMNS``, ``export_rows``, ``export_grids``, ``export_to_bytes``):
  :mod:`geogrid.grids.io_export`
"""

from __future__ import annotations

from geogrid.grids.io_export import EXPORT_COLUMNS, export_grids, export_rows, export_to_bytes
from geogrid.grids.io_plan import (
    FeatureOutcome,
    FieldMapping,
    ImportRefusedError,
    ImportReport,
    ensure_district,
)
from geogrid.grids.io_write import import_file, import_grids

__all__ = [
    "EXPORT_COLUMNS",
    "FeatureOutcome",
    "FieldMapping",
    "ImportRefusedError",
    "ImportReport",
    "ensure_district",
    "export_grids",
    "export_rows",
    "export_to_bytes",
    "import_file",
    "import_grids",
]
