"""Numbers behind the maps: hotspots (Getis-Ord Gi*), rates, coverage gaps, dashboard summaries.

Each module returns plain data (dataclasses, GeoJSON dicts) that the maps in
:mod:`geogrid.maps` draw and the ``/analysis`` endpoints serve, so a map and its numbers never
disagree. Nothing here imports the web framework.
"""
