"""Vector tiles of grids and issues, built in PostGIS, with their TileJSON documents."""

from geogrid.tiles.layers import TILE_LAYERS, TileLayer, check_tile, tile_layer
from geogrid.tiles.mvt import DistrictTiles, district_tiles, tile_bytes, tile_tag
from geogrid.tiles.tilejson import district_bounds, tilejson, tiles_index

__all__ = [
    "TILE_LAYERS",
    "DistrictTiles",
    "TileLayer",
    "check_tile",
    "district_bounds",
    "district_tiles",
    "tile_bytes",
    "tile_layer",
    "tile_tag",
    "tilejson",
    "tiles_index",
]
