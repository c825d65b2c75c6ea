"""Several photos of one *dataset identity*: is a labelled person better judged by their nearest photo
or by the mean of their photos?

A dataset that labels identities (LFW, CelebA, VGGFace2 ...) holds several photos of one person. On
the LFW index (bench/calibrate.py builds it): the searcher enrols the mean face of k1 photos; a
dataset identity is k2 of a person's photos. True pairs: for every person with at least k1 + k2
photos, their first k1 photos against their next k2. False pairs: every person's first k1 photos
against the first k2 photos of every other person who has at least k2. For each rule the
threshold where the false-match rate per identity is 1e-4 (and 1e-5) is read off the false
pairs, and the share of true pairs it misses (FNMR) is reported. Rules: "nearest" (the identity's
photo nearest to the searcher: what a face-by-face search does) and "centroid" (the distance to
the mean of the identity's k2 embeddings).

    python bench/identity_fusion.py
"""

from __future__ import annotations

import numpy as np
from lfw import work_dir
from record import record

from exposure.index import open_index

TARGETS = (1e-4, 1e-5)
K1 = (1, 3)
K2 = (1, 2, 3, 5)


def groups(people: dict[str, list[int]], start: int, k: int) -> dict[str, list[int]]:
    """Photos start..start+k of every person who has them."""
    return {n: idx[start:start + k] for n, idx in people.items() if len(idx) >= start + k}


def rule_distances(q: np.ndarray, members: list[list[int]], emb: np.ndarray) -> dict[str, np.ndarray]:
    """Distances from query vectors q (m, 128) to each group: (m, groups) per rule."""
    flat = np.concatenate(members)
    d = np.sqrt(np.maximum(((q[:, None, :] - emb[None, flat, :]) ** 2).sum(-1), 0))  # (m, faces)
    k = len(members[0])
    nearest = d.reshape(len(q), len(members), k).min(-1)
    cent = emb[flat].reshape(len(members), k, -1).mean(1)
    dc = np.sqrt(np.maximum(((q[:, None, :] - cent[None, :, :]) ** 2).sum(-1), 0))
    return {"nearest": nearest, "centroid": dc}


def main() -> None:
    ix = open_index(work_dir() / "lfw-index")
    f = ix.faces
    keep = (f["primary"] & f["identity"].notna()).to_numpy()
    emb, labels = ix.embeddings[keep].astype(np.float64), f["identity"][keep].to_numpy()
    people: dict[str, list[int]] = {}
    for i, name in enumerate(labels):
        people.setdefault(name, []).append(i)
    out: dict = {"faces": int(len(emb)), "identities": len(people)}
    for k1 in K1:
        queries = groups(people, 0, k1)
        qnames = list(queries)
        qvec = np.stack([emb[queries[n]].mean(0) for n in qnames])
        for k2 in K2:
            ids = groups(people, 0, k2)
            inames = list(ids)
            genuine_groups = groups(people, k1, k2)  # the next k2 photos of people with k1 + k2
            gnames = list(genuine_groups)
            gq = np.stack([emb[queries[n]].mean(0) for n in gnames])
            gen = {r: np.diag(v) for r, v in
                   rule_distances(gq, [genuine_groups[n] for n in gnames], emb).items()}
            imp: dict[str, list[np.ndarray]] = {"nearest": [], "centroid": []}
            members = [ids[n] for n in inames]
            iname_arr = np.asarray(inames)
            for s in range(0, len(qnames), 256):
                block = rule_distances(qvec[s:s + 256], members, emb)
                other = np.asarray(qnames[s:s + 256])[:, None] != iname_arr[None, :]
                for r, v in block.items():
                    imp[r].append(v[other])
            row: dict = {"true_pairs": len(gnames), "false_pairs": int(sum(len(x) for x in imp["nearest"]))}
            for r in ("nearest", "centroid"):
                allimp = np.concatenate(imp[r])
                for t in TARGETS:
                    thr = float(np.quantile(allimp, t))
                    row[f"{r}_fnmr_at_fmr_{t:.0e}"] = round(float((gen[r] > thr).mean()), 4)
                    row[f"{r}_threshold_at_fmr_{t:.0e}"] = round(thr, 4)
            out[f"searcher_{k1}_identity_{k2}"] = row
            print(k1, k2, row, flush=True)
    wins = [key for key, row in out.items() if isinstance(row, dict) and key.endswith(("_2", "_3", "_5"))
            and row["centroid_fnmr_at_fmr_1e-04"] <= row["nearest_fnmr_at_fmr_1e-04"]]
    out["centroid_wins_where_identity_has_2_or_more"] = f"{len(wins)} of {len(K1) * (len(K2) - 1)}"
    record(
        "identity_fusion",
        out,
        "Several photos of one dataset identity: nearest photo or mean face",
        "`python bench/identity_fusion.py`: on LFW, the searcher's mean face of k1 photos against a dataset "
        "identity of k2 photos; FNMR (true pairs missed) at a fixed false-match rate per identity, for the "
        "identity's nearest photo and for the mean of its photos.",
    )


if __name__ == "__main__":
    main()
