"""The PDF report: printed by headless Chromium, images embedded, Chinese drawn with a CJK font, a clear error without a browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import MY_PHOTO, keep_figure, run_cli

CHINESE = "我的脸在这些数据集里吗？"


def _browser() -> str:
    from exposure.pdf import find_browser

    found = find_browser()
    if found is None:
        pytest.skip("no Chromium on this machine (CI installs it: apt-get install -y chromium)")
    return found


def _render(pdf: Path, page: int = 0, scale: float = 2.0):
    """One page of a PDF as an RGB array, with the PDF document (pypdfium2: PDFium, Chromium's own PDF engine)."""
    pdfium = pytest.importorskip("pypdfium2")
    doc = pdfium.PdfDocument(str(pdf))
    image = doc[page].render(scale=scale).to_pil().convert("RGB")
    return np.asarray(image), doc


def _assert_not_blank(rgb: np.ndarray, what: str) -> None:
    grey = rgb.mean(axis=2)
    assert grey.std() > 12 and (grey < 200).mean() > 0.01, f"{what} looks blank"


def _colourful(rgb: np.ndarray) -> float:
    """The share of pixels with a clear colour (not white, grey or black): a photo has many."""
    rgb = rgb.astype(np.float64)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return float(((spread > 40) & (rgb.max(axis=2) > 60)).mean())


def _image_boxes(doc, page: int) -> list[tuple[float, float, float, float]]:
    import pypdfium2.raw as raw

    return [obj.get_bounds() for obj in doc[page].get_objects(filter=[raw.FPDF_PAGEOBJ_IMAGE], max_depth=5)]


def _fonts(pdf: Path) -> set[str]:
    """The names of the fonts embedded in a PDF (Chromium writes its font dictionaries uncompressed)."""
    return {m.decode() for m in re.findall(rb"/(?:BaseFont|FontName)\s*/([^\s/<>\[\]]+)", pdf.read_bytes())}


def _no_system_cjk_font() -> bool:
    fc = shutil.which("fc-list")
    if fc is None:
        return False
    return not subprocess.run([fc, ":lang=zh"], capture_output=True, text=True, timeout=60).stdout.strip()


def test_check_report_pdf_has_the_photos(sample_index, tmp_path):
    _browser()
    out = tmp_path / "r.pdf"
    proc = run_cli("check", str(MY_PHOTO), "--index", str(sample_index), "--report", str(out), check=True)
    assert str(out) in proc.stdout and out.read_bytes()[:5] == b"%PDF-"
    assert not out.with_suffix(".html").exists(), "the HTML is only kept when the PDF cannot be printed"
    rgb, doc = _render(out)
    assert len(doc) >= 2, "the whole report, not one page"
    text = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    assert "Eileen_Collins_0001.jpg" in text and "Grace_Hopper" in text
    assert "Dear" in text or "GDPR" in text  # the letter is printed unfolded, not hidden in a <details>

    from PIL import Image

    Image.fromarray(rgb).save(tmp_path / "report_pdf_page1.png")
    keep_figure(tmp_path / "report_pdf_page1.png")
    _assert_not_blank(rgb, "the PDF's first page")
    boxes = _image_boxes(doc, 0)
    assert boxes, "no image on the first page: the photo searched for is missing"
    height = doc[0].get_size()[1]
    for left, bottom, right, top in boxes:  # each image is drawn, in colour, where the PDF places it
        crop = rgb[int((height - top) * 2) : int((height - bottom) * 2), int(left * 2) : int(right * 2)]
        assert crop.size and _colourful(crop) > 0.3, "a photo is blank or grey in the PDF"
    assert sum(len(_image_boxes(doc, i)) for i in range(len(doc))) >= 7  # your face + 3 rows of 2 faces


def test_report_html_embeds_everything(sample_index, tmp_path):
    """Nothing is fetched when the report opens: images are data: URIs, the only font a local file."""
    from exposure.checker import check
    from exposure.report import render_report

    page = render_report(check([MY_PHOTO], [sample_index]))
    sources = re.findall(r"""\bsrc\s*=\s*['"]([^'"]*)""", page)
    assert sources and all(s.startswith("data:image/") for s in sources)
    assert all(u.startswith("file:") for u in re.findall(r"url\('([^']*)'\)", page))
    assert "default-src 'none'" in page and not re.search(r"""(src|href)\s*=\s*['"]https?:""", page)


def _chinese_page(tmp_path: Path, sample_index: Path, with_font: bool = True) -> Path:
    """The sample report with a Chinese heading and paragraph, as an HTML file."""
    from exposure.checker import check
    from exposure.fonts import font_face_css
    from exposure.report import render_report

    page = render_report(check([MY_PHOTO], [sample_index]))
    page = page.replace("<body>", f"<body><h1 id='zh'>{CHINESE}</h1><p>距离不是百分比。</p>", 1)
    if not with_font:
        page = page.replace(font_face_css(), "")
    path = tmp_path / ("zh.html" if with_font else "zh_no_font.html")
    path.write_text(page, encoding="utf-8")
    return path


def test_chinese_text_is_drawn_with_a_cjk_font_in_the_pdf(sample_index, tmp_path):
    from exposure.fonts import cjk_font
    from exposure.pdf import html_to_pdf

    _browser()
    found = cjk_font()
    assert found is not None, "no CJK font: the cvttf-notosanscjk-regular wheel is a dependency"
    pdf = html_to_pdf(_chinese_page(tmp_path, sample_index), tmp_path / "zh.pdf")
    fonts = _fonts(pdf)
    assert any("CJK" in f or "Han" in f or "Hei" in f or "YaHei" in f for f in fonts), f"no CJK font in {fonts}"
    rgb, doc = _render(pdf)
    assert CHINESE in doc[0].get_textpage().get_text_range()
    from PIL import Image

    Image.fromarray(rgb).save(tmp_path / "report_pdf_zh_page1.png")
    keep_figure(tmp_path / "report_pdf_zh_page1.png")
    _assert_not_blank(rgb, "the Chinese PDF")

    if _no_system_cjk_font():  # without the font, the same text is drawn as empty boxes: the renders differ
        bare = html_to_pdf(_chinese_page(tmp_path, sample_index, with_font=False), tmp_path / "zh_no_font.pdf")
        assert not any("CJK" in f for f in _fonts(bare))
        tofu, _ = _render(bare)
        band = slice(0, rgb.shape[0] // 8)  # the Chinese heading at the top of the page
        differs = (np.abs(rgb[band].astype(int) - tofu[band].astype(int)).max(axis=2) > 60).mean()
        assert differs > 0.005, "the Chinese heading looks the same with and without the CJK font"


def _screenshot(browser: str, html: Path, png: Path) -> Path:
    from exposure.pdf import browser_command

    cmd = [a for a in browser_command(browser, html, png, str(png.parent / "profile")) if not a.startswith(("--print-to-pdf", "--no-pdf"))]
    cmd[-1:-1] = [f"--screenshot={png}", "--window-size=1100,1600", "--hide-scrollbars"]
    subprocess.run(cmd, capture_output=True, timeout=120, check=True)
    return png


def test_html_report_screenshot_in_chromium(sample_index, tmp_path):
    from PIL import Image

    png = keep_figure(_screenshot(_browser(), _chinese_page(tmp_path, sample_index), tmp_path / "report_html_zh.png"))
    rgb = np.asarray(Image.open(png).convert("RGB"))
    _assert_not_blank(rgb, "the HTML report")
    assert _colourful(rgb) > 0.005, "no photo in the HTML report's first screen"
    if _no_system_cjk_font():
        tofu = np.asarray(Image.open(_screenshot(_browser(), _chinese_page(tmp_path, sample_index, with_font=False),
                                                 tmp_path / "report_html_zh_no_font.png")).convert("RGB"))
        band = slice(0, rgb.shape[0] // 10)
        differs = (np.abs(rgb[band].astype(int) - tofu[band].astype(int)).max(axis=2) > 60).mean()
        assert differs > 0.005, "the Chinese heading looks the same with and without the CJK font"


def test_chinese_report_pdf_from_the_command_line(sample_index, tmp_path):
    """`exposure check --lang zh --report r.pdf`: the visible text is Chinese, drawn with a CJK font."""
    _browser()
    from exposure.i18n import LOCALE_DIR

    if not list(LOCALE_DIR.glob("zh*/LC_MESSAGES/*.mo")):
        pytest.skip(f"no compiled Chinese catalog in {LOCALE_DIR} yet")
    out = tmp_path / "zh.pdf"
    run_cli("check", str(MY_PHOTO), "--index", str(sample_index), "--lang", "zh", "--report", str(out), check=True)
    rgb, doc = _render(out)
    text = doc[0].get_textpage().get_text_range()
    assert len(re.findall(r"[\u4e00-\u9fff]", text)) > 20, "the report's first page is not in Chinese"
    assert any("CJK" in f or "Han" in f or "Hei" in f for f in _fonts(out))
    from PIL import Image

    Image.fromarray(rgb).save(tmp_path / "report_pdf_lang_zh_page1.png")
    keep_figure(tmp_path / "report_pdf_lang_zh_page1.png")
    _assert_not_blank(rgb, "the Chinese PDF")


def test_no_browser_is_a_clear_error_and_the_html_is_written(sample_index, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPOSURE_BROWSER", str(tmp_path / "no-such-browser"))
    monkeypatch.setenv("PATH", "")
    out = tmp_path / "r.pdf"
    proc = run_cli("check", str(MY_PHOTO), "--index", str(sample_index), "--report", str(out))
    assert proc.returncode == 1 and not out.exists()
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("exposure: error:") and "EXPOSURE_BROWSER" in error and "no-such-browser" in error
    assert str(out.with_suffix(".html")) in error and "print it" in error
    assert "Eileen_Collins_0001.jpg" in out.with_suffix(".html").read_text(encoding="utf-8")


def test_no_browser_found_on_an_empty_path(monkeypatch):
    from exposure import pdf

    monkeypatch.delenv("EXPOSURE_BROWSER", raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(pdf, "INSTALL_PATHS", ())
    assert pdf.find_browser() is None
    from exposure.errors import ExposureError

    with pytest.raises(ExposureError, match="no Chromium, Chrome or Edge"):
        pdf.html_to_pdf(Path("report.html"), Path("r.pdf"))


@pytest.mark.parametrize("script", ["sleep 30", "exit 0"], ids=["hangs", "writes-nothing"])
def test_a_browser_that_hangs_or_fails_is_an_error(tmp_path, script):
    from exposure.errors import ExposureError
    from exposure.pdf import html_to_pdf

    fake = tmp_path / "fake-browser"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    (tmp_path / "r.html").write_text("<p>hi</p>")
    with pytest.raises(ExposureError, match="did not"):
        html_to_pdf(tmp_path / "r.html", tmp_path / "r.pdf", browser=str(fake), timeout=2)
    assert not (tmp_path / "r.pdf").exists()


@pytest.fixture
def app_home(sample_index) -> Path:
    """A data home with the sample index in it, for the app."""
    from exposure.home import data_home

    root = data_home()
    shutil.copytree(sample_index, root / "indexes" / "sample_faces")
    return root


def test_app_saves_a_pdf_and_forgets_it(app_home, monkeypatch):
    pytest.importorskip("ipywidgets")
    _browser()
    from exposure.widgets import CheckApp

    app = CheckApp(workshop=False, plots=False)
    assert app.pdf_button.disabled  # nothing to save before a search
    assert app.try_sample() and not app.pdf_button.disabled
    app.pdf_button.click()
    saved = list((app_home / "user").glob("report-*.pdf"))
    assert len(saved) == 1 and saved[0].read_bytes()[:5] == b"%PDF-" and saved[0].name in app.saved.value
    assert not list((app_home / "user").glob("*.html"))

    monkeypatch.setenv("EXPOSURE_BROWSER", str(app_home / "no-such-browser"))
    app.pdf_button.click()  # no browser: the HTML report is saved, and the app says how to print it
    assert "print it" in app.saved.value and len(list((app_home / "user").glob("report-*.html"))) == 1
    app.forget_button.click()
    assert not (app_home / "user").exists() and app.pdf_button.disabled


def test_figures_draw_chinese_with_the_cjk_font(monkeypatch):
    """A figure's Chinese label is drawn with the CJK font (no 'Glyph missing' warning), not as empty boxes."""
    import io
    import warnings

    import matplotlib
    from PIL import Image

    from exposure import fonts
    from exposure.figures.style import _figure, to_png

    found = fonts.cjk_font()
    assert found is not None, "no CJK font: the cvttf-notosanscjk-regular wheel is a dependency"

    def draw() -> tuple[np.ndarray, list[str]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig, ax = _figure(3, 1)
            ax.set_axis_off()
            fig.text(0.05, 0.3, CHINESE, fontsize=20)
            png = to_png(fig)
        return np.asarray(Image.open(io.BytesIO(png)).convert("L")), [str(w.message) for w in caught]

    with matplotlib.rc_context():
        cjk, messages = draw()
        assert found[0] in matplotlib.rcParams["font.family"]
    assert not [m for m in messages if "missing from font" in m], messages
    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        monkeypatch.setattr(fonts, "use_cjk_in_figures", lambda: None)  # the same figure without the fallback
        boxes, messages = draw()
    assert any("missing from font" in m for m in messages)
    assert (np.abs(cjk.astype(int) - boxes.astype(int)) > 60).mean() > 0.01
