"""Print the signboards of a whole street (街道) at once: one PDF, one A5 page per grid.

The street office posts a signboard in every grid; printing them one page at a time from the
browser does not scale to a street of a hundred grids. The cards are the same HTML as
``/grids/{code}/signboard?format=html`` (:func:`geogrid.grids.signboard.signboard_card`), QR
code included, and Chromium's own print-to-PDF lays them out, so the PDF looks like the page
(Chinese fonts, inline SVG) without a second rendering engine to keep in step.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.grids.signboard import grid_signboard, signboard_card, signboards_document

__all__ = ["chromium_executable", "print_pdf", "street_grid_codes", "street_signboards_html"]

_STREET_CODE = re.compile(r"^\d{9}$")
_PRINT_TIMEOUT_S = 120

_STREET_GRIDS_SQL = text(
    """
    SELECT code FROM grids
    WHERE retired_at IS NULL AND left(code, 9) = :street AND length(code) > 9
    ORDER BY code
    """
)


def street_grid_codes(session: Session, street: str) -> list[str]:
    """Codes of the current grids of ``street`` (a 9-digit street/town code), in code order
    (so a community's grids come out together, as they are posted)."""
    if not _STREET_CODE.match(street):
        raise InvalidInputError(
            f"{street!r} is not a street code: 9 digits, the district's adcode and the "
            "street/town number (e.g. 610503001).",
            street=street,
        )
    codes = list(session.execute(_STREET_GRIDS_SQL, {"street": street}).scalars())
    if not codes:
        raise NotFoundError(f"Street {street} has no current grid.", street=street)
    return codes


def street_signboards_html(
    session: Session, street: str, *, report_base_url: str, now: datetime
) -> tuple[str, int]:
    """One printable HTML document holding the signboard of every current grid of ``street``
    and how many cards it holds. Each QR code opens ``{report_base_url}/report?grid=CODE``."""
    base = report_base_url.rstrip("/")
    cards = []
    for code in street_grid_codes(session, street):
        board, chain, district = grid_signboard(session, code, now=now)
        cards.append(
            signboard_card(board, chain, district, now=now, report_url=f"{base}/report?grid={code}")
        )
    return signboards_document(f"网格信息公示牌 {street}", cards), len(cards)


def chromium_executable() -> str:
    """Debian's Chromium, or ``GEOGRID_CHROMIUM``."""
    path = os.environ.get("GEOGRID_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"Chromium not found at {path}: install Debian's 'chromium' or set GEOGRID_CHROMIUM."
        )
    return path


def print_pdf(document: str, out: Path, *, chromium: str | None = None) -> None:
    """Print the HTML ``document`` to the PDF ``out`` with headless Chromium.

    The document is written to a private temporary directory and opened as a file: it needs
    no server, and the network is off (``--disable-background-networking``, no remote URL in
    the signboard), so printing works on an offline office machine.
    """
    executable = chromium or chromium_executable()
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="geogrid-print-") as tmp:
        page = Path(tmp) / "signboards.html"
        page.write_text(document, encoding="utf-8")
        result = subprocess.run(
            [
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                f"--user-data-dir={tmp}/profile",
                "--no-pdf-header-footer",
                f"--print-to-pdf={out}",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=_PRINT_TIMEOUT_S,
            check=False,
        )
    if result.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        raise RuntimeError(
            f"Chromium could not print {out} (exit {result.returncode}): {result.stderr[-2000:]}"
        )
