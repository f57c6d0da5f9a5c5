"""The signboard (网格信息公示牌) of one grid: the public card posted in the grid.

Residents read it to know who their grid worker is and how to reach them; the street office
prints one per grid. It shows what :mod:`geogrid.locate.signboard` answers for a point (A and B
posts, who is on duty, the party organisation), here for a grid chosen by its code, plus a
printable HTML page.
"""

from __future__ import annotations

import html
from dataclasses import asdict
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import segno
from sqlalchemy import text
from sqlalchemy.orm import Session

from geogrid.errors import NotFoundError
from geogrid.locate.signboard import (
    Signboard,
    StaffCard,
    build_signboard,
    fetch_signboard_data,
)
from geogrid.locate.types import GridRef

__all__ = [
    "grid_signboard",
    "signboard_card",
    "signboard_html",
    "signboard_json",
    "signboards_document",
]

CHINA_TIME = timezone(timedelta(hours=8))

_CHAIN_SQL = text(
    """
    WITH RECURSIVE up AS (
        SELECT g.id, g.parent_id, 0 AS depth FROM grids g
        WHERE g.code = :code AND g.retired_at IS NULL
      UNION ALL
        SELECT p.id, p.parent_id, up.depth + 1 FROM grids p JOIN up ON p.id = up.parent_id
    )
    SELECT g.id, g.code, v.name, g.level, g.kind, g.dedicated_type, v.version, v.area_m2,
           g.parent_id, g.district_adcode, up.depth
    FROM up JOIN grids g ON g.id = up.id
    JOIN grid_versions v ON v.grid_id = g.id AND v.valid_to IS NULL
    ORDER BY up.depth DESC
    """
)

_DISTRICT_SQL = text("SELECT name FROM admin_areas WHERE code = :adcode AND level = 'district'")


def grid_signboard(
    session: Session, code: str, *, now: datetime | None = None
) -> tuple[Signboard, list[GridRef], str]:
    """The signboard of the current grid ``code``, its chain (level 1 first) and district; who
    is on duty is asked of the AB rule at ``now`` (default: the clock)."""
    rows = session.execute(_CHAIN_SQL, {"code": code}).all()
    if not rows or rows[-1].code != code:
        raise NotFoundError(f"There is no current grid {code}.", code=code)
    chain = [
        GridRef(
            r.id,
            r.code,
            r.name,
            r.level,
            r.kind,
            r.dedicated_type,
            r.version,
            r.area_m2,
            r.parent_id,
        )
        for r in rows
    ]
    grid = chain[-1]
    adcode = rows[-1].district_adcode
    data = fetch_signboard_data(
        session,
        district_adcode=adcode,
        staff_grid_ids=[grid.id],
        party_grid_ids=[g.id for g in chain],
    )
    board = build_signboard(grid, data, party_chain=chain, now=now)
    district = session.execute(_DISTRICT_SQL, {"adcode": adcode}).scalar() or adcode
    return board, chain, district


def _staff(card: StaffCard | None) -> dict[str, Any] | None:
    if card is None:
        return None
    out = asdict(card)
    out["away_until"] = card.away_until.isoformat() if card.away_until else None
    return out


def signboard_json(board: Signboard, chain: list[GridRef], district: str) -> dict[str, Any]:
    return {
        "district": district,
        "grid": asdict(board.grid),
        "chain": [{"code": g.code, "name": g.name, "level": g.level} for g in chain],
        "post_a": _staff(board.post_a),
        "post_b": _staff(board.post_b),
        "on_duty": _staff(board.on_duty),
        "on_duty_reason": board.on_duty_reason,
        "on_duty_code": board.on_duty_code,
        "on_duty_label": board.on_duty_label,
        "members": [_staff(m) for m in board.members],
        "party_organisations": [asdict(p) for p in board.party_organisations],
    }


def _area(m2: float) -> str:
    return f"{m2 / 1e6:.2f} 平方公里" if m2 >= 1e6 else f"{m2:,.0f} 平方米"


def _person(card: StaffCard | None, label: str) -> str:
    if card is None:
        return f"<tr><th>{label}</th><td colspan=2 class=missing>未设置</td></tr>"
    phone = html.escape(card.phone or "—")
    return (
        f"<tr><th>{label}</th><td>{html.escape(card.name)}"
        f"<small>{html.escape(card.role_label)}</small></td>"
        f'<td class="phone">{phone}</td></tr>'
    )


def report_qr_svg(report_url: str) -> str:
    """The signboard's QR code (segno, inline SVG): a resident scans it to open the report
    page of this grid. Error level M survives a scratched or sun-faded print."""
    qr = segno.make(report_url, error="m")
    return str(qr.svg_inline(scale=4, border=2, title="扫码报事"))


_SIGNBOARD_CSS = """
@page { size: A5; margin: 12mm; }
body { font: 15px/1.5 "Noto Sans CJK SC","WenQuanYi Micro Hei",system-ui,sans-serif;
       color: #222; margin: 0; }
.card { max-width: 148mm; margin: 16px auto; border: 3px solid #b22; border-radius: 6px; }
header { background: #b22; color: #fff; text-align: center; padding: 10px; }
header h1 { margin: 0; font-size: 24px; letter-spacing: 4px; }
header p { margin: 2px 0 0; font-size: 13px; }
section { padding: 10px 16px; }
h2 { font-size: 20px; margin: 0 0 4px; }
.meta { color: #555; font-size: 13px; }
table { width: 100%; border-collapse: collapse; margin-top: 8px; }
th { text-align: left; width: 7em; color: #555; font-weight: normal; }
td, th { padding: 6px 4px; border-bottom: 1px solid #eee; }
td small { color: #595959; margin-left: 6px; }
.phone { font-family: ui-monospace, monospace; font-size: 17px; text-align: right; }
.duty { background: #fff6e0; padding: 8px 16px; font-size: 16px; }
.missing { color: #b22; }
footer { font-size: 12px; color: #666; padding: 8px 16px; border-top: 1px solid #eee; }
.qr { text-align: center; }
.qr figure { margin: 0; }
.qr figcaption { font-size: 13px; color: #555; }
@media print {
  .card { margin: 0; break-inside: avoid; }
  .card + .card { break-before: page; }
}
"""


def signboard_card(
    board: Signboard,
    chain: list[GridRef],
    district: str,
    *,
    now: datetime,
    report_url: str | None = None,
) -> str:
    """The card of one grid (a ``<div class="card">``), so that one page and a street's
    printed sheaf (:func:`signboards_document`) show exactly the same thing."""
    qr = (
        f'<section class="qr"><figure>{report_qr_svg(report_url)}'
        "<figcaption>扫码报事 · 微信或手机相机扫描</figcaption></figure></section>"
        if report_url
        else ""
    )
    grid = board.grid
    where = " › ".join(html.escape(g.name) for g in chain[:-1]) or html.escape(district)
    chiefs = [m for m in board.members if m.role == "grid_chief"]
    on_duty = (
        f"{html.escape(board.on_duty.name)}（{board.on_duty.post}岗）"
        f" {html.escape(board.on_duty.phone or '')}"
        if board.on_duty
        else f"请联系社区（{html.escape(board.on_duty_label)}）"
    )
    party = "、".join(html.escape(p.name) for p in board.party_organisations) or "—"
    rows = [
        _person(board.post_a, "A岗网格员"),
        _person(board.post_b, "B岗网格员"),
        *(_person(c, "网格长") for c in chiefs[:2]),
    ]
    return f"""<div class="card">
<header><h1>网格信息公示牌</h1><p>{html.escape(district)} · {where}</p></header>
<section>
<h2>{html.escape(grid.name)}</h2>
<div class="meta">网格编码 {html.escape(grid.code)} · {grid.level}级网格 ·
面积 {_area(grid.area_m2)}</div>
<table>{"".join(rows)}</table>
</section>
<div class="duty">今日在岗：{on_duty}</div>
<section><div class="meta">网格党组织：{party}</div></section>
{qr}
<footer>小事不出网格、大事不出社区 · 政务服务便民热线 12345 ·
更新于 {now.astimezone(CHINA_TIME).strftime("%Y-%m-%d")}</footer>
</div>
"""


def signboards_document(title: str, cards: list[str]) -> str:
    """A printable HTML document of ``cards`` (from :func:`signboard_card`), one A5 page each
    when printed: the print CSS starts every card after the first on a new page."""
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{_SIGNBOARD_CSS}</style></head>
<body>{"".join(cards)}</body></html>
"""


def signboard_html(
    board: Signboard,
    chain: list[GridRef],
    district: str,
    *,
    now: datetime | None = None,
    report_url: str | None = None,
) -> str:
    """A printable A5 card (Chinese labels, print CSS); with ``report_url``, a QR code that
    opens the report page of the grid."""
    now = now or datetime.now(UTC)
    card = signboard_card(board, chain, district, now=now, report_url=report_url)
    return signboards_document(f"网格信息公示牌 {board.grid.name}", [card])
