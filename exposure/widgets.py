"""The "check my exposure" app of notebook 01 (and of the workshop's Voila page), built with ipywidgets.

    from exposure.widgets import CheckApp
    app = CheckApp()
    app            # shows the app in a notebook

Everything reacts without re-running cells: choosing photos shows the faces that will be used,
the Search button searches the chosen datasets, the slider moves the match line and redraws the
verdicts and the count of chance look-alikes, "Forget my photos" clears everything held about you.
Photos stay in this process's memory; nothing is written unless you press "Save my report".

The app's state and callbacks are plain attributes and methods, so a test can drive it: set
`app.upload.value`, move `app.threshold.value`, call `app.search_button.click()`, read `app.rows`.
"""

from __future__ import annotations

import datetime as _dt
import html
import os
from pathlib import Path

from exposure.build import sample_index
from exposure.checker import check, matched_crop, prepare_queries
from exposure.errors import ExposureError
from exposure.figures import distance_histogram, to_png
from exposure.home import SAMPLE_NAME, available_indexes, sample_photo
from exposure.index import open_index
from exposure.photos import load_photo
from exposure.present import jpeg_bytes, people_table, provenance
from exposure.privacy import forget, user_dir
from exposure.report import write_report
from exposure.verdicts import COLOURS, LIKELY, line_sentence, lines

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
        self.upload = W.FileUpload(accept="image/*", multiple=True, description="Choose photos",
                                   layout=box(width="auto"))
        self.path_box = W.Text(placeholder="or type the path of a photo on this computer", layout=box(width="420px"))
        self.add_path_button = W.Button(description="Add this photo", icon="plus")
        self.sample_button = W.Button(description="Try the sample photo", icon="image", layout=box(width="auto"),
                                      tooltip="A public-domain photo of astronaut Eileen Collins")
        self.crops = W.HBox(layout=box(flex_flow="row wrap"))
        self.dataset_boxes: list = []
        self.datasets = W.VBox()
        self.search_button = W.Button(description="Search", button_style="primary", icon="search", disabled=True)
        self.status = W.HTML()
        self.auto_line = W.Checkbox(value=True, description="use the recommended match line for each dataset",
                                    indent=False, layout=box(width="auto"))
        self.threshold = W.FloatSlider(value=0.6, min=0.25, max=0.8, step=0.01, description="match line",
                                       continuous_update=False, readout_format=".2f", layout=box(width="420px"),
                                       disabled=True)
        self.blur = W.Checkbox(value=workshop, description="blur faces that are not matches", indent=False,
                               layout=box(width="auto"))
        self.summary = W.HTML()
        self.gallery = W.VBox()
        self.charts = W.VBox()
        self.save_button = W.Button(description="Save my report", icon="save", disabled=True)
        self.forget_button = W.Button(description="Forget my photos", button_style="danger", icon="trash",
                                      layout=box(width="auto"))
        self.saved = W.HTML()

        self.upload.observe(self._on_upload, names="value")
        self.add_path_button.on_click(lambda _: self.add_path(self.path_box.value))
        self.sample_button.on_click(lambda _: self.add_photo(sample_photo()))
        self.search_button.on_click(lambda _: self.search())
        self.threshold.observe(self._on_threshold, names="value")
        self.auto_line.observe(self._on_auto_line, names="value")
        self.blur.observe(lambda _: self.redraw(), names="value")
        self.save_button.on_click(lambda _: self.save_report())
        self.forget_button.on_click(lambda _: self.forget())

        def h(text):
            return W.HTML(f"<h3 style='margin:.6em 0 .2em'>{text}</h3>")

        self.widget = W.VBox(
            [
                W.HTML("<p><b>Nothing leaves this computer.</b> Your photos stay in memory until you close this "
                       "page or press <i>Forget my photos</i>.</p>"),
                h("1. Your photos"),
                W.HBox([self.upload, self.sample_button]),
                W.HBox([self.path_box, self.add_path_button]),
                self.crops,
                h("2. Datasets to search"),
                self.datasets,
                W.HBox([self.search_button]),
                self.status,
                h("3. Results"),
                W.HBox([self.auto_line]),
                W.HBox([self.threshold, self.blur]),
                self.summary,
                self.gallery,
                self.charts,
                h("4. Keep or forget"),
                W.HBox([self.save_button, self.forget_button]),
                self.saved,
            ]
        )
        self.refresh_datasets()

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
            self.status.value = "<span style='color:#D55E00'>Type the path of a photo first.</span>"
            return
        p = Path(path).expanduser()
        if not p.is_file():
            self.status.value = f"<span style='color:#D55E00'>No photo at {html.escape(str(p))}.</span>"
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
            self.problems.append(f"{label}: {e}")
        self.photos.append((label, source))
        self.faces.append(face)
        self.result = None
        if refresh:
            self.show_faces()

    def try_sample(self) -> bool:
        """Run the example: the sample photo against the sample dataset (only if no photo was chosen)."""
        if self.photos:
            self.status.value = "You already chose photos: the example is skipped."
            return False
        self.add_photo(sample_photo())
        for cb in self.dataset_boxes:
            cb.value = cb.path.name == SAMPLE_NAME
        self.search()
        return True

    def show_faces(self) -> None:
        import ipywidgets as W

        cards = []
        for (label, _), q in zip(self.photos, self.faces, strict=True):
            if q is None:
                continue
            warns = q.warnings()
            text = "".join(f"<br><span style='color:#D55E00'>{html.escape(w)}</span>" for w in warns) or \
                "<br><span style='color:#009E73'>good: sharp, frontal, large enough</span>"
            cards.append(
                W.VBox(
                    [W.Image(value=jpeg_bytes(q.crop(), 160), format="jpeg", width=128),
                     W.HTML(f"<div style='max-width:200px;font-size:.85em'><b>{html.escape(label)}</b>"
                            f"<br>face {q.face.quality.width_px} px wide{text}</div>")],
                    layout=W.Layout(margin="0 16px 8px 0"),
                )
            )
        self.crops.children = cards
        msgs = [f"<span style='color:#D55E00'>Not used: {html.escape(p)}</span>" for p in self.problems]
        n = len(self.queries)
        if n:
            msgs.insert(0, f"{n} face{'s' if n != 1 else ''} ready. Check each crop is you, choose datasets, press Search.")
        self.status.value = "<br>".join(msgs)
        self.search_button.disabled = n == 0
        self._clear_results()

    @property
    def queries(self) -> list:
        return [q for q in self.faces if q is not None]

    # -- datasets
    def refresh_datasets(self) -> None:
        import ipywidgets as W

        self.dataset_boxes = []
        for info in available_indexes(self.home):
            size = f"{info['faces']:,} faces" if info["built"] else "4 sample photos, prepared on first use"
            note = "" if info["complete"] else " (not finished indexing: partial)"
            cb = W.Checkbox(value=True, description=f"{info['name']}: {size}{note}", indent=False,
                            layout=W.Layout(width="auto"))
            cb.path = info["path"]
            self.dataset_boxes.append(cb)
        if not self.dataset_boxes:
            self.datasets.children = [W.HTML("No dataset index found. Notebook 02 shows how to add one.")]
        else:
            self.datasets.children = self.dataset_boxes

    def chosen_indexes(self) -> list[Path]:
        return [cb.path for cb in self.dataset_boxes if cb.value]

    def _open(self, path: Path):
        if path.name == SAMPLE_NAME and not (path / "manifest.json").is_file():
            self.status.value = "Preparing the sample dataset (once, a few seconds)..."
            path = sample_index(self.home)
        key = str(path)
        if key not in self._opened:
            self._opened[key] = open_index(path)
        return self._opened[key]

    # -- search
    def search(self) -> None:
        """Search the chosen datasets for the person's faces."""
        if not self.queries:
            self.status.value = "<span style='color:#D55E00'>Add a photo with a face first.</span>"
            return
        paths = self.chosen_indexes()
        if not paths:
            self.status.value = "<span style='color:#D55E00'>Tick at least one dataset.</span>"
            return
        self.search_button.disabled = True
        try:
            opened = [self._open(p) for p in paths]
            self.status.value = "Searching..."
            self.result = check(self.queries, opened, top=self.top)  # the faces found when the photos were added
        except ExposureError as e:
            self.status.value = f"<span style='color:#D55E00'>{html.escape(str(e))}</span>"
            return
        except Exception as e:  # noqa: BLE001 - a callback's error is otherwise invisible in the app
            self.status.value = (f"<span style='color:#D55E00'>The search failed: {html.escape(type(e).__name__)}: "
                                 f"{html.escape(str(e))}</span>")
            return
        finally:
            self.search_button.disabled = not self.queries
        total = sum(ix.n_faces for ix in self.result.indexes)
        self.status.value = f"Searched {total:,} faces in {len(self.result.indexes)} dataset(s)."
        self.save_button.disabled = False
        self._set_slider_to_recommended()
        self.redraw()

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
            widgets.append(W.HTML(f"<h4 style='margin:.8em 0 .2em'>{html.escape(ix.name)}: "
                                  f"{ix.n_faces:,} faces searched</h4><p>{self.chance_text(ix)}</p>"))
            for _, r in mine.iterrows():
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
                               if crop is not None else W.HTML("<i>image not on this computer</i>",
                                                              layout=W.Layout(width="96px")))
                link = (f"<a href='{html.escape(url)}' target='_blank' rel='noopener'>about {html.escape(ix.name)}</a><br>"
                        if url else "")
                who = html.escape(str(r["identity"])) if r["identity"] else "<i>no name given</i>"
                widgets.append(
                    W.HBox(
                        [
                            W.Image(value=crops[r["query"]], format="jpeg", width=96),
                            matched_img,
                            W.HTML(f"<b>{float(r['distance']):.3f}</b><br><small>distance</small>",
                                   layout=W.Layout(width="80px")),
                            W.HTML(f"<span style='background:{colour};color:#fff;padding:.15em .6em;"
                                   f"border-radius:1em;font-weight:600;white-space:nowrap'>{html.escape(label)}</span>",
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
                widgets.append(W.HTML("<p style='margin:.6em 0 .2em'><b>By person</b>: the mean face of up to 5 photos filed under each name, "
                    "against yours (verdicts at the recommended line)</p>" + people_table(people, full=False)))
            widgets.append(W.HTML(f"<p><small>{html.escape(res.power(str(ix.path)).sentence())}</small></p>"))
            named = int(people["is_match"].sum()) if len(people) else 0
            summaries.append(f"<b>{html.escape(ix.name)}</b>: {matched} of the {len(mine)} nearest faces "
                             f"{'counts' if matched == 1 else 'count'} as a match"
                             + (f"; {named} named {'person matches' if named == 1 else 'people match'} by the mean "
                                "of their photos." if len(people) else "."))
        self.rows = rows
        self.gallery.children = widgets
        self.summary.value = "<br>".join(summaries)
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
    def save_report(self) -> Path | None:
        """Write the HTML report into `<data home>/user/` (the only place with your data)."""
        if self.result is None:
            self.saved.value = "Search first: there is nothing to save yet."
            return None
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = write_report(self.result, user_dir(self.home, create=True) / f"report-{stamp}.html")
        self.saved.value = (f"Saved: <code>{html.escape(str(path))}</code>. It contains your photos: keep it private. "
                            "<i>Forget my photos</i> deletes it.")
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
        self.saved.value = (f"Forgotten: your photos are cleared from memory and {len(items)} saved "
                            f"item{'s' if len(items) != 1 else ''} deleted.")
        return removed
