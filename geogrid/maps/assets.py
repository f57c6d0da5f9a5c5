"""Serve every browser asset of a folium map from the app itself, never from a public CDN.

Our users sit on government networks without internet access, and folium points its pages at
jsdelivr, cdnjs, code.jquery.com, unpkg and netdna. So:

* the JavaScript and CSS come from the npm registry at set-up time (``package.json`` and
  ``package-lock.json`` at the project root, installed by ``npm ci`` into ``node_modules``), and
  the app serves that directory under ``/static/vendor``;
* a few files that folium ships inside its own package (``folium/templates``) are served under
  ``/static/folium``;
* two small stylesheets that exist nowhere offline in usable form are made here and served under
  ``/static/geogrid`` (see :data:`GENERATED_ASSETS`).

:data:`CDN_ASSETS` maps each CDN URL folium (and the plugins we use) asks for to its local
file; :func:`localize` rewrites a map to use it, and refuses a URL it does not know, so a plugin
added later without its npm package fails loudly in a test instead of silently at a customer's.

This module does not import the web framework: ``api/static.py`` mounts the directories.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import folium
from branca.element import Element, Figure, Link

from geogrid.settings import PROJECT_ROOT, Settings

__all__ = [
    "CDN_ASSETS",
    "GENERATED_ASSETS",
    "GeneratedAsset",
    "LocalAsset",
    "MissingAssetsError",
    "UnknownAssetError",
    "check_assets",
    "folium_templates_dir",
    "generated_asset",
    "local_url",
    "localize",
    "missing_packages",
    "render_html",
    "required_files",
]

StaticRoot = Literal["vendor", "folium", "geogrid"]


class UnknownAssetError(LookupError):
    """A map asks for a remote URL that geogrid does not serve offline: a programming error."""


class MissingAssetsError(RuntimeError):
    """The npm packages holding the map assets are not installed (``npm ci`` was not run)."""

    def __init__(self, message: str, packages: list[str]) -> None:
        super().__init__(message)
        self.packages = packages


@dataclass(frozen=True)
class LocalAsset:
    """Where the app serves one file: ``<static_prefix>/<root>/<path>``.

    ``vendor`` paths start with the npm package directory (``leaflet/dist/leaflet.js``),
    ``folium`` paths are file names in folium's templates directory, ``geogrid`` paths are
    names in :data:`GENERATED_ASSETS`.
    """

    root: StaticRoot
    path: str

    @property
    def package(self) -> str | None:
        """The npm package of a ``vendor`` asset (scoped names keep their scope)."""
        if self.root != "vendor":
            return None
        parts = self.path.split("/")
        return "/".join(parts[:2]) if parts[0].startswith("@") else parts[0]

    def url(self, static_prefix: str = "/static") -> str:
        return f"{static_prefix.rstrip('/')}/{self.root}/{self.path}"


def _npm(path: str) -> LocalAsset:
    return LocalAsset("vendor", path)


def _folium(name: str) -> LocalAsset:
    return LocalAsset("folium", name)


def _generated(name: str) -> LocalAsset:
    return LocalAsset("geogrid", name)


_JSDELIVR = "https://cdn.jsdelivr.net"
_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs"
_FOLIUM_GH = f"{_JSDELIVR}/gh/python-visualization/folium"

CDN_ASSETS: dict[str, LocalAsset] = {
    # folium.Map: Leaflet, jQuery, Bootstrap 5, Font Awesome 6, awesome-markers, glyphicons.
    f"{_JSDELIVR}/npm/leaflet@1.9.3/dist/leaflet.js": _npm("leaflet/dist/leaflet.js"),
    f"{_JSDELIVR}/npm/leaflet@1.9.3/dist/leaflet.css": _npm("leaflet/dist/leaflet.css"),
    "https://code.jquery.com/jquery-3.7.1.min.js": _npm("jquery/dist/jquery.min.js"),
    f"{_CDNJS}/jquery/3.7.1/jquery.min.js": _npm("jquery/dist/jquery.min.js"),
    f"{_JSDELIVR}/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": _npm(
        "bootstrap/dist/js/bootstrap.bundle.min.js"
    ),
    f"{_JSDELIVR}/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": _npm(
        "bootstrap/dist/css/bootstrap.min.css"
    ),
    # Only the glyphicon rules and fonts of Bootstrap 3, so they cannot fight Bootstrap 5.
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": _npm(
        "glyphicons-only-bootstrap/css/bootstrap.min.css"
    ),
    f"{_JSDELIVR}/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": _npm(
        "@fortawesome/fontawesome-free/css/all.min.css"
    ),
    f"{_CDNJS}/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": _npm(
        "leaflet.awesome-markers/dist/leaflet.awesome-markers.js"
    ),
    f"{_CDNJS}/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css": _npm(
        "leaflet.awesome-markers/dist/leaflet.awesome-markers.css"
    ),
    f"{_FOLIUM_GH}/folium/templates/leaflet.awesome.rotate.min.css": _generated(
        "leaflet.awesome.rotate.css"
    ),
    # plugins.GeoMan (folium asks for @latest; we pin the version in package-lock.json).
    "https://unpkg.com/@geoman-io/leaflet-geoman-free@latest/dist/leaflet-geoman.js": _npm(
        "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.js"
    ),
    "https://unpkg.com/@geoman-io/leaflet-geoman-free@latest/dist/leaflet-geoman.css": _npm(
        "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css"
    ),
    # plugins.HeatMap: folium's own build of leaflet.heat.
    f"{_FOLIUM_GH}@main/folium/templates/leaflet_heat.min.js": _folium("leaflet_heat.min.js"),
    f"{_FOLIUM_GH}/folium/templates/leaflet_heat.min.js": _folium("leaflet_heat.min.js"),
    # plugins.HeatMapWithTime: leaflet-timedimension and folium's heatmap.js builds.
    # jsdelivr minifies iso8601.js on the fly; the npm package has only the source.
    f"{_JSDELIVR}/npm/iso8601-js-period@0.2.1/iso8601.min.js": _npm("iso8601-js-period/iso8601.js"),
    f"{_JSDELIVR}/npm/leaflet-timedimension@1.1.1/dist/leaflet.timedimension.min.js": _npm(
        "leaflet-timedimension/dist/leaflet.timedimension.min.js"
    ),
    f"{_JSDELIVR}/npm/leaflet-timedimension@1.1.1/dist/leaflet.timedimension.control.css": (
        _generated("leaflet.timedimension.control.css")
    ),
    f"{_FOLIUM_GH}/folium/templates/pa7_hm.min.js": _folium("pa7_hm.min.js"),
    f"{_FOLIUM_GH}/folium/templates/pa7_leaflet_hm.min.js": _folium("pa7_leaflet_hm.min.js"),
    # plugins.Search
    f"{_JSDELIVR}/npm/leaflet-search@2.9.7/dist/leaflet-search.min.js": _npm(
        "leaflet-search/dist/leaflet-search.min.js"
    ),
    f"{_JSDELIVR}/npm/leaflet-search@2.9.7/dist/leaflet-search.min.css": _npm(
        "leaflet-search/dist/leaflet-search.min.css"
    ),
    # plugins.Fullscreen (jsdelivr's .min.js is minified on the fly, as above).
    f"{_JSDELIVR}/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js": _npm(
        "leaflet.fullscreen/Control.FullScreen.js"
    ),
    f"{_JSDELIVR}/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css": _npm(
        "leaflet.fullscreen/Control.FullScreen.css"
    ),
    # plugins.MarkerCluster / FastMarkerCluster (1.5.3: the 1.x that supports Leaflet 1.9).
    f"{_CDNJS}/leaflet.markercluster/1.1.0/leaflet.markercluster.js": _npm(
        "leaflet.markercluster/dist/leaflet.markercluster.js"
    ),
    f"{_CDNJS}/leaflet.markercluster/1.1.0/MarkerCluster.css": _npm(
        "leaflet.markercluster/dist/MarkerCluster.css"
    ),
    f"{_CDNJS}/leaflet.markercluster/1.1.0/MarkerCluster.Default.css": _npm(
        "leaflet.markercluster/dist/MarkerCluster.Default.css"
    ),
    # geogrid.maps.vector_tiles: Leaflet.VectorGrid, with its dependencies bundled in.
    "https://unpkg.com/leaflet.vectorgrid@1.3.0/dist/Leaflet.VectorGrid.bundled.js": _npm(
        "leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.js"
    ),
    # branca colour maps (choropleth legends) add d3 v3 while they render.
    f"{_CDNJS}/d3/3.5.5/d3.min.js": _npm("d3/d3.min.js"),
}
"""Each CDN URL folium or a supported plugin asks for, and the local file that replaces it."""


@dataclass(frozen=True)
class GeneratedAsset:
    """A file the app makes from installed ones: ``build(assets_dir)`` returns its bytes."""

    media_type: str
    sources: tuple[str, ...]
    """``vendor`` paths the file is made from (so :func:`required_files` can check them)."""
    build: Callable[[Path], bytes]


def _awesome_rotate_css(assets_dir: Path) -> bytes:
    """``Icon(angle=...)`` adds the class ``fa-rotate-<angle>``; Font Awesome 6 defines only
    90/180/270, and folium's stylesheet with the other angles is not in its wheel."""
    rules = (
        f".fa-rotate-{a}{{-webkit-transform:rotate({a}deg);transform:rotate({a}deg);}}"
        for a in range(360)
    )
    return ("\n".join(rules) + "\n").encode()


_TIMEDIMENSION_CSS = "leaflet-timedimension/dist/leaflet.timedimension.control.css"
_GLYPHICON_FONTS = "glyphicons-only-bootstrap/fonts/glyphicons-halflings-regular"


def _timedimension_control_css(assets_dir: Path) -> bytes:
    """The time slider's stylesheet loads its glyphicon font from netdna: point it at the copy
    in ``glyphicons-only-bootstrap``, relative to ``/static/geogrid/``."""
    css = (assets_dir / _TIMEDIMENSION_CSS).read_text(encoding="utf-8")
    css = css.replace(
        "//netdna.bootstrapcdn.com/bootstrap/3.0.0/fonts/glyphicons-halflings-regular",
        f"../vendor/{_GLYPHICON_FONTS}",
    )
    return css.encode()


GENERATED_ASSETS: dict[str, GeneratedAsset] = {
    "leaflet.awesome.rotate.css": GeneratedAsset("text/css", (), _awesome_rotate_css),
    "leaflet.timedimension.control.css": GeneratedAsset(
        "text/css",
        (_TIMEDIMENSION_CSS, *(f"{_GLYPHICON_FONTS}.{ext}" for ext in ("woff2", "woff", "ttf"))),
        _timedimension_control_css,
    ),
}
"""Files served under ``/static/geogrid/<name>``."""


def generated_asset(name: str, assets_dir: Path) -> tuple[bytes, str]:
    """The content and media type of a generated asset; ``KeyError`` for an unknown name."""
    asset = GENERATED_ASSETS[name]
    return asset.build(assets_dir), asset.media_type


def folium_templates_dir() -> Path:
    """The directory of JavaScript files that folium ships in its wheel."""
    return Path(folium.__file__).resolve().parent / "templates"


# --- rewriting maps -------------------------------------------------------------------------

_REMOTE = re.compile(r"^(?:https?:)?//", re.IGNORECASE)


def local_url(url: str, static_prefix: str = "/static") -> str:
    """The URL a page should load instead of ``url``.

    Local URLs (relative, ``data:``, or under ``static_prefix``) come back unchanged, so
    rewriting twice is harmless. ``static_prefix`` may be absolute
    (``http://10.1.2.3:8000/static``) for HTML files opened away from the server.

    >>> local_url("https://code.jquery.com/jquery-3.7.1.min.js")
    '/static/vendor/jquery/dist/jquery.min.js'
    """
    prefix = static_prefix.rstrip("/")
    if url.startswith(prefix + "/") or not _REMOTE.match(url):
        return url
    asset = CDN_ASSETS.get(url)
    if asset is None:
        raise UnknownAssetError(
            f"the map asks for {url}, which geogrid does not serve offline. Add the npm package "
            "that holds it to package.json (npm install --save-exact ...) and map the URL in "
            "geogrid.maps.assets.CDN_ASSETS."
        )
    return asset.url(prefix)


class _OfflineHeader(Element):
    """The ``<head>`` of a localized figure.

    Some elements add links while they render (branca colour maps add d3 that way), after
    :func:`localize` has run; rewriting the links here, just before the head is written,
    catches those too.
    """

    def __init__(self, original: Element, static_prefix: str) -> None:
        super().__init__()
        self._name = original._name
        self._children = original._children
        self._parent = original._parent
        self.static_prefix = static_prefix

    def render(self, **kwargs: object) -> str:
        for child in self._children.values():
            if isinstance(child, Link):
                child.url = local_url(child.url, self.static_prefix)
        return super().render(**kwargs)


def _walk(root: Element) -> Iterator[Element]:
    stack = [root]
    if isinstance(root, Figure):
        stack += [root.header, root.html, root.script]
    seen: set[int] = set()
    while stack:
        element = stack.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        yield element
        stack.extend(element._children.values())


def _localize_links(links: list[tuple[str, str]], prefix: str) -> list[tuple[str, str]]:
    return [(name, local_url(url, prefix)) for name, url in links]


def localize(m: folium.Map, static_prefix: str = "/static") -> folium.Map:
    """Point every script and stylesheet of ``m`` (and of all its children) at ``static_prefix``.

    Each element's ``default_js``/``default_css`` is replaced on the instance (folium's class
    lists stay as they are), and the figure's head is swapped for one that rewrites links added
    later. Raises :class:`UnknownAssetError` for a remote URL missing from :data:`CDN_ASSETS`.

    >>> m = localize(folium.Map(tiles=None))
    >>> m.default_js[0]
    ('leaflet', '/static/vendor/leaflet/dist/leaflet.js')
    """
    prefix = static_prefix.rstrip("/")
    figure = m.get_root()
    if not isinstance(figure, Figure):
        raise TypeError("localize() needs a map inside a branca Figure, as folium.Map makes it")
    for element in _walk(figure):
        for attr in ("default_js", "default_css"):
            links = getattr(element, attr, None)
            if links:
                setattr(element, attr, _localize_links(links, prefix))
        if isinstance(element, Link):
            element.url = local_url(element.url, prefix)
    if isinstance(figure.header, _OfflineHeader):
        figure.header.static_prefix = prefix
    else:
        figure.header = _OfflineHeader(figure.header, prefix)
    return m


def render_html(m: folium.Map, *, static_prefix: str = "/static") -> str:
    """The complete HTML document of ``m``, loading its assets from ``static_prefix`` only.

    This is what the API answers and what an HTML export writes. The document is not
    self-contained: it needs the geogrid server (or a copy of its ``/static``) at
    ``static_prefix``, which may be an absolute URL on the local network.
    """
    localize(m, static_prefix)
    return m.get_root().render()


# --- checking the installation --------------------------------------------------------------


def _local_assets() -> list[LocalAsset]:
    return sorted(set(CDN_ASSETS.values()), key=lambda a: (a.root, a.path))


def required_files(assets_dir: Path | None = None) -> list[Path]:
    """Every installed file the localized maps load, directly or through a generated asset."""
    return list(_required_files(assets_dir or PROJECT_ROOT / "node_modules"))


@lru_cache(maxsize=8)
def _required_files(assets_dir: Path) -> tuple[Path, ...]:
    """The list for one folder, built once: every map page checks its files exist
    (:func:`check_assets`), and building the list cost more than the checks (~0.4 ms)."""
    files: list[Path] = []
    for asset in _local_assets():
        if asset.root == "vendor":
            files.append(assets_dir / asset.path)
        elif asset.root == "folium":
            files.append(folium_templates_dir() / asset.path)
        else:
            files.extend(assets_dir / src for src in GENERATED_ASSETS[asset.path].sources)
    return tuple(sorted(set(files)))


def _package_of(path: Path, assets_dir: Path) -> str | None:
    try:
        parts = path.relative_to(assets_dir).parts
    except ValueError:
        return None
    return "/".join(parts[:2]) if parts[0].startswith("@") else parts[0]


def missing_packages(assets_dir: Path) -> list[str]:
    """The npm packages whose files the maps need but ``assets_dir`` lacks."""
    missing = {
        _package_of(path, assets_dir) or str(path)
        for path in required_files(assets_dir)
        if not path.is_file()
    }
    return sorted(missing)


def check_assets(settings: Settings) -> None:
    """Raise :class:`MissingAssetsError` naming the missing npm packages and the fix."""
    missing = missing_packages(settings.assets_dir)
    if missing:
        raise MissingAssetsError(
            f"the map assets are not installed: {', '.join(missing)} missing from "
            f"{settings.assets_dir}. Run `npm ci` in {PROJECT_ROOT} (scripts/up does it), "
            "or point GEOGRID_ASSETS_DIR at an installed node_modules.",
            missing,
        )
