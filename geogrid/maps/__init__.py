"""Folium maps: functions that return a ``folium.Map`` whose assets are served by geogrid.

Every map page goes through :func:`geogrid.maps.assets.render_html` (or :func:`localize`), so
it loads Leaflet and its plugins from the app's ``/static`` and never from the internet.
"""

from geogrid.maps.assets import check_assets, localize, render_html

__all__ = ["check_assets", "localize", "render_html"]
