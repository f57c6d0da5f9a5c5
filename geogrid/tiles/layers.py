"""The vector tile layers geogrid serves, and the tile coordinates it accepts.

One table says, per layer, what it holds, from which zoom it is drawn and which fields its
features carry; the tile builder, the TileJSON documents and the map pages all read it, so a
client's TileJSON cannot disagree with the tiles it gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from geogrid.errors import InvalidInputError, NotFoundError

__all__ = [
    "EXTENT",
    "ISSUE_POINTS_MINZOOM",
    "MAX_ZOOM",
    "TILE_LAYERS",
    "TileLayer",
    "check_tile",
    "tile_layer",
]

EXTENT = 4096
"""Tile coordinates per side, the MVT default: 16 units per pixel of a 256-pixel tile."""
BUFFER = 64
"""Units kept beyond each edge (4 px) so polygon outlines do not stop short at tile seams."""
MAX_ZOOM = 22
"""Deepest zoom served: ~2 cm per tile unit, finer than any boundary we store."""
ISSUE_POINTS_MINZOOM = 14
"""From this zoom (a tile ~2.4 km wide) issues are single points; below it they are counted per
cell of :data:`ISSUE_CELL_UNITS`, so a province-wide tile stays a few hundred features."""
ISSUE_CELL_UNITS = 256
"""An aggregation cell: 256 tile units, 16 px on screen; a tile holds at most 16 × 16 cells."""

_GRID_FIELDS = {
    "code": "String: stable grid code (12, 15 or 18 digits)",
    "name": "String: grid name",
    "level": "Number: 1, 2 or 3",
    "kind": "String: general or dedicated",
    "dedicated_type": "String: school, hospital, market… (dedicated grids only)",
    "parent_code": "String: code of the parent grid (levels 2 and 3)",
    "households": "Number: households in the grid",
    "population": "Number: residents in the grid",
    "area_m2": "Number: area in square metres",
}


@dataclass(frozen=True)
class TileLayer:
    """One tile layer: ``name`` is both the URL segment and the MVT layer name."""

    name: str
    title: str
    description: str
    minzoom: int
    maxzoom: int = MAX_ZOOM
    levels: tuple[int, ...] = ()
    kind: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def is_grids(self) -> bool:
        return self.kind is not None


TILE_LAYERS: dict[str, TileLayer] = {
    layer.name: layer
    for layer in (
        TileLayer(
            "grids-level1",
            "一级网格 / level-1 grids",
            "Current level-1 general grids (or as of at=), simplified to half a pixel per zoom.",
            minzoom=5,
            levels=(1,),
            kind="general",
            fields=_GRID_FIELDS,
        ),
        TileLayer(
            "grids-level2",
            "二级网格 / level-2 grids",
            "Current level-2 general grids (or as of at=), simplified to half a pixel per zoom.",
            minzoom=9,
            levels=(2,),
            kind="general",
            fields=_GRID_FIELDS,
        ),
        TileLayer(
            "grids-level3",
            "三级网格 / level-3 grids",
            "Current level-3 general grids (or as of at=), simplified to half a pixel per zoom.",
            minzoom=11,
            levels=(3,),
            kind="general",
            fields=_GRID_FIELDS,
        ),
        TileLayer(
            "grids-dedicated",
            "专属网格 / dedicated grids",
            "Current dedicated grids of every level (or as of at=).",
            minzoom=9,
            levels=(1, 2, 3),
            kind="dedicated",
            fields=_GRID_FIELDS,
        ),
        TileLayer(
            "issues",
            "问题 / issues",
            f"Issues as points from zoom {ISSUE_POINTS_MINZOOM}; below it one point per "
            f"{ISSUE_CELL_UNITS // 16}-pixel cell at the cell's centre with the number of "
            "issues in it (count). Filter with start, end, category and status.",
            minzoom=5,
            fields={
                "count": "Number: issues at this point (1 from zoom "
                f"{ISSUE_POINTS_MINZOOM}, the cell's count below)",
                "id": f"Number: issue id (from zoom {ISSUE_POINTS_MINZOOM})",
                "status": f"String: workflow status (from zoom {ISSUE_POINTS_MINZOOM})",
                "category": f"String: category code (from zoom {ISSUE_POINTS_MINZOOM})",
                "reported_at": "String: report date, YYYY-MM-DD, China time "
                f"(from zoom {ISSUE_POINTS_MINZOOM})",
            },
        ),
    )
}
"""Every layer by name, in the order pages draw them."""


def tile_layer(name: str) -> TileLayer:
    """The layer called ``name``, or :class:`NotFoundError` naming the ones that exist.

    >>> tile_layer("grids-level1").levels
    (1,)
    """
    try:
        return TILE_LAYERS[name]
    except KeyError:
        raise NotFoundError(
            f"there is no tile layer {name!r}; the layers are {', '.join(TILE_LAYERS)} "
            "(their TileJSON documents are listed at /tiles)",
            value=name,
        ) from None


def check_tile(layer: TileLayer, z: int, x: int, y: int) -> None:
    """Refuse tile coordinates that do not exist, and zooms the layer is not drawn at.

    Below a layer's ``minzoom`` a tile would hold a whole province of small polygons; clients
    that read the TileJSON never ask for one, and others are told the zoom to use.

    >>> check_tile(TILE_LAYERS["grids-level1"], 10, 835, 409)
    """
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInputError(f"zoom z={z} is outside 0–{MAX_ZOOM}", rule="tile_zoom", value=z)
    side = 1 << z
    for axis, value in (("x", x), ("y", y)):
        if not 0 <= value < side:
            raise InvalidInputError(
                f"tile {axis}={value} does not exist at zoom {z}: use 0–{side - 1}",
                rule="tile_coordinates",
                value=value,
            )
    if z < layer.minzoom:
        raise InvalidInputError(
            f"layer {layer.name} is drawn from zoom {layer.minzoom} (a tile at zoom {z} would "
            f"hold too many features); ask for z ≥ {layer.minzoom}, as its TileJSON says",
            rule="tile_minzoom",
            value=z,
        )
