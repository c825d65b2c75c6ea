"""Numbers as a person reads them, in the language in use: "about 1 in 300", "13,233", "0 of 13,233".

The one owner of how a number is shown to a person (report, app, CLI table, figures); scientific
notation stays in `--json` and the benchmarks.
"""

from __future__ import annotations

import math

from exposure.i18n import _, language

BILLION = 1e9
_DIGITS = "零一二三四五六七八九"


def count(n: float) -> str:
    """A whole number with thousands separators: 13233 -> "13,233"."""
    return f"{round(n):,}"


def of(k: float, n: float) -> str:
    """k out of n: "0 of 13,233" (Chinese: "13,233 个中的 0 个")."""
    return _("{k} of {n}").format(k=count(k), n=count(n))


def _round2(x: float) -> float:
    """x rounded to two significant digits."""
    return float(f"{x:.2g}") if x > 0 else 0.0


def _sig2(x: float) -> str:
    """x to two significant digits, in plain digits: 0.96, 3.5, 14, 12,000."""
    r = _round2(x)
    return f"{r:,.0f}" if r >= 10 else f"{r:g}"


def _english(n: float) -> str:
    """A rounded 1-in-N denominator in words: 300, 2,400, 3.5 million."""
    return _("{n} million").format(n=_sig2(n / 1e6)) if n >= 1e6 else count(n)


def chinese_number(n: int) -> str:
    """A whole number below a trillion in Chinese numerals: 300 -> 三百, 240000 -> 二十四万."""
    if n == 0:
        return _DIGITS[0]
    groups = []  # groups of four digits, lowest first
    while n:
        n, g = divmod(n, 10_000)
        groups.append(g)
    out = ""
    zero = False
    for i in reversed(range(len(groups))):
        g = groups[i]
        if g == 0:
            zero = bool(out)
            continue
        if out and (zero or g < 1000):
            out += _DIGITS[0]
        out += ("两" if g == 2 and i and not out else _chinese_group(g)) + ("", "万", "亿")[i]
        zero = False
    if out.startswith("一十"):
        out = out[1:]
    return out


def _chinese_group(g: int) -> str:
    """0 < g < 10,000 in Chinese numerals (no leading zero)."""
    out, zero = "", False
    for unit, value in (("千", 1000), ("百", 100), ("十", 10), ("", 1)):
        d, g = divmod(g, value)
        if d:
            if zero and out:
                out += _DIGITS[0]
            out += ("两" if d == 2 and unit in ("千", "百") and not out else _DIGITS[d]) + unit
            zero = False
        else:
            zero = True
    return out


def chance(x: float) -> str:
    """A chance or an expected count in words: "fewer than 1 in a billion", "about 1 in 300", "about 2"."""
    if x is None or math.isnan(x):
        return _("unknown")
    if x <= 0:
        return _("none")
    zh = language() == "zh"
    if x >= 0.95:
        number = f"{x:,.0f}" if x >= 10 else _sig2(x)
        return _("about {number}").format(number=number)
    if x >= 0.1:
        return _("about {k} in 10").format(k=round(10 * x)) if not zh else f"约十分之{_DIGITS[round(10 * x)]}"
    n = _round2(1 / x)
    if n >= BILLION:
        return _("fewer than 1 in a billion")
    if zh:
        return f"约{chinese_number(int(n))}分之一"
    return _("about 1 in {n}").format(n=_english(n))


def share(x: float) -> str:
    """A share as a percentage with the digits that matter: 65%, 1.3%, 0.04%; tiny shares as a chance."""
    if x is None or math.isnan(x):
        return _("unknown")
    if 0 < x < 0.0001:
        return chance(x)
    return f"{x:.0%}" if x >= 0.1 else f"{x:.1%}" if x >= 0.01 else f"{x:.2%}"


def decimal(x: float, digits: int = 2) -> str:
    """A distance or ratio with a fixed number of decimals, never in scientific notation."""
    return _("unknown") if x is None or math.isnan(x) else f"{x:.{digits}f}"
