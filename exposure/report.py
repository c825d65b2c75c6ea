"""Write a check's result as one self-contained HTML file: images inlined, nothing fetched when opened."""

from __future__ import annotations

import base64
import datetime as _dt
import io
import os
from pathlib import Path

import numpy as np

from exposure.calibration import calibration
from exposure.checker import CheckResult, matched_crop
from exposure.figures import distance_histogram
from exposure.present import badge, data_uri, esc, people_table
from exposure.privacy import catalog_entry, request_letter
from exposure.verdicts import CHANCE_LIMIT, LIKELY, LOOKALIKE, NO_MATCH, POSSIBLE, SAME_PHOTO, lines

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
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
code{background:#f4f4f4;padding:0 .25em;word-break:break-all}
"""


def _facts(dataset: str) -> str:
    """What the catalog knows about a dataset: who made it, from what, with what consent and licence."""
    e = catalog_entry(dataset)
    if not e:
        return f"<p class='muted'>{esc(dataset)} is not in exposure's catalog of public datasets.</p>"
    status = e["status"] + (f" ({e['withdrawn']})" if e.get("withdrawn") else "")
    rows = [
        ("Dataset", f"{e['name']} ({e['year']}), made by {e['creator']}"),
        ("Size", f"{e['images']} images, {e['identities']} identities"),
        ("Where the photos came from", e.get("source_detail") or ", ".join(e["source"])),
        ("Consent", e.get("consent_detail") or e["consent"]),
        ("Licence", e["license"]),
        ("Status", status),
        ("How to ask for removal", e.get("removal") or "unknown"),
    ]
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f"<details><summary>About this dataset</summary><table>{cells}</table></details>"


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
    return f"<img alt='histogram of your distances to every face' style='max-width:100%' src='{uri}'>"


def _letter(row) -> str:
    """A filled-in request to the dataset's maintainer, for the best match."""
    text = request_letter(row.to_dict())
    return (f"<details><summary>A letter you can send to ask what they hold and to erase it (GDPR)</summary>"
            f"<pre style='white-space:pre-wrap'>{esc(text)}</pre></details>")


def _people_section(people) -> str:
    """The by-person table with its heading and what it means."""
    return (f"<h3>By person: the {int(people['identities_searched'].iloc[0]):,} named people of this dataset</h3>"
            "<p class='muted'>Where a dataset files several photos under one name, the mean face of up to 5 of "
            "them is compared with yours, and each named person counts once, however many photos they have: "
            "measured on LFW, this misses fewer real matches than looking at their photos one by one.</p>"
            + people_table(people))


def render_report(result: CheckResult) -> str:
    """The report as an HTML string."""
    cal = calibration()
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        f"<title>exposure report</title><style>{_CSS}</style></head><body>",
        "<h1>Is my face in these datasets?</h1>",
        f"<p class='muted'>exposure report, {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}. Made on this computer; nothing was sent anywhere.</p>",
        "<p class='private'><b>This file contains your photos.</b> Keep it private; delete it when you no longer need it.</p>",
        "<h2>Your photos: the face that was searched for</h2><div class='queries'>",
    ]
    for q in result.queries:
        warn = "".join(f"<br><span style='color:#b2182b'>{esc(w)}</span>" for w in q.warnings())
        parts.append(
            f"<div class='query'><img class='face' alt='your face' src='{data_uri(q.crop())}'>"
            f"<br><b>{esc(os.path.basename(q.name))}</b><br>face {q.face.quality.width_px} px wide{warn}</div>"
        )
    parts.append("</div>")
    for s in result.skipped:
        parts.append(f"<p class='muted'>Not used: {esc(s)}</p>")
    parts.append("<div class='private' style='border-color:#4393c3;background:#eef5fb'><b>Before you read the "
                 "results</b><ul>")
    for c in result.caveats():
        src = f" <span class='muted'>(source: {esc(c.source)})</span>" if c.source else ""
        parts.append(f"<li><b>{esc(c.title)}:</b> {esc(c.text)}{src}</li>")
    parts.append("</ul></div>")

    for ix in result.indexes:
        rows = result.results[result.results["index"] == str(ix.path)]
        matches = int(rows["is_match"].sum())
        strangers = result.strangers[str(ix.path)]
        line = lines(strangers)[LIKELY]
        counts = ix.manifest["counts"]
        parts.append(f"<h2>Dataset: {esc(ix.name)}</h2>")
        parts.append(
            f"<p class='muted'>{ix.n_faces:,} faces from {counts['images_with_faces']:,} images"
            f" ({ix.n_identities:,} named people) searched.</p>"
        )
        people = result.identities[result.identities["index"] == str(ix.path)]
        named = people[people["is_match"]]
        if matches:
            summary = f"<b>{matches} of the {len(rows)} nearest faces {'is' if matches == 1 else 'are'} a match: you.</b>"
        elif len(named):
            summary = (f"<b>No single face is close enough to be called you, but the photos filed under "
                       f"{esc(named['identity'].iloc[0])}, taken together, are.</b>")
        else:
            summary = "<b>No face in this dataset is close enough to be called you.</b> The nearest faces are shown anyway."
        parts.append(f"<p class='summary'>{summary}</p>")
        parts.append(f"<p class='muted'>{esc(result.power(str(ix.path)).sentence())}</p>")
        if strangers.too_small:
            parts.append(f"<p class='muted'>With {ix.n_faces:,} faces, this dataset is too small to show how close "
                         "strangers come to you: no face is called <i>likely you</i> by its distance alone.</p>")
        else:
            parts.append(
                f"<p class='muted'>Here a face is called <i>likely you</i> only within distance {line:.3f} of you, "
                f"where fewer than {CHANCE_LIMIT} strangers are expected by chance: counted from how close this "
                "dataset's own faces come to you, not from rates measured elsewhere.</p>"
            )
        d_all = result.all_distances.get(str(ix.path))
        if d_all is not None and len(d_all) >= 50 and len(rows):  # a histogram of a handful says nothing
            best = rows.iloc[0]
            parts.append(
                f"<p>Your distance to each of the {len(d_all):,} faces: typically {float(np.median(d_all)):.2f}. "
                f"The nearest, {best['distance']:.3f}, is {best['stand_out']:.1f} spreads closer than typical "
                f"and closer than {best['closer_than']:.2%} of the dataset.</p>"
            )
            parts.append(_histogram(result, ix))
        parts.append(_facts(ix.name))
        if matches:
            parts.append(_letter(rows[rows["is_match"]].iloc[0]))
        parts.append(
            "<table><tr><th>#</th><th>your face</th><th>face in the dataset</th><th>distance</th>"
            "<th>verdict</th><th>who / which file</th><th>what it means</th></tr>"
        )
        query_crops = {q.name: data_uri(q.crop(), 128) for q in result.queries}
        for _, r in rows.iterrows():
            crop = matched_crop(ix, r)
            matched = (
                f"<img class='face' alt='matched face' src='{data_uri(crop, 128)}'>"
                if crop is not None
                else "<span class='muted'>image not on this computer</span>"
            )
            who = esc(r["identity"]) if r["identity"] is not None else "<span class='muted'>no name given</span>"
            parts.append(
                f"<tr><td>{int(r['rank'])}</td><td><img class='face' alt='your face' src='{query_crops[r['query']]}'></td>"
                f"<td>{matched}</td><td>{r['distance']:.3f}</td>"
                f"<td>{badge(r['verdict'])}</td>"
                f"<td>{who}<br><code>{esc(r['image'])}</code>"
                + (f"<br><span class='muted'>originally from: <code>{esc(r['source_url'])}</code></span>"
                   if r.get("source_url") else "")
                + "</td>"
                f"<td>{esc(r['explanation'])}<br><span class='muted'>false-match rate at this distance: "
                f"{r['fmr']:.1e}</span></td></tr>"
            )
        parts.append("</table>")
        if len(people):
            parts.append(_people_section(people))

    parts.append("<h2>What the verdicts mean</h2>")
    fmr = {d: float(cal.fmr(d)) for d in (0.6, 0.5, 0.4)}
    tmr = {d: float(cal.tmr(d)) for d in (0.6, 0.5, 0.4)}
    parts.append(
        "<p>Each face is turned into 128 numbers by dlib's face-recognition model. The <b>distance</b> between two "
        "faces is how far apart those numbers are: 0 means identical; two photos of one person are usually "
        "below 0.6. A distance is not a percentage and not a probability.</p>"
        f"<p>Measured on {cal.meta['images_used']:,} photos of {cal.meta['identities_used']:,} people (LFW), "
        f"with this same model, among {cal.n_impostor:,} pairs of different people: a stranger falls within 0.6 "
        f"with probability {fmr[0.6]:.1e}, within 0.5 with {fmr[0.5]:.1e}, within 0.4 with {fmr[0.4]:.1e}; "
        f"while two photos of the same person fall within those distances {tmr[0.6]:.0%}, {tmr[0.5]:.0%} and "
        f"{tmr[0.4]:.0%} of the time. Searching many faces multiplies the chance that a stranger lands close, "
        "so the line for a match depends on the size of the dataset. It also depends on who you are: this model "
        "places the faces of some groups of people (East Asian, South Asian and Black faces among them) closer "
        "together than LFW's, so strangers come closer to them. exposure therefore counts how close strangers "
        "come to <i>you</i> in each dataset: nearly every face in it is a stranger to you, so the dataset's own "
        "faces show how many lie at each distance from you, and how fast they thin out as you get closer "
        "(measured by searching the dataset for its own faces).</p><ul>"
        f"<li><b>{SAME_PHOTO}</b>: a match that is a copy of your own picture (cropped, resized, re-encoded or "
        "mirrored): the aligned faces are nearly identical pixel for pixel, not just alike.</li>"
        f"<li><b>{LIKELY}</b>: fewer than {CHANCE_LIMIT} strangers would be this close to you by chance in this dataset.</li>"
        f"<li><b>{POSSIBLE}</b>: between {CHANCE_LIMIT} and 1 stranger would be this close by chance: worth a look, not proof.</li>"
        f"<li><b>{LOOKALIKE}</b>: within the usual 0.6 line, but in this dataset several strangers come this close to you.</li>"
        f"<li><b>{NO_MATCH}</b>: farther than 0.6. A very different photo of you (turned head, poor light) can also land here.</li>"
        "</ul><p><b>By person</b>: where a dataset files photos under names, each named person is also judged as "
        "one, by the mean face of up to 5 of their photos, with the same words and its own count of strangers "
        f"(among the named people). Each way keeps the strangers expected below {CHANCE_LIMIT}, so a "
        f"check that looks both ways expects fewer than {2 * CHANCE_LIMIT:.1f} strangers called a match.</p><p class='muted'>"
        "The counts err towards more strangers wherever they cannot be told apart. Face recognition is also less "
        "accurate for children and for small, blurred or turned faces.</p>"
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
