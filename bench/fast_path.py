"""The aligned-crop fast path's accuracy cost: LFW as 112x112 ArcFace crops, embedded with and without detection.

On a dataset of aligned face crops of one size, `exposure index` probes 48 images with HOG
detection (exposure.build.aligned_box) and, when the median box gives nearly the embeddings
detection gives, embeds every image from that fixed box, skipping detection. This measures what
that costs in finding people. The gallery is LFW's 13,233 photos as 112x112 crops aligned to
insightface's ArcFace template (the layout of MS1MV3, Glint360K, WebFace and CASIA-WebFace as they
circulate; bench/hub_index.py makes them), each embedded two ways:
  A: full HOG detection, as for any photo (exposure.embed.embed_image without a box);
  B: the fast path as shipped: aligned_box's box, then embed_image(known_box=...).
The queries: for each LFW person with 2 or more photos in the gallery, their first photo's
original 250x250 image through the selfie path (exposure.find_faces, first face), searched
against the gallery with that photo's own crop removed. Per path: faces found, rank-1
identification (the nearest gallery face is the same person), the share of genuine pairs within
the distance that lets 1 in 10,000 (and 1 in 1,000) of that path's impostor pairs through, the
median genuine distance; again on only the crops where detection (A) found a face, so that B is
not credited or penalised for the hard faces A skips; and the distance between A's and B's
embedding of the same crop.

    python bench/fast_path.py [--shards 13] [--workers 2] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

import numpy as np
from lfw import unpacked_lfw, work_dir
from record import record

FMRS = (1e-4, 1e-3)
TIMED = 240  # crops timed per path in this process


def log(*args, quiet: bool = False) -> None:
    if not quiet:
        print(*args, file=sys.stderr, flush=True)


def crops_folder():
    """The Hub-style Parquet shards of LFW's 112x112 crops (made once by bench/hub_index.py)."""
    folder = work_dir() / "hub-lfw112"
    if not (folder / ".complete").exists():
        from hub_index import shards

        shards()
    return folder


def embed_gallery(source, items, fast_path: dict | None, workers: int) -> list[tuple | None]:
    """The primary face's embedding and box of each item (None when none is found), in `workers` processes."""
    from exposure import workers as worker_processes
    from exposure.embed import embed_image

    n = len(items)
    args = ([it.key for it in items], [source.payload(it) for it in items], [it.identity for it in items],
            [it.meta for it in items], ["hog"] * n, [None] * n, [fast_path] * n)
    if workers <= 1:
        done = map(embed_image, *args)
    else:
        pool = worker_processes.pool(workers)
        done = pool.map(embed_image, *args, chunksize=32)
    out = [(np.asarray(rows[0]["embedding"], np.float64), [rows[0][f"box_{s}"] for s in ("left", "top", "right", "bottom")])
           if rows else None for _, rows in done]
    if workers > 1:
        pool.shutdown()
    return out


def ms_per_image(source, items, fast_path: dict | None) -> float:
    """Milliseconds to embed one crop in this process (one encoder thread), best of 2 passes over TIMED crops."""
    from exposure.embed import embed_image

    sample = [items[int(j * len(items) / TIMED)] for j in range(TIMED)]
    payloads = [source.payload(it) for it in sample]
    best = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        for it, p in zip(sample, payloads, strict=True):
            embed_image(it.key, p, it.identity, it.meta, "hog", None, fast_path)
        best = min(best, time.perf_counter() - t)
    return round(1000 * best / TIMED, 2)


def metrics(dist: np.ndarray, labels: np.ndarray, ok: np.ndarray, q_labels: np.ndarray, q_own: np.ndarray,
            queries: np.ndarray) -> dict:
    """Identification and verification figures of `queries` (rows of dist) against the gallery faces `ok`."""
    gen, imp, hits = [], [], 0
    for qi in np.flatnonzero(queries):
        d = dist[qi]
        usable = ok.copy()
        usable[q_own[qi]] = False  # the query's own photo is not in the gallery
        same = labels == q_labels[qi]
        gen.append(d[usable & same])
        imp.append(d[usable & ~same])
        hits += bool(same[np.flatnonzero(usable)[np.argmin(d[usable])]])
    gen, imp = np.concatenate(gen), np.concatenate(imp)
    out = {"queries": int(queries.sum()), "gallery_faces": int(ok.sum()), "rank1": round(hits / queries.sum(), 4),
           "genuine_pairs": int(gen.size), "impostor_pairs": int(imp.size),
           "genuine_median": round(float(np.median(gen)), 4)}
    for fmr in FMRS:
        thr = float(np.quantile(imp, fmr))
        out[f"tmr_at_fmr_{fmr:g}"] = round(float((gen <= thr).mean()), 4)
        out[f"threshold_at_fmr_{fmr:g}"] = round(thr, 4)
    return out


def distances(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Euclidean distance of every query to every gallery face (float32: 1,700 x 13,233 is 90 MB)."""
    q, g = q.astype(np.float32), g.astype(np.float32)
    d2 = (q * q).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2 * q @ g.T
    return np.sqrt(np.maximum(d2, 0))


def table(r: dict) -> str:
    """The section's readable tables."""
    a, b, ra, rb = r["paths"]["A"], r["paths"]["B"], r["restricted"]["A"], r["restricted"]["B"]
    fp, dr, ms, jit = r["fast_path"], r["drift"], r["ms_per_image"], r["box_jitter"]
    es = jit["edge_std_left_top_right_bottom"]

    def rows(x: dict, y: dict) -> list[str]:
        return [f"| rank-1 identification | {x['rank1']:.1%} | {y['rank1']:.1%} |",
                f"| genuine pairs within the 1-in-10,000 impostor line | {x['tmr_at_fmr_0.0001']:.1%} "
                f"({x['threshold_at_fmr_0.0001']:.3f}) | {y['tmr_at_fmr_0.0001']:.1%} ({y['threshold_at_fmr_0.0001']:.3f}) |",
                f"| genuine pairs within the 1-in-1,000 impostor line | {x['tmr_at_fmr_0.001']:.1%} "
                f"({x['threshold_at_fmr_0.001']:.3f}) | {y['tmr_at_fmr_0.001']:.1%} ({y['threshold_at_fmr_0.001']:.3f}) |",
                f"| genuine distance, median | {x['genuine_median']:.3f} | {y['genuine_median']:.3f} |"]

    n = r["gallery"]["crops"]
    return "\n".join([
        "| all crops | A: full detection | B: fast path (fixed box) |", "|---|---|---|",
        f"| faces found (of {n:,} crops) | {a['gallery_faces']:,} | {b['gallery_faces']:,} |",
        f"| selfies searched (people with 2+ photos) | {a['queries']:,} | {b['queries']:,} |",
        *rows(a, b),
        f"| time per crop, one process, one thread | {ms['A']:.1f} ms | {ms['B']:.1f} ms |",
        "",
        f"| only the {ra['gallery_faces']:,} crops where detection found a face ({ra['queries']:,} selfies with a "
        "mate among them) | A | B |", "|---|---|---|",
        *rows(ra, rb),
        "",
        f"The same crop embedded both ways (the {dr['crops']:,} where A found a face): distance between A's and B's "
        f"embedding median {dr['median']:.3f}, 90th percentile {dr['p90']:.3f}, 99th {dr['p99']:.3f}, largest "
        f"{dr['max']:.3f}; selfies whose nearest crop differs between A and B: {r['rank1_answers_differ']} of "
        f"{ra['queries']:,}. "
        f"HOG's boxes on these crops jitter: each edge's standard deviation is {min(es):.1%} to {max(es):.1%} of "
        f"the side, and an edge sits a median {jit['mean_edge_move_median']:.1%} of the side from the fixed box's. "
        f"The probe (`aligned_box`, {fp['probed']} crops, "
        f"{r['probe_seconds']:.1f} s): box {fp['box']} on {fp['size'][0]}x{fp['size'][1]}, drift median "
        f"{fp['drift'][0]:.3f} and 90th percentile {fp['drift'][1]:.3f} (limits {r['limits'][0]} and "
        f"{r['limits'][1]}). In brackets: the distance line. Distances are Euclidean between dlib ResNet "
        "embeddings (lower = more alike).",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=int, default=13, help="Parquet shards of 1,024 crops used (default all 13)")
    ap.add_argument("--workers", type=int, default=2, help="processes embedding the gallery (default 2)")
    ap.add_argument("--json", action="store_true", help="print only the JSON")
    args = ap.parse_args()
    quiet = args.json
    os.environ["EXPOSURE_ENCODER_THREADS"] = "1"  # this process's timings: one thread, as in a build's worker

    from exposure.build import FAST_PATH_DRIFT, aligned_box
    from exposure.datasets.sources import open_source
    from exposure.faces import find_faces

    t0 = time.perf_counter()
    folder = crops_folder()
    source = open_source(folder)
    wanted = {f"data/{p.name}" for p in sorted((folder / "data").glob("*.parquet"))[: args.shards]}
    items = [it for it in source.items() if it.ref[0] in wanted]
    log(f"{len(items):,} crops in {len(wanted)} shards", quiet=quiet)

    t = time.perf_counter()
    fast_path = aligned_box(source, items)
    probe_seconds = time.perf_counter() - t
    if fast_path is None:
        raise SystemExit("aligned_box found no fast path on these crops: nothing to compare")
    log(f"fast path: {fast_path} ({probe_seconds:.1f} s)", quiet=quiet)

    ms = {"A": ms_per_image(source, items, None), "B": ms_per_image(source, items, fast_path)}
    log(f"ms per crop: {ms}", quiet=quiet)

    emb, seconds = {}, {}
    for name, box in (("A", None), ("B", fast_path)):
        t = time.perf_counter()
        emb[name] = embed_gallery(source, items, box, args.workers)
        seconds[name] = round(time.perf_counter() - t, 1)
        log(f"{name}: {sum(e is not None for e in emb[name]):,} faces in {seconds[name]} s", quiet=quiet)
    ok = {k: np.array([e is not None for e in v]) for k, v in emb.items()}
    gal = {k: np.array([e[0] if e is not None else np.zeros(128) for e in v]) for k, v in emb.items()}
    labels = np.array([it.identity for it in items])

    # how HOG's boxes (A) jitter, as shares of the fixed box's side: each edge's spread, and the mean edge move
    fixed = np.array(fast_path["box"], float)
    boxes = np.array([e[1] for e in emb["A"] if e is not None], float)
    side = fixed[2] - fixed[0]
    moves = np.abs(boxes - fixed).mean(1) / side
    spread = boxes.std(0) / side

    t = time.perf_counter()
    root = unpacked_lfw()
    first: dict[str, int] = {}
    counts: dict[str, int] = {}
    for i, lab in enumerate(labels):
        first.setdefault(lab, i)
        counts[lab] = counts.get(lab, 0) + 1
    q_emb, q_labels, q_own = [], [], []
    for lab, i in first.items():
        if counts[lab] < 2:
            continue
        faces = find_faces(root / lab / items[i].meta["path"])
        if faces:
            q_emb.append(faces[0].embedding)
            q_labels.append(lab)
            q_own.append(i)
    q_emb, q_labels, q_own = np.array(q_emb), np.array(q_labels), np.array(q_own)
    people = sum(c >= 2 for c in counts.values())
    log(f"{len(q_emb):,} selfies with a face of {people:,} people with 2+ photos ({time.perf_counter() - t:.0f} s)",
        quiet=quiet)

    dist = {k: distances(q_emb, g) for k, g in gal.items()}
    every = np.ones(len(q_emb), bool)
    paths = {k: metrics(dist[k], labels, ok[k], q_labels, q_own, every) for k in dist}
    both = ok["A"] & ok["B"]
    found_mate = np.array([np.count_nonzero(both & (labels == lab)) - bool(both[own]) > 0
                           for lab, own in zip(q_labels, q_own, strict=True)])
    restricted = {k: metrics(dist[k], labels, both, q_labels, q_own, found_mate) for k in dist}

    def nearest(k):
        out = []
        for qi in np.flatnonzero(found_mate):
            d = np.where(both, dist[k][qi], np.inf)
            d[q_own[qi]] = np.inf
            out.append(int(np.argmin(d)))
        return np.array(out)

    differ = int((nearest("A") != nearest("B")).sum())
    drift = np.linalg.norm(gal["A"][both] - gal["B"][both], axis=1)
    result = {
        "gallery": {"crops": len(items), "shards": len(wanted), "people": len(counts), "size": fast_path["size"],
                    "source": "LFW deep-funneled, aligned to insightface's 112x112 ArcFace template (bench/hub_index.py)"},
        "queries": {"people_with_2_or_more_photos": people, "selfies_with_a_face": len(q_emb),
                    "detector": "auto (exposure.find_faces)"},
        "fast_path": fast_path,
        "limits": list(FAST_PATH_DRIFT),
        "probe_seconds": round(probe_seconds, 2),
        "paths": paths,
        "restricted": restricted,
        "drift": {"crops": int(both.sum()), "median": round(float(np.median(drift)), 4),
                  "p90": round(float(np.percentile(drift, 90)), 4), "p99": round(float(np.percentile(drift, 99)), 4),
                  "max": round(float(drift.max()), 4)},
        "rank1_answers_differ": differ,
        "box_jitter": {"crops_detected": len(moves), "edge_std_left_top_right_bottom": [round(float(x), 4) for x in spread],
                       "mean_edge_move_median": round(float(np.median(moves)), 4),
                       "mean_edge_move_p90": round(float(np.percentile(moves, 90)), 4),
                       "box_sides_p10_p50_p90": [float(x) for x in np.percentile(boxes[:, 2] - boxes[:, 0], [10, 50, 90])]},
        "ms_per_image": ms,
        "gallery_seconds": {k: v for k, v in seconds.items()} | {"workers": args.workers},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    summary = (
        "`python bench/fast_path.py`: on a dataset of aligned face crops of one size, `exposure index` probes 48 "
        "images with HOG detection and, when the median box gives nearly the embeddings detection gives, embeds "
        "every image from that fixed box, skipping detection (most of the time per image: about twice the faces a "
        "second when stream-indexing, see hub_index). The probe's test is on embeddings, not boxes: on 112x112 "
        "crops HOG's boxes jitter by several percent of the side while dlib's landmarks, and so the aligned chip "
        "the network sees, hardly move. This measures what the fast path costs in finding people. Gallery: LFW's "
        f"{len(items):,} photos as 112x112 crops aligned to insightface's ArcFace template (the layout of MS1MV3, "
        "Glint360K, WebFace, CASIA-WebFace), each embedded by full detection (A) and by the fast path as shipped "
        "(B: `aligned_box`, then the fixed box). Selfies: each person with 2 or more photos, their first photo's "
        "250x250 original through the selfie path (`find_faces`, HOG then CNN), searched against the gallery "
        "without that photo's crop. Genuine pairs are each selfie against the other photos of its person (so "
        "people with many photos weigh more); the lines are drawn at that path's own impostor distances."
    )
    if quiet:
        with contextlib.redirect_stdout(sys.stderr):
            result = record("fast_path", result, "Aligned-crop fast path: its accuracy cost on 112x112 crops",
                            summary, table(result))
        print(json.dumps(result))
    else:
        record("fast_path", result, "Aligned-crop fast path: its accuracy cost on 112x112 crops", summary,
               table(result))


if __name__ == "__main__":
    main()
