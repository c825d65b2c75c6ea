"""One verdict per labelled dataset identity: the person's mean face against each identity's mean face.

Datasets such as LFW, CelebA or VGGFace2 file several photos under one name. Measured on LFW
(bench/identity_fusion.py), judging an identity by the mean of its photos' embeddings misses far
fewer true matches at the same false-match rate than judging it by its nearest photo (one selfie
against 5 photos of an identity: 4.5% missed instead of 12% at a false-match rate of 1e-4).

An identity's mean face is that of its first MAX_PHOTOS labelled faces in index order (a rule
that does not look at the searcher, as the calibration assumes: averaging more photos than were
calibrated would make strangers look closer than the curves say). Only identities with a face
within CANDIDATE_DISTANCE of the person, among their CANDIDATE_FACES nearest faces, are scored:
an identity whose photos are all farther than that is not averaged closer than 0.6 unless its
photos are far from one another (a mislabelled folder).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exposure.calibration import MAX_PHOTOS
from exposure.verdicts import identity_verdict

CANDIDATE_DISTANCE = 0.75
CANDIDATE_FACES = 2000

IDENTITY_COLUMNS = [
    "dataset", "rank", "identity", "photos", "photos_averaged", "distance", "nearest_face_distance",
    "nearest_image", "verdict", "is_match", "fmr", "expected_chance_matches", "extrapolated",
    "identities_searched", "explanation", "index",
]


@dataclass(frozen=True)
class IdentityGroups:
    """The labelled identities of an index: who, how many photos, and the rows averaged for each."""

    names: np.ndarray  # (m,) identity labels
    photos: np.ndarray  # (m,) labelled faces of each identity
    members: np.ndarray  # (m, MAX_PHOTOS) face rows averaged, -1 padded
    of_row: np.ndarray  # (n_faces,) which identity each face row belongs to, -1 for none

    def __len__(self) -> int:
        return len(self.names)

    def counts_by_photos(self) -> dict[int, int]:
        """Identities by how many photos make their mean face: {1: ..., 2: ..., ..., MAX_PHOTOS: ...}."""
        averaged = np.minimum(self.photos, MAX_PHOTOS)
        return {int(k): int((averaged == k).sum()) for k in np.unique(averaged)}


def identity_groups(faces) -> IdentityGroups:
    """Group an index's faces table by identity: the primary face of each image carries the label."""
    labelled = faces["identity"].notna().to_numpy()
    if "primary" in faces:
        labelled = labelled & faces["primary"].to_numpy(dtype=bool)
    rows = np.flatnonzero(labelled)
    of_row = np.full(len(faces), -1, np.int64)
    if len(rows) == 0:
        return IdentityGroups(np.array([], object), np.zeros(0, np.int64), np.zeros((0, MAX_PHOTOS), np.int64), of_row)
    import pandas as pd

    inverse, names = pd.factorize(faces["identity"].to_numpy()[rows], sort=True)  # hashing: no string sort
    of_row[rows] = inverse
    photos = np.bincount(inverse, minlength=len(names))
    members = np.full((len(names), MAX_PHOTOS), -1, np.int64)
    order = np.argsort(inverse, kind="stable")  # rows of each identity, in index order
    starts = np.concatenate([[0], np.cumsum(photos)[:-1]])
    for j in range(MAX_PHOTOS):
        has = photos > j
        members[has, j] = rows[order[starts[has] + j]]
    return IdentityGroups(np.asarray(names, dtype=object), photos.astype(np.int64), members, of_row)


def rank_identities(index, groups: IdentityGroups, person: np.ndarray, face_distances: np.ndarray,
                    photos_used: int, top: int, always: np.ndarray | None = None):
    """The `top` identities whose mean face is nearest the person's, each with its verdict.

    `face_distances` is the person's distance to every face (knn.all_distances); `always` are face
    rows whose identities are scored whatever their distance (the face results shown).
    """
    import pandas as pd

    if len(groups) == 0:
        return pd.DataFrame(columns=IDENTITY_COLUMNS)
    n = len(face_distances)
    k = min(CANDIDATE_FACES, n)
    near = np.argpartition(face_distances, k - 1)[:k] if k < n else np.arange(n)
    near = near[face_distances[near] <= CANDIDATE_DISTANCE]
    if always is not None:
        near = np.concatenate([near, np.asarray(always, np.int64)])
    cand = np.unique(groups.of_row[near])
    cand = cand[cand >= 0]
    if len(cand) == 0:
        return pd.DataFrame(columns=IDENTITY_COLUMNS)
    members = groups.members[cand]
    valid = members >= 0
    rows = np.unique(members[valid])
    vectors = dict(zip(rows.tolist(), np.asarray(index.embeddings[rows], dtype=np.float64), strict=True))
    q = np.asarray(person, np.float64).reshape(-1)
    by_photos = groups.counts_by_photos()
    scored = []
    for c, mem, ok in zip(cand.tolist(), members, valid, strict=True):
        used = mem[ok]
        mean = np.mean([vectors[r] for r in used.tolist()], axis=0)
        scored.append((float(np.linalg.norm(mean - q)), c, len(used)))
    scored.sort()
    # nearest labelled face of each identity (any of its photos, not only those averaged)
    out = []
    for rank, (dist, c, k2) in enumerate(scored[:top], start=1):
        own = np.flatnonzero(groups.of_row == c)
        best = own[np.argmin(face_distances[own])]
        v = identity_verdict(dist, by_photos, photos_used, k2)
        out.append({
            "dataset": index.name,
            "rank": rank,
            "identity": str(groups.names[c]),
            "photos": int(groups.photos[c]),
            "photos_averaged": k2,
            "distance": round(dist, 4),
            "nearest_face_distance": round(float(face_distances[best]), 4),
            "nearest_image": index.faces["image"].iat[int(best)],
            "verdict": v.label,
            "is_match": v.is_match,
            "fmr": v.fmr,
            "expected_chance_matches": v.expected_chance_matches,
            "extrapolated": v.extrapolated,
            "identities_searched": len(groups),
            "explanation": v.explanation,
            "index": str(index.path),
        })
    return pd.DataFrame(out, columns=IDENTITY_COLUMNS)
