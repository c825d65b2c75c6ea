"""Turn a distance into a verdict in plain words, honest for the person searching and the dataset searched.

dlib's usual 0.6 line is for comparing two photos. Searching N faces multiplies the chance of a
stranger landing close, and how close strangers come depends on who is searching and where:
the model packs some populations' faces much closer together. So a face is called a match only
where the strangers expected that close to *this person* in *this dataset*
(exposure.strangers, measured on the dataset's own faces) stay below 0.1, and never beyond 0.6.
This module owns the limits, the labels and their wording.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from exposure.strangers import CHANCE_LIMIT, FACES, PEOPLE, Strangers

POSSIBLE_LIMIT = 1.0  # expected strangers this close, at most, for "possibly you"
PAIR_LINE = 0.6  # dlib's one-to-one threshold: beyond it, not even a look-alike

SAME_PHOTO, LIKELY, POSSIBLE, LOOKALIKE, NO_MATCH = "same photo", "likely you", "possibly you", "look-alike", "no match"
LABELS = (SAME_PHOTO, LIKELY, POSSIBLE, LOOKALIKE, NO_MATCH)
MATCHES = (SAME_PHOTO, LIKELY)
RATES_DATASET = "this dataset's own faces"
RATES_TOO_SMALL = "none: too few faces to measure"

__all__ = ["CHANCE_LIMIT", "POSSIBLE_LIMIT", "PAIR_LINE", "LABELS", "MATCHES", "Verdict", "verdict",
           "lines", "SearchPower", "search_power", "power_table"]


@dataclass(frozen=True)
class Verdict:
    """A verdict with the numbers behind it."""

    label: str
    is_match: bool
    distance: float
    fmr: float  # a stranger's chance to land this close to the person in this dataset (NaN: unknown)
    expected_chance_matches: float  # strangers expected this close in this search (NaN: unknown)
    explanation: str
    extrapolated: bool = False  # closer than the person's anchor face: the count comes from the tail model
    rates: str = RATES_DATASET  # which rates the verdict used


def verdict(distance: float, strangers: Strangers, same_photo: bool = False) -> Verdict:
    """The verdict for one face (or named person's mean face) at `distance` from the person, whose strangers
    among the dataset's faces (or named people) are `strangers`.

    `same_photo` (from exposure.samephoto) turns a match into "same photo": a copy of the person's
    own picture rather than another photo of them.
    """
    expected = strangers.expected(distance)
    if strangers.kind == PEOPLE:
        chance = (f"among {strangers.size:,} named people, about {_count(expected)} strangers would have photos "
                  "whose mean face is this close by chance")
    else:
        chance = f"in a search of {strangers.size:,} faces, about {_count(expected)} strangers would be this close by chance"
    return _decide(distance, strangers.rate(distance), expected, strangers, chance, same_photo)


def _decide(distance: float, fmr: float, expected: float, strangers: Strangers, chance: str,
            same_photo: bool = False) -> Verdict:
    """The label and wording shared by face and identity verdicts, from the expected strangers this close."""
    if strangers.too_small:
        fmr = expected = math.nan
        chance = (f"this dataset has too few {strangers.kind} ({strangers.size:,}) to measure how close strangers "
                  "come to you, so none is called you by distance alone")
    extrapolated = bool(not strangers.too_small and distance < strangers.anchor)
    if distance > PAIR_LINE:  # beyond the one-to-one line nothing is a match, however small the search
        label = NO_MATCH
        text = f"Too far apart to be the same person by the usual 0.6 line ({chance})."
    elif same_photo and (strangers.too_small or expected < CHANCE_LIMIT):
        label = SAME_PHOTO
        text = (f"A copy of your own photo (cropped, resized or re-encoded): the aligned faces are nearly "
                f"identical, and {chance}.")
    elif expected < CHANCE_LIMIT:
        label = LIKELY
        text = f"Very few strangers come this close to you: {chance}."
    elif expected < POSSIBLE_LIMIT:
        label = POSSIBLE
        text = f"Close, but not close enough to be sure: {chance}."
    elif strangers.too_small:
        label = LOOKALIKE
        text = f"Within the usual 0.6 line, but {chance}."
    else:
        label = LOOKALIKE
        text = f"Someone who looks like you, or you: {chance}, so this alone proves nothing."
    if extrapolated and label != NO_MATCH:
        text += (f" (Estimated below your {_ordinal(strangers.rank)} nearest {strangers.kind[:-1] if strangers.kind == FACES else 'named person'}, "
                 "erring towards more strangers.)")
    return Verdict(
        label=label,
        is_match=label in MATCHES,
        distance=float(distance),
        fmr=float(fmr),
        expected_chance_matches=float(expected),
        explanation=text,
        extrapolated=extrapolated,
        rates=RATES_TOO_SMALL if strangers.too_small else RATES_DATASET,
    )


def lines(strangers: Strangers) -> dict[str, float]:
    """Where the face verdicts change for this person in this dataset: the distance at or below which each applies."""
    return {LIKELY: min(strangers.line(CHANCE_LIMIT), PAIR_LINE),
            POSSIBLE: min(strangers.line(POSSIBLE_LIMIT), PAIR_LINE),
            LOOKALIKE: PAIR_LINE}


def _ordinal(k: int) -> str:
    return f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


@dataclass(frozen=True)
class SearchPower:
    """How often a search misses a real photo of the person: the other half of honesty."""

    match_line: float  # the largest distance called a match
    missed: float  # share of LFW same-person pairs beyond it (false-non-match rate)
    missed_low: float  # its Wilson 95% interval
    missed_high: float
    pairs: int  # same-person pairs it is measured on

    def sentence(self) -> str:
        if self.match_line <= 0:
            return ("This dataset is too small to tell how close strangers come, so no face is called you by "
                    "distance alone: 'no match' here says nothing about whether you are in it.")
        return (f"At this search's match line ({self.match_line:.2f}), about {_share(self.missed)} of real photos "
                f"of a person are missed (95% interval {_share(self.missed_low)}-{_share(self.missed_high)}, "
                f"measured on {self.pairs:,} same-person pairs of LFW): 'no match' is not proof of absence.")


def _share(x: float) -> str:
    """A share as a percentage with the digits that matter: 65%, 1.3%, 0.04%."""
    return f"{x:.0%}" if x >= 0.1 else f"{x:.1%}" if x >= 0.01 else f"{x:.2%}"


def search_power(line: float, photos_used: int = 1) -> SearchPower:
    """The false-non-match rate, with its interval, at a search's match line (same-person pairs of LFW)."""
    from exposure.calibration import calibration

    line = max(min(float(line), PAIR_LINE), 0.0)
    cal = calibration(photos_used)
    low, high = cal.fnmr_interval(line)
    return SearchPower(line, float(cal.fnmr(line)), float(low), float(high), cal.n_genuine)


def _count(x: float) -> str:
    if x != x:
        return "an unknown number of"
    if x >= 10:
        return f"{x:,.0f}"
    if x >= 0.01:
        return f"{x:.2g}"
    return f"{x:.1e}"


def power_table(sizes: dict[str, int], photos: tuple[int, ...] = (1, 3, 5)):
    """For datasets of these sizes, a face with LFW's average rates: the match line and the share of real
    photos missed, per number of photos. (A real check measures the rates of the person and dataset.)"""
    import pandas as pd

    from exposure.calibration import calibration

    rows = []
    for name, n in sizes.items():
        for k in photos:
            line = calibration(k).distance_at_fmr(CHANCE_LIMIT / max(int(n), 1))
            p = search_power(line, k)
            rows.append({"dataset": name, "faces": n, "your photos": k, "match line": round(p.match_line, 3),
                         "real photos missed": f"{_share(p.missed)} ({_share(p.missed_low)}-{_share(p.missed_high)})"})
    return pd.DataFrame(rows)
