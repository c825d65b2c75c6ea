"""ONNX Runtime against dlib over all of LFW: the same embeddings, the same verdicts.

The LFW index of bench/calibrate.py was embedded by dlib itself (full HOG detection). This builds
the same index with the ONNX encoder (same detection, no fast path) and compares, row by row, all
13,900 embeddings, then runs every face as a query against all others with both and compares the
verdict labels of the top 5.

    python bench/onnx_vs_dlib.py
"""

from __future__ import annotations

import numpy as np
from compare import top_labels
from lfw import unpacked_lfw, work_dir
from record import record

from exposure.build import build_index
from exposure.index import open_index


def top5_labels(emb: np.ndarray) -> np.ndarray:
    """The verdict labels of each face's 5 nearest others (a search of all of them)."""
    return top_labels(emb, 5)[0]


def main() -> None:
    dlib_ix = open_index(work_dir() / "lfw-index")
    out = work_dir() / "lfw-index-onnx"
    build_index(unpacked_lfw(), out, encoder="onnx", aligned=False, workers=2, progress=False)
    onnx_ix = open_index(out)
    a = dlib_ix.faces.assign(row=range(dlib_ix.n_faces)).set_index(["image", "face"])["row"]
    b = onnx_ix.faces.assign(row=range(onnx_ix.n_faces)).set_index(["image", "face"])["row"]
    common = a.index.intersection(b.index)
    ea = np.asarray(dlib_ix.embeddings)[a[common].to_numpy()]
    eb = np.asarray(onnx_ix.embeddings)[b[common].to_numpy()]
    diff = np.abs(ea - eb)
    la, lb = top5_labels(ea), top5_labels(eb)
    result = {
        "faces_compared": int(len(common)),
        "faces_only_in_one": int(len(a.index.symmetric_difference(b.index))),
        "max_abs_difference": float(diff.max()),
        "mean_abs_difference": float(diff.mean()),
        "top5_verdicts_compared": int(la.size),
        "top5_verdicts_different": int((la != lb).sum()),
    }
    record(
        "onnx_vs_dlib",
        result,
        "ONNX encoder against dlib over all of LFW",
        "`python bench/onnx_vs_dlib.py`: every LFW face embedded by dlib and by the ONNX graph of the same model "
        "file (same detection and alignment); then every face searched against all others with each, and the "
        "verdict labels of the top 5 compared.",
    )


if __name__ == "__main__":
    main()
