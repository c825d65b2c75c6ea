"""Figures that show how face matching works: the trade-off of a line, look-alikes in big datasets,
the same model's rates for different populations, and the steps from photo to 128 numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from exposure.calibration import calibration
from exposure.figures.style import OKABE_ITO, YOU, _figure, distance_label
from exposure.i18n import _
from exposure.plain import chance, count
from exposure.verdicts import PAIR_LINE


def threshold_tradeoff(threshold: float = PAIR_LINE, faces_searched: int | None = None):
    """False matches against misses, measured on LFW pairs, for a match line at `threshold`."""
    cal = calibration()
    x = cal.edges
    raw = cal.impostor_le / cal.n_impostor
    fmr = cal.fmr(x)  # measured from the tail start up, extrapolated below it
    miss = 1 - cal.genuine_le / cal.n_genuine
    fig, (ax_f, ax_m) = _figure(8, 5.6, 2, 1, sharex=True)
    floor = 1e-12
    d0 = cal.tail_start
    ax_f.plot(x[x >= d0], fmr[x >= d0], color=OKABE_ITO["vermillion"], linewidth=2, label=_("measured on LFW"))
    ax_f.plot(x[x <= d0], fmr[x <= d0], color=OKABE_ITO["vermillion"], linewidth=2, linestyle="--",
              label=_("extrapolated below {d} (too few pairs to measure)").format(d=f"{d0:.2f}"))
    seen = (x < d0) & (raw > 0)
    ax_f.scatter(x[seen], raw[seen], s=6, color="#999999", label=_("LFW pairs there: mostly label errors"))
    ax_f.legend(loc="lower right", fontsize=7, frameon=False)
    ax_f.set_yscale("log")
    ax_f.set_ylim(floor, 1.5)
    ax_f.set_ylabel(_("strangers called a match\n(share of pairs, log scale)"))
    ax_m.plot(x, miss * 100, color=OKABE_ITO["blue"], linewidth=2)
    ax_m.set_ylim(0, 100)
    ax_m.set_ylabel(_("same person missed\n(% of pairs)"))
    ax_m.set_xlabel(_("match line: two faces closer than this are called the same person"))
    f_at = float(cal.fmr(threshold))
    m_at = 1 - float(cal.tmr(threshold))
    for ax in (ax_f, ax_m):
        ax.axvline(threshold, color=OKABE_ITO["black"], linewidth=1.5)
        ax.axvline(PAIR_LINE, color="#777777", linestyle=":", linewidth=1)
        ax.grid(alpha=0.3)
    ax_f.annotate(_("stranger pairs this close: {chance}").format(chance=chance(f_at)), (threshold, max(f_at, floor)),
                  xytext=(8, -4), textcoords="offset points", fontsize=9)
    ax_m.annotate(_("{share} of true pairs missed").format(share=f"{m_at:.1%}"), (threshold, m_at * 100),
                  xytext=(8, 6), textcoords="offset points", fontsize=9)
    title = _("Match line at {line}").format(line=f"{threshold:.2f}")
    if faces_searched:
        title += _(": in {faces} faces at LFW's average rates, strangers that pass: {strangers}").format(
            faces=count(faces_searched), strangers=chance(float(cal.fmr_upper(threshold)) * faces_searched))
    ax_f.set_title(title)
    ax_m.set_xlim(float(x[0]), float(min(x[-1], 1.2)))
    ax_m.text(0.99, 0.95, _("Measured on LFW: {impostor} pairs of different people,\n{genuine} pairs of the same "
                            "person. Dotted line: dlib's usual 0.6.").format(impostor=count(cal.n_impostor),
                                                                            genuine=count(cal.n_genuine)),
              transform=ax_m.transAxes, ha="right", va="top", fontsize=7, color="#555555")
    return fig


def lookalike_growth(threshold: float = PAIR_LINE, sizes: dict[str, int] | None = None):
    """Strangers expected within `threshold` of anyone, as a dataset grows (the look-alike problem)."""
    rate = float(calibration().fmr(threshold))
    n = np.logspace(2, 8, 200)
    fig, ax = _figure(8, 4.5)
    ax.plot(n, np.maximum(rate * n, 1e-4), color=OKABE_ITO["vermillion"], linewidth=2,
            label=_("strangers within {line} of you").format(line=f"{threshold:.2f}"))
    ax.axhline(1, color="#555555", linestyle=":", linewidth=1)
    ax.text(1.2e2, 1.15, _("1 stranger"), fontsize=8, color="#555555")
    for name, size in (sizes or {}).items():
        ax.plot([size], [max(rate * size, 1e-4)], "o", color=YOU)
        ax.annotate(name, (size, max(rate * size, 1e-4)), xytext=(4, -10), textcoords="offset points", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-4, max(10, rate * 1e8 * 2))
    ax.set_xlabel(_("faces in the dataset (log scale)"))
    ax.set_ylabel(_("strangers expected this close (log scale)"))
    ax.set_title(_("The bigger the dataset, the more strangers look like you"))
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return fig


def population_curves(distances: Sequence[float] = (0.4, 0.5, 0.6)):
    """False-match rate against distance for faces of different populations, with the same model.

    Measured by bench/populations.py on UTKFace's adults per population label and on LFW, shipped as
    exposure/data/populations.json (pair counts only: no face, no embedding).
    """
    import json
    from importlib import resources

    data = json.loads(resources.files("exposure").joinpath("data/populations.json").read_text())
    edges = np.asarray(data["edges"])
    styles = [("-", "o"), ("--", "s"), ("-.", "^"), (":", "D"), ("-", "v"), ("--", "P")]
    colours = [OKABE_ITO[c] for c in ("blue", "vermillion", "green", "orange", "purple", "black")]
    fig, ax = _figure(8, 4.8)
    for (name, p), (ls, marker), colour in zip(data["populations"].items(), styles, colours, strict=False):
        rate = np.asarray(p["impostor_le"], dtype=np.float64) / p["pairs"]
        seen = rate > 0
        ax.plot(edges[seen], rate[seen], linestyle=ls, color=colour, linewidth=1.8, marker=marker,
                markevery=max(1, int(seen.sum() / 8)), markersize=5,
                label=_("{name}: {faces} faces").format(name=name, faces=count(p["faces"])))
    for d in distances:
        ax.axvline(d, color="#777777", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlim(0.3, 0.75)
    ax.set_ylim(1e-6, 1)
    ax.set_xlabel(distance_label())
    ax.set_ylabel(_("strangers this close\n(share of pairs of different people, log scale)"))
    ax.set_title(_("The same model, different people: how often two strangers look this alike"))
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    ax.grid(alpha=0.3, which="both")
    ax.text(0.01, 0.98, _("UTKFace (no names: repeated people count as strangers) and LFW (named)"),
            transform=ax.transAxes, fontsize=7, va="top", color="#555555")
    return fig


def population_table(distances: Sequence[float] = (0.4, 0.5, 0.6)):
    """The same rates as a table: for each population, the share of stranger pairs within each distance."""
    import json
    from importlib import resources

    import pandas as pd

    data = json.loads(resources.files("exposure").joinpath("data/populations.json").read_text())
    step = float(data["step"])
    rows = []
    for name, p in data["populations"].items():
        row = {"people": name, "faces": p["faces"]}
        for d in distances:
            rate = p["impostor_le"][int(round(d / step))] / p["pairs"]
            row[f"within {d:.2f}"] = f"1 in {1 / rate:,.0f}" if rate > 0 else "none seen"
        rows.append(row)
    return pd.DataFrame(rows).set_index("people")


def face_steps(photo, face):
    """Detection, landmarks and alignment of one face: the photo with its box and 68 points, and the aligned chip."""
    fig, (ax_p, ax_c) = _figure(9, 4.5, 1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    pixels = getattr(photo, "pixels", photo)
    ax_p.imshow(pixels)
    b = face.box
    from matplotlib.patches import Rectangle

    ax_p.add_patch(Rectangle((b.left, b.top), b.width, b.height, fill=False, edgecolor=OKABE_ITO["yellow"], linewidth=2))
    lm = np.asarray(face.landmarks)
    ax_p.plot(lm[:, 0], lm[:, 1], ".", color=OKABE_ITO["sky"], markersize=3)
    ax_p.set_title(_("1. the box (detection) and 68 points (landmarks)"), fontsize=10)
    ax_p.set_axis_off()
    ax_c.imshow(face.chip)
    ax_c.set_title(_("2. cut out, turned upright, 150 x 150 pixels\n(alignment)"), fontsize=10)
    ax_c.set_axis_off()
    return fig


def embedding_bars(face, others: dict | None = None):
    """A face's 128 numbers as bars; `others` ({label: embedding}) are drawn as outlines for comparison."""
    fig, ax = _figure(9, 3.2)
    e = np.asarray(face.embedding if hasattr(face, "embedding") else face, dtype=np.float64)
    ax.bar(np.arange(len(e)), e, color=YOU, width=0.8, label=_("your face"))
    colours = [OKABE_ITO["vermillion"], OKABE_ITO["green"], OKABE_ITO["purple"]]
    for (label, other), colour in zip((others or {}).items(), colours, strict=False):
        ax.step(np.arange(len(other)), np.asarray(other), where="mid", color=colour, linewidth=1.2, label=label)
    ax.axhline(0, color="#333333", linewidth=0.5)
    ax.set_xlim(-1, len(e))
    ax.set_xlabel(_("number 1 to 128 (none of them means anything alone)"))
    ax.set_ylabel(_("value"))
    ax.set_title(_("A face, as the model sees it: 128 numbers"))
    ax.legend(loc="upper right", fontsize=8)
    return fig
