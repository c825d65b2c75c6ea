"""A font with Chinese glyphs for the report, the PDF and the figures, found on this computer, never downloaded.

A system Simplified Chinese font is preferred; otherwise the Noto Sans CJK file of the
`cvttf-notosanscjk-regular` wheel (SIL Open Font License), a dependency of exposure.
"""

from __future__ import annotations

import functools
from pathlib import Path

CSS_FAMILY = "exposure CJK"
# Only CJK characters are drawn with it: radicals, punctuation, kana, ideographs, full-width forms.
CJK_RANGES = "U+2E80-2FDF,U+3000-9FFF,U+F900-FAFF,U+FE30-FE4F,U+FF00-FFEF,U+20000-3134F"
# System fonts with Simplified Chinese glyphs, best first (Linux, macOS, Windows).
SYSTEM_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "PingFang SC",
    "Hiragino Sans GB", "Heiti SC", "STHeiti", "Microsoft YaHei", "SimHei", "DengXian", "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei", "Droid Sans Fallback",
)


def _wheel_font() -> Path | None:
    """The .otf file the font wheel installs, or None when the wheel is missing."""
    try:
        import cvttf_NotoSansCJK_Regular as wheel
    except ImportError:
        return None
    found = sorted(Path(wheel.__file__).parent.glob("*.[ot]t[fc]"))
    return found[0] if found else None


@functools.cache
def cjk_font() -> tuple[str, Path] | None:
    """(family name, file) of a font with Chinese glyphs: a system one through matplotlib, else the wheel's."""
    from matplotlib import font_manager

    by_name = {f.name: f.fname for f in font_manager.fontManager.ttflist}
    for family in SYSTEM_FAMILIES:
        if family in by_name:
            return family, Path(by_name[family])
    path = _wheel_font()
    if path is None:
        return None
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name(), path


def font_face_css() -> str:
    """An @font-face rule for CJK characters naming the local file (file:// URL, nothing fetched), or ""."""
    found = cjk_font()
    if found is None:
        return ""
    # Listed first in font-family yet limited to CJK characters: a headless print waits for a font
    # listed first, not for one only reached by fallback, and Latin text keeps the usual fonts.
    return (f"@font-face{{font-family:'{CSS_FAMILY}';src:url('{found[1].resolve().as_uri()}');"
            f"unicode-range:{CJK_RANGES}}}\n")


def use_cjk_in_figures() -> str | None:
    """Let matplotlib fall back to the CJK font for glyphs the usual font lacks; returns its family name."""
    found = cjk_font()
    if found is None:
        return None
    from matplotlib import rcParams

    families = list(rcParams["font.family"])
    if found[0] not in families:
        rcParams["font.family"] = ["DejaVu Sans" if f == "sans-serif" else f for f in families] + [found[0]]
    return found[0]
