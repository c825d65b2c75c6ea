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
    for ix in result.indexes:
        strangers = result.strangers.get(str(ix.path))
        if strangers is not None and strangers.too_small:
            out.append(Caveat(
                f"{ix.name} is too small to judge",
                f"With {ix.n_faces:,} faces, this dataset cannot show how close strangers come to you, so none of its "
                "faces is called you by distance alone (a copy of your own photo still is).",
            ))
    if "extrapolated" in result.results.columns and result.results["extrapolated"].any():
        out.append(Caveat(
            "How the chance of a stranger is counted",
            "Nearly every face in a dataset is a stranger to you, so exposure counts how close the dataset's own "
            "faces come to you, and how fast they thin out as you get closer (measured by searching the dataset "
            "for its own faces). Closer than your nearest faces, that count is extrapolated, erring towards "
            "more strangers.",
        ))
    out.append(Caveat(
        "Children",
        "This model was trained on adults' faces and confuses children more often: a child's result is less "
        "reliable than the numbers here, which were measured on adults.",
        FR_CAVEATS,
    ))
    out.extend(_bias(result))
    out.append(Caveat(
        "Covered or turned faces",
        "A mask, hand, sunglasses or a strongly turned head hides part of the face: a real match may then be "
        "missed, so 'no match' never proves you are not in a dataset.",
    ))
    return out


DENSER = 2.0  # strangers this many times as common near the person as LFW's average: say so


def _bias(result) -> list[Caveat]:
    """The model's uneven errors, said specifically where this check measured them, generally elsewhere."""
    out = []
    rows = result.results.drop_duplicates("index") if len(result.results) else result.results
    for _, r in rows.iterrows():
        ratio = r.get("strangers_vs_lfw")
        if ratio is not None and ratio == ratio and ratio >= DENSER:
            out.append(Caveat(
                f"Faces like yours, in {r['dataset']}",
                f"In {r['dataset']}, about {ratio:,.0f} times as many strangers come close to you as the average rates "
                "measured on LFW (mostly white men) would say: this model places faces like yours closer together. "
                f"The match line was moved in to {r['match_line']:.2f} so that the promise about strangers still holds "
                "for you; the price is that real photos of you are missed more often than the share stated below, "
                "which was measured on LFW.",
                NIST_DEMOGRAPHICS,
            ))
    if not out:
        out.append(Caveat(
            "Who the model works best for",
            "Face recognition makes more false matches for some groups of people than for others (NIST measured "
            "this across 189 algorithms). exposure counts how close strangers come to you in each dataset it "
            "searches, so its verdicts hold for you too; the share of real photos missed is measured on LFW "
            "(mostly white, male news photos) and may differ for you.",
            NIST_DEMOGRAPHICS,
        ))
    return out
