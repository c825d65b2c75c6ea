"""Write a check's result as one self-contained HTML file: images inlined, nothing fetched when opened."""

from __future__ import annotations

import base64
import datetime as _dt
import io
import os
from pathlib import Path

import numpy as np

from exposure.answer import dataset_answer
from exposure.calibration import calibration
from exposure.checker import CheckResult, matched_crop
from exposure.figures import distance_histogram
from exposure.fonts import font_face_css
from exposure.i18n import _, language, ngettext
from exposure.plain import chance, count
from exposure.present import badge, data_uri, esc, people_table
from exposure.privacy import catalog_entry, request_letter
from exposure.verdicts import CHANCE_LIMIT, LIKELY, LOOKALIKE, NO_MATCH, POSSIBLE, SAME_PHOTO, lines, shown

_CSS = """
body{font-family:'exposure CJK',system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em} .muted{color:#666;font-size:.9em}
.private{background:#fff4e5;border-left:4px solid #ef8a62;padding:.6em 1em;margin:1em 0}
.queries{display:flex;gap:1.5em;flex-wrap:wrap}
.query{text-align:center;font-size:.85em;max-width:220px}
img.face{width:128px;height:128px;object-fit:cover;border-radius:6px;border:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.6em 0 1.5em}
td,th{border-bottom:1px solid #ddd;padding:.4em .5em;text-align:left;vertical-align:middle;font-size:.92em}
th{background:#f4f4f4} td:last-child{min-width:240px}
.verdict{display:inline-block;padding:.15em .6em;border-radius:1em;color:#fff;font-weight:600;white-space:nowrap}
.summary{font-size:1.05em;margin:.4em 0}
.answers{font-size:1.15em;border:2px solid #333;border-radius:6px;padding:.2em 1em;margin:1em 0}
code{background:#f4f4f4;padding:0 .25em;word-break:break-all}
"""


def _facts(dataset: str) -> str:
    """What the catalog knows about a dataset: who made it, from what, with what consent and licence."""
    e = catalog_entry(dataset)
    if not e:
        return "<p class='muted'>" + _("{dataset} is not in exposure's catalog of public datasets.").format(dataset=esc(dataset)) + "</p>"
    status = e["status"] + (f" ({e['withdrawn']})" if e.get("withdrawn") else "")
    rows = [
        (_("Dataset"), _("{name} ({year}), made by {creator}").format(name=e["name"], year=e["year"], creator=e["creator"])),
        (_("Size"), _("{images} images, {identities} identities").format(images=e["images"], identities=e["identities"])),
        (_("Where the photos came from"), e.get("source_detail") or ", ".join(e["source"])),
        (_("Consent"), e.get("consent_detail") or e["consent"]),
        (_("Licence"), e["license"]),
        (_("Status"), status),
        (_("How to ask for removal"), e.get("removal") or _("unknown")),
    ]
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return "<details><summary>" + _("About this dataset") + f"</summary><table>{cells}</table></details>"


def _histogram(result, ix) -> str:
    """The person's distance to every face of the dataset, with the verdict lines, as an inline PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import warnings

    import matplotlib.pyplot as plt

    fig = distance_histogram(result, ix)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # matplotlib's layout notes are not the reader's concern
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    alt = esc(_("histogram of your distances to every face"))
    return f"<img alt='{alt}' style='max-width:100%' src='{uri}'>"


def _letter(row) -> str:
    """A filled-in request to the dataset's maintainer, for the best match."""
    if language() == "zh":
        text, law = request_letter(row.to_dict(), law="PIPL"), "PIPL"
    else:
        text, law = request_letter(row.to_dict()), "GDPR"
    summary = _("A letter you can send to ask what they hold and to erase it ({law})").format(law=law)
    return (f"<details><summary>{esc(summary)}</summary>"
            f"<pre style='white-space:pre-wrap'>{esc(text)}</pre></details>")


def _people_section(people) -> str:
    """The by-person table with its heading and what it means."""
    return ("<h3>" + _("By person: the {people} named people of this dataset").format(
                people=count(people["identities_searched"].iloc[0])) + "</h3>"
            "<p class='muted'>" + _("Where a dataset files several photos under one name, the mean face of up to 5 of "
                                    "them is compared with yours, and each named person counts once, however many "
                                    "photos they have: measured on LFW, this misses fewer real matches than looking "
                                    "at their photos one by one.") + "</p>"
            + people_table(people))


def render_report(result: CheckResult) -> str:
    """The report as an HTML string."""
    cal = calibration()
    parts = [
        f"<!doctype html><html lang='{'zh-CN' if language() == 'zh' else 'en'}'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; font-src file:; style-src 'unsafe-inline'\">",
        "<title>" + _("exposure report") + f"</title><style>{font_face_css()}{_CSS}</style></head><body>",
        "<h1>" + _("Is my face in these datasets?") + "</h1>",
        "<p class='muted'>" + _("exposure report, {date}. Made on this computer; nothing was sent anywhere.").format(
            date=_dt.datetime.now().strftime('%Y-%m-%d %H:%M')) + "</p>",
        "<p class='private'>" + _("<b>This file contains your photos.</b> Keep it private; delete it when you no "
                                  "longer need it.") + "</p>",
        "<div class='answers'><h2>" + _("The answer") + "</h2><ul>"
        + "".join(f"<li>{esc(dataset_answer(result, ix))}</li>" for ix in result.indexes) + "</ul></div>",
        "<h2>" + _("Your photos: the face that was searched for") + "</h2><div class='queries'>",
    ]
    you = esc(_("your face"))
    for q in result.queries:
        warn = "".join(f"<br><span style='color:#b2182b'>{esc(w)}</span>" for w in q.warnings())
        wide = _("face {px} px wide").format(px=q.face.quality.width_px)
        parts.append(
            f"<div class='query'><img class='face' alt='{you}' src='{data_uri(q.crop())}'>"
            f"<br><b>{esc(os.path.basename(q.name))}</b><br>{wide}{warn}</div>"
        )
    parts.append("</div>")
    for s in result.skipped:
        parts.append("<p class='muted'>" + _("Not used: {what}").format(what=esc(s)) + "</p>")
    parts.append("<div class='private' style='border-color:#4393c3;background:#eef5fb'><b>"
                 + _("Before you read the results") + "</b><ul>")
    for c in result.caveats():
        src = (" <span class='muted'>" + _("(source: {source})").format(source=esc(c.source)) + "</span>"
               if c.source else "")
        parts.append(f"<li><b>{esc(c.title)}:</b> {esc(c.text)}{src}</li>")
    parts.append("</ul></div>")

    for ix in result.indexes:
        rows = result.results[result.results["index"] == str(ix.path)]
        matches = int(rows["is_match"].sum())
        strangers = result.strangers[str(ix.path)]
        line = lines(strangers)[LIKELY]
        counts = ix.manifest["counts"]
        parts.append("<h2>" + _("Dataset: {dataset}").format(dataset=esc(ix.name)) + "</h2>")
        parts.append("<p class='muted'>" + _("{faces} faces from {images} images ({people} named people) searched.").format(
            faces=count(ix.n_faces), images=count(counts["images_with_faces"]), people=count(ix.n_identities)) + "</p>")
        people = result.identities[result.identities["index"] == str(ix.path)]
        named = people[people["is_match"]]
        if matches:
            summary = "<b>" + ngettext("{k} of the {n} nearest faces is a match: you.",
                                       "{k} of the {n} nearest faces are a match: you.", matches).format(
                k=matches, n=len(rows)) + "</b>"
        elif len(named):
            summary = "<b>" + _("No single face is close enough to be called you, but the photos filed under "
                                "{identity}, taken together, are.").format(identity=esc(named["identity"].iloc[0])) + "</b>"
        else:
            summary = _("<b>No face in this dataset is close enough to be called you.</b> The nearest faces are "
                        "shown anyway.")
        parts.append(f"<p class='summary'>{summary}</p>")
        parts.append(f"<p class='muted'>{esc(result.power(str(ix.path)).sentence())}</p>")
        if strangers.too_small:
            parts.append("<p class='muted'>" + _("With {faces} faces, this dataset is too small to show how close "
                                                 "strangers come to you: no face is called <i>likely you</i> by its "
                                                 "distance alone.").format(faces=count(ix.n_faces)) + "</p>")
        else:
            parts.append("<p class='muted'>" + _(
                "Here a face is called <i>likely you</i> only within distance {line} of you, where fewer than "
                "{limit} strangers are expected by chance: counted from how close this dataset's own faces come "
                "to you, not from rates measured elsewhere.").format(line=f"{line:.3f}", limit=strangers.limit) + "</p>")
        d_all = result.all_distances.get(str(ix.path))
        if d_all is not None and len(d_all) >= 50 and len(rows):  # a histogram of a handful says nothing
            best = rows.iloc[0]
            parts.append("<p>" + _(
                "Your distance to each of the {faces} faces: typically {typical}. The nearest, {nearest}, is "
                "{spreads} spreads closer than typical and closer than {share} of the dataset.").format(
                faces=count(len(d_all)), typical=f"{float(np.median(d_all)):.2f}", nearest=f"{best['distance']:.3f}",
                spreads=f"{best['stand_out']:.1f}", share=f"{best['closer_than']:.2%}") + "</p>")
            parts.append(_histogram(result, ix))
        parts.append(_facts(ix.name))
        if matches:
            parts.append(_letter(rows[rows["is_match"]].iloc[0]))
        heads = (_("your face"), _("face in the dataset"), _("distance"), _("verdict"), _("who / which file"),
                 _("what it means"))
        parts.append("<table><tr><th>#</th>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr>")
        query_crops = {q.name: data_uri(q.crop(), 128) for q in result.queries}
        alt_matched = esc(_("matched face"))
        for _n, r in rows.iterrows():
            crop = matched_crop(ix, r)
            matched = (
                f"<img class='face' alt='{alt_matched}' src='{data_uri(crop, 128)}'>"
                if crop is not None
                else "<span class='muted'>" + _("image not on this computer") + "</span>"
            )
            who = (esc(r["identity"]) if r["identity"] is not None
                   else "<span class='muted'>" + _("no name given") + "</span>")
            rate = _("false-match rate at this distance: {rate}").format(rate=chance(r["fmr"]))
            parts.append(
                f"<tr><td>{int(r['rank'])}</td><td><img class='face' alt='{you}' src='{query_crops[r['query']]}'></td>"
                f"<td>{matched}</td><td>{r['distance']:.3f}</td>"
                f"<td>{badge(r['verdict'])}</td>"
                f"<td>{who}<br><code>{esc(r['image'])}</code>"
                + ("<br><span class='muted'>" + _("originally from: {url}").format(
                    url=f"<code>{esc(r['source_url'])}</code>") + "</span>" if r.get("source_url") else "")
                + "</td>"
                f"<td>{esc(r['explanation'])}<br><span class='muted'>{esc(rate)}</span></td></tr>"
            )
        parts.append("</table>")
        if len(people):
            parts.append(_people_section(people))

    parts.append("<h2>" + _("What the verdicts mean") + "</h2>")
    fmr = {d: chance(float(cal.fmr(d))) for d in (0.6, 0.5, 0.4)}
    tmr = {d: float(cal.tmr(d)) for d in (0.6, 0.5, 0.4)}
    parts.append(
        "<p>" + _("Each face is turned into 128 numbers by dlib's face-recognition model. The <b>distance</b> "
                  "between two faces is how far apart those numbers are: 0 means identical; two photos of one person "
                  "are usually below 0.6. A distance is not a percentage and not a probability.") + "</p>"
        "<p>" + _("Measured on {photos} photos of {people} people (LFW), with this same model, among {pairs} pairs of "
                  "different people: a stranger falls within 0.6 with a chance of {f6}, within 0.5 of {f5}, within "
                  "0.4 of {f4}; while two photos of the same person fall within those distances {t6}, {t5} and {t4} "
                  "of the time. Searching many faces multiplies the chance that a stranger lands close, so the line "
                  "for a match depends on the size of the dataset. It also depends on who you are: this model places "
                  "the faces of some groups of people (East Asian, South Asian and Black faces among them) closer "
                  "together than LFW's, so strangers come closer to them. exposure therefore counts how close "
                  "strangers come to <i>you</i> in each dataset: nearly every face in it is a stranger to you, so the "
                  "dataset's own faces show how many lie at each distance from you, and how fast they thin out as "
                  "you get closer (measured by searching the dataset for its own faces).").format(
            photos=count(cal.meta["images_used"]), people=count(cal.meta["identities_used"]),
            pairs=count(cal.n_impostor), f6=fmr[0.6], f5=fmr[0.5], f4=fmr[0.4], t6=f"{tmr[0.6]:.0%}",
            t5=f"{tmr[0.5]:.0%}", t4=f"{tmr[0.4]:.0%}") + "</p><ul>"
        f"<li><b>{shown(SAME_PHOTO)}</b>: " + _("a match that is a copy of your own picture (cropped, resized, "
                                                "re-encoded or mirrored): the aligned faces are nearly identical "
                                                "pixel for pixel, not just alike.") + "</li>"
        f"<li><b>{shown(LIKELY)}</b>: " + _("fewer than {limit} strangers would be this close to you by chance in "
                                            "this dataset (where a dataset is also judged by person, {half} each "
                                            "way).").format(limit=CHANCE_LIMIT, half=CHANCE_LIMIT / 2) + "</li>"
        f"<li><b>{shown(POSSIBLE)}</b>: " + _("between {limit} and 1 stranger would be this close by chance: worth "
                                              "a look, not proof.").format(limit=CHANCE_LIMIT) + "</li>"
        f"<li><b>{shown(LOOKALIKE)}</b>: " + _("within the usual 0.6 line, but in this dataset several strangers "
                                               "come this close to you.") + "</li>"
        f"<li><b>{shown(NO_MATCH)}</b>: " + _("farther than 0.6. A very different photo of you (turned head, poor "
                                              "light) can also land here.") + "</li>"
        "</ul><p>" + _("<b>By person</b>: where a dataset files photos under names, each named person is also "
                       "judged as one, by the mean face of up to 5 of their photos, with the same words and its own "
                       "count of strangers (among the named people). The two ways share the promise: each keeps the "
                       "strangers expected below {half}, so a check that looks both ways expects fewer than "
                       "{limit} strangers called a match.").format(half=CHANCE_LIMIT / 2, limit=CHANCE_LIMIT) + "</p><p class='muted'>"
        + _("The counts err towards more strangers wherever they cannot be told apart. Face recognition is also "
            "less accurate for children and for small, blurred or turned faces.") + "</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result: CheckResult, path: str | os.PathLike) -> Path:
    """Write the HTML report (the only file a check writes, and only when asked)."""
    out = Path(path)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(result), encoding="utf-8")
    return out
