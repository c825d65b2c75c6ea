"""Indexes: Parquet rows per face, a manifest that lists every failure, resumable and model-checked."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import MY_PHOTO, SAMPLE_DATASET, copy_tree, run_cli

from exposure import BadIndexError, ExposureError, build_index, open_index
from exposure.models import MODEL_ID


def test_sample_index_rows_and_manifest(sample_index):
    manifest = json.loads((sample_index / "manifest.json").read_text())
    assert manifest["dataset"] == "sample_faces"
    assert manifest["model_id"] == MODEL_ID and manifest["schema_version"] == 1
    assert manifest["complete"] is True
    c = manifest["counts"]
    assert (c["images_found"], c["images_with_faces"], c["images_without_face"], c["failed"]) == (4, 3, 1, 0)
    assert manifest["failed"] == []
    ix = open_index(sample_index)
    assert ix.n_faces == 3 and ix.embeddings.shape == (3, 128) and ix.embeddings.dtype == np.float32
    rows = ix.faces.set_index("image")
    assert rows.loc["Eileen_Collins/Eileen_Collins_0001.jpg", "identity"] == "Eileen_Collins"
    assert set(ix.faces["identity"]) == {"Eileen_Collins", "Grace_Hopper"}
    assert (ix.faces["dataset"] == "sample_faces").all() and (ix.faces["model_id"] == MODEL_ID).all()
    for _, r in ix.faces.iterrows():
        data = (SAMPLE_DATASET / r["image"]).read_bytes()
        assert r["sha256"] == hashlib.sha256(data).hexdigest()
        assert 0 <= r["box_left"] < r["box_right"] <= 250
    schema = pq.read_schema(next((sample_index / "shards").glob("*.parquet")))
    assert {"dataset", "image", "identity", "box_left", "embedding", "sha256", "model_id"} <= set(schema.names)


def test_bad_files_are_recorded_and_good_ones_indexed(tmp_path):
    data = copy_tree(SAMPLE_DATASET, tmp_path / "data")
    (data / "Grace_Hopper" / "broken.jpg").write_bytes(MY_PHOTO.read_bytes()[:5000])
    (data / "empty.png").write_bytes(b"")
    (data / "notes.jpg").write_text("not a photo")
    (data / "readme.txt").write_text("other files are skipped, not failed")
    manifest = build_index(data, tmp_path / "ix", workers=1, progress=False)
    failed = {f["path"]: f["reason"] for f in manifest["failed"]}
    assert set(failed) == {"Grace_Hopper/broken.jpg", "empty.png", "notes.jpg"}
    assert "truncated" in failed["Grace_Hopper/broken.jpg"] and "empty" in failed["empty.png"]
    assert manifest["counts"]["faces"] == 3 and manifest["counts"]["other_files_skipped"] == 1


def test_rerun_skips_done_images_and_picks_up_new_ones(tmp_path):
    data = copy_tree(SAMPLE_DATASET, tmp_path / "data")
    out = tmp_path / "ix"
    build_index(data, out, workers=1, progress=False, shard_images=2)
    shards = sorted((out / "shards").glob("*.parquet"))
    assert len(shards) == 2
    mtimes = [p.stat().st_mtime_ns for p in shards]
    build_index(data, out, workers=1, progress=False)
    assert [p.stat().st_mtime_ns for p in sorted((out / "shards").glob("*.parquet"))] == mtimes
    shutil.copy(MY_PHOTO, data / "Eileen_Collins" / "Eileen_Collins_0002.jpg")
    manifest = build_index(data, out, workers=1, progress=False)
    assert len(list((out / "shards").glob("*.parquet"))) == 3
    assert manifest["counts"]["images_done"] == 5 and manifest["counts"]["faces"] == 5  # the photo has 2 faces
    ix = open_index(out)
    assert not ix.faces.duplicated(["image", "face"]).any()
    second = ix.faces[ix.faces["image"] == "Eileen_Collins/Eileen_Collins_0002.jpg"]
    assert list(second["identity"]) == ["Eileen_Collins", None]  # the label names the primary face only


def test_lost_shard_is_rebuilt_on_rerun(tmp_path):
    out = tmp_path / "ix"
    build_index(SAMPLE_DATASET, out, workers=1, progress=False, shard_images=1)
    clean = open_index(out).faces.sort_values("image").reset_index(drop=True)
    last = sorted((out / "shards").glob("*.parquet"))[-1]
    last.unlink()  # as if killed before this shard was committed
    build_index(SAMPLE_DATASET, out, workers=1, progress=False, shard_images=1)
    again = open_index(out).faces.sort_values("image").reset_index(drop=True)
    assert again[["image", "face", "identity", "sha256"]].equals(clean[["image", "face", "identity", "sha256"]])


def test_index_of_another_model_is_refused(sample_index, tmp_path):
    out = shutil.copytree(sample_index, tmp_path / "ix")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["model_id"] = "some-other-model/v2"
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BadIndexError, match="some-other-model"):
        open_index(out)
    with pytest.raises(BadIndexError):
        build_index(SAMPLE_DATASET, out, workers=1, progress=False)


def test_damaged_shard_is_detected(sample_index, tmp_path):
    out = shutil.copytree(sample_index, tmp_path / "ix")
    shard = next((out / "shards").glob("*.parquet"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(BadIndexError, match="damaged.*rebuild"):
        open_index(out)


def test_flat_folder_has_no_identities(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in SAMPLE_DATASET.rglob("*.jpg"):
        shutil.copy(p, flat / p.name)
    build_index(flat, tmp_path / "ix", workers=1, progress=False)
    assert open_index(tmp_path / "ix").faces["identity"].isna().all()


def test_missing_folder_and_not_an_index(tmp_path):
    with pytest.raises(ExposureError, match="no such"):
        build_index(tmp_path / "nope", tmp_path / "ix", progress=False)
    with pytest.raises(BadIndexError, match="not an exposure index"):
        open_index(tmp_path)


def test_second_build_on_same_index_stops_with_clear_message(tmp_path):
    import fcntl
    import os

    out = tmp_path / "ix"
    out.mkdir()
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another build holds the index
    try:
        proc = run_cli("index", str(SAMPLE_DATASET), "--out", str(out), "--quiet")
    finally:
        os.close(fd)
    assert proc.returncode == 1
    assert "another exposure index build" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_index_reports_counts(tmp_path):
    proc = run_cli("index", str(SAMPLE_DATASET), "--out", str(tmp_path / "ix"), "--quiet", "--workers", "1", check=True)
    assert "4 images indexed, 3 faces, 1 without a face, 0 unreadable" in proc.stdout


def test_embeddings_are_memory_mapped_and_a_damaged_store_is_rebuilt(sample_index, tmp_path):
    out = shutil.copytree(sample_index, tmp_path / "ix")
    ix = open_index(out)
    assert ix.store is not None and ix.embeddings is ix.store.matrix  # tiles memory-mapped from the store
    clean = np.array(ix.embeddings)
    del ix
    data = out / "embeddings.f32"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # in the middle: only the full hash sees it
    data.write_bytes(bytes(raw))
    again = open_index(out)
    assert np.array_equal(np.array(again.embeddings), clean)  # rebuilt from the Parquet shards
    (out / "embeddings.json").unlink()
    assert np.array_equal(np.array(open_index(out).embeddings), clean)
    header = json.loads((out / "embeddings.json").read_text())
    (out / "embeddings.json").write_text(json.dumps({**header, "version": 1}))  # a store of the older row layout
    assert np.array_equal(np.array(open_index(out).embeddings), clean)
    assert json.loads((out / "embeddings.json").read_text())["version"] == 2  # rebuilt in the current layout


def test_rerun_sets_a_damaged_shard_aside_and_redoes_its_images(tmp_path):
    out = tmp_path / "ix"
    build_index(SAMPLE_DATASET, out, workers=1, progress=False, shard_images=2)
    clean = open_index(out).faces.sort_values("image")["image"].tolist()
    first = sorted((out / "shards").glob("*.parquet"))[0]
    raw = bytearray(first.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    first.write_bytes(bytes(raw))
    with pytest.raises(BadIndexError, match="damaged"):
        open_index(out)
    build_index(SAMPLE_DATASET, out, workers=1, progress=False, shard_images=2)
    assert (out / "shards" / (first.name + ".damaged")).exists()
    assert open_index(out).faces.sort_values("image")["image"].tolist() == clean


def test_float16_store_halves_the_matrix_and_keeps_the_verdicts(tmp_path):
    from exposure import check

    a = build_index(SAMPLE_DATASET, tmp_path / "f32", workers=1, progress=False)
    b = build_index(SAMPLE_DATASET, tmp_path / "f16", workers=1, progress=False, store="float16")
    assert a["counts"] == b["counts"]
    ix16 = open_index(tmp_path / "f16")
    assert ix16.embeddings.dtype == np.float16 and not (tmp_path / "f16" / "embeddings.f32").exists()
    assert (tmp_path / "f16" / "embeddings.f16").stat().st_size < (tmp_path / "f32" / "embeddings.f32").stat().st_size
    r32 = check(MY_PHOTO, tmp_path / "f32").results
    r16 = check(MY_PHOTO, ix16).results
    assert list(r16["verdict"]) == list(r32["verdict"])
    assert np.abs(r16["distance"].to_numpy() - r32["distance"].to_numpy()).max() < 1e-3
