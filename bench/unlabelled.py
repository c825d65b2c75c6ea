"""Datasets that name no one: what the width of their strangers could be measured as, honest and found.

exposure measures a dataset's width (exposure.strangers.measure_tail) by searching it for its own
faces. Where the dataset names no one, a probe's other photos count as strangers, and in a set
that repeats people (LFW: most faces have other photos of the same person beside them) they make
the width wide and the check nearly blind (bench/power.py). This measures candidate widths on LFW
with its names removed, and on UTKFace, which names no one:
- `every_other_face`: what the package does (every other face but copies of the photo a stranger);
- `pseudo_identity_left_out`: the probe's pseudo-identity left out, faces joined when either is
  among the other's 30 nearest and within 0.45 (connected components): blind by construction to
  strangers that close, which the clusters swallow;
- `own_profile`: no dataset width; each search's own, one decade of its own distances, from its
  anchor (rank K) to rank 10 K, where its own few photos hardly reach;
- `with_names`: LFW's width measured with its names (a dataset whose repeats were known).
Honesty: strangers within the 0.1 line per search, counted with LFW's names, for searchers whose
every photo is taken out of the index (1 and 3 photos averaged); on UTKFace every other face but
copies counts (it repeats some people: harsher than the truth). Found: as bench/power.py, the
person's nearest face within the line, LFW size and a million faces (the line one width closer
per ten-fold), 3 selfies held out and 3 photos left in.

    python bench/unlabelled.py [--json] [--searches 600]
"""

from __future__ import annotations

import json
import math

import numpy as np
from lfw import work_dir
from power import SEED, lfw_index, line_at
from record import arguments, record

from exposure import knn
from exposure.index import open_index
from exposure.samephoto import SAME_PHOTO_DISTANCE, is_copy
from exposure.strangers import CHANCE_LIMIT, FACES, Width, anchor_rank, measure_tail, person_strangers

LINK_NEIGHBOURS, LINK_DISTANCE = 30, 0.45
PROFILE_DECADES = 1
CANDIDATES = ("every_other_face", "pseudo_identity_left_out", "own_profile", "with_names")


def pseudo_identities(emb: np.ndarray) -> np.ndarray:
    """Connected components of the graph joining faces among each other's nearest and within LINK_DISTANCE."""
    dist, idx = knn.search(emb.astype(np.float32), emb.astype(np.float32), LINK_NEIGHBOURS + 1)
    parent = np.arange(len(emb))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    src = np.repeat(np.arange(len(emb)), idx.shape[1])
    link = (dist.ravel() < LINK_DISTANCE) & (idx.ravel() != src)
    for a, b in zip(src[link], idx.ravel()[link], strict=True):
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(len(emb))])


def widths(emb: np.ndarray, hashes: np.ndarray) -> dict:
    """The dataset widths of the candidates that have one (own_profile has none)."""
    groups = pseudo_identities(emb).astype(str)
    return {"every_other_face": measure_tail(emb.astype(np.float32), hashes=hashes).faces,
            "pseudo_identity_left_out": measure_tail(emb.astype(np.float32), labels=groups, hashes=hashes).faces,
            "pseudo_identities": int(len(np.unique(groups)))}


def line(d: np.ndarray, candidate: str, width: Width | None, shift: float = 0.0) -> float:
    """The 0.1 line of a search whose distances to every face are `d`, `shift` ten-folds larger."""
    if candidate == "own_profile":
        s = np.sort(d)
        k = anchor_rank(len(d))
        top = min(k * 10 ** PROFILE_DECADES, len(s))
        w = (s[top - 1] - s[k - 1]) / math.log10(top / k)
        return float(s[k - 1] - w * (math.log10(k / CHANCE_LIMIT) + shift))
    return line_at(person_strangers(d, width, FACES), shift)


def honesty_lfw(names, emb, ws, searches, rng) -> dict:
    """Strangers within each candidate's line, per search, for searchers taken out of LFW."""
    people, counts = np.unique(names, return_counts=True)
    out = {}
    for selfies in (1, 3):
        got = {c: [] for c in CANDIDATES}
        for p in rng.permutation(people[counts >= selfies])[:searches]:
            rows = np.flatnonzero(names == p)
            q = emb[rng.permutation(rows)[:selfies]].mean(0, keepdims=True)
            d = knn.distances(q, emb[names != p])[0].astype(np.float64)
            for c in CANDIDATES:
                got[c].append(int(np.count_nonzero(d <= line(d, c, ws.get(c)))))
        out[f"{selfies} selfies"] = {c: round(float(np.mean(v)), 4) for c, v in got.items()}
    return out


def honesty_utk(index, ws_utk, searches, rng) -> dict:
    """Strangers within each line, per search, in UTKFace by population (every other face but copies)."""
    f = index.faces
    race = np.array([json.loads(m)["race"] for m in f["source_meta"]])
    emb = np.asarray(index.embeddings, np.float64)
    hashes = f["chip_phash"].to_numpy(dtype=object)
    out = {}
    for pop in ("White", "Black", "Asian", "Indian", "Others"):
        got = {c: [] for c in CANDIDATES if c != "with_names"}
        for r in rng.permutation(np.flatnonzero(race == pop))[:searches]:
            others = np.delete(np.arange(len(emb)), r)
            d = knn.distances(emb[r:r + 1], emb[others])[0].astype(np.float64)
            near = np.flatnonzero(d <= SAME_PHOTO_DISTANCE)
            d = np.delete(d, [j for j in near if is_copy(hashes[r], hashes[others[j]], float(d[j]))])
            for c in got:
                got[c].append(int(np.count_nonzero(d <= line(d, c, ws_utk.get(c)))))
        out[pop] = {c: round(float(np.mean(v)), 4) for c, v in got.items()}
    return out


def found(names, emb, ws, rng, people_tried: int = 150) -> dict:
    """Share of people found by their nearest face (3 selfies held out, 3 photos left in), LFW size and 1M."""
    people, counts = np.unique(names, return_counts=True)
    hits = {size: {c: 0 for c in CANDIDATES} for size in (len(names), 1_000_000)}
    chosen = rng.permutation(people[counts >= 6])[:people_tried]
    for p in chosen:
        rows = rng.permutation(np.flatnonzero(names == p))
        keep = np.ones(len(names), bool)
        keep[rows[:3]] = False
        keep[rows[6:]] = False
        q = emb[rows[:3]].mean(0, keepdims=True)
        kept = np.flatnonzero(keep)
        d = knn.distances(q, emb[kept])[0].astype(np.float64)
        nearest_own = d[np.isin(kept, rows[3:6])].min()
        for size in hits:
            for c in CANDIDATES:
                hits[size][c] += nearest_own <= line(d, c, ws.get(c), math.log10(size / len(d)))
    return {f"{size} faces": {c: round(v / len(chosen), 3) for c, v in h.items()} for size, h in hits.items()} | {
        "people_tried": len(chosen)}


def main() -> None:
    args = arguments(__doc__, searches=600)
    rng = np.random.default_rng(SEED)
    names, emb, tail, hashes = lfw_index()
    ws = widths(emb, hashes) | {"with_names": tail.faces}
    utk = open_index(work_dir() / "utkface-index")
    ws_utk = widths(np.asarray(utk.embeddings, np.float64), utk.faces["chip_phash"].to_numpy(dtype=object))
    result = {"seed": SEED, "link": {"neighbours": LINK_NEIGHBOURS, "distance": LINK_DISTANCE},
              "widths_lfw": {c: w.width for c, w in ws.items() if isinstance(w, Width)},
              "pseudo_identities_lfw": ws["pseudo_identities"], "faces_lfw": len(names),
              "widths_utkface": {c: w.width for c, w in ws_utk.items() if isinstance(w, Width)},
              "strangers_per_search_lfw": honesty_lfw(names, emb, ws, args.searches, rng),
              "strangers_per_search_utkface": honesty_utk(utk, ws_utk, args.searches, rng),
              "found": found(names, emb, ws, rng)}
    record("unlabelled", result, "Datasets that name no one: measuring their strangers' width",
           " ".join(" ".join(__doc__.split("\n\n")[:2]).split()), table=table(result))


def table(r: dict) -> str:
    """One row per candidate: widths, strangers per search (LFW 1 and 3 selfies, UTKFace worst), found."""
    lines = ["| width measured | LFW width | strangers per search, LFW (1 / 3 photos) | UTKFace: worst population "
             "| found, LFW size | found, 1,000,000 faces |", "|---|---|---|---|---|---|"]
    for c in CANDIDATES:
        lfw = r["strangers_per_search_lfw"]
        utk = {pop: v[c] for pop, v in r["strangers_per_search_utkface"].items() if c in v}
        worst = max(utk, key=utk.get) if utk else None
        sizes = [k for k in r["found"] if k.endswith("faces")]
        lines.append(f"| {c.replace('_', ' ')} | {r['widths_lfw'].get(c, '(per search)')} "
                     f"| {lfw['1 selfies'][c]:.3f} / {lfw['3 selfies'][c]:.3f} "
                     f"| {f'{utk[worst]:.3f} ({worst})' if worst else 'n/a'} "
                     f"| {r['found'][sizes[0]][c]:.0%} | {r['found'][sizes[1]][c]:.0%} |")
    within = [c.replace("_", " ") for c in CANDIDATES if c != "with_names"
              and max(r["strangers_per_search_lfw"][s][c] for s in r["strangers_per_search_lfw"]) <= CHANCE_LIMIT
              and max(v[c] for v in r["strangers_per_search_utkface"].values()) <= CHANCE_LIMIT]
    lines.append(f"\nWithin the promise ({CHANCE_LIMIT} strangers per search) everywhere it can be counted: "
                 f"{', '.join(within) or 'none'}. A narrower width is shown honest only where names tell repeats "
                 "from strangers: on UTKFace a candidate's excess may be its repeated people or real strangers, "
                 "and nothing here can say which, so the package keeps what it does.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
