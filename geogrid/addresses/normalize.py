"""Normalise a Chinese address so that variants of one address compare equal.

What varies in practice: full-width and half-width characters, Chinese numerals (三号楼,
十二组), the words for a building (栋, 幢, 号楼, 座, 楼, ``3#``), the short forms ``3-2``
(building-unit) and ``3号2单元``, ``第三组`` and the old ``3队`` for a villagers' group, ``街道办
(事处)`` for 街道, a leading province/city/district prefix or any part of it, spaces and
punctuation. The normal form keeps digits, letters and Chinese characters only, drops the
configured prefix, and writes buildings as ``N号楼``, units as ``N单元``, groups as ``N组``.

Standard addresses and queries go through the same function, so whatever it does to one it
does to the other; rooms (``301室``) are kept here and dropped by the matcher, because a room is
below the granularity of the registry.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["DEFAULT_PREFIXES", "chinese_to_int", "normalize_address", "prefix_forms"]

DEFAULT_PREFIXES = (("陕西省", "陕西"), ("渭南市", "渭南"), ("华州区", "华州"))
"""Province, city and district, each optional, each in its long or short form, in this order.
A short form is only dropped when it is not the start of a longer name (华州街道 stays).
The prefixes of the Huazhou demo; callers that know the district pass its own
(:func:`geogrid.addresses.prefixes.district_prefixes`)."""

# Longest first: 广西壮族自治区 → 广西, not 广西壮族自治.
_ADMIN_SUFFIXES = (
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "特别行政区",
    "自治区",
    "自治州",
    "自治县",
    "自治旗",
    "地区",
    "林区",
    "新区",
    "省",
    "市",
    "区",
    "县",
    "旗",
    "盟",
)


def prefix_forms(names: tuple[str, ...] | list[str]) -> tuple[tuple[str, ...], ...]:
    """The long and short forms of each of province, city and district names, in order, as
    :func:`normalize_address` takes them. Empty names and repeats (a municipality is its own
    city) are skipped; a short form of one character is not made (赵县 stays whole).

    >>> prefix_forms(["江西省", "南昌市", "青云谱区"])
    (('江西省', '江西'), ('南昌市', '南昌'), ('青云谱区', '青云谱'))
    >>> prefix_forms(["北京市", "北京市", "东城区"])
    (('北京市', '北京'), ('东城区', '东城'))
    """
    out: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for name in names:
        if not name or name in seen:
            continue
        seen.add(name)
        short = next((name[: -len(s)] for s in _ADMIN_SUFFIXES if name.endswith(s)), name)
        out.append((name, short) if len(short) >= 2 and short != name else (name,))
    return tuple(out)


_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUMERAL_RUN = re.compile(r"[零〇一二两三四五六七八九十百千]+")
_BUILDING = re.compile(r"(\d+)\s*(?:号楼|栋楼|幢楼|栋|幢|座|楼)(?!层)")
_DROP = re.compile(r"[^0-9a-z\u4e00-\u9fff]")
_SEP = r"\s*[-－—–~～/]\s*"
# 3-2-301 and 3-2 at the end of an address: building-unit(-room).
_DASH_BUR = re.compile(rf"(\d+){_SEP}(\d+){_SEP}(\d+)\s*室?\s*$")
_DASH_BU = re.compile(rf"(\d+)\s*(?:号楼|栋|幢|座|号)?{_SEP}(\d+)\s*(?:单元)?\s*$")
_HASH = re.compile(r"(\d+)\s*#\s*(?:楼|号楼)?")


def chinese_to_int(text: str) -> int:
    """Value of a Chinese numeral: 三 → 3, 十二 → 12, 二十 → 20, 一百零五 → 105, 二〇五 → 205.

    >>> chinese_to_int("十二")
    12
    """
    if all(ch in _DIGITS for ch in text):  # digit by digit: 二〇五 = 205
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total, current = 0, 0
    for ch in text:
        if ch in _DIGITS:
            current = _DIGITS[ch]
        else:
            total += (current or 1) * _UNITS[ch]
            current = 0
    return total + current


def _numerals_to_digits(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        run = match.group(0)
        # keep place names such as 十里铺 or 三元 intact only when not followed by a counter
        end = match.end()
        follower = match.string[end : end + 2]
        if follower[:1] in "号组栋幢座楼单室层期巷排户" or follower[:2] in ("单元",):
            return str(chinese_to_int(run))
        return run

    return _NUMERAL_RUN.sub(replace, text)


def _strip_prefix(text: str, prefixes: tuple[tuple[str, ...], ...]) -> str:
    for forms in prefixes:
        for form in forms:
            rest = text[len(form) :]
            if text.startswith(form) and not rest.startswith(("街道", "镇", "路", "街")):
                text = rest
                break
    return text


def normalize_address(text: str, prefixes: tuple[tuple[str, ...], ...] = DEFAULT_PREFIXES) -> str:
    """The normal form of ``text`` used for exact and fuzzy matching.

    >>> normalize_address("陕西省渭南市华州区 少华路１２号 米兰花园 三栋 二单元")
    '少华路12号米兰花园3号楼2单元'
    >>> normalize_address("渭南华州 赤水镇东赵村第三组十五号")
    '赤水镇东赵村3组15号'
    >>> normalize_address("华州街道办少华路12号米兰花园3-2")
    '华州街道少华路12号米兰花园3号楼2单元'
    """
    s = unicodedata.normalize("NFKC", text).lower()
    s = _DASH_BUR.sub(r"\1号楼\2单元\3室", s)
    s = _DASH_BU.sub(r"\1号楼\2单元", s)
    s = _HASH.sub(r"\1号楼", s)
    s = _DROP.sub("", s)
    s = re.sub("街道办事处|街道办", "街道", s)
    s = _strip_prefix(s, prefixes)
    s = _numerals_to_digits(s)
    s = re.sub(r"第(\d+)(?=组|队|号楼|栋|幢|单元)", r"\1", s)
    s = re.sub(r"村(\d+)(?:队|小组)", r"村\1组", s)
    s = _BUILDING.sub(lambda m: f"{int(m.group(1))}号楼", s)
    s = re.sub(r"(\d+)号(?=\d+单元)", r"\1号楼", s)
    s = re.sub(r"(\d+)单元", lambda m: f"{int(m.group(1))}单元", s)
    s = re.sub(r"(\d+)(?:室|号房)$", lambda m: f"{int(m.group(1))}室", s)
    return s
