"""Pure spatial code: shapely, pyproj and numpy only, no database, no web framework.

Each concern lives in its own module (``geogrid.spatial.crs`` for coordinate systems and the
Chinese datum offsets, ...); import from the module, not from this package.
"""
