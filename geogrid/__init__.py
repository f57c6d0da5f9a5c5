"""geogrid: grid management (网格化管理) on PostGIS.

The library never imports the web framework: ``api/`` translates HTTP to calls into it.
"""

__version__ = "0.1.0"
