"""Hugging Face Hub datasets, fetched and stream-indexed from a loopback server laid out like the Hub.

The server (bench/hub_server.py) answers the requests huggingface_hub makes: revision info, the
paginated tree listing, resolve with a redirect to a "CDN" host and the LFS sha256 headers, Range
requests, and 401 for a gated repo. Shards are written here from LFW photos in the published
schemas: `datasets`' Parquet (image struct<bytes, path> + ClassLabel), WebDataset (KEY.jpg + KEY.cls)
and insightface RecordIO (train.rec + train.idx + property).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from conftest import needs_lfw
from hub_server import HubServer, Repo

from exposure.datasets import hub
from exposure.datasets.card import class_names
from exposure.errors import ExposureError

IMAGE_TYPE = None  # pyarrow struct<bytes, path>, made on first use


# ---------------------------------------------------------------- shards in the published schemas


def parquet_shard(rows: list[tuple[bytes, str, int]], names: list[str] | None, label_col: str = "label",
                  string_labels: bool = False) -> bytes:
    """A `datasets`-written Parquet shard: image struct<bytes, path>, a ClassLabel (names in the metadata when given)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    labels = [names[k] for _, _, k in rows] if string_labels else [k for _, _, k in rows]
    table = pa.table({
        "image": pa.array([{"bytes": b, "path": p} for b, p, _ in rows], type=image_type),
        label_col: pa.array(labels, type=pa.string() if string_labels else pa.int64()),
    })
    if names is not None and not string_labels:
        hf = {"info": {"features": {"image": {"_type": "Image"},
                                    label_col: {"names": names, "_type": "ClassLabel"}}}}
        table = table.replace_schema_metadata({b"huggingface": json.dumps(hf).encode()})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def wds_shard(samples: list[tuple[str, bytes, int]]) -> bytes:
    """A WebDataset shard as webdataset's TarWriter writes it: KEY.jpg then KEY.cls (the class as text)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for key, jpeg, label in samples:
            for ext, data in (("jpg", jpeg), ("cls", str(label).encode())):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size, info.mtime = len(data), 0
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def card(names: list[str], column: str = "label") -> bytes:
    """A dataset card whose YAML names the classes, as the Hub writes `dataset_info`."""
    lines = ["---", "license: other", "dataset_info:", "  features:", "  - name: image", "    dtype: image",
             f"  - name: {column}", "    dtype:", "      class_label:", "        names:"]
    lines += [f"          '{i}': {n}" for i, n in enumerate(names)]
    lines += ["  splits:", "  - name: train", "---", "", "# faces", ""]
    return "\n".join(lines).encode()


@pytest.fixture(scope="module")
def hub_people(lfw_people) -> list[tuple[str, list[bytes]]]:
    """Eight LFW people with four photos each: three go into the datasets, the fourth is the query."""
    chosen = []
    for person in sorted(lfw_people.iterdir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) >= 4:
            chosen.append((person.name, [p.read_bytes() for p in photos[:4]]))
        if len(chosen) == 8:
            break
    return chosen


def parquet_repo(people, shards: int = 3) -> tuple[Repo, list[str]]:
    """Three Parquet shards of the people's first three photos, ClassLabel names in the schema metadata."""
    names = [n for n, _ in people]
    rows = [(photos[j], f"{name}_{j + 1:04d}.jpg", k) for k, (name, photos) in enumerate(people) for j in range(3)]
    files = {f"data/train-{s:05d}-of-{shards:05d}.parquet": parquet_shard(rows[s::shards], names)
             for s in range(shards)}
    files["README.md"] = card(names)
    return Repo(files), names


def wds_repo(people) -> tuple[Repo, list[str]]:
    """Two WebDataset shards with KEY.cls class numbers; only the card names the classes."""
    names = [n for n, _ in people]
    samples = [(f"{k:03d}{j}", photos[j], k) for k, (_, photos) in enumerate(people) for j in range(3)]
    files = {"train/shard-00000.tar": wds_shard(samples[::2]), "train/shard-00001.tar": wds_shard(samples[1::2]),
             "README.md": card(names)}
    return Repo(files), names


@pytest.fixture
def hub_env(monkeypatch, tmp_path):
    """Point huggingface_hub at a loopback server; no token from the environment or a stored login."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")

    def start(repos: dict[str, Repo], page_size: int = 2) -> HubServer:
        server = HubServer(repos, page_size=page_size).__enter__()
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        started.append(server)
        return server

    started: list[HubServer] = []
    yield start
    for s in started:
        s.__exit__(None, None, None)


def read_rows(index_dir: Path):
    import pandas as pd
    import pyarrow.parquet as pq

    return pd.concat([pq.read_table(p).to_pandas() for p in sorted((index_dir / "shards").glob("part-*.parquet"))])


# ---------------------------------------------------------------- no photos needed


def test_parse_ref():
    assert hub.parse_ref("hf:me/faces") == hub.HubRef("me/faces", "main")
    assert hub.parse_ref("hf:me/faces@v1.0") == hub.HubRef("me/faces", "v1.0")
    for bad in ("hf:faces", "hf:me/faces@", "hf:../x/y", "hf:me/fa ces", "hf:/me/faces"):
        with pytest.raises(ExposureError, match="OWNER/NAME"):
            hub.parse_ref(bad)


def test_card_class_names():
    assert class_names(card(["Ann", "Bob"]).decode()) == {"label": ["Ann", "Bob"]}
    assert class_names("no front matter") == {}
    assert class_names("---\n: [unbalanced\n---\n") == {}


def test_hostile_repo_paths_are_refused():
    for bad in ("../etc/passwd", "/abs.parquet", "a/../../b.tar", "a\\b.tar", "a//b.tar", "x\n.tar"):
        with pytest.raises(hub.HubError, match="refusing"):
            hub.safe_repo_path(bad)
    assert hub.safe_repo_path("data/train-00000.parquet") == "data/train-00000.parquet"


def test_recordio_files_travel_together():
    files = [hub.HubFile(p, 1, None) for p in ("a/property", "a/train.idx", "a/train.rec", "b.parquet")]
    assert [[f.path for f in g] for g in hub.units(files)] == [["a/train.rec", "a/train.idx", "a/property"],
                                                               ["b.parquet"]]


def test_fetch_verifies_and_refuses_a_corrupt_file(hub_env, tmp_path):
    good, bad = b"PAR1" + bytes(range(256)) * 40, b"PAR1" + bytes(range(255, -1, -1)) * 40
    repo = Repo({"data/a.parquet": good, "data/b.parquet": bad, "data/c.parquet": good + b"!", "README.md": b"hi"})
    server = hub_env({"me/faces": repo})
    folder = hub.fetch_repo(hub.parse_ref("hf:me/faces"), tmp_path / "home", progress=False)
    assert folder == tmp_path / "home" / "hub" / "me" / "faces" / repo.commit
    assert (folder / "data" / "b.parquet").read_bytes() == bad
    marker = json.loads((folder / hub.FETCHED).read_text())
    assert marker["revision"] == repo.commit and set(marker["files"]) == {f"data/{x}.parquet" for x in "abc"}
    tree_calls = [p for m, p, _ in server.requests if "/tree/" in p]
    assert len(tree_calls) >= 2, "the listing is paginated (Link header) and every page is read"
    assert any(p.startswith("/cdn/") for _, p, _ in server.requests), "LFS files come from the CDN redirect"

    repo.corrupt.add("data/b.parquet")  # the CDN now serves other bytes than the Hub's sha256 says
    with pytest.raises(hub.HubChecksumError, match="does not match the Hub") as e:
        hub.fetch_repo(hub.parse_ref("hf:me/faces"), tmp_path / "home2", progress=False)
    assert "data/b.parquet" in str(e.value)
    assert not (tmp_path / "home2" / "hub" / "me" / "faces" / repo.commit / "data" / "b.parquet").exists()


def test_interrupted_transfer_resumes_with_range(hub_env, tmp_path):
    data = bytes(range(256)) * (96 * 1024)  # 24 MiB: more than huggingface_hub's 10 MiB download chunk
    repo = Repo({"big.parquet": data})
    repo.cut_after["big.parquet"] = 15 * 2**20
    server = hub_env({"me/big": repo})
    ref = hub.parse_ref("hf:me/big")
    commit = hub.resolve(ref)
    (f,) = hub.list_files(ref, commit)
    try:
        hub.download(ref, commit, f, tmp_path / "dl", progress=False)
    except hub.HubError:
        hub.download(ref, commit, f, tmp_path / "dl", progress=False)  # the second run resumes
    assert (tmp_path / "dl" / "big.parquet").read_bytes() == data
    ranges = [r for m, p, r in server.requests if p.startswith("/cdn/") and r]
    assert ranges and ranges[-1].startswith("bytes=") and not ranges[-1].startswith("bytes=0-"), ranges


def test_gated_repo_needs_a_token(hub_env, tmp_path, monkeypatch):
    repo = Repo({"a.parquet": b"PAR1" * 100}, gated_token="hf_secret")
    hub_env({"me/gated": repo})
    with pytest.raises(hub.HubError, match="gated or private.*HF_TOKEN"):
        hub.fetch_repo(hub.parse_ref("hf:me/gated"), tmp_path / "home", progress=False)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    folder = hub.fetch_repo(hub.parse_ref("hf:me/gated"), tmp_path / "home", progress=False)
    assert (folder / "a.parquet").is_file()


def test_unknown_repo_and_revision_say_so(hub_env, tmp_path):
    hub_env({"me/faces": Repo({"a.parquet": b"x"})})
    with pytest.raises(hub.HubError, match="no such dataset"):
        hub.resolve(hub.parse_ref("hf:me/other"))
    with pytest.raises(hub.HubError, match="no such dataset"):
        hub.resolve(hub.parse_ref("hf:me/faces@v9"))


# ---------------------------------------------------------------- streamed index, LFW photos


@needs_lfw
@pytest.mark.lfw
def test_stream_index_parquet_resumes_and_leaves_no_shard(hub_env, hub_people, tmp_path, monkeypatch):
    from exposure import stream
    from exposure.checker import check

    repo, names = parquet_repo(hub_people)
    server = hub_env({"lfw/faces-parquet": repo})
    out = tmp_path / "index"

    real_forget = hub.forget
    calls = []

    def killed_after_first(*args, **kwargs):  # stopped right after shard 1 is committed and deleted
        real_forget(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(hub, "forget", killed_after_first)
    with pytest.raises(KeyboardInterrupt):
        stream.index_hub("hf:lfw/faces-parquet", out, workers=1, progress=False)
    assert server.fetched("train-00000") == 1 and server.fetched("train-00001") == 0
    monkeypatch.setattr(hub, "forget", real_forget)
    m = stream.index_hub("hf:lfw/faces-parquet", out, workers=1, progress=False)
    assert server.fetched("train-00000") == 1, "a shard fully indexed is never fetched again"
    assert server.fetched("train-00001") == 1 and server.fetched("train-00002") == 1
    assert not [p for p in out.rglob("*") if p.suffix == ".parquet" and "shards" not in p.parts], \
        "without --keep no downloaded shard is left on disk"
    assert not (out / stream.STAGING).exists()

    assert m["complete"] and m["counts"]["images_done"] == 24
    assert m["dataset_root"] == f"hf:lfw/faces-parquet@{repo.commit}"
    assert m["hub"]["revision"] == repo.commit and m["hub"]["shards_done"] == 3
    rows = read_rows(out)
    assert set(rows["identity"].dropna()) <= set(names) and rows["identity"].nunique() >= 6
    meta = [json.loads(s) for s in rows["source_meta"]]
    assert {d["hub"] for d in meta} == {f"hf:lfw/faces-parquet@{repo.commit}"}
    first = rows.iloc[0]
    d = json.loads(first["source_meta"])
    assert first["image"] == f"{d['hub_file']}#{d['hub_row']}" and d["hub_file"].startswith("data/train-")
    assert d["published"].endswith(f"/datasets/lfw/faces-parquet/blob/{repo.commit}/{d['hub_file']}")
    assert d["path"].endswith(".jpg")

    # a clean build of the same repo equals the resumed one
    clean = stream.index_hub("hf:lfw/faces-parquet", tmp_path / "clean", workers=1, progress=False)
    assert clean["counts"] == m["counts"]
    assert sorted(read_rows(tmp_path / "clean")["image"]) == sorted(rows["image"])

    # by person: the fourth photo of a person finds them by name
    name, photos = hub_people[2]
    (tmp_path / "me.jpg").write_bytes(photos[3])
    result = check([tmp_path / "me.jpg"], [out], top=3)
    assert len(result.identities), "the index has named people: by-person verdicts are given"
    assert result.identities.iloc[0]["identity"] == name
    assert result.results.iloc[0]["identity"] == name
    top = result.results.iloc[0]
    assert top["source_url"] == json.loads(read_rows(out).set_index("image").loc[top["image"], "source_meta"])["published"]


@needs_lfw
@pytest.mark.lfw
def test_stream_index_webdataset_cls_named_by_card_and_keep(hub_env, hub_people, tmp_path, monkeypatch):
    from exposure import stream

    repo, names = wds_repo(hub_people)
    hub_env({"lfw/faces-wds": repo})
    home = tmp_path / "home"
    m = stream.index_hub("hf:lfw/faces-wds@main", tmp_path / "index", keep=True, workers=1, progress=False,
                         home=home)
    assert m["counts"]["images_done"] == 24 and m["format"] == "webdataset"
    rows = read_rows(tmp_path / "index")
    assert set(rows["identity"].dropna()) <= set(names) and rows["identity"].nunique() >= 6
    assert all(img.startswith("train/shard-0000") for img in rows["image"])
    kept = home / "hub" / "lfw" / "faces-wds" / repo.commit / "train"
    assert sorted(p.name for p in kept.iterdir()) == ["shard-00000.tar", "shard-00001.tar"], "--keep keeps them"


@needs_lfw
@pytest.mark.lfw
def test_stream_index_recordio_and_string_labels(hub_env, hub_people, tmp_path):
    from test_formats import write_insightface_rec

    from exposure import stream

    rec = tmp_path / "rec"
    write_insightface_rec(rec, [photos[:3] for _, photos in hub_people[:4]])
    names = [n for n, _ in hub_people]
    rows = [(photos[j], f"{n}_{j}.jpg", k) for k, (n, photos) in enumerate(hub_people[4:]) for j in range(3)]
    repo_rec = Repo({f"faces/{p.name}": p.read_bytes() for p in rec.iterdir()})
    repo_str = Repo({"data/train.parquet": parquet_shard(rows, names[4:], "label_name", string_labels=True)})
    hub_env({"x/rec": repo_rec, "x/str": repo_str})
    m = stream.index_hub("hf:x/rec", tmp_path / "i1", workers=1, progress=False)
    got = read_rows(tmp_path / "i1")
    assert m["counts"]["images_done"] == 12 and set(got["identity"].dropna()) <= {"0", "1", "2", "3"}
    assert all(i.startswith("faces/train.rec#") for i in got["image"])
    stream.index_hub("hf:x/str", tmp_path / "i2", workers=1, progress=False)
    got = read_rows(tmp_path / "i2")
    assert set(got["identity"].dropna()) <= set(names[4:]) and got["identity"].nunique() >= 3


def test_card_names_a_parquet_without_metadata(tmp_path):
    """ClassLabel names from the card (README.md beside the data) when the Parquet metadata has none."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from exposure.datasets.sources import open_source

    (tmp_path / "data").mkdir()
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    pq.write_table(pa.table({"image": pa.array([{"bytes": b"x", "path": "a.jpg"}] * 2, type=image_type),
                             "label": pa.array([1, 0], type=pa.int64())}), tmp_path / "data" / "t.parquet")
    (tmp_path / "README.md").write_bytes(card(["Ann", "Bob"]))
    source = open_source(tmp_path)
    assert [i.identity for i in source.items()] == ["Bob", "Ann"]


# ---------------------------------------------------------------- fetch by name, the command line


def test_withdrawn_mirror_needs_withdrawn_ok(hub_env, tmp_path, capsys):
    """VGGFace2's catalog channel is a Hub mirror of a withdrawn set: refused without --withdrawn-ok, and says why."""
    from exposure.datasets.download import NotDownloadable, dataset_entry, fetch

    pinned = dataset_entry("vggface2")["fetch"]["revision"]  # the loopback repo answers at the catalog's commit
    repo = Repo({"vggface2_test.tar.gz": b"\x1f\x8b" + bytes(300), "meta/identity_meta.csv": b"Class_ID, Name\n"},
                commit=pinned)
    hub_env({"ProgramComputer/VGGFace2": repo})
    with pytest.raises(NotDownloadable, match=r"withdrawn by its makers \(2020-12\)(.|\n)*--withdrawn-ok"):
        fetch("vggface2", home=tmp_path, progress=False)
    folder = fetch("vggface2", home=tmp_path, withdrawn_ok=True, progress=True)
    assert (folder / "vggface2_test.tar.gz").is_file()
    assert "withdrawn by its makers" in capsys.readouterr().err


@needs_lfw
@pytest.mark.lfw
def test_cli_fetch_and_index_hf(hub_env, hub_people, tmp_path):
    from conftest import run_cli

    repo, names = wds_repo(hub_people[:3])
    server = hub_env({"lfw/small": repo})
    out = run_cli("fetch", "hf:lfw/small", check=True)
    assert f"hub/lfw/small/{repo.commit}" in out.stdout
    assert server.fetched("shard-00000") == 1 and server.fetched("shard-00001") == 1
    out = run_cli("index", "hf:lfw/small", "--out", str(tmp_path / "ix"), "--workers", "1", check=True)
    assert "shard 2/2" in out.stderr and "faces so far" in out.stderr
    assert server.fetched("shard-0000") == 2, "a fetched dataset is indexed from the data home, not downloaded again"
    m = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    assert m["complete"] and m["hub"]["repo"] == "lfw/small"
    bad = run_cli("index", "hf:lfw/none", "--out", str(tmp_path / "ix2"))
    assert bad.returncode == 1 and "no such dataset" in bad.stderr



@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory) -> str:
    """A Dask cluster as an operator starts one: `dask scheduler` and two `dask worker` (one thread each), every
    one its own OS process (the venv's `dask` command); yields the scheduler's address, stops them afterwards.

    The address is read from the scheduler file; every wait has a deadline, so a cluster that does not come
    up fails the test instead of hanging it. Workers import exposure from this venv (an editable install)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from distributed import Client

    folder = tmp_path_factory.mktemp("dask-cluster")
    address_file = folder / "scheduler.json"
    dask_cli = Path(sys.executable).with_name("dask")
    env = {**os.environ, "EXPOSURE_HOME": str(folder / "home")}  # workers need nothing from the test's env
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        with open(folder / f"{args[0]}-{len(procs)}.log", "wb") as log:  # the process keeps its own copy
            proc = subprocess.Popen([str(dask_cli), *args], stdout=log, stderr=subprocess.STDOUT, env=env,
                                    cwd=folder, start_new_session=True)
        procs.append(proc)
        return proc

    def logs() -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(folder.glob("*.log")))

    try:
        scheduler = start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                          "--scheduler-file", str(address_file))
        deadline = time.monotonic() + 60
        address = None
        while address is None:
            try:
                address = json.loads(address_file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                if scheduler.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the Dask scheduler did not start (exit {scheduler.poll()}):\n{logs()}")
                time.sleep(0.1)
        for i in range(2):
            start("worker", "--scheduler-file", str(address_file), "--nthreads", "1", "--nworkers", "1",
                  "--no-dashboard", "--name", f"worker-{i}", "--local-directory", str(folder / f"worker-{i}"),
                  "--death-timeout", "60")
        with Client(scheduler_file=str(address_file), timeout="30s") as client:
            try:
                client.wait_for_workers(2, timeout=90)
            except TimeoutError:
                pytest.fail(f"two Dask workers did not register in 90 s:\n{logs()}")
        yield address
    finally:
        for proc in reversed(procs):  # workers first: they leave the scheduler cleanly
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the worker's nanny and its child too
                proc.wait(timeout=30)


def index_faces(index_dir: Path):
    """An index's face rows in a fixed order, and each image's face count from its shards' image records."""
    from exposure.shards import read_records

    rows = read_rows(index_dir).sort_values(["image", "face"]).reset_index(drop=True)
    counts = {r["image"]: r.get("n_faces") for p in sorted((index_dir / "shards").glob("part-*.parquet"))
              for r in read_records(p)}
    return rows, counts


def assert_same_faces(plain_dir: Path, dask_dir: Path):
    """The same images, identities, face counts and embeddings (float tolerance) in both indexes."""
    import numpy as np

    a, a_counts = index_faces(plain_dir)
    b, b_counts = index_faces(dask_dir)
    assert len(a) == len(b) > 0
    assert list(a["image"]) == list(b["image"]) and list(a["face"]) == list(b["face"])
    assert list(a["identity"]) == list(b["identity"])
    assert a_counts == b_counts
    assert np.abs(np.stack(a["embedding"]) - np.stack(b["embedding"])).max() < 1e-4
    return a, b


@needs_lfw
@pytest.mark.lfw
def test_stream_index_on_a_dask_cluster_of_separate_processes_equals_the_plain_build(
        hub_env, hub_people, tmp_path, dask_scheduler):
    """The streamed index sends each shard's images (bytes) to a scheduler and workers that are separate
    processes: the same faces as the build in this process."""
    from exposure import stream

    repo, _ = wds_repo(hub_people[:3])
    hub_env({"lfw/dask": repo})
    plain = stream.index_hub("hf:lfw/dask", tmp_path / "plain", workers=1, progress=False)
    dask = stream.index_hub("hf:lfw/dask", tmp_path / "dask", scheduler=dask_scheduler, progress=False)
    assert dask["counts"]["faces"] == plain["counts"]["faces"] > 0
    assert dask["counts"]["images_done"] == plain["counts"]["images_done"] == 9
    assert_same_faces(tmp_path / "plain", tmp_path / "dask")


@needs_lfw
@pytest.mark.lfw
def test_aligned_crop_fast_path_on_dask_workers_equals_the_plain_build(lfw_people, tmp_path, dask_scheduler):
    """LFW's aligned crops built through the scheduler: the box found by the probe here reaches the workers
    (every face at that box, no detection), and the index is the one the in-process fast path makes."""
    import shutil

    from exposure.build import FAST_PATH_PROBE, build_index

    data = tmp_path / "data"
    for person in sorted(lfw_people.iterdir()):
        photos = sorted(person.glob("*.jpg"))[:4]
        for photo in photos:
            (data / person.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(photo, data / person.name / photo.name)
        if len(list(data.rglob("*.jpg"))) >= FAST_PATH_PROBE + 8:
            break
    plain = build_index(data, tmp_path / "plain", workers=1, aligned=True, progress=False)
    dask = build_index(data, tmp_path / "dask", scheduler=dask_scheduler, aligned=True, progress=False)
    assert plain["fast_path"] is not None and plain["fast_path"]["size"] == [250, 250]
    assert dask["fast_path"] == plain["fast_path"]
    assert dask["counts"] == plain["counts"]
    _, b = assert_same_faces(tmp_path / "plain", tmp_path / "dask")
    box = dask["fast_path"]["box"]
    assert (b["face"] == 0).all(), "one face per aligned crop"
    assert (b[["box_left", "box_top", "box_right", "box_bottom"]].to_numpy() == box).all(), "workers used the box"


@needs_lfw
@pytest.mark.lfw
def test_killed_index_process_resumes_without_refetching(hub_env, hub_people, tmp_path):
    """SIGKILL of `exposure index hf:...` once a shard is committed: the re-run fetches only what was not indexed."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from exposure import stream

    repo, _ = parquet_repo(hub_people)
    server = hub_env({"lfw/kill": repo})
    out = tmp_path / "index"
    proc = subprocess.Popen([sys.executable, "-m", "exposure", "index", "hf:lfw/kill", "--out", str(out),
                             "--workers", "1", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    done: list[str] = []
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = list(json.loads((out / stream.STATE).read_text())["done"])
        except (OSError, ValueError, KeyError):
            done = []
        if done:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert done, "the first shard was never committed"
    m = stream.index_hub("hf:lfw/kill", out, workers=1, progress=False)
    assert m["complete"] and m["counts"]["images_done"] == 24
    for path in (p for p in repo.files if p.endswith(".parquet")):
        assert server.fetched(path) >= 1
        if path in done:
            assert server.fetched(path) == 1, f"{path} was indexed before the kill and fetched again"
    assert not (out / stream.STAGING).exists()


@needs_lfw
@pytest.mark.lfw
def test_arcface_crops_take_the_fast_path_and_still_find_people(hub_env, lfw_people, tmp_path):
    """112x112 crops aligned to the ArcFace template (as MS1MV3, Glint360K, WebFace ship theirs), streamed from
    the Hub: the probe accepts the fixed box (its embeddings stay near detection's), and each person's own
    photo, searched as a selfie, finds them as often as with full detection."""
    import numpy as np
    from hub_index import arcface_crop

    from exposure import stream
    from exposure.build import FAST_PATH_DRIFT
    from exposure.checker import check
    from exposure.index import open_index

    people = [p for p in sorted(lfw_people.iterdir()) if len(list(p.glob("*.jpg"))) >= 4][:20]
    names = [p.name for p in people]
    rows = [(arcface_crop(photo), photo.name, k) for k, person in enumerate(people)
            for photo in sorted(person.glob("*.jpg"))[:3]]
    # the first shard holds enough images for the probe; the second is built with the box the first found
    files = {"data/train-00000-of-00002.parquet": parquet_shard(rows[:50], names),
             "data/train-00001-of-00002.parquet": parquet_shard(rows[50:], names)}
    hub_env({"lfw/arcface": Repo(files)})
    fast = stream.index_hub("hf:lfw/arcface", tmp_path / "fast", workers=2, progress=False)
    full = stream.index_hub("hf:lfw/arcface", tmp_path / "full", workers=2, aligned=False, progress=False)
    assert fast["fast_path"]["size"] == [112, 112] and full["fast_path"] is None
    assert fast["fast_path"]["drift"][0] <= FAST_PATH_DRIFT[0] and fast["counts"]["faces"] == len(rows)
    a, b = open_index(tmp_path / "fast"), open_index(tmp_path / "full")
    ea = dict(zip(a.faces["image"], a.embeddings, strict=True))
    drift = [np.linalg.norm(ea[k] - e) for k, e in zip(b.faces["image"], b.embeddings, strict=True)]
    assert np.median(drift) < FAST_PATH_DRIFT[0], np.median(drift)
    found = {"fast": 0, "full": 0}
    for person in people:
        selfie = sorted(person.glob("*.jpg"))[3]  # not in the dataset
        r = check(selfie, [a, b], top=1)
        for label, ix in (("fast", a), ("full", b)):
            nearest = r.identities[r.identities["index"] == str(ix.path)]["identity"].iloc[0]
            found[label] += nearest == person.name
    print(found)
    assert found["fast"] >= found["full"] - 1 and found["fast"] >= 16, found


def test_fetch_by_name_takes_exactly_the_files_the_catalog_pins(hub_env, tmp_path, monkeypatch):
    """A catalog entry pinning a commit and each file's sha256 ([[fetch.files]]): fetched as listed, the
    repo's other files left alone; a mirror whose file changed is refused before anything is downloaded."""
    import hashlib

    from exposure.datasets import download
    from exposure.datasets.catalog_table import _validate_fetch

    data = {"train-00000-of-00002.parquet": b"PAR1" + bytes(200) + b"PAR1", "train-00001-of-00002.parquet":
            b"PAR1" + bytes(300) + b"PAR1", "other/extra.parquet": b"PAR1" + bytes(10) + b"PAR1", "property": b"9,112,112"}
    repo = Repo(data)
    hub_env({"mirror/pinned": repo})
    pins = [{"path": p, "sha256": hashlib.sha256(data[p]).hexdigest() if p.endswith(".parquet") else "", "size": 0,
             "source": f"https://huggingface.co/datasets/mirror/pinned/blob/{repo.commit}/{p}"}
            for p in ("train-00000-of-00002.parquet", "train-00001-of-00002.parquet", "property")]

    def entry(files):
        fetch = _validate_fetch("test", {"status": "available", "fetch": {
            "channel": "hub", "repo": "mirror/pinned", "revision": repo.commit, "source": "https://example.org/x",
            "revision_source": "https://example.org/y", "files": files}})
        return {"name": "Pinned", "status": "available", "fetch": fetch}

    monkeypatch.setitem(download.REGISTRY, "pinned", entry(pins))
    folder = download.fetch("pinned", home=tmp_path, progress=False)
    got = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                 if p.is_file() and not str(p.relative_to(folder)).startswith("."))  # not huggingface_hub's .cache
    assert got == sorted(p["path"] for p in pins)  # not other/extra.parquet

    changed = [dict(pins[0], sha256="0" * 64), *pins[1:]]
    monkeypatch.setitem(download.REGISTRY, "pinned", entry(changed))
    with pytest.raises(hub.HubChecksumError, match="catalog recorded 0{64}"):
        download.fetch("pinned", home=tmp_path / "again", progress=False)
    assert not any((tmp_path / "again").rglob("*.parquet"))
    missing = [*pins, dict(pins[0], path="train-00002-of-00002.parquet")]
    monkeypatch.setitem(download.REGISTRY, "pinned", entry(missing))
    with pytest.raises(hub.HubError, match="does not have"):
        download.fetch("pinned", home=tmp_path / "third", progress=False)
    with pytest.raises(ValueError, match="pinned 'revision'"):  # checksums belong to a commit
        _validate_fetch("test", {"status": "available", "fetch": {
            "channel": "hub", "repo": "mirror/pinned", "revision": "", "source": "https://example.org/x",
            "files": pins}})


def test_an_unreachable_hub_is_one_clear_error(monkeypatch, tmp_path):
    """Offline, or HF_ENDPOINT pointing nowhere: one HubError saying the Hub cannot be reached, no traceback."""
    import socket

    from exposure.datasets.download import fetch

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with pytest.raises(hub.HubError, match="cannot be reached"):
        fetch("hf:nobody/nothing", home=tmp_path, progress=False)
