"""How many strangers come this close to the person, in the dataset actually searched.

Nearly every face in a dataset is a stranger to the person searching, so their distances to all N
faces are a sample of *their own* stranger distances in *this* dataset. dlib's model packs the
faces of some populations much closer together than LFW's mostly white faces (BENCHMARKS.md,
populations): rates measured on LFW cannot promise anything to everyone; the dataset can.

The model, per search: within the distance of the person's K-th nearest face (the anchor) lie K
faces; closer than that, the expected number of strangers falls ten-fold every `width` of
distance. The anchor follows the person (it is low where faces like theirs are packed together);
the width is a property of the dataset, measured once by searching the dataset for some of its
own faces (`measure_tail`): the narrowest width at which those searches find, on average, no
more than 0.1 strangers within their own match lines, with a margin when they are few. Named
people are judged the same way, with their mean faces as the items counted, so that a person
with hundreds of photos in a dataset counts once. Whatever cannot be told apart (the person's
own photos near them, a repeated person in an unlabelled dataset) counts as strangers: the
estimate errs towards more strangers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from exposure import knn
from exposure.samephoto import SAME_PHOTO_DISTANCE, is_copy

CHANCE_LIMIT = 0.1  # expected strangers this close, at most, for "likely you" (the promise)
ANCHOR_SHARE = 200  # the anchor is the item at rank N / ANCHOR_SHARE ...
ANCHOR_MIN, ANCHOR_MAX = 5, 60  # ... kept within these ranks
MIN_FACES = 20  # fewer faces than this cannot say how close strangers come
MIN_PEOPLE = 10  # nor fewer named people (each of whom has several photos to probe with)
PROBES = 2000  # faces of a dataset searched for, to measure its widths
WIDTHS = np.round(np.arange(0.03, 0.301, 0.001), 3)  # widths tried, narrowest (least cautious) first
CONFIDENCE = 0.95  # the width keeps the promise with this confidence, given how many probes measured it
VERSION = 5  # of the measurement: a tail kept beside an index by another version is measured again
FACES, PEOPLE = "faces", "named people"


def anchor_rank(items: int) -> int:
    """K: the rank of the item whose distance anchors the count of strangers, among this many."""
    return int(min(max(round(items / ANCHOR_SHARE), ANCHOR_MIN), ANCHOR_MAX))


@dataclass(frozen=True)
class Width:
    """How fast strangers thin out towards a face among one kind of item of a dataset, as measured."""

    items: int  # faces, or named people
    width: float | None  # distance over which the expected count of strangers falls ten-fold; None: too few items
    probes: int  # faces searched for to measure it
    strangers_found: int  # strangers those searches called a match at this width (their mean is <= 0.1)


@dataclass(frozen=True)
class DatasetTail:
    """A dataset's widths, for its faces and (where it names people) for its named people's mean faces."""

    faces: Width
    people: Width | None
    labelled: bool  # strangers told apart by the dataset's names (else every other photo but copies counts)
    source: str | None = None  # what it was measured from (the index's shards fingerprint)
    version: int = VERSION

    @classmethod
    def from_dict(cls, data: dict) -> DatasetTail:
        people = data.get("people")
        return cls(Width(**data["faces"]), Width(**people) if people else None, data["labelled"],
                   data.get("source"), data.get("version", 0))


@dataclass(frozen=True)
class Strangers:
    """One person's strangers among one kind of item of one dataset: how many are expected within any distance."""

    items: int  # faces, or named people, counted: those searched less any known to be the person's own
    rank: int  # K
    anchor: float  # distance of the person's K-th nearest item
    width: float | None  # the dataset's width (None: too few items to say)
    kind: str = FACES
    searched: int | None = None  # items searched (default: items)
    limit: float = CHANCE_LIMIT  # strangers allowed within the "likely you" line (its share of the promise)

    @property
    def size(self) -> int:
        """How many faces (or named people) were searched, for the person to read."""
        return self.items if self.searched is None else self.searched

    @property
    def too_small(self) -> bool:
        return self.width is None

    def expected(self, distance):
        """Strangers expected at or within `distance` of the person (infinite when too few items to say)."""
        d = np.asarray(distance, dtype=np.float64)
        if self.width is None:
            out = np.full(d.shape, np.inf)
        else:
            out = self.rank * 10.0 ** ((d - self.anchor) / self.width)
        return out if d.ndim else float(out)

    def rate(self, distance):
        """A stranger's chance to land within `distance` of the person: expected strangers per item searched."""
        return self.expected(distance) / max(self.items, 1)

    def line(self, limit: float | None = None) -> float:
        """The distance within which `limit` strangers (default: this verdict's share) are expected
        (-inf when too few items to say)."""
        limit = self.limit if limit is None else limit
        if self.width is None:
            return -math.inf
        return self.anchor - self.width * math.log10(self.rank / limit)

    def versus(self, rate_elsewhere) -> float:
        """How many times as many items lie within the person's anchor as `rate_elsewhere(d)` (a per-item
        rate, such as LFW's average false-match rate) expects there: counted, not modelled, so the
        dataset's width (wide where it names no one) does not enter it."""
        if self.too_small:
            return math.nan
        base = float(rate_elsewhere(self.anchor)) * self.items
        return self.rank / base if base > 0 else math.nan


def person_strangers(distances: np.ndarray, width: Width | None, kind: str = FACES,
                     leave_out: np.ndarray | None = None, limit: float = CHANCE_LIMIT) -> Strangers:
    """The strangers model for a person whose distance to every item is `distances`.

    `leave_out` are items known to be the person's own (the photos of a named person already
    matched by person): they do not count towards the anchor. `limit`: this verdict's share of
    the promise (see split_promise).
    """
    d = np.asarray(distances, dtype=np.float64)
    searched = len(d)
    if leave_out is not None and len(leave_out):
        d = np.delete(d, leave_out)
    n = len(d)
    k = anchor_rank(n)
    if width is None or width.width is None or n < (MIN_PEOPLE if kind == PEOPLE else MIN_FACES):
        return Strangers(n, k, math.nan, None, kind, searched, limit)
    return Strangers(n, k, float(np.partition(d, k - 1)[k - 1]), width.width, kind, searched, limit)


def split_promise(people: Strangers) -> float:
    """Each verdict's share of the promise: where named people too can be called a match (their
    strangers can be counted), a stranger could be called one either way, so each way gets half,
    and the answer keeps the whole promise."""
    return CHANCE_LIMIT if people.too_small else CHANCE_LIMIT / 2


# ---------------------------------------------------------------- measuring a dataset


def poisson_upper(k: float, alpha: float = 0.05) -> float:
    """One-sided (1 - alpha) upper bound of a Poisson mean after observing k events (exact, by bisection)."""
    if k < 0:
        raise ValueError("k must be >= 0")
    n = int(math.floor(k))

    def cdf(lam: float) -> float:
        return sum(math.exp(-lam + i * math.log(lam) - math.lgamma(i + 1)) for i in range(n + 1))

    lo, hi = float(n), float(n) + 10.0 * math.sqrt(n + 1) + 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) > alpha else (lo, mid)
    return hi


def poisson_lower(k: int, alpha: float = 0.05) -> float:
    """One-sided (1 - alpha) lower bound of a Poisson mean after observing k events."""
    if k <= 0:
        return 0.0

    def at_least_k(lam: float) -> float:
        return 1.0 - sum(math.exp(-lam + i * math.log(lam) - math.lgamma(i + 1)) for i in range(int(k)))

    lo, hi = 0.0, float(k)
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if at_least_k(mid) < alpha else (lo, mid)
    return lo


def choose_width(gaps: list[np.ndarray], pairs: list[np.ndarray], rank: int) -> tuple[float, int]:
    """The narrowest width at which the probes' strangers within their lines keep the promise.

    `gaps[i]` are anchor − distance for probe i's strangers nearer than its anchor; `pairs[i]`
    name those strangers (a pair seen from both ends is one observation). The width kept has an
    upper confidence bound (CONFIDENCE, Poisson on the pairs seen) of at most CHANCE_LIMIT strangers
    per probe: another sample of probes would not find it too narrow, and few probes give a
    cautious width.
    """
    probes = max(len(gaps), 1)
    decades = math.log10(rank / CHANCE_LIMIT)
    z = math.sqrt(2) * _erfinv(2 * CONFIDENCE - 1)
    flat_gaps = np.concatenate(gaps) if gaps else np.zeros(0)
    flat_pairs = np.concatenate(pairs) if pairs else np.zeros(0, np.int64)
    owner = np.repeat(np.arange(len(gaps)), [len(g) for g in gaps]) if gaps else np.zeros(0, np.int64)
    for w in WIDTHS:
        hit = flat_gaps >= w * decades
        events = int(hit.sum())
        if events / probes > CHANCE_LIMIT:
            continue
        units = len(np.unique(flat_pairs[hit]))
        per_unit = events / units if units else 1.0
        counts = np.bincount(owner[hit], minlength=probes)
        # Poisson on the pairs seen (few events), or the spread of the probes' counts (strangers near
        # many probes at once): whichever bound is higher
        upper = max(poisson_upper(units, 1 - CONFIDENCE) * per_unit / probes,
                    counts.mean() + z * counts.std() * math.sqrt(per_unit / probes))
        if upper <= CHANCE_LIMIT:
            return float(w), events
    return float(WIDTHS[-1]), int((flat_gaps >= WIDTHS[-1] * decades).sum())


def _erfinv(y: float) -> float:
    """Inverse error function (bisection on math.erf): the normal quantile without scipy."""
    lo, hi = -6.0, 6.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if math.erf(mid) < y else (lo, mid)
    return (lo + hi) / 2


def _gaps(d: np.ndarray, i: np.ndarray, stranger: np.ndarray, counted: np.ndarray, k: int, probe: int, n: int):
    """For one probe's nearest items (distances d, rows i, ascending): the anchor is the k-th of those
    `counted`; returns the gaps of the strangers nearer than it, and their pair numbers."""
    anchor = float(d[counted][k - 1])
    below = stranger & (d < anchor)
    return anchor - d[below], np.minimum(i[below], probe) * n + np.maximum(i[below], probe)


def measure_tail(embeddings, labels=None, primary=None, hashes=None, people=None, *, search_in=None,
                 probes: int = PROBES, seed: int = 0) -> DatasetTail:
    """Search a dataset for up to `probes` of its own faces and measure its widths (see choose_width).

    `embeddings` are the dataset's (n, 128) rows (an array or store.TiledRows), `labels` each face's
    name or None, `primary` whether a face is its image's main one, `hashes` the chips' perceptual
    hashes, `people` = (mean faces (m, 128), person of each row (n,), -1 for none) for a dataset
    that names people; `search_in` what to search (an index's store), by default `embeddings`.

    In a named dataset the probes are named faces, their strangers are the faces and mean faces
    of other names, and the probe's own name is left out of the anchor (as when a person is
    matched by person). Otherwise every face is a stranger, repeated people included, which errs
    towards more strangers. Copies of the probe's photo (exposure.samephoto) never are.
    """
    n = len(embeddings)
    labels = np.full(n, None, dtype=object) if labels is None else np.asarray(labels, dtype=object)
    primary = np.ones(n, bool) if primary is None else np.asarray(primary, dtype=bool)
    hashes = np.full(n, None, dtype=object) if hashes is None else np.asarray(hashes, dtype=object)
    named = np.flatnonzero(primary & (labels != None))  # noqa: E711 - elementwise test for None
    labelled = n > 0 and len(named) >= 0.5 * n
    if n < MIN_FACES:
        return DatasetTail(Width(n, None, 0, 0), None, labelled)
    pool = named if labelled else np.arange(n)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(pool, min(probes, len(pool)), replace=False))
    k = anchor_rank(n)
    of_row = people[1] if people is not None else np.full(n, -1)
    # deep enough to hold the anchor once the probe's own name is left out
    own_max = int(np.bincount(of_row[of_row >= 0]).max()) if labelled and (of_row >= 0).any() else 0
    gaps, pairs = [], []
    for start in range(0, len(chosen), 250):
        rows = chosen[start:start + 250]
        dist, idx = knn.search(embeddings if search_in is None else search_in,
                               np.asarray(embeddings[rows], np.float32), k + 1 + own_max)
        for row, d, i in zip(rows, dist, idx, strict=True):
            # a copy of the probe's photo is never a stranger, whatever name it is filed under
            copy = i == row
            for c in np.flatnonzero(d <= SAME_PHOTO_DISTANCE):
                copy[c] |= is_copy(hashes[row], hashes[i[c]], float(d[c]))
            if labelled:
                stranger = (labels[i] != labels[row]) & ~copy
                counted = stranger | ((labels[i] == None) & (i != row))  # noqa: E711
            else:
                stranger = ~copy
                counted = i != row
            if counted.sum() < k:
                continue
            g, p = _gaps(d, i, stranger, counted, k, int(row), n)
            gaps.append(g)
            pairs.append(p)
    width, found = choose_width(gaps, pairs, k)
    faces = Width(n, width, len(gaps), found)
    return DatasetTail(faces, _measure_people(embeddings, chosen, people) if labelled else None, labelled)


def _measure_people(embeddings, probes: np.ndarray, people) -> Width | None:
    """The width for named people's mean faces: each probe against every other name's mean face."""
    if people is None:
        return None
    means, of_row = people
    m = len(means)
    if m < MIN_PEOPLE:
        return Width(m, None, 0, 0)
    k = anchor_rank(m)
    q = np.asarray(embeddings[probes], np.float64)
    c = np.asarray(means, np.float64)
    gaps, pairs = [], []
    for start in range(0, len(q), 250):
        block = q[start:start + 250]
        d2 = (block * block).sum(1)[:, None] + (c * c).sum(1)[None, :] - 2.0 * block @ c.T
        d = np.sqrt(np.maximum(d2, 0.0))
        for row, drow in zip(probes[start:start + 250], d, strict=True):
            own = of_row[row]
            others = np.delete(np.arange(m), own)
            dd = drow[others]
            anchor = float(np.partition(dd, k - 1)[k - 1])
            below = dd < anchor
            gaps.append(anchor - dd[below])
            pairs.append(np.minimum(others[below], own) * m + np.maximum(others[below], own))
    width, found = choose_width(gaps, pairs, k)
    return Width(m, width, len(gaps), found)
