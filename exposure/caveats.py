"""What limits a check's verdicts, said plainly and shown where it applies, with sources."""

from __future__ import annotations

from dataclasses import dataclass

from exposure.i18n import _
from exposure.plain import count

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
            out.append(Caveat(_("Your photo {name}").format(name=q.name), w))
    for ix in result.indexes:
        strangers = result.strangers.get(str(ix.path))
        if strangers is None:
            continue
        if strangers.too_small:
            out.append(Caveat(
                _("{dataset} is too small to judge").format(dataset=ix.name),
                _("With {faces} faces, this dataset cannot show how close strangers come to you, so none of its "
                  "faces is called you by distance alone (a copy of your own photo still is).").format(faces=count(ix.n_faces)),
            ))
        elif not ix.tail.labelled:
            out.append(Caveat(
                _("{dataset} names no one").format(dataset=ix.name),
                _("This dataset does not say who is in its photos. Where it holds several photos of the same "
                  "people, exposure cannot tell them from strangers: it counts them as strangers, and keeps its "
                  "promise about strangers by drawing the match line closer to you. So a dataset that names no one "
                  "finds you less often than one that names people: how often a check of this size misses a real "
                  "photo is stated with its results."),
            ))
    if "extrapolated" in result.results.columns and result.results["extrapolated"].any():
        out.append(Caveat(
            _("How the chance of a stranger is counted"),
            _("Nearly every face in a dataset is a stranger to you, so exposure counts how close the dataset's own "
              "faces come to you, and how fast they thin out as you get closer (measured by searching the dataset "
              "for its own faces). Closer than your nearest faces, that count is extrapolated, erring towards "
              "more strangers."),
        ))
    out.append(Caveat(
        _("Children"),
        _("This model was trained on adults' faces and confuses children more often: a child's result is less "
          "reliable than the numbers here, which were measured on adults."),
        FR_CAVEATS,
    ))
    out.extend(_bias(result))
    out.append(Caveat(
        _("Covered or turned faces"),
        _("A mask, hand, sunglasses or a strongly turned head hides part of the face: a real match may then be "
          "missed, so 'no match' never proves you are not in a dataset."),
    ))
    return out


DENSER = 2.0  # faces this many times as common near the person as LFW's average: say so


def _bias(result) -> list[Caveat]:
    """The model's uneven errors, said specifically where this check measured them, generally elsewhere."""
    out = []
    rows = result.results.drop_duplicates("index") if len(result.results) else result.results
    for _n, r in rows.iterrows():
        ratio = r.get("strangers_vs_lfw")
        if ratio is not None and ratio == ratio and ratio >= DENSER:
            out.append(Caveat(
                _("Faces like yours, in {dataset}").format(dataset=r["dataset"]),
                _("In {dataset}, about {ratio} times as many faces lie close to you as the average rates "
                  "measured on LFW (mostly white men) would say: this model places faces like yours closer together. "
                  "The match line was moved in to {line} so that the promise about strangers still holds "
                  "for you; the price is that real photos of you are missed more often. The share missed stated below "
                  "is measured at that line on LFW's photos; for faces like yours it may differ.").format(dataset=r["dataset"], ratio=count(ratio), line=f"{r['match_line']:.2f}"),
                NIST_DEMOGRAPHICS,
            ))
    if not out:
        out.append(Caveat(
            _("Who the model works best for"),
            _("Face recognition makes more false matches for some groups of people than for others (NIST measured "
              "this across 189 algorithms). exposure counts how close strangers come to you in each dataset it "
              "searches, so its verdicts hold for you too; the share of real photos missed is measured on LFW "
              "(mostly white, male news photos) and may differ for you."),
            NIST_DEMOGRAPHICS,
        ))
    return out
