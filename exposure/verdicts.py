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
    fmr = float(cal.fmr(distance))
    upper = float(cal.fmr_upper(distance))
    expected = upper * faces_searched
    extrapolated = bool(cal.extrapolated(distance))
    chance = f"in a search of {faces_searched:,} faces, about {_count(expected)} strangers would be this close by chance"
    if extrapolated:
        chance += (f" (a rate extrapolated below distance {cal.tail_start:.2f}, where LFW has too few pairs to "
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


def _count(x: float) -> str:
    if x >= 10:
        return f"{x:,.0f}"
    if x >= 0.01:
        return f"{x:.2g}"
    return f"{x:.1e}"
