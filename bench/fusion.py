"""Several photos of one person: which way of combining them misses fewest true matches?

On the LFW index (bench/calibrate.py builds it), for every person with at least 4 photos: enrol
k = 1, 2, 3 of their photos, probe with another photo of them (true pairs) and with every face of
every other person (false pairs). For each rule, the distance threshold where the false-match
rate is 1e-4 (and 1e-5) is read off the false pairs, and the share of true pairs it misses (FNMR)
is reported. Rules: "min" (nearest of the k photos), "mean" (mean of the k distances),
"centroid" (distance to the mean of the k embeddings).

    python bench/fusion.py
"""

from __future__ import annotations

import numpy as np
from lfw import work_dir
from record import record

from exposure.index import open_index

TARGETS = (1e-4, 1e-5)


def main() -> None:
    ix = open_index(work_dir() / "lfw-index")
    f = ix.faces
    keep = (f["primary"] & f["identity"].notna()).to_numpy()
    emb, labels = ix.embeddings[keep], f["identity"][keep].to_numpy()
    people = {}
    for i, name in enumerate(labels):
        people.setdefault(name, []).append(i)
    chosen = {n: idx for n, idx in people.items() if len(idx) >= 4}
    sq = (emb * emb).sum(1)
    out: dict = {"people": len(chosen), "faces": int(len(emb))}
    for k in (1, 2, 3):
        genuine = {r: [] for r in ("min", "mean", "centroid")}
        impostor = {r: [] for r in ("min", "mean", "centroid")}
        for name, idx in chosen.items():
            enrol, probe = idx[:k], idx[-1]
            e = emb[enrol]
            others = labels != name
            d = np.sqrt(np.maximum((e * e).sum(1)[:, None] + sq[None, :] - 2 * e @ emb.T, 0))  # (k, N)
            c = e.mean(0)
            dc = np.sqrt(np.maximum(c @ c + sq - 2 * emb @ c, 0))
            for rule, score in (("min", d.min(0)), ("mean", d.mean(0)), ("centroid", dc)):
                genuine[rule].append(score[probe])
                impostor[rule].append(score[others])
        for rule in genuine:
            g = np.asarray(genuine[rule])
            imp = np.concatenate(impostor[rule])
            row = {}
            for t in TARGETS:
                thr = float(np.quantile(imp, t))
                row[f"fnmr_at_fmr_{t:.0e}"] = round(float((g > thr).mean()), 4)
                row[f"threshold_at_fmr_{t:.0e}"] = round(thr, 4)
            out[f"k{k}_{rule}"] = row
    best = min((key for key in out if key.startswith("k3_")), key=lambda key: out[key]["fnmr_at_fmr_1e-04"])
    out["best_rule_with_3_photos"] = best.split("_", 1)[1]
    record(
        "fusion",
        out,
        "Several photos of one person: how to combine them",
        "`python bench/fusion.py`: LFW people with at least 4 photos; k photos enrolled, the last one probed; "
        "FNMR (true pairs missed) at a fixed false-match rate, for the nearest-photo, mean-distance and "
        "mean-embedding rules.",
    )


if __name__ == "__main__":
    main()
