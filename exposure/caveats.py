"""What limits a check's verdicts, said plainly and shown where it applies, with sources."""

from __future__ import annotations

from dataclasses import dataclass

NIST_DEMOGRAPHICS = "https://nvlpubs.nist.gov/nistpubs/ir/2019/NIST.IR.8280.pdf"
FR_CAVEATS = "https://github.com/ageitgey/face_recognition#caveats"


@dataclass(frozen=True)
class Caveat:
    """One limit of a check, in plain words, with where the fact comes from."""

    title: str
    text: str
    source: str = ""


def caveats(result) -> list[Caveat]:
    """The caveats that apply to a CheckResult: photo quality, extrapolated rates, and the model's known limits."""
    out = []
    for q in result.queries:
        for w in q.warnings():
            out.append(Caveat(f"Your photo {q.name}", w))
    if "extrapolated" in result.results.columns and result.results["extrapolated"].any():
        from exposure.calibration import calibration

        out.append(Caveat(
            "Very close distances",
            f"Below distance {calibration().tail_start:.2f} LFW has too few pairs of different people to measure "
            "how often strangers land that close; the rate there is extrapolated, erring towards more strangers.",
        ))
    out.append(Caveat(
        "Children",
        "This model was trained on adults' faces and confuses children more often: a child's result is less "
        "reliable than the numbers here, which were measured on adults.",
        FR_CAVEATS,
    ))
    out.append(Caveat(
        "Who the model works best for",
        "Face recognition makes more false matches for some groups of people than for others (NIST measured "
        "this across 189 algorithms; this project's LFW numbers come from mostly white, male news photos). "
        "A match for someone outside that group is less certain than it reads.",
        NIST_DEMOGRAPHICS,
    ))
    out.append(Caveat(
        "Covered or turned faces",
        "A mask, hand, sunglasses or a strongly turned head hides part of the face: a real match may then be "
        "missed, so 'no match' never proves you are not in a dataset.",
    ))
    return out
