"""Every face of a set searched for among the others, twice (two encoders, two stores): what changes.

Bench- and test-only helpers: `search_each` (every face against all the others) and the verdict
labels of those searches, each face judged with its own strangers (exposure.strangers) in the set.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from exposure import knn, store
from exposure.strangers import FACES, Strangers, anchor_rank, measure_tail
from exposure.verdicts import MATCHES, labels


def search_each(store_or_array, queries, k: int, *, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows to each query, leaving out the query's own row: query j stands for row j.

    Returns (distances (n, k), rows (n, k)); where a duplicate row hides the query's own, the last is dropped.
    """
    q_all = np.asarray(queries, dtype=np.float32)
    n = len(q_all)
    d_all, i_all = np.empty((n, k), np.float32), np.empty((n, k), np.int64)
    for s in range(0, n, batch):
        d, i = knn.search(store_or_array, q_all[s:s + batch], k + 1)
        for j in range(len(d)):
            own = np.flatnonzero(i[j] == s + j)
            keep = np.delete(np.arange(k + 1), own[0] if len(own) else k)
            d_all[s + j], i_all[s + j] = d[j, keep], i[j, keep]
    return d_all, i_all


def verdict_labels(distances: np.ndarray, width, k: int) -> np.ndarray:
    """Labels of the first k of each face's nearest others (one photo, no "same photo"), each face judged
    with its own strangers: `distances` (n, >= anchor rank) ascending, `width` the set's measured Width."""
    n = len(distances)  # each face searched for among the n - 1 others and ... itself left out
    rank = anchor_rank(n)
    out = np.empty((len(distances), k), dtype=object)
    for j, row in enumerate(distances):
        strangers = Strangers(n - 1, rank, float(row[rank - 1]), width.width, FACES)
        out[j] = labels(row[:k], strangers)
    return out.astype(str)


def top_labels(emb: np.ndarray, k: int = 5, store=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, distances, rows) of each face's k nearest others, judged with the set's own width."""
    width = measure_tail(emb).faces
    depth = max(k, anchor_rank(len(emb)))
    d, i = search_each(emb if store is None else store, emb, depth)
    return verdict_labels(d, width, k), d[:, :k], i[:, :k]


def float16_effect(embeddings: np.ndarray, k: int = 5, *, work_dir: str | os.PathLike | None = None) -> dict:
    """What float16 storage changes, measured by searching a set of faces for each of its faces.

    Every face is a query (float32, as from the encoder) against all the others, stored once as
    float32 and once as float16; its top k are compared: distances (same face, both stores), the
    top-1 face, the top-k faces and their order, and the verdicts ("same photo" needs the chip
    hash and is left out).
    """
    e32 = np.ascontiguousarray(embeddings, dtype=np.float32)
    n = len(e32)
    if n < 2:
        raise ValueError("need at least 2 faces")
    k = min(k, n - 1)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        s32 = store.write_store(Path(tmp) / "f32", e32, "float32")
        s16 = store.write_store(Path(tmp) / "f16", e32, "float16")
        (l32, d32, i32), (l16, d16, i16) = (top_labels(e32, k, store) for store in (s32, s16))
        e16 = np.asarray(s16.matrix, np.float64)
    # the float16 distance of the very faces float32 found, computed directly
    d16_same = np.sqrt(((e16[i32] - e32[:, None, :].astype(np.float64)) ** 2).sum(-1))
    changed = l32 != l16
    examples = [
        {"query": int(qi), "rank": int(r) + 1, "float32": [round(float(d32[qi, r]), 6), str(l32[qi, r])],
         "float16": [round(float(d16[qi, r]), 6), str(l16[qi, r])]}
        for qi, r in zip(*np.nonzero(changed), strict=True)
    ][:10]
    return {
        "faces": n,
        "k": k,
        "max_abs_distance_error_same_face": float(np.abs(d16_same - d32).max()),
        "mean_abs_distance_error_same_face": float(np.abs(d16_same - d32).mean()),
        "max_abs_distance_error_by_rank": float(np.abs(d16 - d32).max()),
        "top1_changed": float((i16[:, 0] != i32[:, 0]).mean()),
        "topk_set_changed": float(np.mean([set(a) != set(b) for a, b in zip(i16, i32, strict=True)])),
        "topk_order_changed": float((i16 != i32).any(1).mean()),
        "verdicts_compared": int(changed.size),
        "verdict_label_changed": int(changed.sum()),
        "verdict_label_changed_top1": int(changed[:, 0].sum()),
        "is_match_changed": int((np.isin(l32, MATCHES) != np.isin(l16, MATCHES)).sum()),
        "label_changes": examples,
    }
