"""One verdict per labelled dataset identity: the person's mean face against each identity's mean face.

Datasets such as LFW, CelebA or VGGFace2 file several photos under one name. Measured on LFW
(bench/identity_fusion.py), judging an identity by the mean of its photos' embeddings misses far
fewer true matches at the same false-match rate than judging it by its nearest photo (one selfie
against 5 photos of an identity: 4.5% missed instead of 12% at a false-match rate of 1e-4).

An identity's mean face is that of its first MAX_PHOTOS labelled faces in index order: a rule
that does not look at the searcher, as the count of named strangers (exposure.strangers, measured
on the same mean faces) assumes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exposure.calibration import MAX_PHOTOS
from exposure.verdicts import verdict

IDENTITY_COLUMNS = [
    "dataset", "rank", "identity", "photos", "photos_averaged", "distance", "nearest_face_distance",
    "nearest_image", "verdict", "is_match", "fmr", "expected_chance_matches", "extrapolated",
    "identities_searched", "explanation", "rates", "index",
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


def mean_faces(groups: IdentityGroups, embeddings) -> np.ndarray:
    """Each identity's mean face, (m, 128) float64: the mean of the rows in `groups.members`."""
    if len(groups) == 0:
        return np.zeros((0, 128))
    valid = groups.members >= 0
    rows = np.unique(groups.members[valid])
    vectors = np.asarray(embeddings[rows], dtype=np.float64)
    pos = np.searchsorted(rows, np.where(valid, groups.members, rows[0]))
    stacked = vectors[pos] * valid[..., None]
    return stacked.sum(1) / valid.sum(1)[:, None]


def rank_identities(index, groups: IdentityGroups, person_distances: np.ndarray, face_distances: np.ndarray,
                    strangers, top: int, always: np.ndarray | None = None):
    """The `top` identities whose mean face is nearest the person's, each with its verdict.

    `person_distances` is the person's distance to every identity's mean face, `face_distances`
    to every face (knn.all_distances), `strangers` how close named strangers come to them in this
    dataset (exposure.strangers, kind "named people"); `always` are face rows whose identities
    are ranked whatever their distance (the face results shown).
    """
    import pandas as pd

    m = len(groups)
    if m == 0:
        return pd.DataFrame(columns=IDENTITY_COLUMNS)
    k = min(top, m)
    near = np.argpartition(person_distances, k - 1)[:k] if k < m else np.arange(m)
    if always is not None:
        extra = groups.of_row[np.asarray(always, np.int64)]
        near = np.unique(np.concatenate([near, extra[extra >= 0]]))
    near = near[np.lexsort((near, person_distances[near]))][:top]
    out = []
    for rank, c in enumerate(near.tolist(), start=1):
        dist = float(person_distances[c])
        own = np.flatnonzero(groups.of_row == c)
        best = own[np.argmin(face_distances[own])]
        v = verdict(dist, strangers)
        out.append({
            "dataset": index.name,
            "rank": rank,
            "identity": str(groups.names[c]),
            "photos": int(groups.photos[c]),
            "photos_averaged": int((groups.members[c] >= 0).sum()),
            "distance": round(dist, 4),
            "nearest_face_distance": round(float(face_distances[best]), 4),
            "nearest_image": index.faces["image"].iat[int(best)],
            "verdict": v.label,
            "is_match": v.is_match,
            "fmr": v.fmr,
            "expected_chance_matches": v.expected_chance_matches,
            "extrapolated": v.extrapolated,
            "identities_searched": m,
            "explanation": v.explanation,
            "rates": v.rates,
            "index": str(index.path),
        })
    return pd.DataFrame(out, columns=IDENTITY_COLUMNS)
