"""Figures for the notebooks and the workshop app: numbers and tables in, matplotlib Figures out.

Every function returns a `matplotlib.figure.Figure` (save it with `fig.savefig("x.png")`). The
figures use the Okabe-Ito palette, which people with the common colour-vision deficiencies can
tell apart, and never rely on colour alone: lines and points also carry text labels or markers.

This module is not imported by `import exposure`; matplotlib loads when it is imported.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

import numpy as np

from exposure import verdicts as _verdicts
from exposure.verdicts import LIKELY, LOOKALIKE, NO_MATCH, PAIR_LINE, POSSIBLE

SAME_PHOTO = getattr(_verdicts, "SAME_PHOTO", "same photo")  # a copy of the person's own picture

# Okabe & Ito (2008), "Color Universal Design": distinguishable with any common colour-vision type.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
    "grey": "#999999",
}
VERDICT_COLOURS = {
    SAME_PHOTO: "#CC79A7",
    LIKELY: OKABE_ITO["vermillion"],
    POSSIBLE: OKABE_ITO["orange"],
    LOOKALIKE: OKABE_ITO["sky"],
    NO_MATCH: OKABE_ITO["grey"],
}
VERDICT_MARKERS = {SAME_PHOTO: "P", LIKELY: "*", POSSIBLE: "D", LOOKALIKE: "o", NO_MATCH: "x"}
YOU = OKABE_ITO["blue"]
OTHERS = "#BBBBBB"
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
DISTANCE_LABEL = "distance between faces (0 = identical; lower = more alike)"


def _figure(width: float = 8.0, height: float = 4.5, nrows: int = 1, ncols: int = 1, **kw):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, **kw)
    return fig, axes


def show(fig) -> None:
    """Display a Figure in a notebook, as a PNG."""
    from IPython.display import Image, display

    display(Image(to_png(fig)))


def to_png(fig, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for an ipywidgets Image, or a file)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


# ---------------------------------------------------------------- helpers on a check result


def _pick_index(result, index=None):
    """The Index of `result` named by `index`: an Index, its name, its path, a position, or None (the first)."""
    indexes = list(result.indexes)
    if not indexes:
        raise ValueError("this result searched no dataset")
    if index is None:
        return indexes[0]
    if isinstance(index, int):
        return indexes[index]
    for ix in indexes:
        if ix is index or ix.name == index or str(ix.path) == str(index):
            return ix
    raise ValueError(f"{index!r} is not one of the searched datasets: {', '.join(ix.name for ix in indexes)}")


def person_distances(result, index) -> np.ndarray:
    """The person's distance to every face of the index (from the mean face of their photos), as the check saw it."""
    ix = _pick_index(result, index)
    return np.asarray(result.all_distances[str(ix.path)], dtype=np.float64)


def verdict_lines(result, index=None) -> dict[str, float]:
    """Where the verdicts change for the person in one searched dataset (exposure.verdicts.lines)."""
    ix = _pick_index(result, index)
    return _verdicts.lines(result.strangers[str(ix.path)])


# ---------------------------------------------------------------- the person's result


def distance_histogram(result, index=None, threshold: float | None = None):
    """The person's distance to every face of one dataset, with the lines where verdicts change.

    `threshold`, when given, adds the line a person chose (the app's slider).
    """
    ix = _pick_index(result, index)
    d = person_distances(result, ix)
    fig, ax = _figure(8, 4.2)
    if len(d) == 0:
        ax.text(0.5, 0.5, f"{ix.name}: no faces in this index", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    lines = verdict_lines(result, ix)
    hi = max(1.2, float(d.max()) + 0.05)
    bins = np.linspace(0, hi, 61 if len(d) > 50 else 25)
    ax.hist(d, bins=bins, color=OTHERS, edgecolor="#777777", linewidth=0.5, label="faces in the dataset")
    if len(d) > 200:
        ax.set_yscale("log")
    else:
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    # shaded verdict zones, left to right (in a small search the match line can lie beyond 0.6)
    likely, possible = max(lines[LIKELY], 0.0), max(lines[POSSIBLE], lines[LIKELY], 0.0)
    zones = [(LIKELY, 0.0, likely), (POSSIBLE, likely, possible),
             (LOOKALIKE, possible, max(possible, PAIR_LINE)), (NO_MATCH, max(possible, PAIR_LINE), hi)]
    for label, lo, up in zones:
        if up - lo > 1e-6:
            ax.axvspan(lo, up, color=VERDICT_COLOURS[label], alpha=0.13, linewidth=0)
            narrow = up - lo < 0.12
            ax.text((lo + up) / 2, 0.97, label, transform=ax.get_xaxis_transform(), ha="center", va="top",
                    fontsize=8, color="#333333", rotation=90 if narrow else 0)
    if likely > 0:
        ax.axvline(likely, color=VERDICT_COLOURS[LIKELY], linestyle="--", linewidth=1.6,
                   label=f"your match line in these {len(d):,} faces: {likely:.2f}")
    ax.axvline(PAIR_LINE, color="#555555", linestyle=":", linewidth=1.2, label="0.6: the usual one-to-one line")
    if threshold is not None:
        ax.axvline(threshold, color=OKABE_ITO["black"], linewidth=2, label=f"your line: {threshold:.2f}")
    nearest = np.sort(d)[: min(5, len(d))]
    # on the x axis itself (axes coordinates: on a log scale a data y of 0 would lie infinitely far below)
    ax.plot(nearest, np.zeros_like(nearest), linestyle="none", marker="v", markersize=9, color=YOU,
            clip_on=False, label="your nearest faces", zorder=5, transform=ax.get_xaxis_transform())
    ax.set_xlim(0, hi)
    ax.set_xlabel(DISTANCE_LABEL)
    ax.set_ylabel("number of faces" + (" (log scale)" if len(d) > 200 else ""))
    ax.set_title(f"How far each of the {len(d):,} faces in {ix.name} is from your face")
    ax.legend(loc="center right", fontsize=8, framealpha=0.9)
    return fig


def dataset_summary(result):
    """One row per searched dataset: its size, and the person's nearest faces against its match line."""
    indexes = list(result.indexes)
    fig, (ax_n, ax_d) = _figure(9, 1.2 + 0.6 * max(len(indexes), 1), 1, 2, sharey=True,
                                gridspec_kw={"width_ratios": [1, 2]})
    names = [ix.name for ix in indexes]
    y = np.arange(len(indexes))
    sizes = [max(ix.n_faces, 1) for ix in indexes]
    ax_n.barh(y, sizes, color=OTHERS, edgecolor="#777777")
    ax_n.set_xscale("log")
    for yi, ix in zip(y, indexes, strict=True):
        ax_n.text(max(ix.n_faces, 1), yi, f" {ix.n_faces:,}", va="center", fontsize=8)
    ax_n.set_yticks(y, names)
    ax_n.invert_yaxis()
    ax_n.set_xlabel("faces searched (log scale)")
    ax_n.set_xlim(0.8, max(sizes) * 30)
    rows = result.results
    seen = set()
    for yi, ix in zip(y, indexes, strict=True):
        mine = rows[rows["index"] == str(ix.path)].sort_values("distance")
        likely = verdict_lines(result, ix)[LIKELY] if ix.n_faces else -1.0
        if likely > 0:
            ax_d.plot([likely] * 2, [yi - 0.35, yi + 0.35], color=VERDICT_COLOURS[LIKELY], linewidth=2.5,
                      label="your match line there" if "line" not in seen else None)
            seen.add("line")
        for _, r in mine.iterrows():
            v = r["verdict"]
            ax_d.plot(r["distance"], yi, linestyle="none", marker=VERDICT_MARKERS.get(v, "o"),
                      markersize=10 if v in (LIKELY, SAME_PHOTO) else 7, color=VERDICT_COLOURS.get(v, OTHERS),
                      markeredgecolor="#333333", label=v if v not in seen else None)
            seen.add(v)
        if not len(mine):
            ax_d.text(0.02, yi, "no faces", va="center", fontsize=8)
    ax_d.axvline(PAIR_LINE, color="#555555", linestyle=":", linewidth=1)
    ax_d.text(PAIR_LINE, 1.0, " 0.6: the usual one-to-one line", transform=ax_d.get_xaxis_transform(),
              fontsize=7, va="bottom", color="#555555")
    ax_d.set_xlim(0, 1.1)
    ax_d.set_xlabel("distance of your nearest faces (left = more alike)")
    ax_d.legend(loc="lower right", fontsize=7, framealpha=0.9)
    fig.suptitle("Each dataset searched: its size, and how close its nearest faces are to you")
    return fig


def _pca2(points: np.ndarray, fit_on: np.ndarray) -> np.ndarray:
    """Project points onto the first two principal axes of fit_on (numpy SVD); pads with zeros."""
    mean = fit_on.mean(0)
    _, _, vt = np.linalg.svd(fit_on - mean, full_matrices=False)
    axes = vt[:2]
    out = (points - mean) @ axes.T
    if out.shape[1] < 2:
        out = np.hstack([out, np.zeros((len(out), 2 - out.shape[1]))])
    return out


def identity_means(index) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Mean embedding per identity (faces without a name are each their own point), and face counts."""
    faces = index.faces
    labels = [
        str(ident) if ident is not None else f"{img}#{int(face)}"
        for ident, img, face in zip(faces["identity"], faces["image"], faces["face"], strict=True)
    ]
    names, inverse, counts = np.unique(np.asarray(labels, dtype=object), return_inverse=True, return_counts=True)
    sums = np.zeros((len(names), index.embeddings.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, index.embeddings)
    return [str(n) for n in names], sums / counts[:, None], counts


def face_map(result, index=None, max_points: int = 5000, label: int = 5, seed: int = 0):
    """The dataset's people on a 2-D map (PCA of mean embeddings), with the person placed on it.

    Nearby on the map roughly means alike; the true distances are printed beside the lines.
    """
    ix = _pick_index(result, index)
    fig, ax = _figure(7.5, 6)
    if ix.n_faces == 0:
        ax.text(0.5, 0.5, f"{ix.name}: no faces in this index", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    names, means, counts = identity_means(ix)
    you = np.stack([q.face.embedding for q in result.queries]).astype(np.float64)
    from exposure.checker import distances

    d = distances(you, means).min(0)
    order = np.argsort(d, kind="stable")
    keep = order[:label]
    if len(names) > max_points:
        rng = np.random.default_rng(seed)
        rest = rng.choice(order[label:], size=max_points - label, replace=False)
        keep_all = np.concatenate([keep, rest])
    else:
        keep_all = np.arange(len(names))
    fit = np.vstack([means[keep_all], you])
    xy = _pca2(means[keep_all], fit)
    pos = {int(i): xy[k] for k, i in enumerate(keep_all)}
    you_xy = _pca2(you, fit)
    ax.scatter(xy[:, 0], xy[:, 1], s=np.clip(8 * np.sqrt(counts[keep_all]), 8, 60), color=OTHERS,
               edgecolor="#888888", linewidth=0.4, label=f"people in {ix.name} (one dot each)")
    centre = you_xy.mean(0)
    for rank, i in enumerate(keep, start=1):
        p = pos[int(i)]
        ax.plot([centre[0], p[0]], [centre[1], p[1]], color=YOU, linewidth=0.8, alpha=0.6)
        ax.scatter([p[0]], [p[1]], s=45, color=OKABE_ITO["orange"], edgecolor="#333333", zorder=4,
                   label="your nearest people" if rank == 1 else None)
        ax.annotate(f"{rank}. {names[int(i)][:28]}\n   distance {d[int(i)]:.2f}", p, xytext=(6, 4),
                    textcoords="offset points", fontsize=8)
    ax.scatter(you_xy[:, 0], you_xy[:, 1], s=260, marker="*", color=YOU, edgecolor="black", zorder=5,
               label="you" if len(you) == 1 else f"you ({len(you)} photos)")
    ax.set_xlabel("map direction 1 (the strongest difference between faces here)")
    ax.set_ylabel("map direction 2 (the next strongest)")
    ax.set_xticks([])
    ax.set_yticks([])
    shown = len(keep_all)
    extra = f" ({shown:,} of {len(names):,} shown)" if shown < len(names) else ""
    ax.set_title(f"You among the {len(names):,} people of {ix.name}{extra}")
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    ax.text(0.01, 0.01, "128 numbers squeezed onto 2 axes: judge by the printed distances, not the map.",
            transform=ax.transAxes, fontsize=7, color="#555555")
    return fig


# ---------------------------------------------------------------- how matching works


def threshold_tradeoff(threshold: float = PAIR_LINE, faces_searched: int | None = None):
    """False matches against misses, measured on LFW pairs, for a match line at `threshold`."""
    from exposure.calibration import calibration

    cal = calibration()
    x = cal.edges
    raw = cal.impostor_le / cal.n_impostor
    fmr = cal.fmr(x)  # measured from the tail start up, extrapolated below it
    miss = 1 - cal.genuine_le / cal.n_genuine
    fig, (ax_f, ax_m) = _figure(8, 5.6, 2, 1, sharex=True)
    floor = 1e-12
    d0 = cal.tail_start
    ax_f.plot(x[x >= d0], fmr[x >= d0], color=OKABE_ITO["vermillion"], linewidth=2, label="measured on LFW")
    ax_f.plot(x[x <= d0], fmr[x <= d0], color=OKABE_ITO["vermillion"], linewidth=2, linestyle="--",
              label=f"extrapolated below {d0:.2f} (too few pairs to measure)")
    seen = (x < d0) & (raw > 0)
    ax_f.scatter(x[seen], raw[seen], s=6, color="#999999", label="LFW pairs there: mostly label errors")
    ax_f.legend(loc="lower right", fontsize=7, frameon=False)
    ax_f.set_yscale("log")
    ax_f.set_ylim(floor, 1.5)
    ax_f.set_ylabel("strangers called a match\n(share of pairs, log scale)")
    ax_m.plot(x, miss * 100, color=OKABE_ITO["blue"], linewidth=2)
    ax_m.set_ylim(0, 100)
    ax_m.set_ylabel("same person missed\n(% of pairs)")
    ax_m.set_xlabel("match line: two faces closer than this are called the same person")
    f_at = float(cal.fmr(threshold))
    m_at = 1 - float(cal.tmr(threshold))
    for ax in (ax_f, ax_m):
        ax.axvline(threshold, color=OKABE_ITO["black"], linewidth=1.5)
        ax.axvline(PAIR_LINE, color="#777777", linestyle=":", linewidth=1)
        ax.grid(alpha=0.3)
    ax_f.annotate(_one_in(f_at) + " stranger pairs", (threshold, max(f_at, floor)), xytext=(8, -4),
                  textcoords="offset points", fontsize=9)
    ax_m.annotate(f"{m_at:.1%} of true pairs missed", (threshold, m_at * 100), xytext=(8, 6),
                  textcoords="offset points", fontsize=9)
    title = f"Match line at {threshold:.2f}"
    if faces_searched:
        title += (f": in {faces_searched:,} faces at LFW's average rates, about "
                  f"{float(cal.fmr_upper(threshold)) * faces_searched:,.2g} strangers pass")
    ax_f.set_title(title)
    ax_m.set_xlim(float(x[0]), float(min(x[-1], 1.2)))
    ax_m.text(0.99, 0.95, f"Measured on LFW: {cal.n_impostor:,} pairs of different people,\n"
              f"{cal.n_genuine:,} pairs of the same person. Dotted line: dlib's usual 0.6.",
              transform=ax_m.transAxes, ha="right", va="top", fontsize=7, color="#555555")
    return fig


def _one_in(rate: float) -> str:
    if rate <= 0:
        return "none of the measured"
    return f"1 in {1 / rate:,.0f}" if rate < 0.5 else f"{rate:.0%} of"


def lookalike_growth(threshold: float = PAIR_LINE, sizes: dict[str, int] | None = None):
    """Strangers expected within `threshold` of anyone, as a dataset grows (the look-alike problem)."""
    from exposure.calibration import calibration

    rate = float(calibration().fmr(threshold))
    n = np.logspace(2, 8, 200)
    fig, ax = _figure(8, 4.5)
    ax.plot(n, np.maximum(rate * n, 1e-4), color=OKABE_ITO["vermillion"], linewidth=2,
            label=f"strangers within {threshold:.2f} of you")
    ax.axhline(1, color="#555555", linestyle=":", linewidth=1)
    ax.text(1.2e2, 1.15, "1 stranger", fontsize=8, color="#555555")
    for name, size in (sizes or {}).items():
        ax.plot([size], [max(rate * size, 1e-4)], "o", color=YOU)
        ax.annotate(name, (size, max(rate * size, 1e-4)), xytext=(4, -10), textcoords="offset points", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-4, max(10, rate * 1e8 * 2))
    ax.set_xlabel("faces in the dataset (log scale)")
    ax.set_ylabel("strangers expected this close (log scale)")
    ax.set_title("The bigger the dataset, the more strangers look like you")
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
                label=f"{name}: {p['faces']:,} faces")
    for d in distances:
        ax.axvline(d, color="#777777", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlim(0.3, 0.75)
    ax.set_ylim(1e-6, 1)
    ax.set_xlabel(DISTANCE_LABEL)
    ax.set_ylabel("strangers this close\n(share of pairs of different people, log scale)")
    ax.set_title("The same model, different people: how often two strangers look this alike")
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    ax.grid(alpha=0.3, which="both")
    ax.text(0.01, 0.98, "UTKFace (no names: repeated people count as strangers) and LFW (named)",
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
    ax_p.set_title("1. the box (detection) and 68 points (landmarks)", fontsize=10)
    ax_p.set_axis_off()
    ax_c.imshow(face.chip)
    ax_c.set_title("2. cut out, turned upright, 150 x 150 pixels\n(alignment)", fontsize=10)
    ax_c.set_axis_off()
    return fig


def embedding_bars(face, others: dict | None = None):
    """A face's 128 numbers as bars; `others` ({label: embedding}) are drawn as outlines for comparison."""
    fig, ax = _figure(9, 3.2)
    e = np.asarray(face.embedding if hasattr(face, "embedding") else face, dtype=np.float64)
    ax.bar(np.arange(len(e)), e, color=YOU, width=0.8, label="your face")
    colours = [OKABE_ITO["vermillion"], OKABE_ITO["green"], OKABE_ITO["purple"]]
    for (label, other), colour in zip((others or {}).items(), colours, strict=False):
        ax.step(np.arange(len(other)), np.asarray(other), where="mid", color=colour, linewidth=1.2, label=label)
    ax.axhline(0, color="#333333", linewidth=0.5)
    ax.set_xlim(-1, len(e))
    ax.set_xlabel("number 1 to 128 (none of them means anything alone)")
    ax.set_ylabel("value")
    ax.set_title("A face, as the model sees it: 128 numbers")
    ax.legend(loc="upper right", fontsize=8)
    return fig


# ---------------------------------------------------------------- the dataset atlas


def _catalog(cat=None):
    if cat is not None:
        return cat
    from exposure.datasets import catalog

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
    ax.set_xlabel("year published")
    ax.set_ylabel("images (log scale: each step is 10 times more)")
    ax.set_title("Face datasets over time: from hundreds of lab photos to tens of millions from the web")
    ax.legend(title="status today", fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, which="major")
    undated = int(sum(1 for y in years if y is None))
    if undated:
        fig.text(0.01, 0.005, f"{undated} datasets without a known year are not shown.", fontsize=7, color="#555555")
    return fig


def atlas_sizes(cat=None):
    """Every dataset's number of images on a log scale, largest first."""
    df = _catalog(cat)
    rows = [(name, _known_int(n), status) for name, n, status in zip(df["name"], df["images"], df["status"], strict=True)]
    rows = sorted((r for r in rows if r[1]), key=lambda r: r[1])
    fig, ax = _figure(9, 0.8 + 0.24 * len(rows))
    y = np.arange(len(rows))
    colours = [STATUS_COLOURS.get(s, STATUS_COLOURS["unknown"]) for _, _, s in rows]
    ax.barh(y, [r[1] for r in rows], color=colours, edgecolor="#333333", linewidth=0.4)
    ax.set_yticks(y, [r[0][:34] for r in rows], fontsize=7)
    for yi, (_, n, _) in zip(y, rows, strict=True):
        ax.text(n, yi, f" {n:,}", va="center", fontsize=6)
    ax.set_xscale("log")
    ax.set_xlim(50, max(r[1] for r in rows) * 20)
    ax.set_xlabel("images (log scale)")
    ax.set_title("How many face images each dataset holds")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=c, label=s) for s, c in STATUS_COLOURS.items()], title="status today",
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
    ax_c.set_xlabel("number of datasets")
    ax_i.barh(y, [max(images[k], 1) for k in keys], color=OKABE_ITO["orange"])
    ax_i.set_xscale("log")
    ax_i.set_xlabel("images in those datasets (log scale)")
    fig.suptitle("Where the face photos came from (a dataset can have several sources)")
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
    ax_c.set_xlabel("number of datasets")
    ax_c.set_title("Were the people asked?")
    kinds = df["license"].map(licence_kind).value_counts()
    ax_l.barh(range(len(kinds)), kinds.values, color=OKABE_ITO["blue"])
    ax_l.set_yticks(range(len(kinds)), kinds.index)
    ax_l.invert_yaxis()
    ax_l.set_xlabel("number of datasets")
    ax_l.set_title("Terms it is shared under")
    return fig


def atlas_withdrawn(cat=None, today: _dt.date | None = None):
    """Datasets taken down by their makers, and whether copies still circulate."""
    df = _catalog(cat)
    today = today or _dt.date.today()
    now = today.year + (today.month - 1) / 12
    rows = []
    for _, r in df.iterrows():
        if r["status"] != "withdrawn":
            continue
        start, end = _year(r["year"]), _year(r["withdrawn"])
        if start is None:
            continue
        rows.append((r["name"], start, end, bool(r.get("still_circulating", False)), _known_int(r["images"])))
    rows.sort(key=lambda r: r[1])
    fig, ax = _figure(10, 1.2 + 0.55 * max(len(rows), 1))
    for yi, (name, start, end, circulating, n) in enumerate(rows):
        stop = end if end is not None else start
        ax.plot([start, stop], [yi, yi], color=OKABE_ITO["blue"], linewidth=6, solid_capstyle="butt",
                label="published by its makers" if yi == 0 else None)
        if end is not None:
            ax.plot([end], [yi], marker="X", color=OKABE_ITO["vermillion"], markersize=10,
                    label="withdrawn" if yi == 0 else None)
        if circulating:
            ax.plot([stop, now], [yi, yi], color=OKABE_ITO["vermillion"], linewidth=2, linestyle=(0, (2, 2)),
                    label="copies still circulating" if not any("circ" in t.get_label() for t in ax.lines[:-1]) else None)
        size = f"{n:,} images" if n else ""
        when = f"withdrawn {int(end)}" if end is not None else "withdrawn (date unknown)"
        ax.text(start - 0.1, yi, f"{name}  ", ha="right", va="center", fontsize=8)
        ax.text(now + 0.1, yi, f" {size}; {when}", va="center", fontsize=7, color="#333333")
    ax.set_yticks([])
    ax.invert_yaxis()
    lo = min((r[1] for r in rows), default=now - 10)
    ax.set_xlim(lo - 4, now + 5)
    ax.set_xlabel("year")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Withdrawn, yet still in circulation")
    ax.legend(loc="lower left", fontsize=8)
    return fig


ATLAS_FIGURES: Sequence = (atlas_timeline, atlas_sizes, atlas_sources, atlas_consent, atlas_withdrawn)


def _register_ipython() -> None:
    """In a notebook, show a Figure returned by a cell as a PNG (these figures are not pyplot's)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None:
        return
    from matplotlib.figure import Figure

    ip.display_formatter.formatters["image/png"].for_type(Figure, lambda fig: to_png(fig))


_register_ipython()
