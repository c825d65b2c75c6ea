"""Measure what a distance means with this package's model, on all of LFW, and ship it.

Indexes LFW deep-funneled (../shared/data/lfw) with the package's own pipeline, then bins the
distances of ALL different-person pairs (false matches) and ALL same-person pairs (true matches)
of the primary face of every image, and writes exposure/data/calibration_lfw.json. Also runs the
LFW View 1 protocol (threshold picked on DevTrain, accuracy on DevTest).

    python bench/calibrate.py [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from lfw import REPO, lfw_dir, unpacked_lfw, work_dir
from record import record

from exposure.build import build_index
from exposure.index import open_index
from exposure.models import MODEL_ID

STEP = 0.0025
MAX_DISTANCE = 1.4
OUT = REPO / "exposure" / "data" / "calibration_lfw.json"
DISTANCES = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


def pair_histograms(emb: np.ndarray, labels: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Counts of different-person and same-person pairs per distance bin (i < j, every pair once)."""
    nbins = int(round(MAX_DISTANCE / STEP)) + 1
    impostor = np.zeros(nbins, np.int64)
    genuine = np.zeros(nbins, np.int64)
    sq = (emb * emb).sum(1)
    for start in range(0, len(emb), chunk):
        block = emb[start:start + chunk]
        d2 = sq[start:start + chunk, None] + sq[None, :] - 2.0 * (block @ emb.T)
        d = np.sqrt(np.maximum(d2, 0.0))
        rows = np.arange(start, start + len(block))[:, None]
        upper = np.arange(len(emb))[None, :] > rows  # each pair once
        same = labels[start:start + chunk, None] == labels[None, :]
        # bin j holds distances in (edge[j-1], edge[j]]: cumulative sums then count pairs <= edge[j]
        bins = np.minimum(np.ceil(d / STEP - 1e-9).astype(np.int64), nbins - 1)
        impostor += np.bincount(bins[upper & ~same], minlength=nbins)
        genuine += np.bincount(bins[upper & same], minlength=nbins)
    return impostor, genuine


MAX_PHOTOS = 5


def photos_by_person(labels: np.ndarray) -> dict[int, list[int]]:
    """Each person's rows, in index order."""
    out: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        out.setdefault(int(lab), []).append(i)
    return out


def centroid_histograms(emb: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair counts for the mean embedding of k photos of a person: against every other person's face
    (different-person pairs) and against that person's remaining photos (same-person pairs)."""
    nbins = int(round(MAX_DISTANCE / STEP)) + 1
    impostor = np.zeros(nbins, np.int64)
    genuine = np.zeros(nbins, np.int64)
    sq = (emb * emb).sum(1)
    by_person = photos_by_person(labels)
    for lab, idx in by_person.items():
        if len(idx) < k + 1:
            continue
        c = emb[idx[:k]].mean(0)
        d = np.sqrt(np.maximum(c @ c + sq - 2.0 * emb @ c, 0.0))
        bins = np.minimum(np.ceil(d / STEP - 1e-9).astype(np.int64), nbins - 1)
        impostor += np.bincount(bins[labels != lab], minlength=nbins)
        genuine += np.bincount(bins[idx[k:]], minlength=nbins)
    return impostor, genuine


def identity_histograms(emb: np.ndarray, labels: np.ndarray, k1: int, k2: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair counts for the searcher's mean face of k1 photos against a dataset identity's mean face of
    its first k2 photos (exposure.checker's identity rule; bench/identity_fusion.py measured it best).

    Different-person pairs: every face (k1 = 1) or every person's first k1 photos, against every
    other person who has k2. Same-person pairs: for each person with more than k2 photos, their
    first k2 are the identity and the rest, in disjoint groups of k1, are the searcher.
    """
    nbins = int(round(MAX_DISTANCE / STEP)) + 1
    by_person = photos_by_person(labels)
    ids = {lab: idx[:k2] for lab, idx in by_person.items() if len(idx) >= k2}
    id_labels = np.fromiter(ids, np.int64)
    cents = np.stack([emb[idx].mean(0) for idx in ids.values()])
    if k1 == 1:
        q, q_labels = emb, labels
    else:
        qs = {lab: idx[:k1] for lab, idx in by_person.items() if len(idx) >= k1}
        q, q_labels = np.stack([emb[idx].mean(0) for idx in qs.values()]), np.fromiter(qs, np.int64)
    impostor = np.zeros(nbins, np.int64)
    csq = (cents * cents).sum(1)
    for s in range(0, len(q), 1024):
        block = q[s:s + 1024]
        d = np.sqrt(np.maximum((block * block).sum(1)[:, None] + csq[None, :] - 2.0 * block @ cents.T, 0.0))
        other = q_labels[s:s + 1024, None] != id_labels[None, :]
        bins = np.minimum(np.ceil(d[other] / STEP - 1e-9).astype(np.int64), nbins - 1)
        impostor += np.bincount(bins, minlength=nbins)
    gen_d = []
    for idx in by_person.values():
        rest = idx[k2:]
        if len(idx) < k2 or len(rest) < k1:
            continue
        c = emb[idx[:k2]].mean(0)
        for g in range(0, len(rest) - k1 + 1, k1):
            gen_d.append(float(np.linalg.norm(emb[rest[g:g + k1]].mean(0) - c)))
    bins = np.minimum(np.ceil(np.asarray(gen_d) / STEP - 1e-9).astype(np.int64), nbins - 1)
    return impostor, np.bincount(bins, minlength=nbins)


def view1(faces, emb: np.ndarray) -> dict:
    """LFW View 1: pick the threshold on DevTrain, report accuracy on DevTest; missed faces count as errors."""
    primary = {img: i for i, img in enumerate(faces["image"])}

    def pairs(name: str):
        lines = (lfw_dir() / name).read_text().splitlines()[1:]
        out = []
        for line in lines:
            p = line.split("\t")
            if len(p) == 3:
                a, b, same = (p[0], int(p[1])), (p[0], int(p[2])), True
            else:
                a, b, same = (p[0], int(p[1])), (p[2], int(p[3])), False
            ia = primary.get(f"{a[0]}/{a[0]}_{a[1]:04d}.jpg")
            ib = primary.get(f"{b[0]}/{b[0]}_{b[1]:04d}.jpg")
            dist = float(np.linalg.norm(emb[ia] - emb[ib])) if ia is not None and ib is not None else np.inf
            out.append((dist, same))
        return np.array([d for d, _ in out]), np.array([s for _, s in out])

    dtr, str_ = pairs("pairsDevTrain.txt")
    dte, ste = pairs("pairsDevTest.txt")
    grid = np.arange(0.3, 0.8, 0.0025)
    acc_train = [((dtr <= t) == str_).mean() for t in grid]
    best = float(grid[int(np.argmax(acc_train))])
    return {
        "threshold_from_devtrain": round(best, 4),
        "devtest_accuracy": round(float(((dte <= best) == ste).mean()), 4),
        "devtest_accuracy_at_0.6": round(float(((dte <= 0.6) == ste).mean()), 4),
        "pairs_missing_a_face": int(np.isinf(np.concatenate([dtr, dte])).sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    t0 = time.time()
    root = unpacked_lfw()
    build_index(root, work_dir() / "lfw-index", workers=args.workers, progress=True)
    index = open_index(work_dir() / "lfw-index")
    faces = index.faces
    keep = (faces["primary"] & faces["identity"].notna()).to_numpy()
    faces, emb = faces[keep].reset_index(drop=True), index.embeddings[keep]
    labels = faces["identity"].astype("category").cat.codes.to_numpy()
    impostor, genuine = pair_histograms(emb, labels)
    imp_le, gen_le = np.cumsum(impostor), np.cumsum(genuine)
    edges = np.round(np.arange(len(impostor)) * STEP, 6)
    n_images = int(index.manifest["counts"]["images_found"])
    data = {
        "model_id": MODEL_ID,
        "source": "LFW deep-funneled (../shared/data/lfw), primary face of every image with a detected face",
        "images_used": int(len(emb)),
        "images_in_dataset": n_images,
        "identities_used": int(len(np.unique(labels))),
        "n_impostor": int(imp_le[-1]),
        "n_genuine": int(gen_le[-1]),
        "step": STEP,
        "edges": edges.tolist(),
        "impostor_le": imp_le.tolist(),
        "genuine_le": gen_le.tolist(),
    }
    # Several photos of one person are combined as their mean embedding (bench/fusion.py measured it
    # best); its distances to strangers are smaller, so each number of photos has its own curves.
    data["photos"] = {}
    for k in range(2, MAX_PHOTOS + 1):
        imp_k, gen_k = centroid_histograms(emb, labels, k)
        data["photos"][str(k)] = {
            "n_impostor": int(imp_k.sum()),
            "n_genuine": int(gen_k.sum()),
            "impostor_le": np.cumsum(imp_k).tolist(),
            "genuine_le": np.cumsum(gen_k).tolist(),
        }
    # A labelled dataset identity is judged by the mean face of (up to) MAX_PHOTOS of its photos
    # against the searcher's mean face: curves for every pair of photo counts.
    data["identity"] = {}
    for k1 in range(1, MAX_PHOTOS + 1):
        for k2 in range(2, MAX_PHOTOS + 1):
            imp_k, gen_k = identity_histograms(emb.astype(np.float64), labels, k1, k2)
            data["identity"][f"{k1},{k2}"] = {
                "n_impostor": int(imp_k.sum()),
                "n_genuine": int(gen_k.sum()),
                "impostor_le": np.cumsum(imp_k).tolist(),
                "genuine_le": np.cumsum(gen_k).tolist(),
            }
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n")

    from exposure import calibration as calibration_module

    calibration_module._raw.cache_clear()
    calibration_module.calibration.cache_clear()
    cal = calibration_module.calibration()

    def rate(cum, n, d):
        return float(cum[int(round(d / STEP))] / n)

    result = {
        "images_used": data["images_used"],
        "identities_used": data["identities_used"],
        "different_person_pairs": data["n_impostor"],
        "same_person_pairs": data["n_genuine"],
        "fmr": {f"{d:.2f}": rate(imp_le, data["n_impostor"], d) for d in DISTANCES},
        "tmr": {f"{d:.2f}": rate(gen_le, data["n_genuine"], d) for d in DISTANCES},
        "smallest_different_person_distance": float(edges[np.argmax(imp_le > 0)]),
        "tail_start": cal.tail_start,
        "fmr_95ci": {f"{d:.2f}": [float(x) for x in cal.fmr_interval(d)] for d in DISTANCES if d >= cal.tail_start},
        # below tail_start the few pairs seen are label errors: the verdicts use the tail model instead
        "fmr_tail_model_and_upper": {f"{d:.2f}": [float(cal.fmr(d)), float(cal.fmr_upper(d))]
                                     for d in DISTANCES if d < cal.tail_start},
        "fnmr_95ci": {f"{d:.2f}": [float(x) for x in cal.fnmr_interval(d)] for d in DISTANCES},
        "identity_curves": {key: {"different_person_pairs": v["n_impostor"], "same_person_pairs": v["n_genuine"],
                                  "tmr_at_0.40": round(v["genuine_le"][int(round(0.4 / STEP))] / v["n_genuine"], 4),
                                  "fmr_at_0.40": v["impostor_le"][int(round(0.4 / STEP))] / v["n_impostor"]}
                            for key, v in data["identity"].items()},
        "view1": view1(faces, emb),
        "seconds": round(time.time() - t0, 1),
    }
    record(
        "calibration",
        result,
        "Calibration on LFW: what a distance means",
        "`python bench/calibrate.py`: false-match rate (share of all different-person pairs within a distance) "
        "and true-match rate (share of all same-person pairs within it), from every LFW image's primary face, "
        "with Wilson 95% intervals (pairs treated as independent: they share photos, so the true intervals are "
        "somewhat wider); curves for the mean face of 2-5 photos, and for a labelled identity's mean face of "
        "2-5 photos against the searcher's 1-5 (`identity_curves`); written to `exposure/data/calibration_lfw.json`, from which every search states the share of real photos it misses (the strangers are counted in each dataset searched: see populations).",
    )


if __name__ == "__main__":
    main()
