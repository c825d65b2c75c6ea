"""The notebook-01 app driven from code: upload, search, slider, blur, save, forget."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from conftest import MY_PHOTO, SAMPLE_DATASET, keep_figure

pytest.importorskip("ipywidgets")


@pytest.fixture
def home(sample_index) -> Path:
    """This test's data home, with the sample index already in it (as a USB stick would put it)."""
    from exposure.home import data_home

    root = data_home()
    shutil.copytree(sample_index, root / "indexes" / "sample_faces")
    return root


def _upload_value(path: Path) -> tuple:
    data = path.read_bytes()
    return ({"name": path.name, "type": "image/jpeg", "size": len(data), "content": memoryview(data),
             "last_modified": dt.datetime.now(dt.UTC)},)


def test_full_flow(home):
    from exposure.widgets import CheckApp

    app = CheckApp(workshop=True)
    assert [cb.path.name for cb in app.dataset_boxes] == ["sample_faces"]
    assert app.blur.value is True  # workshop mode blurs strangers by default
    assert app.search_button.disabled

    app.upload.value = _upload_value(MY_PHOTO)
    assert len(app.crops.children) == 1
    assert "1 face ready" in app.status.value
    assert "2 faces in this photo" in app.crops.children[0].children[1].value  # the space-suit false face
    assert not app.search_button.disabled

    app.search_button.click()
    assert app.result is not None
    assert "Searched 3 faces" in app.status.value
    rows = app.rows
    assert [r["image"] for r in rows][0] == "Eileen_Collins/Eileen_Collins_0001.jpg"
    assert rows[0]["label"] in ("likely you", "same photo") and rows[0]["is_match"] and not rows[0]["blurred"]
    assert all(r["blurred"] for r in rows[1:])  # strangers hidden
    assert all(r["file"].endswith(r["image"]) for r in rows)
    assert "1 of the 3 nearest faces counts as a match" in app.summary.value
    assert "too few to measure how close strangers come to you" in app.gallery.children[0].value  # 3 faces
    assert len(app.charts.children) == 1 and app.charts.children[0].value[:4] == b"\x89PNG"
    # gallery row: your crop | matched crop | distance | verdict | dataset | provenance
    first_row = app.gallery.children[1].children
    assert len(first_row) == 6 and "0.0" in first_row[2].value and rows[0]["label"] in first_row[3].value

    # the slider redraws verdicts and the chance count, without a new search
    searched = app.result
    app.threshold.value = 0.30
    assert app.result is searched
    assert app.auto_line.value is False
    assert [r["label"] for r in app.rows] == ["within your line", "beyond your line", "beyond your line"]
    assert "Match line 0.30" in app.gallery.children[0].value
    app.threshold.value = 0.75
    assert [r["is_match"] for r in app.rows] == [True, True, True]
    assert "Match line 0.75" in app.gallery.children[0].value
    assert not any(r["blurred"] for r in app.rows)

    app.blur.value = False
    app.threshold.value = 0.3
    assert not any(r["blurred"] for r in app.rows)
    app.auto_line.value = True
    assert app.rows[0]["label"] == searched.results["verdict"].iloc[0]

    # save, then forget
    app.save_button.click()
    saved = list((home / "user").glob("report-*.html"))
    assert len(saved) == 1 and "Saved" in app.saved.value
    app.forget_button.click()
    assert not (home / "user").exists()
    assert app.photos == [] and app.result is None and app.rows == [] and app.upload.value == ()
    assert app.crops.children == () and app.gallery.children == ()
    assert "Forgotten" in app.saved.value
    assert (home / "indexes" / "sample_faces" / "manifest.json").is_file()  # public data is kept


def test_paths_sample_and_problems(home):
    from exposure.widgets import CheckApp

    app = CheckApp(workshop=False, plots=False)
    assert app.blur.value is False
    app.add_path(str(home / "no-such.jpg"))
    assert "No photo at" in app.status.value
    app.path_box.value = str(SAMPLE_DATASET / "coffee.jpg")
    app.add_path_button.click()
    assert "Not used" in app.status.value and app.search_button.disabled
    app.forget()
    assert app.try_sample() is True
    assert app.rows and app.rows[0]["is_match"]
    assert app.try_sample() is False  # never mixes the example with the person's photos


def test_sample_index_is_built_on_first_use():
    from exposure.home import available_indexes, data_home
    from exposure.widgets import CheckApp

    listed = available_indexes()
    assert [i["name"] for i in listed] == ["sample_faces"] and not listed[0]["built"]
    app = CheckApp(plots=False)
    app.add_photo(MY_PHOTO)
    app.search()
    assert (data_home() / "indexes" / "sample_faces" / "manifest.json").is_file()
    assert app.rows[0]["identity"] == "Eileen_Collins"


def test_forget_removes_only_the_user_folder(tmp_path):
    from exposure.home import data_home
    from exposure.privacy import forget, user_dir

    outside = tmp_path / "keep.txt"
    outside.write_text("not exposure's")
    u = user_dir(create=True)
    (u / "sub").mkdir()
    (u / "sub" / "report.html").write_text("x")
    (u / "letter.txt").write_text("x")
    os.symlink(outside, u / "link")
    (data_home() / "indexes").mkdir()
    removed = forget()
    assert not u.exists() and outside.read_text() == "not exposure's"
    assert {p.name for p in removed} >= {"report.html", "letter.txt", "link", "sub", "user"}
    assert (data_home() / "indexes").is_dir()
    assert forget() == []


def test_request_letter():
    import pandas as pd

    from exposure.privacy import LAWS, request_letter

    row = pd.Series({"dataset": "sample_faces", "image": "Eileen_Collins/Eileen_Collins_0001.jpg",
                     "identity": "Eileen_Collins", "distance": 0.09, "verdict": "likely you"})
    text = request_letter(row, your_name="Eileen Collins")
    assert "Eileen_Collins/Eileen_Collins_0001.jpg" in text and "Article 17" in text and "[maintainer]" in text
    assert text.rstrip().splitlines()[-1].startswith("(Law: https://")
    ffhq = request_letter(dataset="FFHQ", image="00000/00001.png", law="CCPA")
    assert "researchinquiries@nvidia.com" in ffhq and "no_cv" in ffhq and "1798.105" in ffhq
    for law in LAWS:
        assert "[your name]" in request_letter(row, law=law)
    with pytest.raises(ValueError):
        request_letter(row, law="nope")


# ---------------------------------------------------------------- headless Chromium: the report and the Voila page


def _chromium() -> str:
    import shutil as sh

    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if found := sh.which(name):
            return found
    pytest.skip("no Chromium on this machine (CI installs it: apt-get install -y chromium)")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Browser:
    """Headless Chromium driven over the DevTools protocol (websocket-client comes with jupyter_server)."""

    def __init__(self, size=(1100, 1400)):
        import json
        import subprocess
        import tempfile
        import time
        import urllib.request

        websocket = pytest.importorskip("websocket")
        port = _free_port()
        self._profile = tempfile.TemporaryDirectory()
        self.proc = subprocess.Popen(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
             "--remote-allow-origins=*",  # newer Chromium refuses DevTools websockets from other origins otherwise
             f"--remote-debugging-port={port}", f"--user-data-dir={self._profile.name}",
             f"--window-size={size[0]},{size[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2) as r:
                    tabs = json.load(r)
                break
            except OSError:
                if time.time() > deadline:
                    self.close()
                    raise
                time.sleep(0.3)
        page = next(t for t in tabs if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        self._id = 0
        self.call("Page.enable")

    def call(self, method, **params):
        import json

        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                return msg.get("result", {})

    def js(self, expression):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True).get("result", {}).get("value")

    def wait_for(self, expression, timeout=90.0) -> bool:
        import time

        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.js(expression):
                return True
            time.sleep(0.5)
        return False

    def screenshot(self, path: Path) -> Path:
        import base64

        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return path

    def close(self):
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.proc.wait(20)
        self._profile.cleanup()


def _assert_not_blank(path: Path) -> None:
    import numpy as np
    from PIL import Image

    px = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    assert px.std() > 12 and (px < 200).mean() > 0.01, f"{path} looks blank"


def test_report_renders_in_chromium(sample_index, tmp_path):
    from exposure.checker import check
    from exposure.report import write_report

    report = write_report(check([MY_PHOTO], [sample_index]), tmp_path / "report.html")
    browser = _Browser()
    try:
        browser.call("Page.navigate", url=report.resolve().as_uri())
        assert browser.wait_for("document.readyState === 'complete' && document.images.length > 0", 30)
        shot = browser.screenshot(tmp_path / "report_chromium.png")
    finally:
        browser.close()
    _assert_not_blank(keep_figure(shot))


def test_workshop_page_in_chromium(home, tmp_path):
    """`python -m exposure.workshop` serves the app on 127.0.0.1; a click on the sample runs a search."""
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    pytest.importorskip("voila")
    _chromium()
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "exposure.workshop", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    browser = None
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).close()
                break
            except OSError:
                assert server.poll() is None, "the workshop server stopped"
                assert time.time() < deadline, "the workshop server did not answer"
                time.sleep(0.5)
        browser = _Browser()
        browser.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
        assert browser.wait_for("[...document.querySelectorAll('button')].some(b => b.innerText.includes('Try the sample photo'))")
        _assert_not_blank(keep_figure(browser.screenshot(tmp_path / "workshop_start.png")))
        click = "[...document.querySelectorAll('button')].find(b => b.innerText.includes({!r})).click()"
        browser.js(click.format("Try the sample photo"))
        assert browser.wait_for("document.body.innerText.includes('1 face ready')", 120), "the sample photo's face was not shown"
        browser.js(click.format("Search"))
        assert browser.wait_for("document.body.innerText.includes('nearest faces')", 120), "no results after the search"
        assert browser.js("document.body.innerText.includes('Eileen_Collins_0001.jpg')")
        browser.js("[...document.querySelectorAll('h3')].find(h => h.innerText.includes('3. Results')).scrollIntoView()")
        time.sleep(1)
        _assert_not_blank(keep_figure(browser.screenshot(tmp_path / "workshop_results.png")))
    finally:
        if browser is not None:
            browser.close()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def test_workshop_page_is_notebook_01_tagged_cells_on_localhost(tmp_path):
    import nbformat

    from exposure import workshop

    nb_path = workshop.workshop_notebook(tmp_path)
    nb = nbformat.read(nb_path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert code == ["from exposure.widgets import CheckApp\n\napp = CheckApp()\napp"]
    assert not any("Shift + Enter" in c.source for c in nb.cells)  # no notebook instructions on the page
    cmd = workshop.command(nb_path, port=9999)
    assert "--Voila.ip=127.0.0.1" in cmd and "--port=9999" in cmd and "--strip_sources=True" in cmd
