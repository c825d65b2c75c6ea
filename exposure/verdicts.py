"""Turn a distance into a verdict in plain words, honest about the size of what was searched.

dlib's usual 0.6 line is for comparing two photos. Searching N faces multiplies the chance of a
stranger landing close: a face is called a match only where the expected number of strangers
that close, (false-match rate at that distance) x (faces searched), is below 0.1, and never
beyond 0.6. Several photos are searched as their mean face, with the rates measured for that
many photos.
"""

from __future__ import annotations

from dataclasses import dataclass

from exposure.calibration import calibration

CHANCE_LIMIT = 0.1  # expected strangers this close, at most, for "likely you"
POSSIBLE_LIMIT = 1.0  # expected strangers this close, at most, for "possibly you"
PAIR_LINE = 0.6  # dlib's one-to-one threshold: beyond it, not even a look-alike

SAME_PHOTO, LIKELY, POSSIBLE, LOOKALIKE, NO_MATCH = "same photo", "likely you", "possibly you", "look-alike", "no match"
LABELS = (SAME_PHOTO, LIKELY, POSSIBLE, LOOKALIKE, NO_MATCH)


@dataclass(frozen=True)
class Verdict:
    """A verdict with the numbers behind it."""

    label: str
    is_match: bool
    distance: float
    fmr: float  # measured share of stranger pairs within this distance (LFW)
    fmr_upper: float  # its 95% upper bound, used for the decision
    expected_chance_matches: float  # strangers expected this close in this search
    explanation: str
    extrapolated: bool = False  # the rate comes from the tail model (LFW has too few pairs this close)


def verdict(distance: float, faces_searched: int, photos_used: int = 1, same_photo: bool = False) -> Verdict:
    """The verdict for one result of a search of `faces_searched` faces with the mean face of `photos_used` photos.

    `same_photo` (from exposure.samephoto) turns a match into "same photo": a copy of the person's
    own picture rather than another photo of them.
    """
    cal = calibration(photos_used)
    upper = float(cal.fmr_upper(distance))
    chance = f"in a search of {faces_searched:,} faces, about {_count(upper * faces_searched)} strangers would be this close by chance"
    return _decide(distance, float(cal.fmr(distance)), upper, upper * faces_searched, cal.tail_start, chance,
                   same_photo)


def identity_verdict(distance: float, identities_by_photos: dict[int, int], photos_used: int = 1,
                     identity_photos: int = 1) -> Verdict:
    """The verdict for a labelled dataset identity whose mean face (of `identity_photos` of its photos,
    at most 5) is `distance` from the searcher's mean face of `photos_used` photos.

    `identities_by_photos` counts the dataset's labelled identities by how many photos make their
    mean face ({1: 4069, 2: 779, ...}): the strangers expected this close are the sum over those
    groups of (count x false-match rate upper bound for that many photos). `fmr` and `fmr_upper`
    are those of this identity's own photo count.
    """
    cal = calibration(photos_used, identity_photos)
    curves = [(m, calibration(photos_used, k2)) for k2, m in identities_by_photos.items() if m > 0]
    expected = sum(m * float(c.fmr_upper(distance)) for m, c in curves)
    total = sum(m for m, _ in curves)
    chance = (f"among {total:,} labelled people, about {_count(expected)} strangers would have photos whose "
              "mean face is this close by chance")
    tail = max([c.tail_start for _, c in curves] + [cal.tail_start])
    return _decide(distance, float(cal.fmr(distance)), float(cal.fmr_upper(distance)), expected, tail, chance)


def _decide(distance: float, fmr: float, upper: float, expected: float, tail_start: float, chance: str,
            same_photo: bool = False) -> Verdict:
    """The label and wording shared by face and identity verdicts, from the expected strangers this close."""
    extrapolated = distance < tail_start
    if extrapolated:
        chance += (f" (a rate extrapolated below distance {tail_start:.2f}, where LFW has too few pairs to "
                   "measure it; the estimate errs on the side of more strangers)")
    if distance > PAIR_LINE:  # beyond the one-to-one line nothing is a match, however small the search
        label = NO_MATCH
        text = f"Too far apart to be the same person by the usual 0.6 line ({chance})."
    elif expected < CHANCE_LIMIT and same_photo:
        label = SAME_PHOTO
        text = (f"A copy of your own photo (cropped, resized or re-encoded): the aligned faces are nearly "
                f"identical, and {chance}.")
    elif expected < CHANCE_LIMIT:
        label = LIKELY
        text = f"Very few strangers come this close: {chance}."
    elif expected < POSSIBLE_LIMIT:
        label = POSSIBLE
        text = f"Close, but not close enough to be sure: {chance}."
    else:
        label = LOOKALIKE
        text = f"Someone who looks like you, or you: {chance}, so this alone proves nothing."
    return Verdict(
        label=label,
        is_match=label in (SAME_PHOTO, LIKELY),
        distance=float(distance),
        fmr=fmr,
        fmr_upper=upper,
        expected_chance_matches=expected,
        explanation=text,
        extrapolated=extrapolated,
    )


def match_line(faces_searched: int, photos_used: int = 1) -> float:
    """The largest distance still called a match when searching this many faces (never past 0.6)."""
    return min(calibration(photos_used).distance_at_fmr(CHANCE_LIMIT / faces_searched), PAIR_LINE)


@dataclass(frozen=True)
class SearchPower:
    """How often a search of this size misses a real photo of the person: the other half of honesty."""

    match_line: float  # the largest distance called a match
    missed: float  # share of LFW same-person pairs beyond it (false-non-match rate)
    missed_low: float  # its Wilson 95% interval
    missed_high: float
    pairs: int  # same-person pairs it is measured on

    def sentence(self) -> str:
        return (f"At this search's match line ({self.match_line:.2f}), about {_share(self.missed)} of real photos "
                f"of a person are missed (95% interval {_share(self.missed_low)}-{_share(self.missed_high)}, "
                f"measured on {self.pairs:,} same-person pairs of LFW): 'no match' is not proof of absence.")


def _share(x: float) -> str:
    """A share as a percentage with the digits that matter: 65%, 1.3%, 0.04%."""
    return f"{x:.0%}" if x >= 0.1 else f"{x:.1%}" if x >= 0.01 else f"{x:.2%}"


def search_power(faces_searched: int, photos_used: int = 1) -> SearchPower:
    """The false-non-match rate, with its interval, at the match line of a search of this many faces."""
    line = match_line(max(int(faces_searched), 1), photos_used)
    cal = calibration(photos_used)
    low, high = cal.fnmr_interval(line)
    return SearchPower(line, float(cal.fnmr(line)), float(low), float(high), cal.n_genuine)


def _count(x: float) -> str:
    if x >= 10:
        return f"{x:,.0f}"
    if x >= 0.01:
        return f"{x:.2g}"
    return f"{x:.1e}"


def power_table(sizes: dict[str, int], photos: tuple[int, ...] = (1, 3, 5)):
    """For datasets of these sizes: the match line and the share of real photos missed, per number of photos."""
    import pandas as pd

    rows = []
    for name, n in sizes.items():
        for k in photos:
            p = search_power(n, k)
            rows.append({"dataset": name, "faces": n, "your photos": k, "match line": round(p.match_line, 3),
                         "real photos missed": f"{_share(p.missed)} ({_share(p.missed_low)}-{_share(p.missed_high)})"})
    return pd.DataFrame(rows)
