"""Self-contained HTML: every script, stylesheet, font and image of a map inside one file.

A map exported for a meeting is opened from a USB stick or an e-mail on a government network:
it must not need the geogrid server, nor the internet. :func:`standalone_html` renders the map
with local asset URLs (:mod:`geogrid.maps.assets`), then replaces each ``<script src>`` and
stylesheet ``<link>`` by the file's content, and each ``url(...)`` inside a stylesheet by a
``data:`` URI. Web fonts keep only their WOFF2 source (every browser in use reads it), which
with one ``@font-face`` per font file, keeps a page with Font Awesome about 1 MB lighter.
"""

from __future__ import annotations

import base64
import mimetypes
import posixpath
import re
from pathlib import Path, PurePosixPath

import folium

from geogrid.maps.assets import folium_templates_dir, generated_asset, render_html

__all__ = ["MissingStaticFileError", "standalone_html"]

_PREFIX = "/static"
_SCRIPT = re.compile(r'<script\s+src="(/static/[^"]+)"\s*>\s*</script>', re.IGNORECASE)
_STYLESHEET = re.compile(
    r'<link\s+(?=[^>]*rel="stylesheet")[^>]*href="(/static/[^"]+)"[^>]*/?>', re.IGNORECASE
)
_CSS_URL = re.compile(r"url\(\s*(['\"]?)([^'\")]+)\1\s*\)")
_FONT_SRC = re.compile(r"src\s*:\s*([^;}]*)")
_FONT_ITEM = re.compile(r"url\([^)]*\)\s*format\(\s*['\"]?([\w-]+)['\"]?\s*\)")
_MEDIA_TYPES = {
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".eot": "application/vnd.ms-fontobject",
    ".svg": "image/svg+xml",
}


class MissingStaticFileError(FileNotFoundError):
    """A page refers to a local asset that is not installed (run ``npm ci``)."""


def _read(url_path: str, assets_dir: Path) -> tuple[bytes, str]:
    """Content and media type of ``/static/...`` as the app serves it (api/static.py)."""
    rel = url_path.removeprefix(_PREFIX + "/")
    root, _, rest = rel.partition("/")
    if root == "geogrid":
        return generated_asset(rest, assets_dir)
    base = {"vendor": assets_dir, "folium": folium_templates_dir()}.get(root)
    if base is None:
        raise MissingStaticFileError(f"{url_path} is not a geogrid static file")
    path = (base / rest).resolve()
    if not path.is_file() or base.resolve() not in path.parents:
        raise MissingStaticFileError(f"{url_path} is not installed under {base}: run `npm ci`")
    media = _MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    return path.read_bytes(), media or "application/octet-stream"


def _woff2_only(css: str) -> str:
    def keep_woff2(match: re.Match[str]) -> str:
        items = list(_FONT_ITEM.finditer(match.group(1)))
        woff2 = [m.group(0) for m in items if m.group(1) == "woff2"]
        return f"src:{woff2[0]}" if woff2 else match.group(0)

    return _FONT_SRC.sub(keep_woff2, css)


_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}")


def _one_face_per_font(css: str) -> str:
    """Drop ``@font-face`` rules that repeat a font file already declared (Font Awesome declares
    each file again for its v4/v5 family names): embedded, each repeat would cost 200 KB."""
    seen: set[str] = set()

    def keep_first(match: re.Match[str]) -> str:
        urls = tuple(u.group(2) for u in _CSS_URL.finditer(match.group(0)))
        if urls and all(u in seen for u in urls):
            return ""
        seen.update(urls)
        return match.group(0)

    return _FONT_FACE.sub(keep_first, css)


def _inline_css(css: str, url_path: str, assets_dir: Path) -> str:
    """``css`` with each relative ``url()`` replaced by a data: URI of the file it names."""
    here = PurePosixPath(url_path).parent

    def embed(match: re.Match[str]) -> str:
        target = match.group(2).strip()
        if target.startswith(("data:", "#", "http:", "https:", "//")):
            return match.group(0)
        clean = target.split("?", 1)[0].split("#", 1)[0]
        resolved = posixpath.normpath(str(here / clean))
        data, media = _read(resolved, assets_dir)
        return f'url("data:{media};base64,{base64.b64encode(data).decode()}")'

    return _CSS_URL.sub(embed, _one_face_per_font(_woff2_only(css)))


def standalone_html(m: folium.Map, *, assets_dir: Path) -> str:
    """The HTML document of ``m`` with every asset embedded: it opens anywhere, offline."""
    html = render_html(m, static_prefix=_PREFIX)

    def script(match: re.Match[str]) -> str:
        data, _ = _read(match.group(1), assets_dir)
        code = data.decode("utf-8").replace("</script", "<\\/script")
        return f"<script>/* {match.group(1)} */\n{code}\n</script>"

    def stylesheet(match: re.Match[str]) -> str:
        data, _ = _read(match.group(1), assets_dir)
        css = _inline_css(data.decode("utf-8"), match.group(1), assets_dir)
        return f"<style>/* {match.group(1)} */\n{css}\n</style>"

    html = _SCRIPT.sub(script, html)
    return _STYLESHEET.sub(stylesheet, html)
