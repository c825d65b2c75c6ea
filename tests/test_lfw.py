"""Integration on real LFW (../shared/data/lfw): retrieval through the CLI, calibration (crash-resume: test_crash.py)."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import needs_lfw, run_cli

from exposure import build_index, open_index
from exposure.calibration import calibration

pytestmark = needs_lfw


@pytest.fixture(scope="module")
def holdout(lfw_people, tmp_path_factory):
    """100 people with >= 2 photos: up to 4 photos each indexed, one more of each held out."""
    rng = np.random.default_rng(2007)
    people = sorted(p.name for p in lfw_people.iterdir() if len(list(p.iterdir())) >= 2)
    chosen = sorted(rng.choice(people, size=100, replace=False))
    data = tmp_path_factory.mktemp("holdout") / "gallery"
    held = {}
    for name in chosen:
        photos = sorted((lfw_people / name).iterdir())
        held[name] = photos[-1]
        (data / name).mkdir(parents=True)
        for p in photos[:-1][:4]:
            shutil.copy(p, data / name / p.name)
    out = data.parent / "index"
    build_index(data, out, name="lfw-holdout", workers=2, progress=False)
    return out, held


def test_held_out_photos_find_their_person_at_rank_1_via_cli(holdout):
    index, held = holdout

    def ask(item):
        name, photo = item
        proc = run_cli("check", str(photo), "--index", str(index), "--json", "--top", "3")
        return name, proc

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(ask, sorted(held.items())))
    hits, no_face, wrong, false_matches = 0, [], [], []
    for name, proc in answers:
        if proc.returncode != 0:
            no_face.append((name, proc.stderr.strip()))
            continue
        results = json.loads(proc.stdout)
        top = results[0]
        assert top["dataset"] == "lfw-holdout" and top["rank"] == 1
        if top["identity"] == name:
            hits += 1
        else:
            wrong.append((name, top["identity"], top["distance"], top["verdict"]))
        false_matches += [(name, r["identity"], r["distance"]) for r in results
                          if r["is_match"] and r["identity"] != name]
        assert all(r["expected_chance_matches"] < 0.1 for r in results if r["is_match"])
    assert hits >= 95, f"rank-1 hits {hits}/100; misses {wrong}; no face {no_face}"
    # The rule allows at most 0.1 strangers per search called a match, in expectation: over 100
    # searches, about 10 at worst. More would mean the shipped false-match rates are too low.
    assert len(false_matches) <= 10, false_matches


def test_shipped_calibration_agrees_with_fresh_embeddings(holdout):
    """The false-match rate measured on this index's different-person pairs matches the shipped curve."""
    index, _ = holdout
    ix = open_index(index)
    keep = (ix.faces["primary"] & ix.faces["identity"].notna()).to_numpy()
    emb, labels = ix.embeddings[keep], ix.faces["identity"][keep].to_numpy()
    d = np.linalg.norm(emb[:, None, :] - emb[None, :, :], axis=2)
    upper = np.triu(np.ones_like(d, dtype=bool), 1)
    impostor = d[upper & (labels[:, None] != labels[None, :])]
    genuine = d[upper & (labels[:, None] == labels[None, :])]
    cal = calibration()
    for t in (0.55, 0.6):
        measured, shipped = (impostor <= t).mean(), float(cal.fmr(t))
        sd = np.sqrt(shipped * (1 - shipped) / len(impostor))
        assert abs(measured - shipped) < max(5 * sd, 0.35 * shipped), (t, measured, shipped)
    assert abs((genuine <= 0.6).mean() - float(cal.tmr(0.6))) < 0.05


def test_aligned_crop_fast_path_is_found_and_embeds_like_full_detection(lfw_people, tmp_path):
    """LFW's aligned 250x250 crops: the probe finds the box; embeddings match the detection path."""
    from PIL import Image

    data = tmp_path / "data"
    for person in sorted(lfw_people.iterdir())[:50]:
        shutil.copytree(person, data / person.name)
    fast = build_index(data, tmp_path / "fast", workers=2, progress=False)
    full = build_index(data, tmp_path / "full", workers=2, progress=False, aligned=False)
    assert fast["fast_path"]["size"] == [250, 250] and full["fast_path"] is None
    left, top, right, bottom = fast["fast_path"]["box"]
    assert 60 <= left < right <= 190 and 60 <= top < bottom <= 200
    a, b = open_index(tmp_path / "fast"), open_index(tmp_path / "full")
    ea = dict(zip(a.faces[a.faces["primary"]]["image"], a.embeddings[a.faces["primary"].to_numpy()], strict=True))
    eb = dict(zip(b.faces[b.faces["primary"]]["image"], b.embeddings[b.faces["primary"].to_numpy()], strict=True))
    d = np.array([np.linalg.norm(ea[k] - eb[k]) for k in ea.keys() & eb.keys()])
    assert len(ea) >= len(eb) and np.median(d) < 0.01 and np.percentile(d, 90) < 0.1

    mixed = tmp_path / "mixed"  # photos of many sizes: not aligned crops, so full detection
    mixed.mkdir()
    for i, p in enumerate(sorted(data.rglob("*.jpg"))[:60]):
        Image.open(p).resize((250 + 7 * i, 250 + 7 * i)).save(mixed / p.name)
    assert build_index(mixed, tmp_path / "mixed-ix", workers=2, progress=False)["fast_path"] is None


def test_named_people_judged_by_their_mean_face_are_found(holdout):
    """The identity rule on real held-out photos: the person is the nearest name, judged by the mean of
    their indexed photos they are found nearly always, and strangers called a match by person stay within
    their half of the promise (0.05 per search: the other half is the faces')."""
    from exposure.answer import dataset_answer
    from exposure.checker import check
    from exposure.errors import NoFaceError

    index, held = holdout
    ix = open_index(index)
    searched = named_first = face_hits = person_hits = any_hits = false = named_in_answer = 0
    for name, photo in sorted(held.items()):
        try:
            r = check(photo, ix, top=3)
        except NoFaceError:
            continue
        searched += 1
        answer = dataset_answer(r, ix)
        named_in_answer += answer.startswith(("You are very likely in lfw-holdout", "You are in lfw-holdout: it holds "
                                              "a copy")) and f"'{name}'" in answer
        people, faces = r.identities, r.results
        assert (people["identities_searched"] == 100).all() and people["distance"].is_monotonic_increasing
        named_first += people["identity"].iloc[0] == name
        person_hits += bool(((people["identity"] == name) & people["is_match"]).any())
        face_hits += bool(((faces["identity"] == name) & faces["is_match"]).any())
        any_hits += bool(((people["identity"] == name) & people["is_match"]).any()
                         or ((faces["identity"] == name) & faces["is_match"]).any())
        false += int((people["is_match"] & (people["identity"] != name)).sum())
    print(f"searched {searched}: by person {person_hits}, by face {face_hits}, either {any_hits}; strangers {false}")
    assert searched >= 95 and named_first >= 95
    assert false <= 0.05 * searched + 5, false
    # measured on 2026-12-01, each way at half the promise: 82 of 100 found by person, 91 by one of their
    # photos, 91 either way (the answer); with the whole promise each way it was 91 and 95
    assert any_hits >= 0.85 * searched, (any_hits, person_hits, face_hits, searched)
    assert person_hits >= 0.75 * searched and face_hits >= 0.8 * searched, (person_hits, face_hits, searched)
    assert named_in_answer == person_hits  # the answer leads with the person matched by name


def test_the_answer_for_someone_not_there_says_how_often_it_would_find_them(holdout, lfw_people):
    """People absent from the index: the one answer per dataset rarely says they are in it (its verdicts
    promise at most 0.1 strangers per search among faces and 0.1 among named people), and otherwise says
    how often a check this size would find them."""
    from exposure.answer import dataset_answer
    from exposure.checker import check

    index, held = holdout
    ix = open_index(index)
    absent = sorted(p for p in lfw_people.iterdir() if p.name not in held)[::25][:40]
    said_in = 0
    for person in absent:
        r = check(sorted(person.iterdir())[0], ix, top=3)
        answer = dataset_answer(r, ix)
        said_in += answer.startswith("You are")
        assert answer.startswith(("You are very likely", "Perhaps", "No sign")), answer
        if answer.startswith("No sign"):
            assert "times in 10" in answer or "less than 1 time in 10" in answer, answer
    assert said_in <= 0.2 * len(absent) + 3, said_in
