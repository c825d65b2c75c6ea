"""Plain numbers (exposure.plain): what a person reads instead of 6.0e-11, in English and Chinese."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exposure.i18n import set_language
from exposure.plain import chance, chinese_number, count, of, share

SCIENTIFIC = re.compile(r"\d(\.\d+)?[eE][-+]?\d+")
CHINESE_DIGITS = dict(zip("零一二三四五六七八九", range(10), strict=True)) | {"两": 2}


@pytest.fixture(autouse=True)
def _english_unless_told():
    set_language("en")
    yield
    set_language(None)


def from_chinese(text: str) -> int:
    """Read back a number written by chinese_number (the test's own, independent reader)."""
    total, section, digit = 0, 0, 0
    for c in text:
        if c in CHINESE_DIGITS:
            digit = CHINESE_DIGITS[c]
        elif c in "十百千":
            section += (digit or 1) * {"十": 10, "百": 100, "千": 1000}[c]
            digit = 0
        elif c == "亿":
            total = (total + section + digit) * 100_000_000
            section = digit = 0
        elif c == "万":
            total += (section + digit) * 10_000
            section = digit = 0
    return total + section + digit


def test_examples_read_as_a_person_would_say_them():
    assert chance(6.0e-11) == "fewer than 1 in a billion"
    assert chance(1 / 300) == "about 1 in 300"
    assert chance(2.04) == "about 2"
    assert chance(1.2e-9) == "about 1 in 830 million"
    assert chance(float("nan")) == "unknown"
    assert count(13233) == "13,233" and of(0, 13233) == "0 of 13,233"
    set_language("zh")
    assert chance(6.0e-11) == "不到十亿分之一"
    assert chance(1 / 300) == "约三百分之一"
    assert chance(1 / 2400) == "约两千四百分之一"
    assert of(0, 13233) == "13,233 个中的 0 个"
    assert chance(float("nan")) == "未知"


@given(st.floats(min_value=0, max_value=1e7) | st.just(math.nan), st.sampled_from(["en", "zh"]))
def test_no_scientific_notation_ever(x, lang):
    set_language(lang)
    for text in (chance(x), share(min(x, 1.0))):
        assert text and not SCIENTIFIC.search(text), text


@given(st.floats(min_value=1.01e-9, max_value=0.0999))
def test_one_in_n_is_within_rounding_of_the_chance(x):
    set_language("en")
    text = chance(x)
    m = re.fullmatch(r"about 1 in ([\d,.]+)( million)?", text)
    assert m, text
    n = float(m[1].replace(",", "")) * (1e6 if m[2] else 1)
    assert abs(1 / n - x) / x < 0.06  # two significant digits


@given(st.floats(min_value=1.01e-9, max_value=0.0999))
def test_chinese_one_in_n_says_the_same_number(x):
    set_language("en")
    english = re.fullmatch(r"about 1 in ([\d,.]+)( million)?", chance(x))
    n = round(float(english[1].replace(",", "")) * (1e6 if english[2] else 1))
    set_language("zh")
    m = re.fullmatch(r"约(.+)分之一", chance(x))
    assert m and from_chinese(m[1]) == n


@given(st.integers(min_value=1, max_value=999_999_999_999))
def test_chinese_numerals_read_back(n):
    assert from_chinese(chinese_number(n)) == n


@given(st.integers(min_value=0, max_value=10**12))
def test_counts_read_back(n):
    assert int(count(n).replace(",", "")) == n


@given(st.floats(min_value=0, max_value=1e6), st.floats(min_value=0, max_value=1e6))
def test_smaller_chance_never_reads_as_more_likely(a, b):
    """The words keep the order of the numbers: 'fewer than 1 in a billion' < '1 in 300' < 'about 2'."""
    set_language("en")
    def rank(x):
        text = chance(x)
        if text.startswith("fewer than"):
            return 0.0
        if m := re.fullmatch(r"about 1 in ([\d,.]+)( million)?", text):
            return 1 / (float(m[1].replace(",", "")) * (1e6 if m[2] else 1))
        if m := re.fullmatch(r"about (\d+) in 10", text):
            return int(m[1]) / 10
        if text == "none":
            return -1.0
        return float(text.removeprefix("about ").replace(",", ""))

    lo, hi = sorted((a, b))
    assert rank(lo) <= rank(hi) or math.isclose(lo, hi, rel_tol=0.1)
