"""Index a Hub dataset streamed: fetch one shard, index it, delete it, next; resumable shard by shard.

The revision is pinned to a commit when the index starts (kept in `hub.json` beside the manifest),
so a resumed index reads the same files as a clean one. A shard whose faces are committed is listed
in `hub.json` and never fetched again; disk use stays about one shard (unless `keep`). Every face
records where it is published: `source_meta` holds the repo, commit, file and row.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from exposure import shards as shard_files
from exposure import workers as worker_processes
from exposure.build import build_index, finish_index
from exposure.datasets import hub
from exposure.datasets.card import class_names
from exposure.datasets.layout import Item
from exposure.datasets.sources import open_source
from exposure.errors import ExposureError
from exposure.files import atomic_write
from exposure.home import data_home
from exposure.i18n import _
from exposure.plain import count

STATE = "hub.json"
STAGING = ".hub-download"


class HubShardSource:
    """One downloaded shard of a Hub repo as a Source: keys are the repo path + row, meta says where it is published."""

    def __init__(self, inner, ref: hub.HubRef, commit: str, repo_path: str, name: str):
        self.inner, self.ref, self.commit, self.repo_path = inner, ref, commit, repo_path
        self.format = inner.format
        self.name = name
        self.location = Path(str(inner.location))
        parent = str(PurePosixPath(repo_path).parent)
        self.prefix = "" if parent == "." else parent + "/"

    @property
    def skipped(self) -> int:
        return self.inner.skipped

    @property
    def refused(self) -> list:
        return [(self.prefix + k, why) for k, why in getattr(self.inner, "refused", [])]

    def _key(self, inner_key: str) -> str:
        if self.format == "recordio":  # record numbers: the .rec file names them
            return f"{self.repo_path}#{inner_key}"
        return self.prefix + inner_key

    def items(self) -> Iterator[Item]:
        for it in self.inner.items():
            key = self._key(it.key)
            row = key[len(self.repo_path) + 1:] if key.startswith(self.repo_path + "#") else key[len(self.prefix):]
            meta = {**it.meta, "hub": f"{hub.PREFIX}{self.ref.repo}@{self.commit}", "hub_file": self.repo_path,
                    "hub_row": row, "published": hub.page_url(self.ref, self.commit, self.repo_path)}
            meta.setdefault("url", meta["published"])  # shown beside a match: where its photo is published
            yield Item(key=key, identity=it.identity, meta=meta, ref=it.ref)

    def payload(self, item: Item):
        return self.inner.payload(item)

    def read(self, key: str) -> bytes:
        if self.format == "recordio":
            return self.inner.read(key.rpartition("#")[2])
        return self.inner.read(key[len(self.prefix):])


def _read_state(out: Path) -> dict | None:
    path = out / STATE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ExposureError(_("{path}: damaged ({error}); remove the index folder and start again").format(
            path=path, error=e)) from None


def _write_state(out: Path, state: dict) -> None:
    atomic_write(out / STATE, json.dumps(state, indent=1).encode())


def _pin(ref: hub.HubRef, state: dict | None, out: Path) -> str:
    """The commit to index: the one an interrupted index started from, else the revision's commit now."""
    if state is None:
        return hub.resolve(ref)
    if state["repo"] != ref.repo:
        raise ExposureError(_("{out}: an index of {indexed}, not {asked}; use a new --out folder").format(
            out=out, indexed=state["repo"], asked=ref.repo))
    if ref.revision not in (state["revision"], state["asked"]) and not state["revision"].startswith(ref.revision):
        raise ExposureError(_("{out}: started from {repo} at {revision}, not {asked}; use a new --out folder").format(
            out=out, repo=state["repo"], revision=state["revision"], asked=ref.revision))
    return state["revision"]


def _patch_manifest(out: Path, state: dict) -> None:
    """The manifest says what the whole repo is (not the last shard): its place, totals and completeness."""
    m = shard_files.read_manifest(out)
    m["dataset_root"] = f"{hub.PREFIX}{state['repo']}@{state['revision']}"
    m["hub"] = {k: state[k] for k in ("repo", "revision", "asked", "endpoint")}
    m["hub"]["shards_done"], m["hub"]["shards"] = len(state["done"]), state["shards"]
    done = state["done"].values()
    m["complete"] = len(state["done"]) == state["shards"]
    m["counts"]["images_found"] = m["counts"]["images_done"]  # shards not yet downloaded are not counted
    m["counts"]["other_files_skipped"] = sum(d["skipped"] for d in done)
    atomic_write(out / "manifest.json", json.dumps(m, indent=1).encode())


def index_hub(
    spec: str,
    out_dir: str | os.PathLike,
    *,
    keep: bool = False,
    name: str | None = None,
    detector: str = "hog",
    encoder: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    dask: bool = False,
    aligned: bool | None = None,
    store: str = "float32",
    shard_images: int = shard_files.SHARD_IMAGES,
    progress: bool = True,
    home: str | os.PathLike | None = None,
) -> dict:
    """Index every data file of `hf:OWNER/NAME[@REV]` into out_dir, one shard on disk at a time; returns the manifest.

    `keep` keeps the downloaded files (in the data home's hub folder) instead of deleting each after use;
    a dataset fetched before (`exposure fetch hf:...`) is read from there, without downloading.
    """
    ref = hub.parse_ref(spec)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = _read_state(out)
    commit = _pin(ref, state, out)
    files = hub.list_files(ref, commit)
    groups = hub.units(files)
    if not groups:
        raise ExposureError(_("{repo} at {commit}: no data files exposure can read (Parquet, WebDataset .tar, "
                              "RecordIO .rec/.idx, image archives)").format(repo=ref.repo, commit=commit[:12]))
    state = state or {"repo": ref.repo, "revision": commit, "asked": ref.revision, "endpoint": hub.endpoint(),
                      "done": {}}
    state["shards"] = len(groups)
    _write_state(out, state)
    fetched = data_home(home) / "hub" / ref.repo / commit  # where `exposure fetch hf:...` puts the files
    if (fetched / hub.FETCHED).is_file():
        keep = True  # already fetched in full: read from there, delete nothing
    staging = fetched if keep else out / STAGING
    card = hub.read_card(ref, commit, staging)
    names = class_names(card) if card else {}
    dataset = name or ref.repo
    total_bytes = sum(f.size for f in files)
    done_bytes = sum(d["bytes"] for d in state["done"].values())
    started = time.monotonic()
    # one pool of workers for every shard: each keeps its models loaded from one shard to the next
    in_pool = scheduler is None and not dask and worker_processes.count(workers) > 1
    pool = worker_processes.pool(workers) if in_pool else None
    try:
        for i, group in enumerate(groups, 1):
            main = group[0]
            if main.path in state["done"]:
                continue
            local = [hub.download(ref, commit, f, staging, progress) for f in group]
            inner = open_source(local[0])
            if hasattr(inner, "card_names") and names:
                inner.card_names = names
            source = HubShardSource(inner, ref, commit, main.path, dataset)
            m = build_index(None, out, source=source, name=dataset, detector=detector, encoder=encoder, workers=workers,
                            scheduler=scheduler, dask=dask, aligned=aligned, store=store, shard_images=shard_images,
                            progress=progress, finish=False, pool=pool)
            size = sum(f.size for f in group)
            state["done"][main.path] = {"files": [f.path for f in group], "sha256": [f.sha256 for f in group],
                                        "bytes": size, "skipped": source.skipped, "images_done": m["counts"]["images_done"]}
            _write_state(out, state)
            _patch_manifest(out, state)
            if not keep:
                for f, path in zip(group, local, strict=True):
                    hub.forget(path, f, staging)
            done_bytes += size
            if progress:
                c = m["counts"]
                rate = done_bytes / max(time.monotonic() - started, 1e-6)
                print(_("shard {i}/{n} {file}: {images} images, {faces} faces so far; {done} of {total} ({rate}/s)").format(
                    i=count(i), n=count(len(groups)), file=main.path, images=count(c["images_done"]), faces=count(c["faces"]),
                    done=hub.human_bytes(done_bytes), total=hub.human_bytes(total_bytes), rate=hub.human_bytes(rate)),
                    file=sys.stderr, flush=True)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if not keep:
        hub.remove_tree(out / STAGING)
    _patch_manifest(out, state)
    return finish_index(out, store)
