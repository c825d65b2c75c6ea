"""The embedding store: written atomically, read back exactly (tiles, float16), refused when stale or damaged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from test_knn import brute, brute_topk, faces

from exposure import knn
from exposure import store as embedding_store


@pytest.mark.parametrize("tile_rows", [100, 1234, 8192])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_store_round_trip(tmp_path, dtype, tile_rows):
    e = faces(1234)
    store = embedding_store.write_store(tmp_path, e, dtype, source="abc", tile_rows=tile_rows)
    assert (tmp_path / embedding_store.DATA_NAMES[dtype]).is_file() and (tmp_path / embedding_store.HEADER_NAME).is_file()
    header = json.loads((tmp_path / embedding_store.HEADER_NAME).read_text())
    assert header["n"] == 1234 and header["dtype"] == dtype and header["source"] == "abc"
    assert header["tile_rows"] == tile_rows and header["version"] == 2
    again = embedding_store.open_store(tmp_path, source="abc", verify=True)
    assert isinstance(again.matrix, embedding_store.TiledRows) and again.matrix.dtype == np.dtype(dtype)
    assert again.shape == (1234, 128) and len(again.matrix) == 1234
    assert np.array_equal(np.asarray(again.matrix), e.astype(dtype))
    wide = e.astype(dtype).astype(np.float32)
    assert np.allclose(again.sqnorms, (wide.astype(np.float64) ** 2).sum(1), rtol=1e-6)
    # the file is the tiles, each the (128, w) transpose of its rows, in order, then the norms
    raw = np.fromfile(tmp_path / embedding_store.DATA_NAMES[dtype], dtype=dtype, count=1234 * 128)
    pos = 0
    for first in range(0, 1234, tile_rows):
        rows = e[first:first + tile_rows].astype(dtype)
        assert np.array_equal(raw[pos:pos + rows.size].reshape(128, len(rows)), rows.T)
        pos += rows.size
    q = faces(3, seed=5)
    for chunk_rows in (7, 100, 50_000):
        d, i = knn.search(again, q, 5, chunk_rows=chunk_rows)
        bd, bi = brute_topk(wide, q, 5)
        assert (i == bi).all() and np.abs(d - bd).max() < 1e-6
        assert np.allclose(knn.all_distances(again, q, chunk_rows=chunk_rows), brute(wide, q).min(0), atol=1e-3)
    assert store.sha256 == again.sha256


def test_tiled_rows_index_like_an_array(tmp_path):
    """A store's matrix answers the indexing an (n, 128) array does: rows read from their tiles."""
    e = faces(250)
    m = embedding_store.write_store(tmp_path, e, tile_rows=64).matrix  # 3 full tiles and a tail of 58
    cases = [5, -1, 249, slice(None), slice(60, 70), slice(200, None), slice(10, 5), slice(None, None, 7),
             np.array([249, 0, 63, 64, 192, 191, 64]), [3, 3, 1], [], np.array([[1, 2], [-3, 70]]), np.int64(7), np.arange(250) % 3 == 0, (slice(1, 4), 5),
             (np.array([7, 200]), slice(0, 3))]
    for key in cases:
        assert np.array_equal(m[key], e[key]), key
    assert np.array_equal(m.astype(np.float64), e.astype(np.float64))
    q = faces(2, seed=9)
    d, i = knn.search(m, q, 5, chunk_rows=50)  # the matrix alone, without the stored norms
    bd, bi = brute_topk(e, q, 5)
    assert (i == bi).all() and np.abs(d - bd).max() < 1e-6
    for bad in (250, -251, np.array([0, 250]), np.ones(249, bool), np.array([0.5])):
        with pytest.raises(IndexError):
            m[bad]


def test_old_row_major_store_is_refused_as_older_layout(tmp_path):
    embedding_store.write_store(tmp_path, faces(10))
    header_path = tmp_path / embedding_store.HEADER_NAME
    header = json.loads(header_path.read_text())
    header["version"] = 1
    header_path.write_text(json.dumps(header))
    with pytest.raises(embedding_store.StoreError, match="older layout"):
        embedding_store.open_store(tmp_path)


def test_store_from_chunks_equals_store_from_array(tmp_path):
    e = faces(1000)
    a = embedding_store.write_store(tmp_path / "a", e)
    b = embedding_store.write_store(tmp_path / "b", iter([e[:10], e[10:10], e[10:999], e[999:]]))
    assert a.sha256 == b.sha256 and b.n == 1000


def test_empty_store(tmp_path):
    store = embedding_store.write_store(tmp_path, np.zeros((0, 128), np.float32))
    assert store.n == 0
    assert knn.search(embedding_store.open_store(tmp_path), faces(1), 5)[0].shape == (1, 0)


def test_store_refuses_stale_damaged_missing(tmp_path):
    with pytest.raises(embedding_store.StoreError, match="no embedding store"):
        embedding_store.open_store(tmp_path)
    embedding_store.write_store(tmp_path, faces(500), source="shards-v1")
    with pytest.raises(embedding_store.StoreError, match="stale"):
        embedding_store.open_store(tmp_path, source="shards-v2")
    data = tmp_path / embedding_store.DATA_NAMES["float32"]
    raw = bytearray(data.read_bytes())
    raw[1000] ^= 0xFF  # inside the first 64 KiB: caught by the cheap check
    data.write_bytes(bytes(raw))
    with pytest.raises(embedding_store.StoreError, match="does not match"):
        embedding_store.open_store(tmp_path)
    raw[1000] ^= 0xFF
    raw[100_000] ^= 0xFF  # in the middle: only the full checksum sees it
    data.write_bytes(bytes(raw))
    embedding_store.open_store(tmp_path)
    with pytest.raises(embedding_store.StoreError, match="checksum"):
        embedding_store.open_store(tmp_path, verify=True)
    data.write_bytes(bytes(raw[:-4]))
    with pytest.raises(embedding_store.StoreError, match="bytes"):
        embedding_store.open_store(tmp_path)
    data.unlink()
    with pytest.raises(embedding_store.StoreError, match="missing"):
        embedding_store.open_store(tmp_path)


def test_rewrite_replaces_the_other_dtype(tmp_path):
    embedding_store.write_store(tmp_path, faces(100), "float32")
    embedding_store.write_store(tmp_path, faces(100), "float16")
    assert not (tmp_path / embedding_store.DATA_NAMES["float32"]).exists()
    assert embedding_store.open_store(tmp_path).dtype == np.float16


def test_write_is_atomic(tmp_path, monkeypatch):
    """A write that fails while writing its data (disk full) leaves the old store intact and no temp files."""
    old = embedding_store.write_store(tmp_path, faces(300), source="old")

    def boom(*a, **k):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(embedding_store.os, "fsync", boom)
        with pytest.raises(OSError, match="disk full"):
            embedding_store.write_store(tmp_path, faces(400, seed=7), source="new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [embedding_store.DATA_NAMES["float32"], embedding_store.HEADER_NAME]
    kept = embedding_store.open_store(tmp_path, source="old", verify=True)
    assert kept.sha256 == old.sha256 and kept.n == 300


def test_crash_between_data_and_header_leaves_no_store(tmp_path, monkeypatch):
    """Killed after the data file is renamed but before the new header lands: no store, not a wrong one."""
    embedding_store.write_store(tmp_path, faces(300), source="old")
    calls = []
    real_replace = os.replace

    def replace_then_die(src, dst):
        calls.append(dst)
        if Path(dst).name == embedding_store.HEADER_NAME:
            raise KeyboardInterrupt  # the process dies here
        return real_replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(embedding_store.os, "replace", replace_then_die)
        with pytest.raises(KeyboardInterrupt):
            embedding_store.write_store(tmp_path, faces(300, seed=8), source="new")
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(embedding_store.StoreError, match="no embedding store"):
        embedding_store.open_store(tmp_path)


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError):
        embedding_store.write_store(tmp_path, np.zeros((3, 127), np.float32))
    with pytest.raises(ValueError, match="float16"):
        embedding_store.write_store(tmp_path, np.full((3, 128), 1e6, np.float32), "float16")
    with pytest.raises(ValueError):
        embedding_store.write_store(tmp_path, np.zeros((3, 128), np.float32), "int8")
    assert not list(tmp_path.glob(".*.tmp"))


def test_float16_store_error_is_bounded(tmp_path):
    """float16 keeps 11 significant bits: on embeddings of dlib's scale distances move by < 2e-4."""
    e = faces(20000)
    q = faces(20, seed=11)
    s32 = embedding_store.write_store(tmp_path / "a", e, "float32")
    s16 = embedding_store.write_store(tmp_path / "b", e, "float16")
    d32, i32 = knn.search(s32, q, 5)
    d16, i16 = knn.search(s16, q, 5)
    assert np.abs(d16 - d32).max() < 2e-4
    same_face = brute(np.asarray(s16.matrix, np.float32), q)[np.arange(20)[:, None], i32]
    assert np.abs(same_face - d32).max() < 2e-4
    assert (i16[:, 0] == i32[:, 0]).mean() >= 0.95
    # the widening is exact: the float16 search equals brute force over the float16 values
    bd, bi = brute_topk(e.astype(np.float16).astype(np.float32), q, 5)
    assert (i16 == bi).all() and np.abs(d16 - bd).max() < 1e-6
