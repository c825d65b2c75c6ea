"""Power: how often a person who is in a dataset is found, at sizes from LFW's to 10 million faces.

Each trial takes an LFW person, holds out 1, 3 or 5 of their photos as selfies and leaves 1, 3 or
10 in the index (the rest are removed); every other LFW face is a stranger. The search is the
package's own: the selfies' mean face, its distance to every face and every named person's mean
face, each person's own stranger count (exposure.strangers.person_strangers with the widths measured
on LFW). Larger datasets are simulated from that measured tail: a dataset ten times as big holds
ten times as many strangers at every distance, so each match line moves one width closer per
ten-fold. Evidence, each held to its share of the promise (at most 0.1 strangers per search in all):
- labelled datasets: the nearest face or the person's mean face, each within its line at 0.05
  strangers (the table's first number; in brackets the nearest face alone at 0.1);
- unlabelled datasets: the nearest face within its line at 0.1 strangers, with the width the
  package measures when a dataset names no one (LFW with its names removed: every other face of
  a probe counts as a stranger, the probe's own other photos included, so LFW's much-photographed
  people make it wide and the lines cautious: the table's first number). In brackets the same
  rule with the width measured where names tell a probe's own photos apart, i.e. a dataset that
  holds each person once or whose repeats do not crowd the measurement (`found_if_repeats_known`).
  Measured and not used (JSON only, `found_several_faces_rule`): the k-th nearest face within the
  line at which k/30 strangers are expected, k = 1, 2, 3 (Markov's bound: the chance of k
  strangers that close is at most that expectation / k, however strangers' photos clump); it
  finds fewer than the nearest face alone.
People with enough photos in LFW for a case are few (and often much photographed): `people_tried`.
Strangers per search: at LFW's size counted (strangers actually within the lines); above it the
model's expectation, 0.1 by construction; the ten-fold extrapolation itself is checked by fitting
each person's lines on a tenth of LFW, moving them one width closer, and counting the strangers
within them in all of LFW (`extrapolation_check`).

    python bench/power.py [--json] [--people 150]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from lfw import work_dir
from record import record

from exposure import knn
from exposure.calibration import MAX_PHOTOS
from exposure.index import open_index
from exposure.strangers import CHANCE_LIMIT, FACES, PEOPLE, Strangers, measure_tail, person_strangers

SIZES = (13_233, 200_000, 1_000_000, 3_310_000, 10_000_000)
SELFIES = (1, 3, 5)
IN_DATASET = (1, 3, 10)
CLUSTER_K = (1, 2, 3)
SEED = 20261201


def lfw_index():
    """The LFW index bench/calibrate.py builds: primary labelled faces, their embeddings, widths and chip hashes."""
    index = open_index(work_dir() / "lfw-index")
    f = index.faces
    keep = (f["primary"] & f["identity"].notna()).to_numpy()
    names = f["identity"].to_numpy(dtype=object)[keep]
    emb = np.asarray(index.embeddings[keep], dtype=np.float64)
    return names, emb, index.tail, f["chip_phash"].to_numpy(dtype=object)[keep]


def line_at(model: Strangers, shift: float = 0.0, limit: float = CHANCE_LIMIT) -> float:
    """A search's line in a dataset 10**shift times as big: one width closer per ten-fold (the simulation)."""
    return model.line(limit) - model.width * shift


def person_means(names: np.ndarray, emb: np.ndarray, drop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each person's mean face of their first MAX_PHOTOS remaining photos (as exposure.identities does)."""
    keep = np.flatnonzero(~drop)
    uniq, codes = np.unique(names[keep], return_inverse=True)
    means = np.zeros((len(uniq), emb.shape[1]))
    counts = np.zeros(len(uniq), int)
    for row, c in zip(keep, codes, strict=True):
        if counts[c] < MAX_PHOTOS:
            means[c] += emb[row]
            counts[c] += 1
    return uniq, means / counts[:, None]


def trial(names, emb, tail, unnamed, person, rows, selfies, m, rng) -> dict:
    """One person: lines at LFW's size and each evidence's distances (own) and stranger counts."""
    rows = rng.permutation(rows)
    query_rows, own_rows = rows[:selfies], rows[selfies:selfies + m]
    drop = np.zeros(len(names), bool)
    drop[rows] = True
    drop[own_rows] = False  # the person's m photos stay in the dataset
    kept = np.flatnonzero(~drop)
    q = emb[query_rows].mean(0, keepdims=True)
    d = knn.distances(q, emb[kept])[0].astype(np.float64)
    own = np.isin(kept, own_rows)
    faces = person_strangers(d, tail.faces, FACES)
    faces_unnamed = person_strangers(d, unnamed, FACES)
    uniq, means = person_means(names, emb, drop)
    dp = knn.distances(q, means)[0].astype(np.float64)
    own_p = uniq == person
    people = person_strangers(dp, tail.people, PEOPLE)
    return {"n": len(d), "n_people": len(uniq), "faces": faces, "faces_unnamed": faces_unnamed, "people": people,
            "own": np.sort(d[own]), "strangers": d[~own], "own_person": float(dp[own_p][0]),
            "stranger_people": dp[~own_p]}


def evaluate(trials: list[dict], size: int, selfies: int, labelled: bool) -> dict:
    """Share found and strangers per search at `size` faces, for the face-only rule (with the width
    measured with names, and without), and the combined one."""
    kinds = 2 if labelled else len(CLUSTER_K)
    share = CHANCE_LIMIT / kinds
    out = {"face_only": [0, 0.0], "face_only_unnamed": [0, 0.0], "combined": [0, 0.0]}
    for t in trials:
        scale = size / t["n"]
        shift = math.log10(scale)
        for rule, model in (("face_only", t["faces"]), ("face_only_unnamed", t["faces_unnamed"])):
            f_line = line_at(model, shift)
            out[rule][0] += t["own"][0] <= f_line
            out[rule][1] += scale * np.count_nonzero(t["strangers"] <= f_line)
        if labelled:
            f2 = line_at(t["faces"], shift, share)
            p_line = line_at(t["people"], shift, share)
            hit = t["own"][0] <= f2 or t["own_person"] <= p_line
            counted = scale * (np.count_nonzero(t["strangers"] <= f2) + np.count_nonzero(t["stranger_people"] <= p_line))
        else:
            hit, counted = False, 0.0
            for k in CLUSTER_K:
                line = line_at(t["faces"], shift, k * share)  # k * share strangers expected within
                hit |= len(t["own"]) >= k and t["own"][k - 1] <= line
                near = np.count_nonzero(t["strangers"] <= line)
                counted += scale * near * (near >= k)  # strangers this rule would call a match
        out["combined"][0] += hit
        out["combined"][1] += counted
    n = len(trials)
    return {rule: {"found": round(v[0] / n, 3), "strangers_counted": round(v[1] / n, 4)} for rule, v in out.items()}


def extrapolation_check(trials: list[dict], tail, rng) -> dict:
    """Lines fitted on a tenth of the dataset, moved one width closer, strangers counted in all of it."""
    counts = {"faces": [], "named_people": []}
    for t in trials:
        for key, strangers, own, width, kind in (("faces", t["strangers"], t["own"], tail.faces, FACES),
                                                 ("named_people", t["stranger_people"], [t["own_person"]],
                                                  tail.people, PEOPLE)):
            everyone = np.concatenate([strangers, own])
            tenth = everyone[rng.random(len(everyone)) < 0.1]
            model = person_strangers(tenth, width, kind)
            line = line_at(model, math.log10(len(everyone) / len(tenth)))
            counts[key].append(np.count_nonzero(strangers <= line))
    return {key: {"strangers_per_search": round(float(np.mean(v)), 4), "searches": len(v)} for key, v in counts.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print only the JSON (it is always printed, on one line)")
    ap.add_argument("--people", type=int, default=150, help="people tried per case at most")
    args = ap.parse_args()
    names, emb, tail, hashes = lfw_index()
    unnamed = measure_tail(emb.astype(np.float32), hashes=hashes).faces  # as if LFW named no one
    people, counts = np.unique(names, return_counts=True)
    cases, checks = [], {}
    for selfies in SELFIES:
        for m in IN_DATASET:
            rng = np.random.default_rng(SEED + 10 * selfies + m)
            eligible = people[counts >= selfies + m]
            chosen = rng.permutation(eligible)[: args.people]
            trials = [trial(names, emb, tail, unnamed, p, np.flatnonzero(names == p), selfies, m, rng) for p in chosen]
            if m == 1:
                checks[f"{selfies} selfies"] = extrapolation_check(trials, tail, rng)
            for size in SIZES:
                for labelled in (True, False):
                    r = evaluate(trials, size, selfies, labelled)
                    best = r["combined"] if labelled else r["face_only_unnamed"]  # what the package does
                    case = {"faces": size, "selfies": selfies, "photos_in_dataset": m, "labelled": labelled,
                            "people_tried": len(trials), "found": best["found"],
                            "strangers_per_search": best["strangers_counted"] if size == SIZES[0]
                            else round(CHANCE_LIMIT, 4)}
                    if labelled:
                        case["found_nearest_face_only"] = r["face_only"]["found"]
                    else:
                        case["found_if_repeats_known"] = r["face_only"]["found"]
                        case["found_several_faces_rule"] = r["combined"]["found"]
                    cases.append(case)
    result = {"seed": SEED, "widths": {"faces": tail.faces.width, "named_people": tail.people.width,
                                       "faces_measured_without_names": unnamed.width},
              "extrapolation_check": checks, "cases": cases}
    record("power", result, "Power: found when you are there, from LFW's size to 10 million faces",
           __doc__.split("\n\n")[0] + " " + " ".join(__doc__.split("\n\n")[1].split()), table=table(cases))


def table(cases: list[dict]) -> str:
    """Share found, per size (columns) and case (rows), labelled and unlabelled."""
    head = "| photos in dataset | selfies | labelled | " + " | ".join(f"{s:,} faces" for s in SIZES) + " |"
    lines = [head, "|" + "---|" * (3 + len(SIZES))]
    keyed = {(c["photos_in_dataset"], c["selfies"], c["labelled"], c["faces"]): c for c in cases}
    for m in IN_DATASET:
        for s in SELFIES:
            for lab in (True, False):
                cells = []
                for size in SIZES:
                    c = keyed[(m, s, lab, size)]
                    alt = c.get("found_nearest_face_only", c.get("found_if_repeats_known"))
                    cells.append(f"{c['found']:.0%} ({alt:.0%})")
                lines.append(f"| {m} | {s} | {'yes' if lab else 'no'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
