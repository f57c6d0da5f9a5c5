"""Hand-written patterns of how people write demo addresses, applied to real demo rows (a helper
module of test_addresses_match.py: it holds no tests).


Each pattern turns one standard address into what a resident, a hotline operator or a form
would type. ``building`` patterns drop the unit: any unit of the right building is the right
answer. ``hard`` patterns are typos and omissions that only the fuzzy stage can recover.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PREFIX = "陕西省渭南市华州区"
_CN = "零一二三四五六七八九"
_FULL = str.maketrans("0123456789", "０１２３４５６７８９")
# Characters a typo may put into a name: common in estate and village names, so the typo is
# plausible, and checked not to produce another real name.
_TYPO_POOL = "兰蓝岭领华花池驰地金锦阳洋福富和禾荆景苑园河城府香御林南东方纪新亭丽盛怡康百明珠洲秦赵照王旺李里张章刘留陈晨杨扬"


def cn(n: int) -> str:
    """Chinese numeral as people write it: 3 → 三, 12 → 十二, 57 → 五十七, 105 → 一百零五."""
    if n < 10:
        return _CN[n]
    if n < 20:
        return "十" + (_CN[n % 10] if n % 10 else "")
    if n < 100:
        return _CN[n // 10] + "十" + (_CN[n % 10] if n % 10 else "")
    rest = n % 100
    if rest == 0:
        tail = ""
    elif rest < 10:
        tail = "零" + _CN[rest]
    else:
        tail = _CN[rest // 10] + "十" + (_CN[rest % 10] if rest % 10 else "")
    return _CN[n // 100] + "百" + tail


@dataclass(frozen=True)
class Variant:
    text: str
    pattern: str
    expected_id: int
    building: bool  # any unit of the building is right
    hard: bool


Row = dict[str, Any]
Pattern = Callable[[Row, random.Random, set[str]], str]


def _estate_tail(r: Row, b: str | None = None, u: str | None = None) -> str:
    return f"{r['estate']}{b or r['building'] + '号楼'}{u or r['unit'] + '单元'}"


def _typo(name: str, rng: random.Random, taken: set[str], keep_suffix: int) -> str:
    for _ in range(200):
        i = rng.randrange(0, max(1, len(name) - keep_suffix))
        ch = rng.choice(_TYPO_POOL)
        if ch == name[i] or name[i].isdigit():
            continue
        typo = name[:i] + ch + name[i + 1 :]
        if typo not in taken:
            return typo
    raise AssertionError(f"no typo for {name}")


ESTATE_PATTERNS: dict[str, tuple[Pattern, bool, bool]] = {
    # name: (make, building-level, hard)
    "as_is": (lambda r, g, t: r["full_text"], False, False),
    "district_only_prefix": (
        lambda r, g, t: "华州区" + r["full_text"][len(PREFIX) :],
        False,
        False,
    ),
    "no_prefix": (lambda r, g, t: r["full_text"][len(PREFIX) :], False, False),
    "city_prefix": (lambda r, g, t: "渭南市华州区" + r["full_text"][len(PREFIX) :], False, False),
    "short_prefix": (lambda r, g, t: "陕西渭南华州" + r["full_text"][len(PREFIX) :], False, False),
    "full_width_digits": (lambda r, g, t: r["full_text"].translate(_FULL), False, False),
    "chinese_building_unit": (
        lambda r, g, t: (
            f"{r['town']}{r['road']}{r['road_number']}号"
            + _estate_tail(r, cn(int(r["building"])) + "号楼", cn(int(r["unit"])) + "单元")
        ),
        False,
        False,
    ),
    "dong": (lambda r, g, t: r["full_text"].replace("号楼", "栋"), False, False),
    "zhuang": (lambda r, g, t: r["full_text"].replace("号楼", "幢"), False, False),
    "zuo": (lambda r, g, t: r["full_text"].replace("号楼", "座"), False, False),
    "hash": (lambda r, g, t: r["full_text"].replace("号楼", "#楼"), False, False),
    "dash": (
        lambda r, g, t: (
            f"{r['town']}{r['road']}{r['road_number']}号{r['estate']}{r['building']}-{r['unit']}"
        ),
        False,
        False,
    ),
    "spaces": (
        lambda r, g, t: (
            f"华州区 {r['town']} {r['road']}{r['road_number']}号 {r['estate']} "
            f"{r['building']}号楼 {r['unit']}单元"
        ),
        False,
        False,
    ),
    "punctuation": (
        lambda r, g, t: (
            f"{r['town']}，{r['road']}{r['road_number']}号、{r['estate']}（"
            f"{r['building']}号楼-{r['unit']}单元）"
        ),
        False,
        False,
    ),
    "missing_town": (
        lambda r, g, t: f"{r['road']}{r['road_number']}号" + _estate_tail(r),
        False,
        False,
    ),
    "room": (
        lambda r, g, t: r["full_text"] + f"{g.randint(1, 6)}0{g.randint(1, 4)}室",
        False,
        False,
    ),
    "dash_room": (
        lambda r, g, t: (
            f"{r['town']}{r['road']}{r['road_number']}号{r['estate']}"
            f"{r['building']}-{r['unit']}-{g.randint(1, 6)}0{g.randint(1, 4)}"
        ),
        False,
        False,
    ),
    "chinese_road_number": (
        lambda r, g, t: f"{r['town']}{r['road']}{cn(int(r['road_number']))}号" + _estate_tail(r),
        False,
        False,
    ),
    "missing_road": (lambda r, g, t: r["town"] + _estate_tail(r), False, False),
    "estate_only": (lambda r, g, t: _estate_tail(r), False, False),
    "hao_unit": (lambda r, g, t: r["full_text"].replace("号楼", "号"), False, False),
    "community_inserted": (
        lambda r, g, t: (
            f"{r['town']}{r['community']}{r['road']}{r['road_number']}号" + _estate_tail(r)
        ),
        False,
        False,
    ),
    "jiedaoban": (
        lambda r, g, t: r["full_text"].replace("街道", "街道办").replace("镇", "镇", 1),
        False,
        False,
    ),
    "mixed": (
        lambda r, g, t: (
            f"{r['road']} {r['road_number']}号 {r['estate']} "
            f"{r['building']}幢{r['unit']}单元".translate(_FULL)
        ),
        False,
        False,
    ),
    "di_dong": (
        lambda r, g, t: (
            f"{r['town']}{r['road']}{r['road_number']}号{r['estate']}"
            f"第{cn(int(r['building']))}栋{r['unit']}单元"
        ),
        False,
        False,
    ),
    # -- hard ones
    "typo_estate": (
        lambda r, g, t: (
            f"{r['town']}{r['road']}{r['road_number']}号"
            + _typo(r["estate"], g, t, 2)
            + f"{r['building']}号楼{r['unit']}单元"
        ),
        False,
        True,
    ),
    "typo_estate_no_road": (
        lambda r, g, t: (
            r["town"] + _typo(r["estate"], g, t, 2) + f"{r['building']}号楼{r['unit']}单元"
        ),
        False,
        True,
    ),
    "typo_road": (
        lambda r, g, t: (
            f"{r['town']}{_typo(r['road'], g, t, 1)}{r['road_number']}号"
            + _estate_tail(r, r["building"] + "栋")
        ),
        False,
        True,
    ),
    "missing_unit": (
        lambda r, g, t: (
            f"{r['town']}{r['road']}{r['road_number']}号{r['estate']}{r['building']}号楼"
        ),
        True,
        True,
    ),
    "missing_unit_and_town": (
        lambda r, g, t: f"{r['road']}{r['road_number']}号{r['estate']}{cn(int(r['building']))}栋",
        True,
        True,
    ),
}

VILLAGE_PATTERNS: dict[str, tuple[Pattern, bool, bool]] = {
    "v_as_is": (lambda r, g, t: r["full_text"], False, False),
    "v_no_prefix": (lambda r, g, t: r["full_text"][len(PREFIX) :], False, False),
    "v_numerals": (
        lambda r, g, t: f"{r['town']}{r['community']}{cn(r['group'])}组{cn(r['house'])}号",
        False,
        False,
    ),
    "v_di": (
        lambda r, g, t: f"华州区{r['town']}{r['community']}第{cn(r['group'])}组{r['house']}号",
        False,
        False,
    ),
    "v_dui": (
        lambda r, g, t: f"{r['town']}{r['community']}{r['group']}队{r['house']}号",
        False,
        False,
    ),
    "v_xiaozu": (
        lambda r, g, t: f"{r['town']}{r['community']}{r['group']}小组{r['house']}号",
        False,
        False,
    ),
    "v_missing_town": (
        lambda r, g, t: f"{r['community']}{r['group']}组{r['house']}号",
        False,
        False,
    ),
    "v_full_width_spaces": (
        lambda r, g, t: (
            f"渭南市 华州区 {r['town']} {r['community']} {r['group']}组 {r['house']}号".translate(
                _FULL
            )
        ),
        False,
        False,
    ),
    "v_typo_village": (
        lambda r, g, t: f"{r['town']}{_typo(r['community'], g, t, 1)}{r['group']}组{r['house']}号",
        False,
        True,
    ),
}


def make_variants(
    estate_rows: list[Row],
    village_rows: list[Row],
    taken_names: set[str],
    *,
    n: int = 200,
    seed: int = 20261129,
) -> list[Variant]:
    """``n`` variants, patterns taken in turn, rows drawn with a fixed seed."""
    rng = random.Random(seed)
    patterns = [(k, v, estate_rows) for k, v in ESTATE_PATTERNS.items()] + [
        (k, v, village_rows) for k, v in VILLAGE_PATTERNS.items()
    ]
    out: list[Variant] = []
    i = 0
    while len(out) < n:
        name, (make, building, hard), rows = patterns[i % len(patterns)]
        i += 1
        row = rows[rng.randrange(len(rows))]
        out.append(Variant(make(row, rng, taken_names), name, row["id"], building, hard))
    return out
