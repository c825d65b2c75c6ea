"""English and Simplified Chinese: the catalogs, the one language switch, and what a person reads
(report, CLI table, app) in both languages, never with a number in scientific notation."""

from __future__ import annotations

import ast
import html
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from conftest import MY_PHOTO, REPO, needs_lfw, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

import exposure
from exposure import i18n
from exposure.i18n import _, language, set_language

LOCALE = REPO / "exposure" / "locale"
PO = LOCALE / "zh_CN" / "LC_MESSAGES" / "exposure.po"
SCIENTIFIC = re.compile(r"\d(\.\d+)?[eE][-+]?\d+")
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")


@pytest.fixture(autouse=True)
def _language_from_the_environment(monkeypatch):
    """Each test starts from no language set and no language in the environment (English)."""
    for var in ("EXPOSURE_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    set_language(None)
    yield
    set_language(None)


def _po():
    with PO.open("rb") as f:
        return read_po(f, locale="zh_CN", domain="exposure")


# ---------------------------------------------------------------- the catalogs


def test_the_committed_mo_is_the_compiled_po():
    buf = io.BytesIO()
    write_mo(buf, _po(), use_fuzzy=False)
    assert PO.with_suffix(".mo").read_bytes() == buf.getvalue(), "run: .venv/bin/python tools/i18n.py"


def test_every_message_of_the_package_has_a_chinese_translation():
    po = _po()
    found = list(extract_from_dir(REPO / "exposure", method_map=[("**.py", "python")],
                                  keywords={"_": None, "ngettext": (1, 2)}))
    assert len(found) > 150, "the extraction found too little"
    for path, line, message, _comments, _context in found:
        entry = po.get(message)
        where = f"exposure/{path}:{line}: {message!r}"
        assert entry is not None, f"not in the .po (run tools/i18n.py, then translate): {where}"
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert all(strings) and not entry.fuzzy, f"untranslated or fuzzy: {where}"
        ids = message if isinstance(message, tuple) else (message,)
        wanted = {m for i in ids for m in PLACEHOLDER.findall(i)}
        assert all({m for m in PLACEHOLDER.findall(s)} == wanted for s in strings), f"placeholders differ: {where}"


def test_no_message_is_hidden_from_extraction_inside_an_f_string():
    """Babel cannot see _('...') written inside an f-string: such text would never be translated."""
    for path in (REPO / "exposure").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.JoinedStr):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Call) and getattr(inner.func, "id", "") in ("_", "ngettext"):
                        pytest.fail(f"{path.relative_to(REPO)}:{inner.lineno}: _() inside an f-string")


def test_set_language_changes_what_is_shown():
    assert _("likely you") == "likely you"
    assert set_language("zh") == "zh" and _("likely you") == "很可能是你"
    assert i18n.ngettext("{n} match", "{n} matches", 3) == "{n} 个匹配"
    assert set_language("en") == "en" and _("likely you") == "likely you"
    with pytest.raises(ValueError):
        set_language("fr")
    assert exposure.set_language is set_language and exposure.language is language


def test_language_is_chosen_set_then_exposure_lang_then_the_locale_then_english(monkeypatch):
    assert language() == "en"
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert language() == "zh"
    monkeypatch.setenv("LC_MESSAGES", "en_GB.UTF-8")
    assert language() == "en"
    monkeypatch.setenv("LC_ALL", "zh_TW.UTF-8")
    assert language() == "zh"
    monkeypatch.setenv("EXPOSURE_LANG", "en")
    assert language() == "en"
    set_language("zh")
    assert language() == "zh"
    set_language(None)
    assert language() == "en"
    monkeypatch.setenv("EXPOSURE_LANG", "fr")
    assert language() == "en"


# ---------------------------------------------------------------- what a person reads


def visible_text(page: str) -> str:
    """The text a browser shows: no tags, scripts, styles or inlined images."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r"data:[^'\" ]+", " ", page)
    page = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(page))


def assert_plain(text: str, what: str) -> None:
    m = SCIENTIFIC.search(text)
    assert m is None, f"{what}: scientific notation {m[0]!r} in ...{text[max(m.start() - 80, 0):m.end() + 40]}..."


def assert_chinese(text: str, what: str, must: tuple[str, ...] = ()) -> None:
    letters = re.findall(r"[A-Za-z]", text)
    cjk = CJK.findall(text)
    assert len(cjk) > len(letters), f"{what}: {len(cjk)} Chinese characters, {len(letters)} Latin letters"
    for heading in must:
        assert heading in text, f"{what}: {heading!r} missing"


REPORT_HEADINGS_ZH = ("我的脸在这些数据集里吗？", "你的照片：用来搜索的脸", "看结果之前", "结论是什么意思", "同一张照片")


def _report_both(photo, index, tmp_path) -> dict[str, str]:
    """The report's visible text and the CLI table, written by the real command line in each language."""
    out = {}
    for lang in ("en", "zh"):
        report = tmp_path / f"r-{lang}.html"
        proc = run_cli("check", str(photo), "--index", str(index), "--lang", lang, "--report", str(report), check=True)
        out[f"table-{lang}"] = proc.stdout
        out[f"report-{lang}"] = visible_text(report.read_text(encoding="utf-8"))
    return out


def test_report_and_table_in_both_languages_have_plain_numbers(sample_index, tmp_path):
    seen = _report_both(MY_PHOTO, sample_index, tmp_path)
    for what, text in seen.items():
        assert_plain(text, what)
    assert "Is my face in these datasets?" in seen["report-en"] and not CJK.search(seen["report-en"])
    assert "#  distance  verdict" in seen["table-en"] and not CJK.search(seen["table-en"])
    assert_chinese(seen["report-zh"], "report (zh)", REPORT_HEADINGS_ZH + ("个人信息保护负责人", "第四十七条"))
    assert_chinese(seen["table-zh"].replace("Eileen_Collins", "").replace("Grace_Hopper", ""), "table (zh)",
                   ("距离", "结论", "巧合的机会", "同一张照片", "不匹配"))


def test_json_is_the_same_in_both_languages(sample_index):
    outs = [json.loads(run_cli("check", str(MY_PHOTO), "--index", str(sample_index), "--json", "--lang", lang,
                               check=True).stdout) for lang in ("en", "zh")]
    assert outs[0] == outs[1] and outs[0][0]["verdict"] == "same photo"


@settings(max_examples=60, deadline=None)
@given(distance=st.floats(0.0, 1.2), size=st.integers(20, 10**9), anchor=st.floats(0.3, 0.7),
       width=st.floats(0.01, 0.2), lang=st.sampled_from(["en", "zh"]))
def test_verdict_words_never_use_scientific_notation(distance, size, anchor, width, lang):
    from exposure.strangers import PEOPLE, Strangers
    from exposure.verdicts import line_sentence, search_power, verdict

    set_language(lang)
    for kind in ("faces", PEOPLE):
        strangers = Strangers(size, 30, anchor, width, kind)
        assert_plain(verdict(distance, strangers).explanation, "explanation")
        assert_plain(line_sentence(strangers, min(distance, 0.8)), "line sentence")
    assert_plain(search_power(distance).sentence(), "search power")


def widget_text(widget) -> str:
    """Every text an ipywidgets tree shows: values of HTML and labels, descriptions, placeholders, options."""
    parts = []
    for attr in ("value", "description", "placeholder", "tooltip"):
        value = getattr(widget, attr, None)
        if isinstance(value, str):
            parts.append(visible_text(value))
    parts += [str(label) for label in getattr(widget, "_options_labels", ())]
    for child in getattr(widget, "children", ()):
        parts.append(widget_text(child))
    return " ".join(parts)


def test_the_app_switches_language_in_place(sample_index):
    pytest.importorskip("ipywidgets")
    from exposure.home import data_home
    from exposure.widgets import CheckApp

    shutil.copytree(sample_index, data_home() / "indexes" / "sample_faces")
    app = CheckApp(plots=False)
    app.add_photo(MY_PHOTO)
    app.search()
    english = widget_text(app.widget)
    assert "Search" in english and "counts as a match" in english and "简体中文" in english  # the selector
    assert not CJK.search(english.replace("简体中文", ""))
    rows = list(app.rows)
    app.language.value = "zh"
    chinese = widget_text(app.widget)
    assert app.rows == rows and len(app.photos) == 1  # nothing lost
    assert CJK.search(app.result.results["explanation"].iloc[0])  # what a report saved now would explain
    assert language() == "zh"
    assert_chinese(chinese.replace("Eileen_Collins", "").replace("Grace_Hopper", ""), "app (zh)",
                   ("1. 你的照片", "搜索", "算作匹配", "同一张照片", "忘掉我的照片"))
    app.threshold.value = 0.3  # the slider's sentence, in Chinese
    assert "匹配线 0.30" in widget_text(app.widget)
    for text in (english, chinese, widget_text(app.widget)):
        assert_plain(text, "app")
    app.language.value = "en"
    assert widget_text(app.widget).count("Forget my photos") >= 1


@needs_lfw
def test_a_real_dataset_with_tiny_chances_reads_plainly(lfw_people, tmp_path):
    """LFW people: a held-out photo of one of them found with a chance far below one in a million."""
    from exposure import build_index

    people = sorted(p for p in lfw_people.iterdir() if len(list(p.iterdir())) >= 2)[:120]
    data = tmp_path / "gallery"
    held = None
    for person in people:
        photos = sorted(person.iterdir())
        if held is None and len(photos) >= 3:
            held, photos = photos[-1], photos[:-1]
        (data / person.name).mkdir(parents=True)
        for p in photos[:3]:
            shutil.copy(p, data / person.name / p.name)
    build_index(data, tmp_path / "index", name="lfw-part", workers=2, progress=False)
    seen = _report_both(held, tmp_path / "index", tmp_path)
    for what, text in seen.items():
        assert_plain(text, what)
    assert "1 in" in seen["report-en"] and "分之一" in seen["report-zh"]
    assert_chinese(seen["report-zh"], "LFW report (zh)", REPORT_HEADINGS_ZH[:4])


def test_the_pipl_letter_is_written_in_chinese_to_the_person_in_charge():
    from exposure.privacy import request_letter

    row = {"dataset": "LFW", "image": "Eileen_Collins/Eileen_Collins_0001.jpg", "identity": "Eileen_Collins",
           "distance": 0.31, "verdict": "likely you"}
    english = request_letter(row, law="PIPL")
    assert english.startswith("To: ") and "Article 47" in english  # unchanged in English
    assert request_letter(row).count("Article 17") == 1  # English: GDPR by default
    set_language("zh")
    letter = request_letter(row)  # Chinese: PIPL by default
    assert letter == request_letter(row, law="PIPL")
    lines = letter.splitlines()
    assert lines[0].startswith("致：") and lines[1].strip() == "个人信息保护负责人"
    for article in ("第四十四条", "第四十五条", "第四十七条", "第四十八条", "第五十条", "第二十八条", "第二十九条"):
        assert article in letter, article
    for words in ("《中华人民共和国个人信息保护法》", "知情权、决定权", "查阅、复制", "删除", "解释说明",
                  "说明理由", "人民法院", "很可能是你", "Eileen_Collins/Eileen_Collins_0001.jpg", "[您的姓名]"):
        assert words in letter, words
    assert "Article" not in letter and "Dear" not in letter
    assert "Article 17" in request_letter(row, law="GDPR")  # a GDPR letter stays in English: it goes to Europe


def test_the_package_exports_the_language_switch():
    assert {"set_language", "language"} <= set(exposure.__all__)
    assert Path(i18n.__file__).parent / "locale" == i18n.LOCALE_DIR


def test_errors_a_person_meets_are_in_their_language(tmp_path, sample_index):
    """A missing photo, a file that is not a photo and a folder that is not an index, in Chinese; the
    reason a build record stores stays in English."""
    from conftest import run_cli

    from exposure.errors import PhotoError
    from exposure.photos import load_photo

    junk = tmp_path / "x.jpg"
    junk.write_text("not a photo")
    for args, words in (([str(tmp_path / "missing.jpg"), "--index", str(sample_index)], "没有这个文件"),
                        ([str(junk), "--index", str(sample_index)], "不是图片"),
                        ([str(junk), "--index", str(tmp_path)], "不是 exposure 索引")):
        out = run_cli("--lang", "zh", "check", *args)
        assert out.returncode == 1 and words in out.stderr and "Traceback" not in out.stderr, out.stderr
    set_language("zh")
    try:
        with pytest.raises(PhotoError) as caught:
            load_photo(junk)
        assert caught.value.reason == "not an image, or in a format that cannot be read"
        assert "不是图片" in caught.value.shown()
    finally:
        set_language(None)
