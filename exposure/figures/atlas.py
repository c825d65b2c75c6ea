"""The dataset atlas: the catalog's datasets over time, by size, by where their photos came from,
by consent and licence, and the withdrawn ones still in circulation."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

import numpy as np

from exposure.datasets import catalog
from exposure.figures.style import OKABE_ITO, OTHERS, _figure
from exposure.i18n import _
from exposure.plain import count as _count

STATUS_COLOURS = {
    "available": OKABE_ITO["blue"],
    "on-request": OKABE_ITO["green"],
    "urls-only": OKABE_ITO["purple"],
    "withdrawn": OKABE_ITO["vermillion"],
    "unknown": OKABE_ITO["grey"],
}
CONSENT_LABELS = {
    "none": "none asked",
    "not-disclosed": "not disclosed",
    "informed": "informed consent",
    "n/a": "no real people",
    "unknown": "unknown",
}
SOURCE_LABELS = {
    "news": "news photos",
    "flickr": "Flickr",
    "web": "web pages",
    "web-search": "search engines",
    "social-media": "social media",
    "lab": "lab sessions",
    "surveillance": "surveillance cameras",
    "video": "videos",
    "synthetic": "computer-made",
    "other-dataset": "another dataset",
    "unknown": "unknown",
}

def _catalog(cat=None):
    if cat is not None:
        return cat
    return catalog()


def _known_int(v) -> int | None:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v)
    return None


def _year(v) -> float | None:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str) and v[:4].isdigit():
        y = float(v[:4])
        if len(v) >= 7 and v[5:7].isdigit():
            y += (int(v[5:7]) - 1) / 12
        return y
    return None


def atlas_timeline(cat=None, label_min: int = 1_000_000):
    """Datasets by year and size (log scale), coloured by whether they are still published."""
    df = _catalog(cat)
    fig, ax = _figure(10, 5.5)
    years = [_year(v) for v in df["year"]]
    images = [_known_int(v) for v in df["images"]]
    seen = set()
    placed = []
    for name, y, n, status in zip(df["name"], years, images, df["status"], strict=True):
        if y is None or not n:
            continue
        status = status if status in STATUS_COLOURS else "unknown"
        ax.scatter([y], [n], s=60, color=STATUS_COLOURS[status], edgecolor="#333333", zorder=3,
                   marker="X" if status == "withdrawn" else "o", label=status if status not in seen else None)
        seen.add(status)
        if n >= label_min or status == "withdrawn" or name in ("LFW",):
            off = 6 + 8 * sum(1 for py, pn in placed if abs(py - y) < 1 and abs(np.log10(pn) - np.log10(n)) < 0.25)
            ax.annotate(name[:26], (y, n), xytext=(6, off - 6), textcoords="offset points", fontsize=7)
            placed.append((y, n))
    ax.set_yscale("log")
    ax.set_xlabel(_("year published"))
    ax.set_ylabel(_("images (log scale: each step is 10 times more)"))
    ax.set_title(_("Face datasets over time: from hundreds of lab photos to tens of millions from the web"))
    ax.legend(title=_("status today"), fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, which="major")
    undated = int(sum(1 for y in years if y is None))
    if undated:
        fig.text(0.01, 0.005, _("{n} datasets without a known year are not shown.").format(n=undated), fontsize=7,
                 color="#555555")
    return fig


def atlas_sizes(cat=None):
    """Every dataset's number of images on a log scale, largest first."""
    df = _catalog(cat)
    rows = [(name, _known_int(n), status) for name, n, status in zip(df["name"], df["images"], df["status"], strict=True)]
    rows = sorted((r for r in rows if r[1]), key=lambda r: r[1])
    fig, ax = _figure(9, 0.8 + 0.24 * len(rows))
    y = np.arange(len(rows))
    colours = [STATUS_COLOURS.get(r[2], STATUS_COLOURS["unknown"]) for r in rows]
    ax.barh(y, [r[1] for r in rows], color=colours, edgecolor="#333333", linewidth=0.4)
    ax.set_yticks(y, [r[0][:34] for r in rows], fontsize=7)
    for yi, r in zip(y, rows, strict=True):
        ax.text(r[1], yi, f" {_count(r[1])}", va="center", fontsize=6)
    ax.set_xscale("log")
    ax.set_xlim(50, max(r[1] for r in rows) * 20)
    ax.set_xlabel(_("images (log scale)"))
    ax.set_title(_("How many face images each dataset holds"))
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=c, label=s) for s, c in STATUS_COLOURS.items()], title=_("status today"),
              fontsize=7, loc="lower right")
    return fig


def atlas_sources(cat=None):
    """Where the photos came from: datasets and images per kind of source."""
    df = _catalog(cat)
    count: dict[str, int] = {}
    images: dict[str, int] = {}
    for srcs, n in zip(df["source"], df["images"], strict=True):
        for s in srcs if isinstance(srcs, (list, tuple)) else [srcs]:
            count[s] = count.get(s, 0) + 1
            images[s] = images.get(s, 0) + (_known_int(n) or 0)
    keys = sorted(count, key=lambda k: count[k])
    fig, (ax_c, ax_i) = _figure(10, 1 + 0.4 * len(keys), 1, 2, sharey=True)
    y = np.arange(len(keys))
    labels = [SOURCE_LABELS.get(k, k) for k in keys]
    ax_c.barh(y, [count[k] for k in keys], color=OKABE_ITO["blue"])
    ax_c.set_yticks(y, labels)
    ax_c.set_xlabel(_("number of datasets"))
    ax_i.barh(y, [max(images[k], 1) for k in keys], color=OKABE_ITO["orange"])
    ax_i.set_xscale("log")
    ax_i.set_xlabel(_("images in those datasets (log scale)"))
    fig.suptitle(_("Where the face photos came from (a dataset can have several sources)"))
    return fig


def licence_kind(text: str) -> str:
    """A rough kind for a free-text licence: research only, Creative Commons, other terms, or unknown."""
    t = (text or "").lower()
    if not t or t.startswith("unknown") or "unverified" in t:
        return "unknown"
    if "non-commercial" in t or "noncommercial" in t or "research" in t or "academic" in t:
        return "research / non-commercial only"
    if "cc " in t or "creative commons" in t or "cc-by" in t or "cc0" in t:
        return "Creative Commons"
    return "other terms"


def atlas_consent(cat=None):
    """Consent of the people in the photos, and the licence the datasets carry."""
    df = _catalog(cat)
    fig, (ax_c, ax_l) = _figure(10, 3.8, 1, 2)
    consent = df["consent"].map(lambda v: CONSENT_LABELS.get(v, v)).value_counts()
    colours = {"none asked": OKABE_ITO["vermillion"], "not disclosed": OKABE_ITO["orange"],
               "informed consent": OKABE_ITO["green"], "no real people": OKABE_ITO["sky"], "unknown": OKABE_ITO["grey"]}
    ax_c.barh(range(len(consent)), consent.values, color=[colours.get(k, OTHERS) for k in consent.index])
    ax_c.set_yticks(range(len(consent)), consent.index)
    ax_c.invert_yaxis()
    ax_c.set_xlabel(_("number of datasets"))
    ax_c.set_title(_("Were the people asked?"))
    kinds = df["license"].map(licence_kind).value_counts()
    ax_l.barh(range(len(kinds)), kinds.values, color=OKABE_ITO["blue"])
    ax_l.set_yticks(range(len(kinds)), kinds.index)
    ax_l.invert_yaxis()
    ax_l.set_xlabel(_("number of datasets"))
    ax_l.set_title(_("Terms it is shared under"))
    return fig


def atlas_withdrawn(cat=None, today: _dt.date | None = None):
    """Datasets taken down by their makers, and whether copies still circulate."""
    df = _catalog(cat)
    today = today or _dt.date.today()
    now = today.year + (today.month - 1) / 12
    rows = []
    for _n, r in df.iterrows():
        if r["status"] != "withdrawn":
            continue
        start, end = _year(r["year"]), _year(r["withdrawn"])
        if start is None:
            continue
        rows.append((r["name"], start, end, bool(r.get("still_circulating", False)), _known_int(r["images"])))
    rows.sort(key=lambda r: r[1])
    fig, ax = _figure(10, 1.2 + 0.55 * max(len(rows), 1))
    shown_circulating = False
    for yi, (name, start, end, circulating, n) in enumerate(rows):
        stop = end if end is not None else start
        ax.plot([start, stop], [yi, yi], color=OKABE_ITO["blue"], linewidth=6, solid_capstyle="butt",
                label=_("published by its makers") if yi == 0 else None)
        if end is not None:
            ax.plot([end], [yi], marker="X", color=OKABE_ITO["vermillion"], markersize=10,
                    label=_("withdrawn") if yi == 0 else None)
        if circulating:
            ax.plot([stop, now], [yi, yi], color=OKABE_ITO["vermillion"], linewidth=2, linestyle=(0, (2, 2)),
                    label=None if shown_circulating else _("copies still circulating"))
            shown_circulating = True
        size = _("{n} images").format(n=_count(n)) if n else ""
        when = (_("withdrawn {year}").format(year=int(end)) if end is not None else _("withdrawn (date unknown)"))
        ax.text(start - 0.1, yi, f"{name}  ", ha="right", va="center", fontsize=8)
        ax.text(now + 0.1, yi, f" {size}; {when}", va="center", fontsize=7, color="#333333")
    ax.set_yticks([])
    ax.invert_yaxis()
    lo = min((r[1] for r in rows), default=now - 10)
    ax.set_xlim(lo - 4, now + 5)
    ax.set_xlabel(_("year"))
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(_("Withdrawn, yet still in circulation"))
    ax.legend(loc="lower left", fontsize=8)
    return fig


ATLAS_FIGURES: Sequence = (atlas_timeline, atlas_sizes, atlas_sources, atlas_consent, atlas_withdrawn)
