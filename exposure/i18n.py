"""The language a person reads: English or Simplified Chinese, from the gettext catalogs in exposure/locale.

One switch: `set_language("zh")` (the CLI's `--lang`, the app's selector), else `EXPOSURE_LANG`, else
the system locale (`LC_ALL`, `LC_MESSAGES`, `LANG`), else English. Text is marked with `_()` where it
is written and translated when it is shown.
"""

from __future__ import annotations

import functools
import gettext
import os
from pathlib import Path

LANGUAGES = {"en": "English", "zh": "简体中文"}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "exposure"
_chosen: str | None = None


def normalise(lang: str | None) -> str | None:
    """'zh', 'zh_CN.UTF-8', 'zh-Hans' -> 'zh'; 'en_GB' -> 'en'; anything else -> None."""
    code = (lang or "").strip().lower().replace("-", "_").split(".")[0]
    return next((k for k in LANGUAGES if code == k or code.startswith(k + "_")), None)


def language() -> str:
    """The language in use: the one set, else EXPOSURE_LANG, else the system locale, else English."""
    if _chosen:
        return _chosen
    for var in ("EXPOSURE_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        if value := os.environ.get(var):
            return normalise(value) or "en"
    return "en"


def set_language(lang: str | None) -> str:
    """Use `lang` ('en' or 'zh'; None: back to the environment's choice); returns the language in use."""
    global _chosen
    if lang is not None and normalise(lang) is None:
        raise ValueError(f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}")
    _chosen = normalise(lang)
    return language()


@functools.cache
def _catalog(lang: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[{"zh": "zh_CN"}.get(lang, lang)], fallback=True)


def _(message: str) -> str:
    """`message` in the language in use."""
    return _catalog(language()).gettext(message)


def N_(message: str) -> str:
    """Mark `message` for translation where it is shown, not where it is written (it may be stored first)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for `n`, in the language in use."""
    return _catalog(language()).ngettext(singular, plural, n)
