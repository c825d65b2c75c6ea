"""Turn a distance into a verdict in plain words, honest for the person searching and the dataset searched.

dlib's usual 0.6 line is for comparing two photos. Searching N faces multiplies the chance of a
stranger landing close, and how close strangers come depends on who is searching and where:
the model packs some populations' faces much closer together. So a face is called a match only
where the strangers expected that close to *this person* in *this dataset*
(exposure.strangers, measured on the dataset's own faces) stay below 0.1 (0.05 each where a dataset
is judged both by face and by named person, so that the answer keeps the whole promise), and never
beyond 0.6.
This module owns the limits, the labels and their wording.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from exposure.calibration import calibration
from exposure.i18n import _, language
from exposure.plain import chance as _chance
from exposure.plain import count as _n
from exposure.plain import share as _plain_share
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
           "labels", "lines", "line_sentence", "SearchPower", "search_power", "power_table", "shown", "kind_text"]


def shown(label: str) -> str:
    """A verdict label as a person reads it, in the language in use (the label itself stays the key everywhere)."""
    return {SAME_PHOTO: _("same photo"), LIKELY: _("likely you"), POSSIBLE: _("possibly you"),
            LOOKALIKE: _("look-alike"), NO_MATCH: _("no match"), "within your line": _("within your line"),
            "beyond your line": _("beyond your line")}.get(label, label)


def kind_text(kind: str) -> str:
    """"faces" or "named people", in the language in use."""
    return {FACES: _("faces"), PEOPLE: _("named people")}.get(kind, kind)


def _near(expected: float) -> str:
    """How many strangers would come this close by chance, in words: a count from about one up, else a chance."""
    if expected != expected:
        return _("an unknown number of strangers would be this close by chance")
    if expected >= 0.95:
        return _("{about} strangers would be this close by chance").format(about=_chance(expected))
    return _("the chance that a stranger is this close is {chance}").format(chance=_chance(expected))


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
    if strangers.kind == PEOPLE and (expected != expected or expected >= 0.95):
        chance = _("among {people} named people, {about} strangers would have photos whose mean face is this close "
                   "by chance").format(people=_n(strangers.size), about=_chance(expected))
    elif strangers.kind == PEOPLE:
        chance = _("among {people} named people, the chance that a stranger's photos have a mean face this close "
                   "is {chance}").format(people=_n(strangers.size), chance=_chance(expected))
    else:
        chance = _("in a search of {faces} faces, {near}").format(faces=_n(strangers.size), near=_near(expected))
    return _decide(distance, strangers.rate(distance), expected, strangers, chance, same_photo)


def _decide(distance: float, fmr: float, expected: float, strangers: Strangers, chance: str,
            same_photo: bool = False) -> Verdict:
    """The label and wording shared by face and identity verdicts, from the expected strangers this close."""
    if strangers.too_small:
        fmr = expected = math.nan
        chance = _("this dataset has too few {kind} ({size}) to measure how close strangers come to you, so none is "
                   "called you by distance alone").format(kind=kind_text(strangers.kind), size=_n(strangers.size))
    extrapolated = bool(not strangers.too_small and distance < strangers.anchor)
    label = str(_labels(distance, expected, strangers.too_small, same_photo, strangers.limit))
    text = {
        NO_MATCH: _("Too far apart to be the same person by the usual 0.6 line ({chance})."),
        SAME_PHOTO: _("A copy of your own photo (cropped, resized or re-encoded): the aligned faces are nearly identical, and {chance}."),
        LIKELY: _("Very few strangers come this close to you: {chance}."),
        POSSIBLE: _("Close, but not close enough to be sure: {chance}."),
        LOOKALIKE: (_("Within the usual 0.6 line, but {chance}.") if strangers.too_small else
                    _("Someone who looks like you, or you: {chance}, so this alone proves nothing.")),
    }[label].format(chance=chance)
    if extrapolated and label != NO_MATCH:
        text += (_(" (Estimated below your {rank} nearest face, erring towards more strangers.)") if strangers.kind == FACES
                 else _(" (Estimated below your {rank} nearest named person, erring towards more strangers.)")
                 ).format(rank=_ordinal(strangers.rank))
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


def _labels(distance, expected, too_small: bool, same_photo=False, limit: float = CHANCE_LIMIT) -> np.ndarray:
    """The label rule: beyond the one-to-one line nothing is a match, however small the search; within it,
    the strangers expected this close decide (NaN, a dataset too small to tell: at most a look-alike).
    `limit`: the strangers allowed for "likely you" (this verdict's share of the promise)."""
    d, e, same = np.asarray(distance, np.float64), np.asarray(expected, np.float64), np.asarray(same_photo, bool)
    sure = e < limit
    return np.select([d > PAIR_LINE, same & (too_small | sure), sure, e < POSSIBLE_LIMIT],
                     [NO_MATCH, SAME_PHOTO, LIKELY, POSSIBLE], LOOKALIKE)


def labels(distances, strangers: Strangers, same_photo=False) -> np.ndarray:
    """The verdict labels of many distances at once, for a person whose strangers are `strangers`."""
    return _labels(distances, strangers.expected(distances), strangers.too_small, same_photo, strangers.limit)


def line_sentence(strangers: Strangers, line: float) -> str:
    """What a match line chosen by hand means for this person in this dataset, in plain words (the app's slider)."""
    if strangers.too_small:
        head = _("Match line {line}: ").format(line=f"{line:.2f}") if line > 0 else ""
        return head + _("{size} {kind} are too few to measure how close strangers come to you: none here is called "
                        "you by its distance alone.").format(size=_n(strangers.size), kind=kind_text(strangers.kind))
    count = strangers.expected(line)
    meaning = {NO_MATCH: _("but beyond 0.6, dlib's usual line for one pair of photos, faces are not the same person"),
               LIKELY: _("so a face within it is very likely you"),
               POSSIBLE: _("so a face within it is possibly you: worth a look, not proof"),
               LOOKALIKE: _("so a face within it may well be a stranger who looks like you")}[str(labels(line, strangers))]
    if count != count or count >= 0.95:
        text = (_("Match line {line}: <b>{about}</b> stranger among {size} {kind} would be this close to you by "
                  "chance (counted from how close this dataset's own faces come to you), {meaning}.")
                if 0.5 <= count < 1.5 else
                _("Match line {line}: <b>{about}</b> strangers among {size} {kind} would be this close to you by "
                  "chance (counted from how close this dataset's own faces come to you), {meaning}."))
    else:
        text = _("Match line {line}: among {size} {kind}, the chance that a stranger is this close to you is "
                 "<b>{about}</b> (counted from how close this dataset's own faces come to you), {meaning}.")
    return text.format(line=f"{line:.2f}", about=_chance(count), size=_n(strangers.size),
                       kind=kind_text(strangers.kind), meaning=meaning)


def lines(strangers: Strangers) -> dict[str, float]:
    """Where the face verdicts change for this person in this dataset: the distance at or below which each applies."""
    return {LIKELY: min(strangers.line(), PAIR_LINE),
            POSSIBLE: min(strangers.line(POSSIBLE_LIMIT), PAIR_LINE),
            LOOKALIKE: PAIR_LINE}


def _ordinal(k: int) -> str:
    """1st, 2nd, 11th ... (Chinese: 第 1 ...)."""
    if language() == "zh":
        return f"第 {k} "
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
            return _("This dataset is too small to tell how close strangers come, so no face is called you by "
                     "distance alone: 'no match' here says nothing about whether you are in it.")
        return _("At this search's match line ({line}), about {missed} of real photos of a person are missed (95% "
                 "interval {low}-{high}, measured on {pairs} same-person pairs of LFW): 'no match' is not proof of "
                 "absence.").format(line=f"{self.match_line:.2f}", missed=_share(self.missed), low=_share(self.missed_low),
                                    high=_share(self.missed_high), pairs=_n(self.pairs))


def _share(x: float) -> str:
    """A share as a percentage with the digits that matter: 65%, 1.3%, 0.04% (exposure.plain.share)."""
    return _plain_share(x)


def search_power(line: float, photos_used: int = 1) -> SearchPower:
    """The false-non-match rate, with its interval, at a search's match line (same-person pairs of LFW)."""
    line = max(min(float(line), PAIR_LINE), 0.0)
    cal = calibration(photos_used)
    low, high = cal.fnmr_interval(line)
    return SearchPower(line, float(cal.fnmr(line)), float(low), float(high), cal.n_genuine)


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
