"""Normalise a Chinese address so that variants of one address compare equal.

What varies in practice: full-width and half-width characters, Chinese numerals (三号楼,
十二组), the words for a building (栋, 幢, 号楼, 座, 楼), a leading province/city/district
prefix or any part of it, spaces and punctuation. The normal form keeps digits, letters and
Chinese characters only, drops the configured prefix, and writes buildings as ``N号楼``.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["DEFAULT_PREFIXES", "chinese_to_int", "normalize_address"]

DEFAULT_PREFIXES = (("陕西省", "陕西"), ("渭南市", "渭南"), ("华州区", "华州"))
"""Province, city and district, each optional, each in its long or short form, in this order.
A short form is only dropped when it is not the start of a longer name (华州街道 stays)."""

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
    """
    s = unicodedata.normalize("NFKC", text).lower()
    s = _DROP.sub("", s)
    s = _strip_prefix(s, prefixes)
    s = _numerals_to_digits(s)
    s = _BUILDING.sub(lambda m: f"{int(m.group(1))}号楼", s)
    s = re.sub(r"(\d+)单元", lambda m: f"{int(m.group(1))}单元", s)
    s = re.sub(r"(\d+)(?:室|号房)$", lambda m: f"{int(m.group(1))}室", s)
    return s
