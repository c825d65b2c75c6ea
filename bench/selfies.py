"""Better use of your selfies: ways to combine several photos of you, honest and found.

Query-side only (the dataset's faces stay one plain embedding each: augmenting millions is
unaffordable). Ways, each a distance from you to every face of the dataset, judged as the package
judges a search (exposure.strangers: the search's own anchor, LFW's width measured with names,
the nearest face within the 0.1 line):
- `mean_face`: the mean of your photos' embeddings (what the package does);
- `mean_face_with_mirrors`: each photo's embedding averaged with its mirror image's first (a
  deterministic test-time augmentation, what dlib's jitter does at random). Not kept: tried in
  the package and searched through bench/populations.py, with one photo it called more strangers
  a match in most sets, as many more as it found people: a looser line, not more evidence;
- `mean_face_pushed_out`: the mean face moved away from the dataset's average face until it lies
  as far from it as your photos do on average (the mean of several photos drifts towards the
  average face, where strangers are many);
- `nearest_of_your_photos`: per face, the least of your photos' distances;
- `mean_distance`: per face, the mean of your photos' distances.
Honesty: LFW searchers whose every photo is taken out of the index, strangers within the line per
search (counted with LFW's names); and fitted on a tenth of LFW, moved one width closer, counted
in all of it (the ten-fold step bench/power.py uses to reach a million). Found: LFW people with 1,
3 or 5 photos held out as selfies and 1 or 3 left in, at LFW's size and at a million faces
(simulated as bench/power.py does).

    python bench/selfies.py [--json] [--searches 600]
"""

from __future__ import annotations

import math

import numpy as np
from lfw import unpacked_lfw, work_dir
from power import SEED, lfw_index, line_at
from record import arguments, record

from exposure import knn
from exposure.encoders import encode_chips
from exposure.faces import Box, aligned_chip
from exposure.index import open_index
from exposure.photos import load_photo
from exposure.strangers import CHANCE_LIMIT, FACES, person_strangers

WAYS = ("mean_face", "mean_face_with_mirrors", "mean_face_pushed_out", "nearest_of_your_photos", "mean_distance")


def mirrored_embeddings() -> np.ndarray:
    """Each primary labelled LFW face's aligned chip, mirrored and embedded (rows as bench/power.lfw_index),
    cached in the bench folder."""
    path = work_dir() / "lfw-mirrored.npy"
    if path.exists():
        return np.load(path)
    index = open_index(work_dir() / "lfw-index")
    f = index.faces
    root = unpacked_lfw()
    rows = f[(f["primary"] & f["identity"].notna()).to_numpy()]
    out = np.zeros((len(rows), 128), np.float32)
    for i, row in enumerate(rows.itertuples(index=False)):
        box = Box(int(row.box_left), int(row.box_top), int(row.box_right), int(row.box_bottom))
        _, chip = aligned_chip(load_photo(root / row.image).pixels, box)
        out[i] = encode_chips([np.ascontiguousarray(chip[:, ::-1])])[0]
    np.save(path, out)
    return out


def distances(way: str, emb, mirrors, selfies: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Your distance to each of `faces` (rows of emb), from the photos `selfies`, one way."""
    x = emb[faces]
    if way in ("nearest_of_your_photos", "mean_distance"):
        d = knn.distances(emb[selfies], x).astype(np.float64)
        return d.min(0) if way == "nearest_of_your_photos" else d.mean(0)
    q = emb[selfies].mean(0)
    if way == "mean_face_with_mirrors":
        q = (emb[selfies] + mirrors[selfies]).mean(0) / 2
    elif way == "mean_face_pushed_out":
        centre = x.mean(0)
        spread = np.linalg.norm(emb[selfies] - centre, axis=1).mean()
        q = centre + (q - centre) * spread / max(np.linalg.norm(q - centre), 1e-9)
    return knn.distances(q[None, :], x)[0].astype(np.float64)


def line(d: np.ndarray, width, shift: float = 0.0) -> float:
    """The 0.1 line of a search whose distances to every face are `d`, `shift` ten-folds larger."""
    return line_at(person_strangers(d, width, FACES), shift)


def honesty(names, emb, mirrors, width, searches: int, rng) -> dict:
    """Strangers within the line per search, searchers out of LFW; and the ten-fold step checked."""
    people, counts = np.unique(names, return_counts=True)
    out = {}
    for selfies in (1, 3, 5):
        got = {w: [] for w in WAYS}
        tenfold = {w: [] for w in WAYS}
        for p in rng.permutation(people[counts >= selfies])[:searches]:
            rows = np.flatnonzero(names == p)
            mine = rng.permutation(rows)[:selfies]
            others = np.flatnonzero(names != p)
            tenth = others[rng.random(len(others)) < 0.1]
            for w in WAYS:
                d = distances(w, emb, mirrors, mine, others)
                got[w].append(int(np.count_nonzero(d <= line(d, width))))
                dt = distances(w, emb, mirrors, mine, tenth)
                tenfold[w].append(int(np.count_nonzero(d <= line(dt, width, math.log10(len(others) / len(tenth))))))
        out[f"{selfies} selfies"] = {w: {"at_lfw_size": round(float(np.mean(got[w])), 4),
                                         "fitted_on_a_tenth": round(float(np.mean(tenfold[w])), 4)} for w in WAYS}
    return out


def found(names, emb, mirrors, width, rng) -> list[dict]:
    """Share of people whose nearest own photo falls within the line, per case and way (every LFW person
    with enough photos), and against the mean face person by person: found only this way, only that."""
    people, counts = np.unique(names, return_counts=True)
    cases = []
    for selfies in (1, 3, 5):
        for m in (1, 3):
            chosen = people[counts >= selfies + m]
            sizes = (len(names), 1_000_000)
            hits = {size: np.zeros((len(chosen), len(WAYS)), bool) for size in sizes}
            for i, p in enumerate(chosen):
                rows = rng.permutation(np.flatnonzero(names == p))
                keep = np.ones(len(names), bool)
                keep[rows[:selfies]] = False
                keep[rows[selfies + m:]] = False
                kept = np.flatnonzero(keep)
                own = np.isin(kept, rows[selfies:selfies + m])
                for j, w in enumerate(WAYS):
                    d = distances(w, emb, mirrors, rows[:selfies], kept)
                    for size in sizes:
                        hits[size][i, j] = d[own].min() <= line(d, width, math.log10(size / len(d)))
            for size, h in hits.items():
                cases.append({"faces": size, "selfies": selfies, "photos_in_dataset": m, "people_tried": len(chosen),
                              "found": {w: round(float(h[:, j].mean()), 3) for j, w in enumerate(WAYS)},
                              "against_mean_face": {w: {"found_only_this_way": int((h[:, j] & ~h[:, 0]).sum()),
                                                        "found_only_by_mean_face": int((h[:, 0] & ~h[:, j]).sum())}
                                                    for j, w in enumerate(WAYS) if j}})
    return cases


def main() -> None:
    args = arguments(__doc__, searches=600)
    rng = np.random.default_rng(SEED)
    names, emb, tail, _ = lfw_index()
    mirrors = mirrored_embeddings().astype(np.float64)
    result = {"seed": SEED, "width": tail.faces.width,
              "strangers_per_search": honesty(names, emb, mirrors, tail.faces, args.searches, rng),
              "cases": found(names, emb, mirrors, tail.faces, rng)}
    record("selfies", result, "Better use of your selfies: combining several photos of you",
           " ".join(" ".join(__doc__.split("\n\n")[:2]).split()), table=table(result))


def table(r: dict) -> str:
    """Found at a million faces per case (rows) and way (columns); strangers per search below."""
    head = "| selfies | of you in it | " + " | ".join(w.replace("_", " ") for w in WAYS) + " |"
    lines = ["Found, at LFW's size / at a million faces (in brackets, at a million: people found only this "
             "way / only by the mean face):", "", head, "|" + "---|" * (2 + len(WAYS))]
    by = {(c["selfies"], c["photos_in_dataset"], c["faces"]): c["found"] for c in r["cases"]}
    sizes = sorted({c["faces"] for c in r["cases"]})
    for s in (1, 3, 5):
        for m in (1, 3):
            big = next(c for c in r["cases"] if (c["selfies"], c["photos_in_dataset"], c["faces"]) == (s, m, sizes[1]))
            vs = big["against_mean_face"]
            cells = [f"{by[(s, m, sizes[0])][w]:.0%} / {by[(s, m, sizes[1])][w]:.0%}"
                     + (f" (+{vs[w]['found_only_this_way']} −{vs[w]['found_only_by_mean_face']})" if w in vs else "")
                     for w in WAYS]
            lines.append(f"| {s} | {m} ({big['people_tried']} people) | " + " | ".join(cells) + " |")
    lines += ["", f"Strangers within the line per search (promise: {CHANCE_LIMIT}), at LFW's size / fitted on "
              "a tenth and counted in all:", "", head.replace("| of you in it ", ""), "|" + "---|" * (1 + len(WAYS))]
    for s, v in r["strangers_per_search"].items():
        lines.append(f"| {s.split()[0]} | " + " | ".join(f"{v[w]['at_lfw_size']:.3f} / {v[w]['fitted_on_a_tenth']:.3f}"
                                                    for w in WAYS) + " |")
    honest = [w.replace("_", " ") for w in WAYS
              if all(max(v[w].values()) <= CHANCE_LIMIT * 1.1 for v in r["strangers_per_search"].values())]
    lines += ["", "Within the promise at both checks (allowing the counts' own noise, a tenth over): "
              f"{', '.join(honest)}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
