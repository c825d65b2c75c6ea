"""Check a person's photos against face indexes: the nearest faces of each, with honest verdicts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from exposure import knn, models
from exposure.calibration import MAX_PHOTOS, calibration
from exposure.caveats import caveats
from exposure.errors import ExposureError, NoFaceError, PhotoError
from exposure.faces import Box, Face, face_crop, find_faces
from exposure.i18n import _
from exposure.identities import IDENTITY_COLUMNS, rank_identities
from exposure.index import Index, open_index
from exposure.photos import Photo, load_photo
from exposure.samephoto import hash_distance, same_photo
from exposure.strangers import FACES, PEOPLE, Strangers, person_strangers, split_promise
from exposure.verdicts import LIKELY, SAME_PHOTO, lines, search_power, verdict
from exposure.workers import stall_seconds

RESULT_COLUMNS = [
    "query", "dataset", "rank", "image", "identity", "distance", "verdict", "is_match",
    "fmr", "expected_chance_matches", "same_photo", "hash_bits", "extrapolated", "stand_out", "closer_than",
    "source_url", "faces_searched", "explanation", "identity_verdict", "identity_distance",
    "identity_expected_chance_matches", "rates", "match_line", "strangers_allowed", "strangers_vs_lfw", "face",
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
                (_("{found} faces in this photo; using face {chosen} (the largest): check the crop is you")
                 if self.chosen == 0 else
                 _("{found} faces in this photo; using face {chosen} (your choice): check the crop is you"))
                .format(found=self.faces_found, chosen=self.chosen + 1)
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
    # index path -> how many strangers come how close to the person there (exposure.strangers): among its
    # faces, and among its named people's mean faces
    strangers: dict[str, Strangers] = field(default_factory=dict, repr=False)
    people_strangers: dict[str, Strangers] = field(default_factory=dict, repr=False)

    def power(self, index_path: str):
        """How often a real photo would be missed at this search's match line in that index (verdicts.search_power)."""
        return search_power(lines(self.strangers[index_path])[LIKELY], min(len(self.queries), MAX_PHOTOS))

    def caveats(self) -> list:
        """The limits that apply to this check (photo quality, extrapolated rates, the model's known biases)."""
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

    `face` picks a face by its number in `find_faces` order (1 = the largest, as the warnings and
    the command line number them), for all photos or one
    per photo. A QueryFace (a face already found, as the app has) is used as it is. Raises
    NoFaceError when no photo has a usable face.
    """
    if isinstance(photos, (str, bytes, os.PathLike, Photo, np.ndarray, QueryFace)):
        photos = [photos]
    if not photos:
        raise ExposureError(_("no photo given"))
    choices = list(face) if isinstance(face, Sequence) else [face] * len(photos)
    if len(choices) != len(photos):
        raise ExposureError(f"{len(choices)} face choices for {len(photos)} photos")
    queries, skipped = [], []
    for source, choice in zip(photos, choices, strict=True):
        if isinstance(source, QueryFace):
            queries.append(source)
            continue
        photo = load_photo(source)
        faces = find_faces(photo, detector, encoder)
        if not faces:
            skipped.append(f"{photo.source}: no face found")
            continue
        pick = 0 if choice is None else int(choice) - 1
        if not 0 <= pick < len(faces):
            raise PhotoError(photo.source, _("has {n} face(s); face number {k} does not exist").format(n=len(faces), k=pick + 1))
        queries.append(QueryFace(photo=photo, face=faces[pick], faces_found=len(faces), chosen=pick))
    if not queries:
        raise NoFaceError(_("no face found in {photos} (try a sharper, front-facing photo where the face is at least 80 "
                            "pixels wide)").format(photos=", ".join(s.split(": no face")[0] for s in skipped)))
    return queries, skipped


class Found(NamedTuple):
    """What one search of one index found (see search)."""

    results: pd.DataFrame  # noqa: F821 - the nearest faces with their verdicts
    distances: np.ndarray  # the person's distance to every face
    people: pd.DataFrame  # noqa: F821 - the nearest named people with their verdicts
    strangers: Strangers  # among faces
    people_strangers: Strangers  # among named people's mean faces
    people_distances: np.ndarray  # the person's distance to every named person's mean face


def search(queries: list[QueryFace], index: Index, top: int = 5) -> Found:
    """The `top` faces of an index nearest to the person (the mean face of their photos), with verdicts.

    Returns a Found: the results table, the distance of every face of the index to the person, the
    `top` labelled identities nearest to the person by their mean face (empty when unlabelled), and
    the person's strangers in this dataset (exposure.strangers), on which every verdict rests.
    """
    import pandas as pd

    n = index.n_faces
    if n == 0:
        nobody = person_strangers(np.zeros(0), None)
        return Found(pd.DataFrame(columns=RESULT_COLUMNS), np.zeros(0, np.float32), pd.DataFrame(columns=IDENTITY_COLUMNS),
                     nobody, person_strangers(np.zeros(0), None, PEOPLE), np.zeros(0))
    # Several photos of one person are searched as their mean embedding: measured on LFW
    # (bench/fusion.py) it misses far fewer true matches than the nearest photo.
    used = queries[:MAX_PHOTOS]
    centroid = np.mean([q.face.embedding for q in used], axis=0)[None, :]
    matrix = index.store if index.store is not None else index.embeddings
    # one chunked scan over the memory map: the person's distance to every face (for placement
    # and for counting how close strangers come), from which the nearest are taken and their
    # distances recomputed exactly
    best = knn.all_distances(matrix, centroid)
    nearest, order = knn.nearest_from(best, matrix, centroid, top)
    tail, groups = index.tail, index.identity_groups
    # named people first, each counted once however many photos they have (exposure.strangers) ...
    to_people = knn.distances(centroid, index.identity_means)[0] if len(groups) else np.zeros(0)
    people_strangers = person_strangers(to_people, tail.people, PEOPLE)
    share = split_promise(people_strangers)
    people_strangers = replace(people_strangers, limit=share)
    people = rank_identities(index, groups, to_people, best, people_strangers, top, always=order)
    # ... then faces, leaving out of the count the photos of a person already matched by person: theirs
    mine = None
    if len(people) and people["is_match"].iloc[0]:
        mine = np.flatnonzero(groups.of_row == np.flatnonzero(groups.names == people["identity"].iloc[0])[0])
    strangers = person_strangers(best, tail.faces, FACES, leave_out=mine, limit=share)
    line = lines(strangers)[LIKELY]
    vs_lfw = strangers.versus(calibration(len(used)).fmr)
    # the photo shown beside each result: the one nearest to that face
    shown = knn.distances(np.stack([q.face.embedding for q in used]), index.embeddings[np.sort(order)])
    best_query = dict(zip(np.sort(order).tolist(), shown.argmin(0).tolist(), strict=True))
    # Where each result stands among the person's distances to every face of the dataset
    median = float(np.median(best))
    spread = 1.4826 * float(np.median(np.abs(best - median))) or 1e-9
    judged = []
    for i, dist in zip(order.tolist(), nearest.tolist(), strict=True):
        meta = index.faces.iloc[i]
        hashes = [hash_distance(q.face.chip, meta.get("chip_phash")) for q in used]
        bits = None if hashes[0] is None else min(hashes)
        same = same_photo(bits, dist)
        judged.append((i, dist, meta, bits, same, verdict(dist, strangers, same_photo=same)))
    # a named person one of whose photos is a copy of yours is you, however few people the dataset names
    copied = {meta["identity"] for *_, meta, _, same, v in judged if v.label == SAME_PHOTO}
    if len(people) and copied:
        mark = people["identity"].isin(copied) & ~people["is_match"]
        people.loc[mark, ["verdict", "is_match"]] = [SAME_PHOTO, True]
        people.loc[mark, "explanation"] = _("One of the photos filed under this name is a copy of your own photo.")
    everyone = people.set_index("identity") if len(people) else None
    rows = []
    for rank, (i, dist, meta, bits, same, v) in enumerate(judged, start=1):
        query = used[best_query[i]]
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
                "rates": v.rates,
                "match_line": round(line, 4) if np.isfinite(line) else None,
                "strangers_allowed": strangers.limit,  # this verdict's share of the promise (split_promise)
                "strangers_vs_lfw": round(vs_lfw, 2) if np.isfinite(vs_lfw) else None,
                "face": int(meta["face"]),
                "box_left": int(meta["box_left"]),
                "box_top": int(meta["box_top"]),
                "box_right": int(meta["box_right"]),
                "box_bottom": int(meta["box_bottom"]),
                "index": str(index.path),
            }
        )
    return Found(pd.DataFrame(rows, columns=RESULT_COLUMNS), best, people, strangers, people_strangers, to_people)


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
            if not receive.poll(stall_seconds()):  # a hung child must not hang the check
                child.kill()
                raise ExposureError(f"preparing the photos is stuck: nothing came back in {stall_seconds():.0f} s")
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
    return models.landmark_predictor.cache_info().currsize > 0


def check(photos, indexes, top: int = 5, face=None, detector: str = "auto", encoder: str | None = None,
          *, overlap: bool = False) -> CheckResult:
    """Search each index for the person in `photos` (all of one person); nothing is written to disk.

    `indexes` are index folders or opened Index objects. Returns the top `top` faces per index,
    even when none is a match, each with its verdict. `face`: the number of the face to use in each
    photo (1 = the largest, the default), or one number per photo. The "auto" detector tries dlib's CNN
    detector on a photo where HOG finds no face. `overlap` (the CLI's one-shot check): when the
    face models are not loaded yet, prepare the photos in a forked process while the indexes open,
    so a cold start uses two cores; a long-lived process (notebook, app) keeps its models instead.
    """
    if isinstance(indexes, (str, os.PathLike, Index)):
        indexes = [indexes]
    indexes = list(indexes)
    if not indexes:
        raise ExposureError(_("no index given: build one with exposure index DATASET --out INDEX"))
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
        results=pd.concat([f.results for f in found], ignore_index=True),
        indexes=opened,
        skipped=skipped,
        all_distances={str(ix.path): f.distances for ix, f in zip(opened, found, strict=True)},
        identities=pd.concat([f.people for f in found], ignore_index=True),
        strangers={str(ix.path): f.strangers for ix, f in zip(opened, found, strict=True)},
        people_strangers={str(ix.path): f.people_strangers for ix, f in zip(opened, found, strict=True)},
    )
