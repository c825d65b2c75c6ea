"""Figures of one check's result: the person's distances, the datasets searched, the person on a map."""

from __future__ import annotations

import numpy as np

from exposure import verdicts
from exposure.figures.style import OKABE_ITO, OTHERS, YOU, _figure, distance_label
from exposure.i18n import _
from exposure.knn import distances
from exposure.plain import count
from exposure.verdicts import LIKELY, LOOKALIKE, NO_MATCH, PAIR_LINE, POSSIBLE, SAME_PHOTO, shown


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
    return verdicts.lines(result.strangers[str(ix.path)])


def distance_histogram(result, index=None, threshold: float | None = None):
    """The person's distance to every face of one dataset, with the lines where verdicts change.

    `threshold`, when given, adds the line a person chose (the app's slider).
    """
    ix = _pick_index(result, index)
    d = person_distances(result, ix)
    fig, ax = _figure(8, 4.2)
    if len(d) == 0:
        ax.text(0.5, 0.5, _("{dataset}: no faces in this index").format(dataset=ix.name), ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    lines = verdict_lines(result, ix)
    hi = max(1.2, float(d.max()) + 0.05)
    bins = np.linspace(0, hi, 61 if len(d) > 50 else 25)
    ax.hist(d, bins=bins, color=OTHERS, edgecolor="#777777", linewidth=0.5, label=_("faces in the dataset"))
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
            ax.axvspan(lo, up, color=verdicts.COLOURS[label], alpha=0.13, linewidth=0)
            narrow = up - lo < 0.12
            ax.text((lo + up) / 2, 0.97, shown(label), transform=ax.get_xaxis_transform(), ha="center", va="top",
                    fontsize=8, color="#333333", rotation=90 if narrow else 0)
    if likely > 0:
        ax.axvline(likely, color=verdicts.COLOURS[LIKELY], linestyle="--", linewidth=1.6,
                   label=_("your match line in these {faces} faces: {line}").format(faces=count(len(d)), line=f"{likely:.2f}"))
    ax.axvline(PAIR_LINE, color="#555555", linestyle=":", linewidth=1.2, label=_("0.6: the usual one-to-one line"))
    if threshold is not None:
        ax.axvline(threshold, color=OKABE_ITO["black"], linewidth=2,
                   label=_("your line: {line}").format(line=f"{threshold:.2f}"))
    nearest = np.sort(d)[: min(5, len(d))]
    # on the x axis itself (axes coordinates: on a log scale a data y of 0 would lie infinitely far below)
    ax.plot(nearest, np.zeros_like(nearest), linestyle="none", marker="v", markersize=9, color=YOU,
            clip_on=False, label=_("your nearest faces"), zorder=5, transform=ax.get_xaxis_transform())
    ax.set_xlim(0, hi)
    ax.set_xlabel(distance_label())
    ax.set_ylabel(_("number of faces (log scale)") if len(d) > 200 else _("number of faces"))
    ax.set_title(_("How far each of the {faces} faces in {dataset} is from your face").format(
        faces=count(len(d)), dataset=ix.name))
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
        ax_n.text(max(ix.n_faces, 1), yi, f" {count(ix.n_faces)}", va="center", fontsize=8)
    ax_n.set_yticks(y, names)
    ax_n.invert_yaxis()
    ax_n.set_xlabel(_("faces searched (log scale)"))
    ax_n.set_xlim(0.8, max(sizes) * 30)
    rows = result.results
    seen = set()
    for yi, ix in zip(y, indexes, strict=True):
        mine = rows[rows["index"] == str(ix.path)].sort_values("distance")
        likely = verdict_lines(result, ix)[LIKELY] if ix.n_faces else -1.0
        if likely > 0:
            ax_d.plot([likely] * 2, [yi - 0.35, yi + 0.35], color=verdicts.COLOURS[LIKELY], linewidth=2.5,
                      label=_("your match line there") if "line" not in seen else None)
            seen.add("line")
        for _n, r in mine.iterrows():
            v = r["verdict"]
            ax_d.plot(r["distance"], yi, linestyle="none", marker=verdicts.MARKERS.get(v, "o"),
                      markersize=10 if v in (LIKELY, SAME_PHOTO) else 7, color=verdicts.COLOURS.get(v, OTHERS),
                      markeredgecolor="#333333", label=shown(v) if v not in seen else None)
            seen.add(v)
        if not len(mine):
            ax_d.text(0.02, yi, _("no faces"), va="center", fontsize=8)
    ax_d.axvline(PAIR_LINE, color="#555555", linestyle=":", linewidth=1)
    ax_d.text(PAIR_LINE, 1.0, " " + _("0.6: the usual one-to-one line"), transform=ax_d.get_xaxis_transform(),
              fontsize=7, va="bottom", color="#555555")
    ax_d.set_xlim(0, 1.1)
    ax_d.set_xlabel(_("distance of your nearest faces (left = more alike)"))
    ax_d.legend(loc="lower right", fontsize=7, framealpha=0.9)
    fig.suptitle(_("Each dataset searched: its size, and how close its nearest faces are to you"))
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


def people_points(index) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The dataset's people as points: each named person's mean face (exposure.identities), each unnamed
    face as itself; with their names and how many photos each stands for."""
    groups = index.identity_groups
    unnamed = np.flatnonzero(groups.of_row < 0)
    f = index.faces
    names = [str(n) for n in groups.names] + [f"{f['image'].iat[int(i)]}#{int(f['face'].iat[int(i)])}" for i in unnamed]
    points = np.vstack([index.identity_means, np.asarray(index.embeddings[unnamed], np.float64).reshape(-1, 128)])
    counts = np.concatenate([groups.photos, np.ones(len(unnamed), np.int64)])
    return names, points, counts


def face_map(result, index=None, max_points: int = 5000, label: int = 5, seed: int = 0):
    """The dataset's people on a 2-D map (PCA of mean embeddings), with the person placed on it.

    Nearby on the map roughly means alike; the true distances are printed beside the lines.
    """
    ix = _pick_index(result, index)
    fig, ax = _figure(7.5, 6)
    if ix.n_faces == 0:
        ax.text(0.5, 0.5, _("{dataset}: no faces in this index").format(dataset=ix.name), ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    names, means, counts = people_points(ix)
    you = np.stack([q.face.embedding for q in result.queries]).astype(np.float64)
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
               edgecolor="#888888", linewidth=0.4, label=_("people in {dataset} (one dot each)").format(dataset=ix.name))
    centre = you_xy.mean(0)
    for rank, i in enumerate(keep, start=1):
        p = pos[int(i)]
        ax.plot([centre[0], p[0]], [centre[1], p[1]], color=YOU, linewidth=0.8, alpha=0.6)
        ax.scatter([p[0]], [p[1]], s=45, color=OKABE_ITO["orange"], edgecolor="#333333", zorder=4,
                   label=_("your nearest people") if rank == 1 else None)
        ax.annotate(f"{rank}. {names[int(i)][:28]}\n   " + _("distance {d}").format(d=f"{d[int(i)]:.2f}"), p, xytext=(6, 4),
                    textcoords="offset points", fontsize=8)
    ax.scatter(you_xy[:, 0], you_xy[:, 1], s=260, marker="*", color=YOU, edgecolor="black", zorder=5,
               label=_("you") if len(you) == 1 else _("you ({n} photos)").format(n=len(you)))
    ax.set_xlabel(_("map direction 1 (the strongest difference between faces here)"))
    ax.set_ylabel(_("map direction 2 (the next strongest)"))
    ax.set_xticks([])
    ax.set_yticks([])
    on_map = len(keep_all)
    extra = _(" ({shown} of {total} shown)").format(shown=count(on_map), total=count(len(names))) if on_map < len(names) else ""
    ax.set_title(_("You among the {people} people of {dataset}{extra}").format(
        people=count(len(names)), dataset=ix.name, extra=extra))
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    ax.text(0.01, 0.01, _("128 numbers squeezed onto 2 axes: judge by the printed distances, not the map."),
            transform=ax.transAxes, fontsize=7, color="#555555")
    return fig
