"""exposure.knn: exact chunked search equals brute force; the memory-mapped store; flat memory."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from exposure import knn

REPO = Path(__file__).resolve().parents[1]
LFW_INDEX = Path(os.environ.get("EXPOSURE_BENCH_DIR", REPO / "build" / "bench")) / "lfw-index"


def faces(n: int, seed: int = 0) -> np.ndarray:
    """dlib-like embeddings: a shared mean direction (norm 1.3) plus N(0, 0.05) per dimension."""
    rng = np.random.default_rng(seed)
    mean = rng.standard_normal(knn.DIM)
    mean *= 1.3 / np.linalg.norm(mean)
    return (mean + 0.05 * rng.standard_normal((n, knn.DIM))).astype(np.float32)


def brute(e: np.ndarray, q: np.ndarray) -> np.ndarray:
    """All distances (q, n), in float64."""
    e, q = np.asarray(e, np.float64), np.atleast_2d(np.asarray(q, np.float64))
    return np.sqrt(((q[:, None, :] - e[None, :, :]) ** 2).sum(-1))


def brute_topk(e, q, k):
    d = brute(e, q)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, 1), order


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 1000, 4096, 100_000])
@pytest.mark.parametrize("nq", [1, 4])
def test_search_equals_brute_force(chunk_rows, nq):
    e = faces(3000)
    q = faces(nq, seed=1)
    d, i = knn.search(e, q, 10, chunk_rows=chunk_rows)
    bd, bi = brute_topk(e, q, 10)
    assert d.shape == i.shape == (nq, 10) and d.dtype == np.float32 and i.dtype == np.int64
    assert (i == bi).all()
    assert np.abs(d - bd).max() < 1e-6
    assert (np.diff(d, axis=1) >= 0).all()


def test_queries_inside_the_index_find_themselves_first():
    e = faces(2000)
    d, i = knn.search(e, e[[5, 500, 1999]], 3, chunk_rows=300)
    assert list(i[:, 0]) == [5, 500, 1999]
    assert np.abs(d[:, 0]).max() < 1e-6  # the final distances are direct, not from the expanded form


def test_k_larger_than_n_returns_everything_sorted():
    e = faces(7)
    q = faces(2, seed=3)
    d, i = knn.search(e, q, 50, chunk_rows=3)
    bd, bi = brute_topk(e, q, 7)
    assert d.shape == (2, 7)
    assert (i == bi).all() and np.abs(d - bd).max() < 1e-6


def test_edge_cases():
    e = faces(10)
    assert knn.search(e, faces(1, 2)[0], 0)[0].shape == (1, 0)
    d, i = knn.search(np.zeros((0, 128), np.float32), faces(2, 2), 5)
    assert d.shape == i.shape == (2, 0)
    with pytest.raises(ValueError):
        knn.search(e, np.zeros(127, np.float32), 3)
    with pytest.raises(ValueError):
        knn.search(e, np.full(128, np.nan, np.float32), 3)


def test_ties_go_to_the_lower_row():
    e = np.repeat(faces(3), 4, axis=0)  # every face four times
    d, i = knn.search(e, e[4], 4, chunk_rows=5)
    assert list(i[0]) == [4, 5, 6, 7]


def test_search_nearest_is_the_min_over_queries():
    e = faces(5000)
    q = faces(3, seed=9)
    best = knn.search_nearest(e, q, 8, chunk_rows=777)
    d = brute(e, q)
    m = d.min(0)
    order = np.argsort(m, kind="stable")[:8]
    assert (best.indices == order).all()
    assert (best.queries == d[:, order].argmin(0)).all()
    assert np.abs(best.distances - m[order]).max() < 1e-6


def test_all_distances_and_iter(tmp_path):
    e = faces(5000)
    q = faces(2, seed=4)
    store = knn.write_store(tmp_path, e)
    want = brute(e, q).min(0)
    got = knn.all_distances(store, q, chunk_rows=999)
    assert got.shape == (5000,) and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-5
    out = np.memmap(tmp_path / "d.f32", dtype=np.float32, mode="w+", shape=(5000,))
    assert knn.all_distances(store, q, chunk_rows=999, out=out) is out
    starts = [s for s, _ in knn.iter_distances(store, q, chunk_rows=999)]
    assert starts == list(range(0, 5000, 999))


# ---------------------------------------------------------------- the store


@pytest.mark.parametrize("tile_rows", [100, 1234, 8192])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_store_round_trip(tmp_path, dtype, tile_rows):
    e = faces(1234)
    store = knn.write_store(tmp_path, e, dtype, source="abc", tile_rows=tile_rows)
    assert (tmp_path / knn.DATA_NAMES[dtype]).is_file() and (tmp_path / knn.HEADER_NAME).is_file()
    header = json.loads((tmp_path / knn.HEADER_NAME).read_text())
    assert header["n"] == 1234 and header["dtype"] == dtype and header["source"] == "abc"
    assert header["tile_rows"] == tile_rows and header["version"] == 2
    again = knn.open_store(tmp_path, source="abc", verify=True)
    assert isinstance(again.matrix, knn.TiledRows) and again.matrix.dtype == np.dtype(dtype)
    assert again.shape == (1234, 128) and len(again.matrix) == 1234
    assert np.array_equal(np.asarray(again.matrix), e.astype(dtype))
    wide = e.astype(dtype).astype(np.float32)
    assert np.allclose(again.sqnorms, (wide.astype(np.float64) ** 2).sum(1), rtol=1e-6)
    # the file is the tiles, each the (128, w) transpose of its rows, in order, then the norms
    raw = np.fromfile(tmp_path / knn.DATA_NAMES[dtype], dtype=dtype, count=1234 * 128)
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
    m = knn.write_store(tmp_path, e, tile_rows=64).matrix  # 3 full tiles and a tail of 58
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
    knn.write_store(tmp_path, faces(10))
    header_path = tmp_path / knn.HEADER_NAME
    header = json.loads(header_path.read_text())
    header["version"] = 1
    header_path.write_text(json.dumps(header))
    with pytest.raises(knn.StoreError, match="older layout"):
        knn.open_store(tmp_path)


def test_store_from_chunks_equals_store_from_array(tmp_path):
    e = faces(1000)
    a = knn.write_store(tmp_path / "a", e)
    b = knn.write_store(tmp_path / "b", iter([e[:10], e[10:10], e[10:999], e[999:]]))
    assert a.sha256 == b.sha256 and b.n == 1000


def test_empty_store(tmp_path):
    store = knn.write_store(tmp_path, np.zeros((0, 128), np.float32))
    assert store.n == 0
    assert knn.search(knn.open_store(tmp_path), faces(1), 5)[0].shape == (1, 0)


def test_store_refuses_stale_damaged_missing(tmp_path):
    with pytest.raises(knn.StoreError, match="no embedding store"):
        knn.open_store(tmp_path)
    knn.write_store(tmp_path, faces(500), source="shards-v1")
    with pytest.raises(knn.StoreError, match="stale"):
        knn.open_store(tmp_path, source="shards-v2")
    data = tmp_path / knn.DATA_NAMES["float32"]
    raw = bytearray(data.read_bytes())
    raw[1000] ^= 0xFF  # inside the first 64 KiB: caught by the cheap check
    data.write_bytes(bytes(raw))
    with pytest.raises(knn.StoreError, match="does not match"):
        knn.open_store(tmp_path)
    raw[1000] ^= 0xFF
    raw[100_000] ^= 0xFF  # in the middle: only the full checksum sees it
    data.write_bytes(bytes(raw))
    knn.open_store(tmp_path)
    with pytest.raises(knn.StoreError, match="checksum"):
        knn.open_store(tmp_path, verify=True)
    data.write_bytes(bytes(raw[:-4]))
    with pytest.raises(knn.StoreError, match="bytes"):
        knn.open_store(tmp_path)
    data.unlink()
    with pytest.raises(knn.StoreError, match="missing"):
        knn.open_store(tmp_path)


def test_rewrite_replaces_the_other_dtype(tmp_path):
    knn.write_store(tmp_path, faces(100), "float32")
    knn.write_store(tmp_path, faces(100), "float16")
    assert not (tmp_path / knn.DATA_NAMES["float32"]).exists()
    assert knn.open_store(tmp_path).dtype == np.float16


def test_write_is_atomic(tmp_path, monkeypatch):
    """A write that fails while writing its data (disk full) leaves the old store intact and no temp files."""
    old = knn.write_store(tmp_path, faces(300), source="old")

    def boom(*a, **k):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(knn.os, "fsync", boom)
        with pytest.raises(OSError, match="disk full"):
            knn.write_store(tmp_path, faces(400, seed=7), source="new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [knn.DATA_NAMES["float32"], knn.HEADER_NAME]
    kept = knn.open_store(tmp_path, source="old", verify=True)
    assert kept.sha256 == old.sha256 and kept.n == 300


def test_crash_between_data_and_header_leaves_no_store(tmp_path, monkeypatch):
    """Killed after the data file is renamed but before the new header lands: no store, not a wrong one."""
    knn.write_store(tmp_path, faces(300), source="old")
    calls = []
    real_replace = os.replace

    def replace_then_die(src, dst):
        calls.append(dst)
        if Path(dst).name == knn.HEADER_NAME:
            raise KeyboardInterrupt  # the process dies here
        return real_replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(knn.os, "replace", replace_then_die)
        with pytest.raises(KeyboardInterrupt):
            knn.write_store(tmp_path, faces(300, seed=8), source="new")
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(knn.StoreError, match="no embedding store"):
        knn.open_store(tmp_path)


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError):
        knn.write_store(tmp_path, np.zeros((3, 127), np.float32))
    with pytest.raises(ValueError, match="float16"):
        knn.write_store(tmp_path, np.full((3, 128), 1e6, np.float32), "float16")
    with pytest.raises(ValueError):
        knn.write_store(tmp_path, np.zeros((3, 128), np.float32), "int8")
    assert not list(tmp_path.glob(".*.tmp"))


def test_float16_store_error_is_bounded(tmp_path):
    """float16 keeps 11 significant bits: on embeddings of dlib's scale distances move by < 2e-4."""
    e = faces(20000)
    q = faces(20, seed=11)
    s32 = knn.write_store(tmp_path / "a", e, "float32")
    s16 = knn.write_store(tmp_path / "b", e, "float16")
    d32, i32 = knn.search(s32, q, 5)
    d16, i16 = knn.search(s16, q, 5)
    assert np.abs(d16 - d32).max() < 2e-4
    same_face = brute(s16.rows(np.arange(len(e))), q)[np.arange(20)[:, None], i32]
    assert np.abs(same_face - d32).max() < 2e-4
    assert (i16[:, 0] == i32[:, 0]).mean() >= 0.95
    # the widening is exact: the float16 search equals brute force over the float16 values
    bd, bi = brute_topk(e.astype(np.float16).astype(np.float32), q, 5)
    assert (i16 == bi).all() and np.abs(d16 - bd).max() < 1e-6


@pytest.mark.parametrize("scale", [1.0, 2.0**15])  # 2**15: q * 2**112 would overflow, numpy's cast is used
@pytest.mark.parametrize("kind", ["array", "store"])
def test_float16_widening_is_exact_for_every_value(tmp_path, kind, scale):
    every = np.arange(2**16, dtype=np.uint16).view(np.float16)
    every = every[np.isfinite(every)]
    e = np.zeros((len(every) // 128 + 1, 128), np.float16)
    e.ravel()[: len(every)] = every
    q = np.zeros(128, np.float32)
    q[0] = scale
    # distance from a vector along dimension 0 to each row involves every stored value exactly
    m = e if kind == "array" else knn.write_store(tmp_path, e, "float16", tile_rows=100)
    got = knn.all_distances(m, q, chunk_rows=37)
    want = brute(e.astype(np.float32), q)[0]
    assert np.allclose(got, want, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- flat memory


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_memory_stays_flat(tmp_path, dtype):
    """Searching a 200k x 128 memory-mapped store with 10k-row chunks allocates a few chunks, not the store."""
    n, chunk = 200_000, 10_000
    rng = np.random.default_rng(0)
    store = knn.write_store(tmp_path, (rng.standard_normal((20_000, 128), np.float32) * 0.1 for _ in range(10)), dtype,
                            tile_rows=30_000)  # tiles larger than the chunks: chunks are slices of a tile
    store = knn.open_store(tmp_path)
    assert store.n == n
    chunk_bytes = chunk * 128 * 4
    q = rng.standard_normal((3, 128), np.float32) * 0.1
    knn.search(store, q, 5, chunk_rows=chunk)  # warm: page cache
    tracemalloc.start()
    try:
        knn.search(store, q, 5, chunk_rows=chunk)
        _, peak_search = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in knn.iter_distances(store, q, chunk_rows=chunk):
            pass
        _, peak_iter = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    store_bytes = n * 128 * store.matrix.dtype.itemsize
    assert peak_search < 2 * chunk_bytes, (peak_search, chunk_bytes, store_bytes)
    assert peak_iter < 2 * chunk_bytes, (peak_iter, chunk_bytes, store_bytes)


# ---------------------------------------------------------------- real embeddings


@pytest.mark.skipif(not (LFW_INDEX / "manifest.json").exists(), reason=f"no LFW index at {LFW_INDEX} (bench/calibrate.py builds it)")
def test_float16_verdicts_on_lfw(tmp_path):
    """Every LFW face searched for among the others: float16 storage changes no match (likely you / not)."""
    from compare import float16_effect

    from exposure.index import open_index

    effect = float16_effect(open_index(LFW_INDEX).embeddings, 5, work_dir=tmp_path)
    assert effect["max_abs_distance_error_same_face"] < 2e-4
    assert effect["top1_changed"] < 0.005
    assert effect["is_match_changed"] == 0
    assert effect["verdict_label_changed"] <= 0.001 * effect["verdicts_compared"]
