"""Check: the nearest faces with honest verdicts, from Python, the command line and the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import MY_PHOTO, SAMPLE_DATASET, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from exposure import NoFaceError, PhotoError, check, write_report
from exposure.calibration import calibration
from exposure.strangers import PEOPLE, Strangers
from exposure.verdicts import CHANCE_LIMIT, LIKELY, lines, verdict


def test_check_finds_the_scraped_copy_and_nothing_else(sample_index):
    result = check([MY_PHOTO], [sample_index])
    r = result.results
    assert list(r["rank"]) == [1, 2, 3]  # top 5 asked, the index has 3 faces
    first = r.iloc[0]
    assert first["identity"] == "Eileen_Collins" and first["is_match"]
    assert first["verdict"] == "same photo" and first["same_photo"]  # the scraped copy of her own photo
    assert first["distance"] < 0.2
    others = r.iloc[1:]
    assert (others["identity"] == "Grace_Hopper").all() and not others["is_match"].any()
    assert (others["verdict"] == "no match").all() and not others["same_photo"].any()
    assert result.queries[0].faces_found == 2 and result.queries[0].chosen == 0
    assert any("2 faces" in w for w in result.queries[0].warnings())


def test_choosing_another_face_changes_the_search(sample_index):
    result = check([MY_PHOTO], [sample_index], face=2)  # the false detection on the suit
    assert not result.results["is_match"].any()


def test_several_photos_of_one_person(sample_index):
    copy = SAMPLE_DATASET / "Eileen_Collins" / "Eileen_Collins_0001.jpg"
    result = check([MY_PHOTO, copy, SAMPLE_DATASET / "coffee.jpg"], [sample_index], top=1)
    top = result.results.iloc[0]
    assert top["distance"] < 0.1 and top["same_photo"] and top["hash_bits"] == 0  # the mean face, a copy
    assert top["query"] == str(copy)  # shown beside the photo nearest to it: the identical file
    assert result.skipped == [f"{SAMPLE_DATASET / 'coffee.jpg'}: no face found"]
    assert len(result.queries) == 2


def test_no_face_anywhere_is_an_error(sample_index):
    with pytest.raises(NoFaceError, match="coffee.jpg"):
        check([SAMPLE_DATASET / "coffee.jpg"], [sample_index])


def test_nothing_is_written_by_a_check(sample_index, tmp_path, monkeypatch):
    import os

    monkeypatch.chdir(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in sample_index.rglob("*")}
    check([MY_PHOTO], [sample_index])
    home = os.environ["EXPOSURE_HOME"]
    assert list(tmp_path.iterdir()) == []
    # only the face model's ONNX graph, built from the installed model file, may be cached
    stored = [p for p in Path(home).rglob("*") if p.is_file()]
    assert all(p.parent.name == "models" and p.suffix == ".onnx" for p in stored), stored
    assert {p: p.stat().st_mtime_ns for p in sample_index.rglob("*")} == before


# -------------------------------------------------------------- verdict rule


@settings(max_examples=300, deadline=None)
@given(
    distance=st.floats(min_value=0.0, max_value=1.5),
    n=st.integers(min_value=20, max_value=50_000_000),
    anchor=st.floats(min_value=0.2, max_value=1.0),
    width=st.floats(min_value=0.03, max_value=0.3),
    rank=st.integers(min_value=5, max_value=60),
)
def test_a_match_never_expects_a_tenth_of_a_stranger(distance, n, anchor, width, rank):
    strangers = Strangers(n, rank, anchor, width)
    v = verdict(distance, strangers)
    expected = rank * 10 ** ((distance - anchor) / width)  # K faces at the anchor, ten-fold fewer per width closer
    assert v.is_match == (expected < CHANCE_LIMIT and distance <= 0.6)
    if distance > 0.6:
        assert v.label == "no match"
    assert v.expected_chance_matches == pytest.approx(expected)
    assert v.fmr == pytest.approx(expected / n)
    assert v.extrapolated == (distance < anchor)
    line = lines(strangers)[LIKELY]
    assert line <= 0.6 and (distance <= line) == v.is_match or abs(distance - line) < 1e-9


def test_the_match_line_follows_the_person_and_the_dataset():
    near, far = Strangers(10_000, 50, 0.40, 0.05), Strangers(10_000, 50, 0.55, 0.05)
    assert lines(near)[LIKELY] < lines(far)[LIKELY]  # strangers packed close to you: a stricter line
    assert lines(Strangers(10_000, 50, 0.5, 0.08))[LIKELY] < lines(Strangers(10_000, 50, 0.5, 0.04))[LIKELY]
    too_small = Strangers(12, 5, float("nan"), None)
    v = verdict(0.1, too_small)
    assert not v.is_match and v.label == "look-alike" and "too few faces" in v.explanation
    assert v.expected_chance_matches != v.expected_chance_matches  # unknown: NaN (null in JSON)
    assert verdict(0.1, too_small, same_photo=True).label == "same photo"  # the hashes agree, whatever the size
    people = verdict(0.2, Strangers(5_000, 25, 0.5, 0.05, PEOPLE))
    assert people.is_match and "named people" in people.explanation
    cal = calibration()
    assert float(cal.fmr(0.6)) > 1e-3  # on LFW, 0.6 lets through about 1 stranger in a few hundred pairs


def test_shipped_calibration_is_for_this_model():
    from exposure.models import MODEL_ID

    cal = calibration()
    assert cal.model_id == MODEL_ID
    assert cal.n_impostor > 10_000_000 and cal.n_genuine > 100_000
    assert np.all(np.diff(cal.impostor_le) >= 0) and np.all(np.diff(cal.genuine_le) >= 0)


# -------------------------------------------------------------- command line


def test_cli_json_contract(sample_index):
    proc = run_cli("check", str(MY_PHOTO), "--index", str(sample_index), "--json", check=True)
    records = json.loads(proc.stdout)
    assert len(records) == 3
    keys = {"query", "dataset", "rank", "image", "identity", "distance", "verdict", "is_match", "fmr",
            "expected_chance_matches", "same_photo"}
    assert all(keys <= set(r) for r in records)
    top = records[0]
    assert top["identity"] == "Eileen_Collins" and top["is_match"] is True and top["dataset"] == "sample_faces"
    assert top["same_photo"] is True and top["verdict"] == "same photo"
    assert top["image"] == "Eileen_Collins/Eileen_Collins_0001.jpg" and top["query"] == str(MY_PHOTO)
    assert [r["is_match"] for r in records[1:]] == [False, False]
    # each face result also carries the verdict on its named person, judged by the mean of their photos
    # 3 faces, 2 named people: too few to tell how close strangers come, but her photo is a copy of yours
    assert top["identity_verdict"] == "same photo" and top["identity_distance"] == pytest.approx(top["distance"], abs=1e-3)
    assert top["identity_expected_chance_matches"] is None and top["rates"] == "none: too few faces to measure"
    assert all(r["expected_chance_matches"] is None and r["match_line"] is None for r in records)
    unnamed = [r for r in records if r["identity"] is None]
    assert all(r["identity_verdict"] is None for r in unnamed)


def test_cli_table_and_report(sample_index, tmp_path):
    report = tmp_path / "out" / "report.html"
    proc = run_cli("check", str(MY_PHOTO), "--index", str(sample_index), "--report", str(report), check=True)
    assert "sample_faces: 3 faces searched; 1 match (you)" in proc.stdout
    assert "same photo" in proc.stdout and str(report) in proc.stdout
    assert "by person (2 named people" in proc.stdout
    assert "3 faces are too few to tell how close strangers come" in proc.stdout
    assert "no face is called you by distance alone: 'no match' here says nothing" in proc.stdout
    html = report.read_text()
    assert "Eileen_Collins" in html and "sample_faces" in html and "same photo" in html
    assert "By person: the 2 named people of this dataset" in html and "says nothing about whether you are in it" in html
    assert len(re.findall(r"src='data:image/jpeg;base64,", html)) >= 6  # query crops and matched crops
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched when opened
    assert "<script" not in html and "<link" not in html


@pytest.mark.parametrize(
    "photo, message",
    [("missing.jpg", "no such file"), ("empty.jpg", "empty"), ("coffee", "no face found")],
)
def test_cli_bad_input_one_line_no_traceback(sample_index, tmp_path, photo, message):
    path = {"missing.jpg": tmp_path / "missing.jpg", "empty.jpg": tmp_path / "empty.jpg",
            "coffee": SAMPLE_DATASET / "coffee.jpg"}[photo]
    if photo == "empty.jpg":
        path.write_bytes(b"")
    proc = run_cli("check", str(path), "--index", str(sample_index))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_cli_missing_index(tmp_path):
    proc = run_cli("check", str(MY_PHOTO), "--index", str(tmp_path))
    assert proc.returncode == 1 and "not an exposure index" in proc.stderr


def test_report_from_python(sample_index, tmp_path):
    result = check(MY_PHOTO, sample_index)
    path = write_report(result, tmp_path / "r.html")
    assert path.read_text().count("<tr>") == 7  # faces: header + 3 results; named people: header + 2


def test_bad_face_number(sample_index):
    with pytest.raises(PhotoError, match="face number 5 does not exist"):
        check([MY_PHOTO], [sample_index], face=5)


def test_lfw_tail_model_rests_on_a_concave_measured_curve():
    """LFW's average curves (the genuine side of every search's miss rate, notebook 04) below the data."""
    cal = calibration()
    d0 = cal.tail_start
    assert 0.35 <= d0 <= 0.45
    grid = np.arange(d0, 0.6001, 0.025)
    log_rate = np.log10(cal.fmr(grid))
    assert (np.diff(log_rate, 2) < 0.02).all()  # concave where measured: the extended secant lies above
    rates = cal.fmr_upper(np.array([0.1, 0.2, 0.3, d0 - 1e-6, d0]))
    assert np.all(np.diff(rates) > 0)  # monotone, and continuous at d0 within 25%
    assert rates[-2] == pytest.approx(rates[-1], rel=0.25)


def test_a_copy_of_your_photo_is_a_match_even_in_fifty_million_faces():
    crowded = Strangers(50_000_000, 60, 0.36, 0.04)  # 60 faces within 0.36 of you
    assert verdict(0.1, crowded, same_photo=True).label == "same photo"
    assert not verdict(0.33, crowded).is_match  # while a 0.33 there is chance


# -------------------------------------------------------------- named people, misses


def test_identity_curves_are_shipped_for_every_pair_of_photo_counts():
    """The mean face of more photos of a named person catches more of them at the same false-match rate."""
    for k1 in range(1, 6):
        caught = []
        for k2 in range(1, 6):
            cal = calibration(k1, k2)
            assert cal.meta["photos"] == k1 and cal.meta["identity_photos"] == k2
            assert np.all(np.diff(cal.impostor_le) >= 0) and np.all(np.diff(cal.genuine_le) >= 0)
            assert cal.n_impostor > 100_000 and cal.n_genuine > 500
            assert 0.25 <= cal.tail_start <= 0.55
            caught.append(float(cal.tmr(cal.distance_at_fmr(1e-4))))
        assert caught[-1] > caught[0] + 0.05, (k1, caught)  # measured: 5 photos of them beat 1 by far


def test_misses_are_stated_with_an_interval_and_grow_with_the_dataset():
    from exposure.verdicts import search_power

    cal = calibration()
    for d in (0.4, 0.5, 0.6):
        low, high = cal.fnmr_interval(d)
        assert low <= cal.fnmr(d) <= high and high - low < 0.01  # 241k same-person pairs: a narrow interval
    wide = calibration(5, 5).fnmr_interval(0.35)
    assert wide[1] - wide[0] > high - low  # fewer pairs, wider interval
    loose, strict = search_power(0.5), search_power(0.35)
    assert strict.missed > loose.missed and "not proof of absence" in strict.sentence()
    assert "says nothing" in search_power(float("-inf")).sentence()  # too small to judge


def test_photos_prepared_in_a_forked_process_come_back_the_same(tmp_path):
    """The CLI's cold start prepares the photos in a forked process: same faces, same errors, stoppable."""
    from exposure.checker import _prepare_beside, prepare_queries

    here, _ = prepare_queries([MY_PHOTO], None, "hog", None)
    wait, _ = _prepare_beside([MY_PHOTO], None, "hog", None)
    there, skipped = wait()
    assert skipped == [] and len(there) == len(here) == 1
    assert np.array_equal(there[0].face.embedding, here[0].face.embedding)
    assert there[0].face.box == here[0].face.box and there[0].faces_found == here[0].faces_found
    assert np.array_equal(there[0].photo.pixels, here[0].photo.pixels)
    bad = tmp_path / "text.jpg"
    bad.write_text("not a photo")
    wait, _ = _prepare_beside([str(bad)], None, "hog", None)
    with pytest.raises(PhotoError, match="not an image") as e:
        wait()
    assert e.value.source == str(bad)  # the error keeps its fields across the process boundary
    wait, stop = _prepare_beside([MY_PHOTO], None, "hog", None)
    stop()
    with pytest.raises(Exception):  # noqa: B017 - a stopped preparation has no result
        wait()


def test_cli_check_with_cold_models_equals_the_library(sample_index):
    """`exposure check` (models not loaded: photos prepared beside the index loading) gives check()'s verdicts."""
    proc = run_cli("check", str(MY_PHOTO), "--index", str(sample_index), "--json")
    assert proc.returncode == 0, proc.stderr
    result = check([MY_PHOTO], [sample_index])
    got = [(r["image"], r["verdict"], round(r["distance"], 5)) for r in json.loads(proc.stdout)]
    want = [(r.image, r.verdict, round(r.distance, 5)) for r in result.results.itertuples()]
    assert got == want


def test_cli_piped_into_a_reader_that_stops_says_nothing_more(sample_index, tmp_path):
    """`exposure check ... --report r.html | head -1`: the closed pipe is not reported as an error, and the
    report asked for is written all the same."""
    import subprocess
    import sys

    report = tmp_path / "r.html"
    proc = subprocess.Popen([sys.executable, "-m", "exposure.cli", "check", str(MY_PHOTO), "--index", str(sample_index),
                             "--report", str(report)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    proc.stdout.close()  # gone before the table is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "Broken pipe" not in err and "BrokenPipeError" not in err and "Traceback" not in err, err
    assert report.is_file() and "</html>" in report.read_text(encoding="utf-8")
