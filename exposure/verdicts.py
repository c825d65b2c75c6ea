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

import numpy as np

from exposure.calibration import calibration
from exposure.strangers import CHANCE_LIMIT, FACES, PEOPLE, Strangers

POSSIBLE_LIMIT = 1.0  # expected strangers this close, at most, for "possibly you"
PAIR_LINE = 0.6  # dlib's one-to-one threshold: beyond it, not even a look-alike

SAME_PHOTO, LIKELY, POSSIBLE, LOOKALIKE, NO_MATCH = "same photo", "likely you", "possibly you", "look-alike", "no match"
LABELS = (SAME_PHOTO, LIKELY, POSSIBLE, LOOKALIKE, NO_MATCH)
MATCHES = (SAME_PHOTO, LIKELY)
# Okabe-Ito colours (told apart with any common colour-vision deficiency) and markers, the same everywhere
COLOURS = {SAME_PHOTO: "#CC79A7", LIKELY: "#D55E00", POSSIBLE: "#E69F00", LOOKALIKE: "#56B4E9", NO_MATCH: "#999999"}
MARKERS = {SAME_PHOTO: "P", LIKELY: "*", POSSIBLE: "D", LOOKALIKE: "o", NO_MATCH: "x"}
RATES_DATASET = "this dataset's own faces"
RATES_TOO_SMALL = "none: too few faces to measure"

__all__ = ["CHANCE_LIMIT", "POSSIBLE_LIMIT", "PAIR_LINE", "LABELS", "MATCHES", "COLOURS", "MARKERS", "Verdict", "verdict",
           "labels", "lines", "line_sentence", "SearchPower", "search_power", "power_table"]


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
    label = str(_labels(distance, expected, strangers.too_small, same_photo))
    text = {
        NO_MATCH: f"Too far apart to be the same person by the usual 0.6 line ({chance}).",
        SAME_PHOTO: f"A copy of your own photo (cropped, resized or re-encoded): the aligned faces are nearly identical, and {chance}.",
        LIKELY: f"Very few strangers come this close to you: {chance}.",
        POSSIBLE: f"Close, but not close enough to be sure: {chance}.",
        LOOKALIKE: (f"Within the usual 0.6 line, but {chance}." if strangers.too_small else
                    f"Someone who looks like you, or you: {chance}, so this alone proves nothing."),
    }[label]
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


def _labels(distance, expected, too_small: bool, same_photo=False) -> np.ndarray:
    """The label rule: beyond the one-to-one line nothing is a match, however small the search; within it,
    the strangers expected this close decide (NaN, a dataset too small to tell: at most a look-alike)."""
    d, e, same = np.asarray(distance, np.float64), np.asarray(expected, np.float64), np.asarray(same_photo, bool)
    sure = e < CHANCE_LIMIT
    return np.select([d > PAIR_LINE, same & (too_small | sure), sure, e < POSSIBLE_LIMIT],
                     [NO_MATCH, SAME_PHOTO, LIKELY, POSSIBLE], LOOKALIKE)


def labels(distances, strangers: Strangers, same_photo=False) -> np.ndarray:
    """The verdict labels of many distances at once, for a person whose strangers are `strangers`."""
    return _labels(distances, strangers.expected(distances), strangers.too_small, same_photo)


def line_sentence(strangers: Strangers, line: float) -> str:
    """What a match line chosen by hand means for this person in this dataset, in plain words (the app's slider)."""
    if strangers.too_small:
        head = f"Match line {line:.2f}: " if line > 0 else ""
        return (f"{head}{strangers.size:,} {strangers.kind} are too few to measure how close strangers come to you: "
                "none here is called you by its distance alone.")
    count = strangers.expected(line)
    meaning = {NO_MATCH: "but beyond 0.6, dlib's usual line for one pair of photos, faces are not the same person",
               LIKELY: "so a face within it is very likely you",
               POSSIBLE: "so a face within it is possibly you: worth a look, not proof",
               LOOKALIKE: "so a face within it may well be a stranger who looks like you"}[str(labels(line, strangers))]
    return (f"Match line {line:.2f}: about <b>{_count(count)}</b> stranger{'' if 0.5 <= count < 1.5 else 's'} among "
            f"{strangers.size:,} {strangers.kind} would be this close to you by chance (counted from how close this "
            f"dataset's own faces come to you), {meaning}.")


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

    rows = []
    for name, n in sizes.items():
        for k in photos:
            line = calibration(k).distance_at_fmr(CHANCE_LIMIT / max(int(n), 1))
            p = search_power(line, k)
            rows.append({"dataset": name, "faces": n, "your photos": k, "match line": round(p.match_line, 3),
                         "real photos missed": f"{_share(p.missed)} ({_share(p.missed_low)}-{_share(p.missed_high)})"})
    return pd.DataFrame(rows)
