"""Check a person's photos against face indexes: the nearest faces of each, with honest verdicts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from exposure.calibration import MAX_PHOTOS
from exposure.errors import ExposureError, NoFaceError, PhotoError
from exposure.faces import Face, face_crop, find_faces
from exposure.index import Index, open_index
from exposure.photos import Photo, load_photo
from exposure.samephoto import hash_distance
from exposure.verdicts import verdict

# "Same photo": aligned chips within this many of 63 hash bits, and embeddings this close.
# Measured on LFW by tests/test_samephoto.py (copies vs other photos of the same person).
SAME_PHOTO_BITS = 10
SAME_PHOTO_DISTANCE = 0.35

RESULT_COLUMNS = [
    "query", "dataset", "rank", "image", "identity", "distance", "verdict", "is_match",
    "fmr", "expected_chance_matches", "same_photo", "hash_bits", "extrapolated", "stand_out", "closer_than",
    "source_url", "faces_searched", "explanation", "identity_verdict", "identity_distance",
    "identity_expected_chance_matches", "face",
    "box_left", "box_top", "box_right", "box_bottom", "index",
]


@dataclass
class QueryFace:
    """The face of one of the person's photos that is searched for, and what else was in the photo."""

    photo: Photo
    face: Face
    faces_found: int
    chosen: int  # which of the faces found (0 = most prominent)

    @property
    def name(self) -> str:
        return self.photo.source

    def crop(self) -> np.ndarray:
        """The part of the photo that is used, for the person to see."""
        return face_crop(self.photo, self.face.box)

    def warnings(self) -> list[str]:
        out = list(self.face.quality.warnings())
        if self.faces_found > 1:
            out.append(
                f"{self.faces_found} faces in this photo; using face {self.chosen + 1} "
                f"({'the largest' if self.chosen == 0 else 'your choice'}): check the crop is you"
            )
        return out


@dataclass
class CheckResult:
    """Everything a check found: the faces used, per-index results, and the photos that had no face."""

    queries: list[QueryFace]
    results: pd.DataFrame  # noqa: F821 - one row per (index, rank)
    indexes: list[Index] = field(repr=False)
    skipped: list[str] = field(default_factory=list)
    # index path -> distance from the person (the mean face of their photos) to every face of that index
    all_distances: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    # one row per (index, rank) of labelled identity, judged by its mean face (exposure.identities)
    identities: pd.DataFrame | None = None  # noqa: F821

    def power(self, index_path: str):
        """How often a real photo would be missed in this search of that index (exposure.verdicts.search_power)."""
        from exposure.verdicts import search_power

        return search_power(len(self.all_distances[index_path]), min(len(self.queries), MAX_PHOTOS))

    def caveats(self) -> list:
        """The limits that apply to this check (photo quality, extrapolated rates, the model's known biases)."""
        from exposure.caveats import caveats

        return caveats(self)

    def to_records(self) -> list[dict]:
        """JSON-ready result objects (the `exposure check --json` output)."""
        cols = [c for c in RESULT_COLUMNS if c != "index"]
        records = self.results[cols].to_dict(orient="records")
        for r in records:
            for k, v in r.items():
                if isinstance(v, np.generic):
                    r[k] = v.item()
                elif v is not None and not isinstance(v, str) and _isnan(v):
                    r[k] = None
        return records


def matched_crop(index: Index, row) -> np.ndarray | None:
    """The matched face cut from the dataset's image, when the dataset is on this computer."""
    from exposure.faces import Box

    source = index.source
    if source is None:
        return None
    try:
        photo = load_photo(source.read(row["image"]), name=row["image"])
    except ExposureError:  # the dataset copy may have moved or lost this file
        return None
    box = Box(int(row["box_left"]), int(row["box_top"]), int(row["box_right"]), int(row["box_bottom"]))
    return face_crop(photo, box)


def _isnan(v) -> bool:
    try:
        return bool(np.isnan(v))
    except TypeError:
        return False


def prepare_queries(photos: Sequence, face: int | Sequence[int | None] | None = None, detector: str = "auto",
                    encoder: str | None = None) -> tuple[list[QueryFace], list[str]]:
    """Find the face to search for in each photo; photos without a face are listed, not fatal.

    `face` picks a face by its number in `find_faces` order (0 = largest), for all photos or one
    per photo. Raises NoFaceError when no photo has a usable face.
    """
    if isinstance(photos, (str, bytes, os.PathLike, Photo, np.ndarray)):
        photos = [photos]
    if not photos:
        raise ExposureError("no photo given")
    choices = list(face) if isinstance(face, Sequence) else [face] * len(photos)
    if len(choices) != len(photos):
        raise ExposureError(f"{len(choices)} face choices for {len(photos)} photos")
    queries, skipped = [], []
    for source, choice in zip(photos, choices, strict=True):
        photo = load_photo(source)
        faces = find_faces(photo, detector, encoder)
        if not faces:
            skipped.append(f"{photo.source}: no face found")
            continue
        pick = 0 if choice is None else int(choice)
        if not 0 <= pick < len(faces):
            raise PhotoError(photo.source, f"has {len(faces)} face(s); face number {pick + 1} does not exist")
        queries.append(QueryFace(photo=photo, face=faces[pick], faces_found=len(faces), chosen=pick))
    if not queries:
        raise NoFaceError("no face found in " + ", ".join(s.split(": no face")[0] for s in skipped) +
                          " (try a sharper, front-facing photo where the face is at least 80 pixels wide)")
    return queries, skipped


def distances(queries: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """Euclidean distances, shape (n_queries, n_faces), by one matrix product."""
    q = np.asarray(queries, dtype=np.float32)
    e = np.asarray(embeddings, dtype=np.float32)
    d2 = (q * q).sum(1)[:, None] + (e * e).sum(1)[None, :] - 2.0 * (q @ e.T)
    return np.sqrt(np.maximum(d2, 0.0))


def search(queries: list[QueryFace], index: Index, top: int = 5):
    """The `top` faces of an index nearest to the person (the mean face of their photos), with verdicts.

    Returns the results table, the distance of every face of the index to the person, and the
    `top` labelled identities nearest to the person by their mean face (empty when unlabelled).
    """
    import pandas as pd

    from exposure import knn
    from exposure.identities import IDENTITY_COLUMNS, rank_identities

    n = index.n_faces
    if n == 0:
        return pd.DataFrame(columns=RESULT_COLUMNS), np.zeros(0, np.float32), pd.DataFrame(columns=IDENTITY_COLUMNS)
    # Several photos of one person are searched as their mean embedding: measured on LFW
    # (bench/fusion.py) it misses far fewer true matches than the nearest photo, at the same
    # false-match rate; verdicts use the calibration made for that many photos.
    used = queries[:MAX_PHOTOS]
    centroid = np.mean([q.face.embedding for q in used], axis=0)[None, :]
    matrix = index.store if index.store is not None else index.embeddings
    # one chunked scan over the memory map: the person's distance to every face (for placement),
    # from which the nearest are taken and their distances recomputed exactly
    best = knn.all_distances(matrix, centroid)
    nearest, order = knn.nearest_from(best, matrix, centroid, top)
    # the photo shown beside each result: the one nearest to that face
    shown = distances(np.stack([q.face.embedding for q in used]), index.embeddings[np.sort(order)])
    best_query = dict(zip(np.sort(order).tolist(), shown.argmin(0).tolist(), strict=True))
    # Where each result stands among the person's distances to every face of the dataset
    median = float(np.median(best))
    spread = 1.4826 * float(np.median(np.abs(best - median))) or 1e-9
    # each labelled identity judged as one: its mean face against the person's (exposure.identities)
    people = rank_identities(index, index.identity_groups, centroid, best, len(used), top, always=order)
    everyone = people.set_index("identity") if len(people) else None
    rows = []
    for rank, (i, dist) in enumerate(zip(order.tolist(), nearest.tolist(), strict=True), start=1):
        meta = index.faces.iloc[i]
        query = used[best_query[i]]
        hashes = [hash_distance(q.face.chip, meta.get("chip_phash")) for q in used]
        bits = None if hashes[0] is None else min(hashes)
        same = bits is not None and bits <= SAME_PHOTO_BITS and dist <= SAME_PHOTO_DISTANCE
        v = verdict(dist, n, len(used), same_photo=same)
        rows.append(
            {
                "query": query.name,
                "dataset": index.name,
                "rank": rank,
                "image": meta["image"],
                "identity": meta["identity"],
                "distance": round(dist, 4),
                "verdict": v.label,
                "is_match": v.is_match,
                "fmr": v.fmr,
                "expected_chance_matches": v.expected_chance_matches,
                "same_photo": same,
                "hash_bits": bits,
                "extrapolated": v.extrapolated,
                "stand_out": round((median - dist) / spread, 2),  # robust SDs closer than typical
                "closer_than": round(float((best > dist).mean()), 6),  # share of the dataset farther away
                "source_url": meta.get("source_url"),
                "faces_searched": n,
                "explanation": v.explanation,
                **_identity_fields(everyone, meta["identity"]),
                "face": int(meta["face"]),
                "box_left": int(meta["box_left"]),
                "box_top": int(meta["box_top"]),
                "box_right": int(meta["box_right"]),
                "box_bottom": int(meta["box_bottom"]),
                "index": str(index.path),
            }
        )
    return pd.DataFrame(rows, columns=RESULT_COLUMNS), best, people


def _identity_fields(people, identity) -> dict:
    """The identity-level verdict of a face result's identity, when it was among those ranked."""
    if people is None or identity is None or identity not in people.index:
        return {"identity_verdict": None, "identity_distance": None, "identity_expected_chance_matches": None}
    p = people.loc[identity]
    return {"identity_verdict": p["verdict"], "identity_distance": float(p["distance"]),
            "identity_expected_chance_matches": float(p["expected_chance_matches"])}


def _prepare_in_child(send, *args) -> None:
    """The forked side of `_prepare_beside`: prepare_queries, its result or its error sent back."""
    try:
        out = ("ok", prepare_queries(*args))
    except Exception as e:  # noqa: BLE001 - raised again in the parent
        out = ("error", e)
    try:
        send.send(out)
    except Exception as e:  # noqa: BLE001 - e.g. an exception that cannot be pickled
        send.send(("error", ExposureError(f"preparing the photos failed: {out[1] if out[0] == 'error' else e}")))
    send.close()


def _prepare_beside(photos, face, detector: str, encoder: str | None):
    """Start prepare_queries in a forked process; returns (wait for its result, stop it).

    For a cold start on several cores: loading dlib's models (~1 s, holding the GIL) runs in the
    child while this process opens the indexes. The photos and faces come back through a pipe, in
    memory: nothing is written to disk. None where fork is unavailable or unsafe (not Linux).
    """
    import multiprocessing
    import sys

    if not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2:
        return None
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_prepare_in_child, args=(send, photos, face, detector, encoder), daemon=True)
    child.start()
    send.close()

    def stop() -> None:
        child.kill()
        child.join()
        receive.close()

    def wait():
        try:
            kind, value = receive.recv()
        except EOFError:
            raise ExposureError(f"preparing the photos failed: the worker process ended ({child.exitcode})") from None
        finally:
            child.join()
            receive.close()
        if kind == "error":
            raise value
        return value

    return wait, stop


def _models_loaded() -> bool:
    from exposure import models

    return models.landmark_predictor.cache_info().currsize > 0


def check(photos, indexes, top: int = 5, face=None, detector: str = "auto", encoder: str | None = None,
          *, overlap: bool = False) -> CheckResult:
    """Search each index for the person in `photos` (all of one person); nothing is written to disk.

    `indexes` are index folders or opened Index objects. Returns the top `top` faces per index,
    even when none is a match, each with its verdict. The "auto" detector tries dlib's CNN
    detector on a photo where HOG finds no face. `overlap` (the CLI's one-shot check): when the
    face models are not loaded yet, prepare the photos in a forked process while the indexes open,
    so a cold start uses two cores; a long-lived process (notebook, app) keeps its models instead.
    """
    if isinstance(indexes, (str, os.PathLike, Index)):
        indexes = [indexes]
    indexes = list(indexes)
    if not indexes:
        raise ExposureError("no index given: build one with exposure index DATASET --out INDEX")
    wait = stop = None  # the photos being prepared in another process, when they are
    if overlap and not _models_loaded() and not all(isinstance(ix, Index) for ix in indexes):
        wait, stop = _prepare_beside(photos, face, detector, encoder) or (None, None)
    try:
        opened = [ix if isinstance(ix, Index) else open_index(ix) for ix in indexes]
    except BaseException:
        if stop:
            stop()
        raise
    queries, skipped = wait() if wait else prepare_queries(photos, face, detector, encoder)
    import pandas as pd  # after the fork: the import (~0.4 s) runs beside the models' loading
    found = [search(queries, ix, top) for ix in opened]
    return CheckResult(
        queries=queries,
        results=pd.concat([f for f, _, _ in found], ignore_index=True),
        indexes=opened,
        skipped=skipped,
        all_distances={str(ix.path): d for ix, (_, d, _) in zip(opened, found, strict=True)},
        identities=pd.concat([p for _, _, p in found], ignore_index=True),
    )
