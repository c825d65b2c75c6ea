"""The "check my exposure" app of notebook 01 (and of the workshop's Voila page), built with ipywidgets.

    from exposure.widgets import CheckApp
    app = CheckApp()
    app            # shows the app in a notebook

Everything reacts without re-running cells: choosing photos shows the faces that will be used,
the Search button searches the chosen datasets, the slider moves the match line and redraws the
verdicts and the count of chance look-alikes, "Forget my photos" clears everything held about you,
the language menu (English / 简体中文) rewrites every text in place, photos and choices kept.
Photos stay in this process's memory; nothing is written unless you press "Save my report".

The app's state and callbacks are plain attributes and methods, so a test can drive it: set
`app.upload.value`, move `app.threshold.value`, call `app.search_button.click()`, read `app.rows`.
"""

from __future__ import annotations

import datetime as _dt
import html
import os
from pathlib import Path

from exposure.answer import dataset_answer
from exposure.build import sample_index
from exposure.checker import check, matched_crop, prepare_queries
from exposure.errors import ExposureError
from exposure.figures import distance_histogram, to_png
from exposure.home import SAMPLE_NAME, available_indexes, sample_photo
from exposure.i18n import LANGUAGES, _, language, ngettext, set_language
from exposure.index import open_index
from exposure.pdf import write_pdf_report
from exposure.photos import load_photo
from exposure.plain import count
from exposure.present import jpeg_bytes, people_table, provenance
from exposure.privacy import forget, user_dir
from exposure.report import write_report
from exposure.verdicts import COLOURS, LIKELY, line_sentence, lines, shown

WORKSHOP_ENV = "EXPOSURE_WORKSHOP"


class CheckApp:
    """Photos in, nearest faces of each chosen dataset out, with verdicts; nothing saved unless asked."""

    def __init__(self, workshop: bool | None = None, home: str | os.PathLike | None = None, top: int = 5,
                 plots: bool = True):
        import ipywidgets as W

        if workshop is None:
            workshop = os.environ.get(WORKSHOP_ENV, "") not in ("", "0")
        self.workshop = workshop
        self.home = home
        self.top = top
        self.plots = plots
        self.photos: list[tuple[str, object]] = []  # (name, bytes or path)
        self.faces: list = []  # QueryFace or None, per photo
        self.problems: list[str] = []
        self.result = None
        self.rows: list[dict] = []  # what the gallery shows, for reading from code
        self._opened: dict[str, object] = {}
        self._busy = False

        box = W.Layout
        self.language = W.Dropdown(options=[(name, code) for code, name in LANGUAGES.items()], value=language(),
                                   layout=box(width="auto"))
        self.upload = W.FileUpload(accept="image/*", multiple=True, layout=box(width="auto"))
        self.path_box = W.Text(layout=box(width="420px"))
        self.add_path_button = W.Button(icon="plus")
        self.sample_button = W.Button(icon="image", layout=box(width="auto"))
        self.crops = W.HBox(layout=box(flex_flow="row wrap"))
        self.dataset_boxes: list = []
        self.datasets = W.VBox()
        self.search_button = W.Button(button_style="primary", icon="search", disabled=True)
        self.status = W.HTML()
        self.auto_line = W.Checkbox(value=True, indent=False, layout=box(width="auto"))
        self.threshold = W.FloatSlider(value=0.6, min=0.25, max=0.8, step=0.01, continuous_update=False,
                                       readout_format=".2f", layout=box(width="420px"), disabled=True)
        self.blur = W.Checkbox(value=workshop, indent=False, layout=box(width="auto"))
        self.summary = W.HTML()
        self.gallery = W.VBox()
        self.charts = W.VBox()
        self.save_button = W.Button(icon="save", disabled=True)
        self.pdf_button = W.Button(description="Save as PDF", icon="file-pdf-o", disabled=True)
        W.dlink((self.save_button, "disabled"), (self.pdf_button, "disabled"))
        self.forget_button = W.Button(button_style="danger", icon="trash", layout=box(width="auto"))
        self.saved = W.HTML()

        self.upload.observe(self._on_upload, names="value")
        self.add_path_button.on_click(lambda _: self.add_path(self.path_box.value))
        self.sample_button.on_click(lambda _: self.add_photo(sample_photo()))
        self.search_button.on_click(lambda _: self.search())
        self.threshold.observe(self._on_threshold, names="value")
        self.auto_line.observe(self._on_auto_line, names="value")
        self.blur.observe(lambda _: self.redraw(), names="value")
        self.save_button.on_click(lambda _: self.save_report())
        self.pdf_button.on_click(lambda _: self.save_report(pdf=True))
        self.forget_button.on_click(lambda _: self.forget())
        self.language.observe(lambda change: self.switch_language(change["new"]), names="value")
        self.intro = W.HTML()
        self.headings = [W.HTML() for _n in range(4)]
        h = iter(self.headings).__next__

        self.widget = W.VBox(
            [
                W.HBox([self.intro, self.language], layout=box(justify_content="space-between", align_items="center")),
                h(),
                W.HBox([self.upload, self.sample_button]),
                W.HBox([self.path_box, self.add_path_button]),
                self.crops,
                h(),
                self.datasets,
                W.HBox([self.search_button]),
                self.status,
                h(),
                W.HBox([self.auto_line]),
                W.HBox([self.threshold, self.blur]),
                self.summary,
                self.gallery,
                self.charts,
                h(),
                W.HBox([self.save_button, self.pdf_button, self.forget_button]),
                self.saved,
            ]
        )
        self._label_widgets()
        self.refresh_datasets()

    # -- language
    def _label_widgets(self) -> None:
        """Write every fixed text of the app (buttons, headings, boxes) in the language in use."""
        self.intro.value = "<p>" + _("<b>Nothing leaves this computer.</b> Your photos stay in memory until you close "
                                     "this page or press <i>Forget my photos</i>.") + "</p>"
        for heading, text in zip(self.headings, (_("1. Your photos"), _("2. Datasets to search"), _("3. Results"),
                                                 _("4. Keep or forget")), strict=True):
            heading.value = f"<h3 style='margin:.6em 0 .2em'>{text}</h3>"
        self.upload.description = _("Choose photos")
        self.path_box.placeholder = _("or type the path of a photo on this computer")
        self.add_path_button.description = _("Add this photo")
        self.sample_button.description = _("Try the sample photo")
        self.sample_button.tooltip = _("A public-domain photo of astronaut Eileen Collins")
        self.search_button.description = _("Search")
        self.auto_line.description = _("use the recommended match line for each dataset")
        self.threshold.description = _("match line")
        self.blur.description = _("blur faces that are not matches")
        self.save_button.description = _("Save my report")
        if hasattr(self, "pdf_button"):
            self.pdf_button.description = _("Save as PDF")
        self.forget_button.description = _("Forget my photos")

    def switch_language(self, lang: str) -> None:
        """Show the app in `lang` ('en' or 'zh') at once, keeping the photos, datasets and line chosen; the
        last search is run again on the faces already found, so a report saved next explains in `lang` too."""
        set_language(lang)
        if self.language.value != lang:
            self.language.value = lang  # calls this again, with nothing left to change
            return
        self._label_widgets()
        self.refresh_datasets()
        self._face_cards()
        self.status.value = self._ready_text() if self.result is None else self._searched_text()
        self.saved.value = ""
        if self.result is not None:
            self.result = check(self.queries, self.result.indexes, top=self.top)
            self.redraw()

    # -- display
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # -- photos
    def _on_upload(self, change) -> None:
        for f in change["new"] or ():
            self.add_photo(bytes(f["content"]), name=f.get("name") or "uploaded photo", refresh=False)
        if change["new"]:
            self.show_faces()

    def add_path(self, path: str) -> None:
        path = (path or "").strip().strip('"').strip("'")
        if not path:
            self.status.value = "<span style='color:#D55E00'>" + _("Type the path of a photo first.") + "</span>"
            return
        p = Path(path).expanduser()
        if not p.is_file():
            self.status.value = ("<span style='color:#D55E00'>" + _("No photo at {path}.").format(path=html.escape(str(p)))
                                 + "</span>")
            return
        self.path_box.value = ""
        self.add_photo(p)

    def add_photo(self, source, name: str | None = None, refresh: bool = True) -> None:
        """Add a photo (path or bytes); its face is found at once and shown."""
        label = name or (os.path.basename(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else "photo")
        try:
            photo = load_photo(source, name=label)
            queries, _ = prepare_queries([photo])
            face = queries[0]
        except ExposureError as e:
            face = None
            self.problems.append(f"{label}: {e.shown()}")
        self.photos.append((label, source))
        self.faces.append(face)
        self.result = None
        if refresh:
            self.show_faces()

    def try_sample(self) -> bool:
        """Run the example: the sample photo against the sample dataset (only if no photo was chosen)."""
        if self.photos:
            self.status.value = _("You already chose photos: the example is skipped.")
            return False
        self.add_photo(sample_photo())
        for cb in self.dataset_boxes:
            cb.value = cb.path.name == SAMPLE_NAME
        self.search()
        return True

    def show_faces(self) -> None:
        """Show the face found in each photo, and what is ready to search; clears earlier results."""
        self._face_cards()
        self.status.value = self._ready_text()
        self.search_button.disabled = not self.queries
        self._clear_results()

    def _face_cards(self) -> None:
        import ipywidgets as W

        cards = []
        for (label, _source), q in zip(self.photos, self.faces, strict=True):
            if q is None:
                continue
            warns = q.warnings()
            text = "".join(f"<br><span style='color:#D55E00'>{html.escape(w)}</span>" for w in warns) or \
                "<br><span style='color:#009E73'>" + _("good: sharp, frontal, large enough") + "</span>"
            wide = _("face {px} px wide").format(px=q.face.quality.width_px)
            cards.append(
                W.VBox(
                    [W.Image(value=jpeg_bytes(q.crop(), 160), format="jpeg", width=128),
                     W.HTML(f"<div style='max-width:200px;font-size:.85em'><b>{html.escape(label)}</b>"
                            f"<br>{wide}{text}</div>")],
                    layout=W.Layout(margin="0 16px 8px 0"),
                )
            )
        self.crops.children = cards

    def _ready_text(self) -> str:
        """The faces ready to search, and the photos not used, as the status line says them."""
        msgs = ["<span style='color:#D55E00'>" + _("Not used: {what}").format(what=html.escape(p)) + "</span>"
                for p in self.problems]
        if n := len(self.queries):
            msgs.insert(0, ngettext("{n} face ready. Check each crop is you, choose datasets, press Search.",
                                    "{n} faces ready. Check each crop is you, choose datasets, press Search.", n).format(n=n))
        return "<br>".join(msgs)

    @property
    def queries(self) -> list:
        return [q for q in self.faces if q is not None]

    # -- datasets
    def refresh_datasets(self) -> None:
        import ipywidgets as W

        ticked = {str(cb.path): cb.value for cb in self.dataset_boxes}  # kept when the language changes
        self.dataset_boxes = []
        for info in available_indexes(self.home):
            size = (_("{faces} faces").format(faces=count(info["faces"])) if info["built"]
                    else _("4 sample photos, prepared on first use"))
            note = "" if info["complete"] else _(" (not finished indexing: partial)")
            cb = W.Checkbox(value=ticked.get(str(info["path"]), True), description=f"{info['name']}: {size}{note}",
                            indent=False, layout=W.Layout(width="auto"))
            cb.path = info["path"]
            self.dataset_boxes.append(cb)
        if not self.dataset_boxes:
            self.datasets.children = [W.HTML(_("No dataset index found. Notebook 02 shows how to add one."))]
        else:
            self.datasets.children = self.dataset_boxes

    def chosen_indexes(self) -> list[Path]:
        return [cb.path for cb in self.dataset_boxes if cb.value]

    def _open(self, path: Path):
        if path.name == SAMPLE_NAME and not (path / "manifest.json").is_file():
            self.status.value = _("Preparing the sample dataset (once, a few seconds)...")
            path = sample_index(self.home)
        key = str(path)
        if key not in self._opened:
            self._opened[key] = open_index(path)
        return self._opened[key]

    # -- search
    def search(self) -> None:
        """Search the chosen datasets for the person's faces."""
        if not self.queries:
            self.status.value = "<span style='color:#D55E00'>" + _("Add a photo with a face first.") + "</span>"
            return
        paths = self.chosen_indexes()
        if not paths:
            self.status.value = "<span style='color:#D55E00'>" + _("Tick at least one dataset.") + "</span>"
            return
        self.search_button.disabled = True
        try:
            opened = [self._open(p) for p in paths]
            self.status.value = _("Searching...")
            self.result = check(self.queries, opened, top=self.top)  # the faces found when the photos were added
        except ExposureError as e:
            self.status.value = f"<span style='color:#D55E00'>{html.escape(e.shown())}</span>"
            return
        except Exception as e:  # noqa: BLE001 - a callback's error is otherwise invisible in the app
            self.status.value = ("<span style='color:#D55E00'>" + _("The search failed: {error}").format(
                error=f"{html.escape(type(e).__name__)}: {html.escape(str(e))}") + "</span>")
            return
        finally:
            self.search_button.disabled = not self.queries
        self.status.value = self._searched_text()
        self.save_button.disabled = False
        self._set_slider_to_recommended()
        self.redraw()

    def _searched_text(self) -> str:
        total = sum(ix.n_faces for ix in self.result.indexes)
        return _("Searched {faces} faces in {n} dataset(s).").format(faces=count(total), n=len(self.result.indexes))

    def _set_slider_to_recommended(self) -> None:
        if self.result is None or not self.result.indexes:
            return
        ix = max(self.result.indexes, key=lambda i: i.n_faces)
        self._busy = True
        try:
            self.threshold.value = round(self.line_for(ix), 2) if self.auto_line.value else self.threshold.value
        finally:
            self._busy = False

    def _on_auto_line(self, change) -> None:
        if change["new"]:
            self._set_slider_to_recommended()
        self.redraw()

    def _on_threshold(self, change) -> None:
        if self._busy:
            return
        if self.auto_line.value:
            self.auto_line.value = False  # triggers redraw
        else:
            self.redraw()

    # -- verdicts at the chosen line
    def line_for(self, index) -> float:
        """The match line in use for one dataset: the recommended one, or the slider's."""
        if self.auto_line.value:
            return lines(self.result.strangers[str(index.path)])[LIKELY]
        return float(self.threshold.value)

    def label_for(self, row, index) -> tuple[str, bool]:
        """The verdict shown for a row, and whether it counts as a match, at the line in use."""
        if self.auto_line.value:
            return str(row["verdict"]), bool(row["is_match"])
        within = float(row["distance"]) <= float(self.threshold.value)
        return ("within your line" if within else "beyond your line"), within

    def chance_text(self, index) -> str:
        """How many strangers would be within the line in use by chance, in plain words."""
        return line_sentence(self.result.strangers[str(index.path)], self.line_for(index))

    def redraw(self) -> None:
        """Redraw verdicts, counts, gallery and charts from the last search (no new search)."""
        import ipywidgets as W

        if self.result is None:
            self._clear_results()
            return
        res = self.result
        self.threshold.disabled = False
        rows, widgets, summaries = [], [], []
        crops = {q.name: jpeg_bytes(q.crop(), 160) for q in res.queries}
        for ix in res.indexes:
            mine = res.results[res.results["index"] == str(ix.path)]
            matched = 0
            searched = _("{dataset}: {faces} faces searched").format(dataset=html.escape(ix.name), faces=count(ix.n_faces))
            widgets.append(W.HTML(f"<h4 style='margin:.8em 0 .2em'>{searched}</h4><p>{self.chance_text(ix)}</p>"))
            for _n, r in mine.iterrows():
                label, is_match = self.label_for(r, ix)
                matched += is_match
                blurred = bool(self.blur.value and not is_match)
                crop = matched_crop(ix, r)
                file, url = provenance(r, ix)
                colour = COLOURS.get(label, COLOURS[LIKELY] if is_match else "#999999")
                rows.append({"dataset": ix.name, "image": r["image"], "identity": r["identity"],
                             "distance": float(r["distance"]), "label": label, "is_match": is_match,
                             "blurred": blurred, "file": file, "url": url})
                matched_img = (W.Image(value=jpeg_bytes(crop, 160, blur=blurred), format="jpeg", width=96)
                               if crop is not None else W.HTML("<i>" + _("image not on this computer") + "</i>",
                                                              layout=W.Layout(width="96px")))
                about = _("about {dataset}").format(dataset=html.escape(ix.name))
                link = f"<a href='{html.escape(url)}' target='_blank' rel='noopener'>{about}</a><br>" if url else ""
                who = html.escape(str(r["identity"])) if r["identity"] else "<i>" + _("no name given") + "</i>"
                widgets.append(
                    W.HBox(
                        [
                            W.Image(value=crops[r["query"]], format="jpeg", width=96),
                            matched_img,
                            W.HTML(f"<b>{float(r['distance']):.3f}</b><br><small>" + _("distance") + "</small>",
                                   layout=W.Layout(width="80px")),
                            W.HTML(f"<span style='background:{colour};color:#fff;padding:.15em .6em;"
                                   f"border-radius:1em;font-weight:600;white-space:nowrap'>{html.escape(shown(label))}</span>",
                                   layout=W.Layout(width="170px")),
                            W.HTML(html.escape(ix.name), layout=W.Layout(width="120px")),
                            W.HTML(f"<small>{link}{who}<br><code>{html.escape(str(r['image']))}</code></small>",
                                   layout=W.Layout(width="300px")),
                        ],
                        layout=W.Layout(align_items="center", border_bottom="1px solid #ddd"),
                    )
                )
            people = res.identities[res.identities["index"] == str(ix.path)]
            if len(people):
                widgets.append(W.HTML("<p style='margin:.6em 0 .2em'>" + _(
                    "<b>By person</b>: the mean face of up to 5 photos filed under each name, against yours (verdicts "
                    "at the recommended line)") + "</p>" + people_table(people, full=False)))
            widgets.append(W.HTML(f"<p><small>{html.escape(res.power(str(ix.path)).sentence())}</small></p>"))
            named = int(people["is_match"].sum()) if len(people) else 0
            summaries.append(f"<b>{html.escape(ix.name)}</b>: " + ngettext(
                "{k} of the {n} nearest faces counts as a match", "{k} of the {n} nearest faces count as a match",
                matched).format(k=matched, n=len(mine))
                + (ngettext("; {k} named person matches by the mean of their photos.",
                            "; {k} named people match by the mean of their photos.", named).format(k=named)
                   if len(people) else _(".")))
        self.rows = rows
        self.gallery.children = widgets
        answers = "".join(f"<li>{html.escape(dataset_answer(res, ix))}</li>" for ix in res.indexes)
        self.summary.value = (f"<ul style='font-size:1.15em;font-weight:600;padding-left:1.2em'>{answers}</ul>"
                              + "<br>".join(summaries))
        if self.plots:
            line = None if self.auto_line.value else float(self.threshold.value)
            self.charts.children = [
                W.Image(value=to_png(distance_histogram(res, ix, threshold=line), dpi=80), format="png",
                        layout=W.Layout(max_width="720px"))
                for ix in res.indexes
            ]

    def _clear_results(self) -> None:
        self.threshold.disabled = self.result is None
        self.rows = []
        self.gallery.children = []
        self.charts.children = []
        self.summary.value = ""
        self.save_button.disabled = self.result is None

    # -- keep or forget
    def save_report(self, pdf: bool = False) -> Path | None:
        """Write the HTML (or PDF) report into `<data home>/user/` (the only place with your data)."""
        if self.result is None:
            self.saved.value = _("Search first: there is nothing to save yet.")
            return None
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = user_dir(self.home, create=True) / f"report-{stamp}.{'pdf' if pdf else 'html'}"
        try:
            path = (write_pdf_report if pdf else write_report)(self.result, path)
        except ExposureError as e:  # no browser to print with: the HTML report was saved instead
            self.saved.value = html.escape(e.shown())
            return None
        self.saved.value = _("Saved: {path}. It contains your photos: keep it private. <i>Forget my photos</i> "
                             "deletes it.").format(path=f"<code>{html.escape(str(path))}</code>")
        return path

    def forget(self) -> list[Path]:
        """Delete saved reports and clear the photos, faces and results held in memory."""
        removed = forget(self.home)
        self.photos, self.faces, self.problems, self.result = [], [], [], None
        self._opened.clear()
        self.upload.value = ()
        self.crops.children = []
        self._clear_results()
        self.search_button.disabled = True
        self.save_button.disabled = True
        items = [p for p in removed if p != user_dir(self.home)]
        self.status.value = ""
        self.saved.value = ngettext("Forgotten: your photos are cleared from memory and {n} saved item deleted.",
                                    "Forgotten: your photos are cleared from memory and {n} saved items deleted.",
                                    len(items)).format(n=len(items))
        return removed
