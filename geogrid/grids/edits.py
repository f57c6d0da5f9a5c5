"""Former home of the boundary edits, kept so that existing imports keep working.

New code imports from where each job now lives:

- preconditions (``require_version``, ``check_version``, the edit lock):
  :mod:`geogrid.grids.preconditions`
- create and update a grid (``create_grid``, ``update_grid``, ``EditResult``):
  :mod:`geogrid.grids.drawing`
- retire and restore (``retire``, ``restore_grid``, ``RetireResult``):
  :mod:`geogrid.grids.lifecycle`
- split, merge and apportion (``split_grid``, ``merge_grids``, ``apportion``,
  ``RestructureResult``): :mod:`geogrid.grids.restructure`
- gaps and overlaps of a grid's children (``gaps``): :mod:`geogrid.grids.children_gaps`
- what follows a boundary change (``CLOSED_ISSUE_STATUSES``): :mod:`geogrid.grids.followups`
"""

from __future__ import annotations

from geogrid.grids.children_gaps import gaps
from geogrid.grids.drawing import EditResult, create_grid, fields_of, update_grid
from geogrid.grids.followups import CLOSED_ISSUE_STATUSES
from geogrid.grids.lifecycle import RetireResult, restore_grid, retire
from geogrid.grids.preconditions import check_version, require_version
from geogrid.grids.restructure import RestructureResult, apportion, merge_grids, split_grid

#: The former private name, still used by branches written before the split.
_fields_of = fields_of

__all__ = [
    "CLOSED_ISSUE_STATUSES",
    "EditResult",
    "RestructureResult",
    "RetireResult",
    "apportion",
    "check_version",
    "create_grid",
    "gaps",
    "merge_grids",
    "require_version",
    "restore_grid",
    "retire",
    "split_grid",
    "update_grid",
]
