"""The Dask path, for real: a LocalCluster of 2 worker processes gives the rows the in-process path gives."""

from __future__ import annotations

import logging
import tarfile

import numpy as np
import pytest
from conftest import needs_lfw

from exposure.datasets.layout import FolderSource
from exposure.datasets.sources import open_source
from exposure.embed import embed_image

pytest.importorskip("distributed")


def _lfw_subset(lfw_people, dest, n_people, per_person):
    """A folder-per-identity copy of the first LFW people with enough photos."""
    count = 0
    for person in sorted(lfw_people.iterdir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) < per_person:
            continue
        (dest / person.name).mkdir(parents=True)
        for p in photos[:per_person]:
            (dest / person.name / p.name).write_bytes(p.read_bytes())
        count += 1
        if count == n_people:
            return dest
    return dest


def _in_process(source, items):
    return [embed_image(i.key, source.payload(i), i.identity, i.meta, "hog") for i in items]


def _same(got, want):
    assert [r for r, _ in got] == [r for r, _ in want]  # records in order: key, sha256, size, faces, error
    for (_, rows_got), (_, rows_want) in zip(got, want, strict=True):
        assert len(rows_got) == len(rows_want)
        for a, b in zip(rows_got, rows_want, strict=True):
            assert {k: v for k, v in a.items() if k != "embedding"} == {k: v for k, v in b.items() if k != "embedding"}
            np.testing.assert_allclose(a["embedding"], b["embedding"], rtol=0, atol=1e-6)


@needs_lfw
def test_local_cluster_matches_in_process(lfw_people, tmp_path):
    from exposure.distributed import embed_all_dask

    data = _lfw_subset(lfw_people, tmp_path / "lfw", n_people=10, per_person=2)
    (data / "Broken").mkdir()
    (data / "Broken" / "Broken_0001.jpg").write_bytes(b"\xff\xd8 not really")
    source = FolderSource(data)
    items = list(source.items())
    assert len(items) == 21
    got = list(embed_all_dask(source, items, "hog", None, window=3))  # small window: ordering under backpressure
    want = _in_process(source, items)
    _same(got, want)
    assert sum(1 for r, _ in got if r["error"]) == 1 and sum(len(rows) for _, rows in got) >= 18


@needs_lfw
def test_scheduler_address_sends_bytes_from_an_archive(lfw_people, tmp_path, monkeypatch):
    from distributed import LocalCluster

    import exposure.distributed
    from exposure.distributed import embed_all_dask

    data = _lfw_subset(lfw_people, tmp_path / "lfw-deepfunneled", n_people=2, per_person=2)
    with tarfile.open(tmp_path / "lfw.tgz", "w:gz") as tar:
        tar.add(data, arcname="lfw-deepfunneled")
    source = open_source(tmp_path / "lfw.tgz")
    folder = FolderSource(data)
    items = list(source.items())
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        got = list(embed_all_dask(source, items, "hog", cluster.scheduler_address))
        # a folder source through the same remote path: its files are read here and sent as bytes
        reads = []
        real_read = exposure.distributed.read_file
        monkeypatch.setattr(exposure.distributed, "read_file", lambda p, label=None: reads.append(p) or real_read(p, label))
        got_folder = list(embed_all_dask(folder, list(folder.items()), "hog", cluster.scheduler_address))
        monkeypatch.undo()
        assert len(reads) == 4  # read here, sent as bytes
    want = _in_process(source, items)
    _same(got, want)
    _same(got_folder, want)
