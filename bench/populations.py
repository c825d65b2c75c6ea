"""Honest for everyone: strangers called a match per search, for each population, against the promise.

Self-searches through the package's own search (exposure.checker.search, what `exposure.check`
runs once a photo's face is found): every face of a set is searched for in an index of the set,
and every face (or named person) called a match that is not the searcher counts as a stranger.
Sets: LFW (named people) and each UTKFace population (../shared/data/utkface: no names, so every
other face but copies of the same photo counts as a stranger; UTKFace repeats some people, whom
this counts as strangers too: harsher than the truth), at sizes from a few hundred faces to the
whole set; each UTKFace population also searched inside the whole mixed UTKFace index. Several
selfies: LFW's held-out photos (mean face of 3), and for UTKFace 3 versions of one photo (as
taken, mirrored, cropped tighter) run through the whole pipeline. Beside each: the rule before
issue 8 (LFW's average rates for every person). The price: LFW people with other photos in the
index found, before and after. Also writes the per-population false-match curves that notebook
04 plots (exposure/data/populations.json).

    python bench/populations.py [--queries 500] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tarfile
import time
from pathlib import Path

import numpy as np
from lfw import REPO, lfw_dir, unpacked_lfw, work_dir
from record import record

from exposure.build import build_index
from exposure.calibration import calibration
from exposure.checker import QueryFace, search
from exposure.faces import Box, Face, FaceQuality
from exposure.index import Index, open_index
from exposure.photos import Photo
from exposure.samephoto import is_copy
from exposure.strangers import CHANCE_LIMIT, poisson_lower, poisson_upper
from exposure.verdicts import LIKELY, PAIR_LINE, lines

POPULATIONS = {0: "White", 1: "Black", 2: "Asian", 3: "Indian", 4: "Others"}
CURVES = REPO / "exposure" / "data" / "populations.json"
STEP = 0.005


def utk_dir() -> Path:
    return REPO.parent / "shared" / "data" / "utkface"


def unpacked_utk() -> Path:
    """../shared/data/utkface unpacked once into the bench folder."""
    dest = work_dir() / "utkface"
    if not (dest / ".complete").exists():
        with tarfile.open(utk_dir() / "utkface-adults.tar") as tar:
            tar.extractall(dest, filter="data")
        (dest / ".complete").touch()
    return dest / "utkface-adults"


def index_of(dataset: Path, name: str) -> Index:
    out = work_dir() / name
    build_index(dataset, out, workers=2, progress=False)
    return open_index(out)


def race(image: str) -> int:
    """UTKFace's RACE code from a file name AGE_GENDER_RACE_DATETIME.jpg.chip.jpg."""
    return int(Path(image).name.split("_")[2])


def subset(ix: Index, rows: np.ndarray, name: str, each_named: bool = False) -> Index:
    """An index of some of another's faces (in memory; its measured tail is kept in its own bench folder).
    `each_named`: every photo filed under a name of its own (the by-person route for a set without names)."""
    folder = work_dir() / "subsets" / name
    folder.mkdir(parents=True, exist_ok=True)
    rows = np.sort(rows)
    faces = ix.faces.iloc[rows].reset_index(drop=True)
    if each_named:
        faces["identity"] = faces["image"].where(faces["primary"], None)
    digest = hashlib.sha256(ix.manifest["shards"][0]["sha256"].encode() + rows.tobytes()).hexdigest()
    manifest = dict(ix.manifest, shards=[{"file": name, "sha256": digest}])
    return Index(path=folder, manifest=manifest, faces=faces, embeddings=np.asarray(ix.embeddings[rows]))


def as_query(embedding: np.ndarray, name: str) -> QueryFace:
    """A face already found (its embedding from the index), as check() takes it."""
    photo = Photo(np.zeros((1, 1, 3), np.uint8), name)
    face = Face(Box(0, 0, 1, 1), np.zeros((68, 2), np.int32), np.zeros((150, 150, 3), np.uint8),
                np.asarray(embedding, np.float32), FaceQuality(150, 100.0, 0.0, True), 1.0)
    return QueryFace(photo, face, 1, 0)


def old_face_line(n: int, photos: int) -> float:
    """The rule before: LFW's average false-match rate, the same for everyone."""
    return min(calibration(photos).distance_at_fmr(CHANCE_LIMIT / max(n, 1)), PAIR_LINE)


def old_people_expected(d: np.ndarray, by_photos: dict[int, int], photos: int) -> np.ndarray:
    return sum(m * calibration(photos, k2).fmr_upper(d) for k2, m in by_photos.items())


def run_set(ix: Index, queries: list[tuple[np.ndarray, int, list[int]]], named: bool, held_out: bool = False,
            show: bool = False) -> dict:
    """Search `ix` for each query (mean embedding, selfies, the rows that are the searcher's own) and count
    the strangers called a match, by face and by person, now and by the old rule; with the searcher's
    photos `held_out` of the index, also how many searchers were found; `show`: list the faces counted as
    strangers by face (to look at by eye)."""
    f = ix.faces
    labels = f["identity"].to_numpy(dtype=object)
    hashes = f["chip_phash"].to_numpy(dtype=object)
    groups = ix.identity_groups
    by_photos = groups.counts_by_photos()
    n = ix.n_faces
    tally = {"face": 0, "face_old": 0, "person": 0, "person_old": 0}
    found = {"face": 0, "face_old": 0, "person": 0, "person_old": 0, "any": 0, "any_old": 0}
    present = 0
    lines_seen, shown = [], []
    for emb, photos, own in queries:
        hit = search([as_query(emb, "q")], ix, top=1)
        d = hit.distances.astype(np.float64)
        who = labels[own[0]] if own else None
        mine = np.array(labels == who, dtype=bool) if named and who is not None else np.zeros(n, bool)
        mine[own] = True
        near = np.flatnonzero(d <= 0.35)
        for o in own:  # copies of the searcher's photo are theirs too, whatever name they are filed under
            mine[near[[is_copy(hashes[o], hashes[j], d[j]) for j in near]]] = True
        line = lines(hit.strangers)[LIKELY]
        old = old_face_line(n, photos)
        lines_seen.append(line)
        tally["face"] += int(((d <= line) & ~mine).sum())
        if show:
            shown += [[f["image"].iat[own[0]], f["image"].iat[int(j)], round(float(d[j]), 3)]
                      for j in np.flatnonzero((d <= line) & ~mine)]
        tally["face_old"] += int(((d <= old) & ~mine).sum())
        face_found = bool(((d <= line) & mine).any())
        face_found_old = bool(((d <= old) & mine).any())
        person_found = person_found_old = False
        if named and len(groups):
            dp = hit.people_distances.astype(np.float64)
            own_id = np.flatnonzero(groups.names == who) if who is not None else []
            others = np.ones(len(groups), bool)
            others[own_id] = False
            pline = lines(hit.people_strangers)[LIKELY]
            tally["person"] += int(((dp <= pline) & others).sum())
            close = dp <= PAIR_LINE
            old_match = np.zeros(len(groups), bool)
            idx = np.flatnonzero(close)
            if len(idx):
                old_match[idx] = old_people_expected(dp[idx], by_photos, photos) < CHANCE_LIMIT
            tally["person_old"] += int((old_match & others).sum())
            if len(own_id):
                person_found = bool(dp[own_id[0]] <= pline)
                person_found_old = bool(old_match[own_id[0]])
        if mine.any():
            present += 1
            found["face"] += face_found
            found["face_old"] += face_found_old
            found["person"] += person_found
            found["person_old"] += person_found_old
            found["any"] += face_found or person_found
            found["any_old"] += face_found_old or person_found_old
    q = len(queries)
    out = {"faces": n, "queries": q, "match_line_median": round(float(np.median(lines_seen)), 3)}
    for key, total in tally.items():
        if key.startswith("person") and not (named and len(groups)):
            continue
        out[f"strangers_by_{key}"] = per_search(total, q)
    if named and len(groups):  # the answer: a stranger called a match by face or by person (both ways count twice)
        out["strangers_any"] = per_search(tally["face"] + tally["person"], q)
        out["strangers_any_old"] = per_search(tally["face_old"] + tally["person_old"], q)
    if show:
        out["strangers_by_face_shown"] = shown
    if present and held_out:
        out["present"] = present
        out["found"] = {k: round(v / present, 3) for k, v in found.items() if named or k.startswith("face")}
    return out


def per_search(total: int, searches: int) -> dict:
    """Strangers per search with a 95% interval (Poisson on the total)."""
    low = poisson_lower(total, 0.025) / searches
    return {"mean": round(total / searches, 4), "ci95": [round(low, 4), round(poisson_upper(total, 0.025) / searches, 4)],
            "total": total}


def self_queries(ix: Index, rows: np.ndarray, limit: int, rng) -> list:
    """Each chosen face searched for as it is in the index (one selfie): its own row is the searcher's."""
    pick = rows if len(rows) <= limit else np.sort(rng.choice(rows, limit, replace=False))
    emb = np.asarray(ix.embeddings[pick], np.float64)
    return [(e, 1, [int(r)]) for e, r in zip(emb, pick, strict=True)]


def augmented_queries(ix: Index, root: Path, rows: np.ndarray, limit: int, rng) -> list:
    """Three versions of one photo (as taken, mirrored, cropped 90%) through the whole pipeline: 3 selfies."""
    from PIL import Image

    from exposure.faces import find_faces

    out = []
    pick = rows if len(rows) <= limit else np.sort(rng.choice(rows, limit, replace=False))
    for r in pick:
        img = Image.open(root / ix.faces["image"].iat[int(r)]).convert("RGB")
        w, h = img.size
        variants = [img, img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                    img.crop((w // 20, h // 20, w - w // 20, h - h // 20)).resize((w, h))]
        embs = [faces[0].embedding for v in variants if (faces := find_faces(np.asarray(v)))]
        if embs:
            out.append((np.mean(embs, 0), len(embs), [int(r)]))
    return out


def lfw_holdout(ix: Index, k: int, limit: int, rng, rows: np.ndarray | None = None) -> tuple[Index, list]:
    """People with more than k photos (among `rows`, default all): their first k held out of the index as
    selfies (mean face)."""
    f = ix.faces
    keep = (f["primary"] & f["identity"].notna()).to_numpy()
    within = np.arange(ix.n_faces) if rows is None else np.asarray(rows)
    rows = np.intersect1d(np.flatnonzero(keep), within)
    by_person: dict[str, list[int]] = {}
    for r, name in zip(rows, f["identity"].to_numpy()[rows], strict=True):
        by_person.setdefault(name, []).append(int(r))
    people = [name for name, rs in by_person.items() if len(rs) > k]
    if len(people) > limit:
        people = sorted(rng.choice(people, limit, replace=False))
    held = {name: by_person[name][:k] for name in people}
    rest = np.setdiff1d(within, [r for rs in held.values() for r in rs])
    sub = subset(ix, rest, f"lfw-holdout-{k}-{len(people)}-{len(rest)}")
    new_row = {int(old): i for i, old in enumerate(rest)}
    emb = np.asarray(ix.embeddings[np.arange(ix.n_faces)], np.float64)
    queries = []
    for name, rs in held.items():
        own = [new_row[r] for r in by_person[name][k:]]
        queries.append((emb[rs].mean(0), k, own))
    return sub, queries


# East and South-East Asian public figures in LFW with 8 or more photos: a small named set of one
# population, like the sets of Chinese and Korean people that issue 8 reports.
EAST_ASIAN = ["Gloria_Macapagal_Arroyo", "Hu_Jintao", "Jackie_Chan", "Jiang_Zemin", "Junichiro_Koizumi", "Kim_Dae-jung",
              "Kim_Ryong-sung", "Li_Peng", "Li_Zhaoxing", "Mahathir_Mohamad", "Megawati_Sukarnoputri", "Michael_Chang",
              "Michelle_Kwan", "Roh_Moo-hyun", "Tang_Jiaxuan", "Thaksin_Shinawatra", "Tung_Chee-hwa", "Wen_Jiabao",
              "Yao_Ming", "Zhu_Rongji"]


def named_rows(ix: Index, names: list[str], per_person: int = 10) -> np.ndarray:
    """Up to `per_person` photos of each named person, in index order."""
    labels = ix.faces["identity"].to_numpy(dtype=object)
    return np.concatenate([np.flatnonzero(labels == n)[:per_person] for n in names])


def curves(sets: dict[str, np.ndarray], lfw_emb: np.ndarray, lfw_labels: np.ndarray) -> dict:
    """False-match rate at each distance, per population: pairs of different faces (copies left out below 0.3)."""
    edges = np.round(np.arange(0.0, 1.2 + STEP / 2, STEP), 4)
    out = {"edges": edges.tolist(), "step": STEP, "populations": {}}

    def cumulative(emb, labels=None):
        emb = np.asarray(emb, np.float64)
        sq = (emb * emb).sum(1)
        counts = np.zeros(len(edges), np.int64)
        pairs = 0
        for s in range(0, len(emb), 1024):
            d = np.sqrt(np.maximum(sq[s:s + 1024, None] + sq[None, :] - 2 * emb[s:s + 1024] @ emb.T, 0))
            upper = np.arange(len(emb))[None, :] > np.arange(s, min(s + 1024, len(emb)))[:, None]
            keep = upper & (d >= 0.3)
            if labels is not None:
                keep &= labels[s:s + 1024, None] != labels[None, :]
            v = d[keep]
            pairs += len(v)
            counts += np.histogram(v, bins=np.concatenate([[-1], edges]))[0]
        return np.cumsum(counts), pairs

    for name, emb in sets.items():
        le, pairs = cumulative(emb)
        out["populations"][f"UTKFace {name}"] = {"faces": int(len(emb)), "pairs": int(pairs), "impostor_le": le.tolist()}
    le, pairs = cumulative(lfw_emb, lfw_labels)
    out["populations"]["LFW (named, mostly white)"] = {"faces": int(len(lfw_emb)), "pairs": int(pairs),
                                                      "impostor_le": le.tolist()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=500, help="searches per set at most (default 500)")
    ap.add_argument("--augmented", type=int, default=150, help="UTKFace faces searched with 3 versions (default 150)")
    ap.add_argument("--json", action="store_true", help="print only the JSON")
    args = ap.parse_args()
    if not (utk_dir() / "utkface-adults.tar").is_file() or not (lfw_dir() / "lfw-deepfunneled.tgz").is_file():
        raise SystemExit(f"needs {utk_dir()} and {lfw_dir()}")
    t0 = time.time()
    rng = np.random.default_rng(0)
    lfw = index_of(unpacked_lfw(), "lfw-index")
    root = unpacked_utk()
    utk = index_of(root, "utkface-index")
    prim = utk.faces["primary"].to_numpy(bool)
    races = np.array([race(i) for i in utk.faces["image"]])
    sets = []

    def add(name, population, ix, queries, named, selfies, held_out=False, show=False):
        r = run_set(ix, queries, named, held_out, show)
        sets.append({"set": name, "population": population, "selfies": selfies, **r})
        if not args.json:
            print(json.dumps(sets[-1]), flush=True)

    for code, pop in POPULATIONS.items():
        rows = np.flatnonzero(prim & (races == code))
        sizes = sorted({min(250, len(rows)), min(1000, len(rows)), len(rows)})
        for size in sizes:
            pick = np.sort(rng.choice(rows, size, replace=False)) if size < len(rows) else rows
            sub = subset(utk, pick, f"utk-{pop}-{size}")
            add(f"UTKFace {pop} ({size:,})", pop, sub, self_queries(sub, np.arange(size), args.queries, rng), False, 1)
        sub = subset(utk, rows, f"utk-{pop}-{len(rows)}")
        add(f"UTKFace {pop} ({len(rows):,})", pop, sub,
            augmented_queries(sub, root, np.arange(len(rows)), args.augmented, rng), False, 3, show=True)
        named = subset(utk, rows, f"utk-{pop}-{len(rows)}-named", each_named=True)
        add(f"UTKFace {pop} ({len(rows):,}), each photo named", pop, named,
            self_queries(named, np.arange(len(rows)), args.queries, rng), True, 1)
        add(f"UTKFace, all ({utk.n_faces:,})", pop, utk, self_queries(utk, rows, args.queries, rng), False, 1)
    lrows = np.flatnonzero(lfw.faces["primary"].to_numpy(bool))
    for size in (500, 2000):
        pick = np.sort(rng.choice(lrows, size, replace=False))
        sub = subset(lfw, pick, f"lfw-{size}")
        add(f"LFW ({size:,})", "LFW", sub, self_queries(sub, np.arange(size), args.queries, rng), True, 1)
    add(f"LFW ({lfw.n_faces:,})", "LFW", lfw, self_queries(lfw, lrows, args.queries, rng), True, 1)
    for m in (15, 20):  # a small named set of one dense population
        rows = named_rows(lfw, EAST_ASIAN[:m])
        sub = subset(lfw, rows, f"lfw-east-asian-{m}")
        add(f"LFW East Asian, {m} people ({sub.n_faces})", "East Asian (LFW)", sub,
            self_queries(sub, np.arange(sub.n_faces), args.queries, rng), True, 1)
        for k in (1, 3):
            held, queries = lfw_holdout(lfw, k, 100, rng, rows)
            add(f"LFW East Asian, {m} people, {k} held out ({held.n_faces})", "East Asian (LFW)", held, queries,
                True, k, True)
    for k in (1, 3, 5):  # held out: the price paid, people found before and after
        sub, queries = lfw_holdout(lfw, k, 4 * args.queries, rng)
        add(f"LFW, {k} selfie{'s' if k > 1 else ''} held out ({sub.n_faces:,})", "LFW", sub, queries, True, k, True)
    labels = lfw.faces["identity"].to_numpy(dtype=object)
    lkeep = lfw.faces["primary"].to_numpy(bool) & (labels != None)  # noqa: E711
    data = curves({pop: np.asarray(utk.embeddings[np.flatnonzero(prim & (races == c))]) for c, pop in POPULATIONS.items()},
                  np.asarray(lfw.embeddings[np.flatnonzero(lkeep)]),
                  np.unique(labels[lkeep], return_inverse=True)[1])
    data["source"] = "bench/populations.py: UTKFace adults (../shared/data/utkface) per RACE label, and LFW"
    CURVES.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    fmr = {name: {f"{d:.2f}": p["impostor_le"][int(round(d / STEP))] / p["pairs"] for d in (0.4, 0.45, 0.5, 0.55, 0.6)}
           for name, p in data["populations"].items()}
    worst = max(s["strangers_by_face"]["mean"] for s in sets)
    result = {"promise": CHANCE_LIMIT, "sets": sets, "fmr_by_population": fmr,
              "worst_strangers_by_face": worst, "seconds": round(time.time() - t0, 1)}
    record("populations", result, "Honest for everyone: strangers called a match, by population",
           "`python bench/populations.py`: self-searches through the package's search; strangers called a match per "
           "search (mean, 95% interval), by face and by person, against the promise of 0.1; where a dataset is judged "
           "both ways each way has half of it (0.05), and `strangers_any` ('either way') is what the answer is held "
           "to (a stranger called a match both ways counts twice); `_old` is the rule "
           "before issue 8 (LFW's average rates for everyone); `found` is the share of searchers with other photos "
           "in the index who got a match (held-out sets). UTKFace has no names and files some people several "
           "times: those repeats count as strangers here, so its rows are harsher than the truth. Where a row is "
           "over the promise, look at its `strangers_by_face_shown` (file names): on 2026-11-30, all 26 faces "
           "counted as strangers in 'UTKFace White (3,450)' with 3 selfies were, by eye, the searcher in another "
           "photo (actors filed several times).", table(sets, fmr))


def _cell(x: dict | None) -> str:
    return "" if x is None else f"{x['mean']:.3f} ({x['ci95'][0]:.3f}-{x['ci95'][1]:.3f})"


def table(sets: list[dict], fmr: dict) -> str:
    """The results as Markdown tables a reader can scan."""
    out = ["Strangers called a match per search (mean, 95% interval; the promise is 0.1), now and with the rule "
           "before (LFW's average rates for everyone):", "",
           "| set | selfies | faces | searches | by face | before | by person | before | either way | before | found | before |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in sets:
        found = s.get("found", {})
        out.append(f"| {s['set']} | {s['selfies']} | {s['faces']:,} | {s['queries']:,} | "
                   f"{_cell(s['strangers_by_face'])} | {_cell(s['strangers_by_face_old'])} | "
                   f"{_cell(s.get('strangers_by_person'))} | {_cell(s.get('strangers_by_person_old'))} | "
                   f"{_cell(s.get('strangers_any'))} | {_cell(s.get('strangers_any_old'))} | "
                   f"{found.get('any', '')} | {found.get('any_old', '')} |")
    out += ["", "Share of pairs of different people within each distance (UTKFace: copies below 0.3 left out, "
            "repeated people counted as strangers):", "", "| people | " + " | ".join(next(iter(fmr.values()))) + " |",
            "|---|" + "---|" * len(next(iter(fmr.values())))]
    for name, row in fmr.items():
        out.append(f"| {name} | " + " | ".join(f"{v:.1e}" for v in row.values()) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
