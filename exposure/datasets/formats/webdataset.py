"""WebDataset tar shards as img2dataset writes them (LAION-Face): images with their URL and caption.

img2dataset (`--output_format webdataset`) writes shards `00000.tar`, `00001.tar` ... (with an
`00000.parquet` and `00000_stats.json` beside each). Inside a shard, each sample is a group of
members sharing a key: `000000000.jpg` (the image), `000000000.txt` (the caption) and
`000000000.json` (url, caption, key, status, width, height, original_width, original_height,
exif, sha256 and any `--save_additional_columns`, e.g. LICENSE, SAMPLE_ID for LAION-Face).
A sample's key is the member name up to the first dot of its base name, as WebDataset reads it.

The path is one shard, or a folder searched recursively for shards (LAION-Face downloads one
folder per part, `split_00000/00000.tar`). Items are keyed `<shard path without .tar>/<member>`,
e.g. `00000/000000000.jpg`; meta holds the sample's `url` and `caption` (and `license`,
`sample_id` when img2dataset saved them). Identity: a sample's `.cls` (an integer class, named by
the dataset card's ClassLabel names when a README.md is beside the shards), else a name in its
`.json` (`identity`, `label_name`, `celeb_id`, `name`, `person`, `label`).
"""

from __future__ import annotations

import collections
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from exposure.archives import ArchiveReader
from exposure.datasets.card import card_names_near
from exposure.datasets.layout import Item, files_with_suffix, first_with_suffix
from exposure.errors import PhotoError
from exposure.photos import is_image_name

FORMAT = "webdataset"
IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")
_SIDECAR_EXTS = ("json", "txt", "cls", "caption")
_PEEK_MEMBERS = 12
OPEN_SHARDS = 4


def sample_key(member: str) -> tuple[str, str]:
    """(sample key, extension) of a member, as WebDataset splits it: 'a/000001.seg.png' -> ('a/000001', 'seg.png')."""
    path = PurePosixPath(member)
    base, _, ext = path.name.partition(".")
    parent = str(path.parent)
    return (base if parent == "." else f"{parent}/{base}"), ext.lower()


def looks_like_shard(path: Path) -> bool:
    """A tar whose first members are WebDataset samples: an image and a .json/.txt sharing a key."""
    try:
        with tarfile.open(path, mode="r|*") as tf:
            exts: dict[str, set[str]] = {}
            for i, m in enumerate(tf):
                if i >= _PEEK_MEMBERS:
                    break
                if not m.isfile():
                    return False
                key, ext = sample_key(m.name)
                exts.setdefault(key, set()).add(ext)
    except (tarfile.TarError, OSError, EOFError):
        return False
    return any(e & set(IMAGE_EXTS) and e & set(_SIDECAR_EXTS) for e in exts.values())


def detect(path: Path) -> bool:
    p = Path(path)
    if p.is_file():
        return p.name.lower().endswith(".tar") and looks_like_shard(p)
    if p.is_dir():
        first = first_with_suffix(p, ".tar", depth=1)
        return first is not None and looks_like_shard(first)
    return False


def open(path: Path) -> WebDatasetSource:  # noqa: A001 - the registry's name
    return WebDatasetSource(path)


def _meta(sample: dict[str, bytes]) -> dict:
    """Provenance from a sample's .json (img2dataset's metadata), with .txt as the caption fallback."""
    meta: dict = {}
    raw = sample.get("json")
    if raw:
        try:
            j = json.loads(raw)
        except ValueError:
            j = None
        if isinstance(j, dict):
            for src, dst in (("url", "url"), ("caption", "caption"), ("LICENSE", "license"),
                             ("license", "license"), ("SAMPLE_ID", "sample_id")):
                value = j.get(src)
                if value not in (None, "", "?") and dst not in meta:  # LAION writes '?' for an unknown license
                    meta[dst] = value
    if "caption" not in meta and sample.get("txt"):
        meta["caption"] = sample["txt"].decode("utf-8", "replace")
    return meta


JSON_LABELS = ("identity", "label_name", "celeb_id", "name", "person", "label")


def identity_of(sample: dict[str, bytes], names: list[str] | None) -> str | None:
    """The person of a sample: its `.cls` class (named when the card names classes), else a `.json` label."""
    raw = sample.get("cls")
    if raw:
        text = raw.decode("utf-8", "replace").strip()
        try:
            k = int(text)
        except ValueError:
            return text or None
        return names[k] if names is not None and 0 <= k < len(names) else str(k)
    raw = sample.get("json")
    if raw:
        try:
            j = json.loads(raw)
        except ValueError:
            return None
        if isinstance(j, dict):
            for c in JSON_LABELS:
                value = j.get(c)
                if isinstance(value, bool) or value in (None, ""):
                    continue
                if isinstance(value, int) and names is not None and 0 <= value < len(names):
                    return names[value]
                if isinstance(value, str | int):
                    return str(value)
    return None


class WebDatasetSource:
    """Samples of WebDataset tar shards, read from the tars without unpacking them."""

    format = FORMAT

    def __init__(self, path: str | os.PathLike):
        p = Path(path)  # open_source has checked that it exists
        self.location = p
        self.name = p.name[: -len(".tar")] if p.is_file() else p.name
        self.skipped = 0
        self.refused: list[tuple[str, str]] = []
        root = p.parent if p.is_file() else p
        self._shards = {s.relative_to(root).as_posix()[: -len(".tar")]: s for s in files_with_suffix(p, ".tar")}
        self._readers: collections.OrderedDict = collections.OrderedDict()  # shard -> reader, most recent last
        self.card_names: dict[str, list[str]] = card_names_near(p)  # column -> ClassLabel names from README.md

    def _reader(self, stem: str):
        """The member index of one shard; only the last few are kept (and open): LAION has thousands."""
        reader = self._readers.pop(stem, None)
        if reader is None:
            reader = ArchiveReader(self._shards[stem])
        self._readers[stem] = reader
        while len(self._readers) > OPEN_SHARDS:
            self._readers.popitem(last=False)[1].close()
        return reader

    def items(self) -> Iterator[Item]:
        skipped = 0
        self.refused = []
        cards = self.card_names
        names = cards.get("cls") or cards.get("label") or (next(iter(cards.values())) if len(cards) == 1 else None)
        for stem in self._shards:
            reader = self._reader(stem)
            self.refused += [(f"{stem}/{n}", why) for n, why in reader.refused]
            samples: dict[str, dict[str, str]] = {}
            for name in reader.members:
                key, ext = sample_key(name)
                samples.setdefault(key, {})[ext] = name
            for key in sorted(samples):
                members = samples[key]
                image = next((members[e] for e in IMAGE_EXTS if e in members), None)
                if image is None or not is_image_name(image):
                    skipped += len(members)
                    continue
                sidecars = {e: reader.read(members[e]) for e in ("json", "txt", "cls") if e in members}
                skipped += len(members) - 1 - len(sidecars)
                yield Item(key=f"{stem}/{image}", identity=identity_of(sidecars, names), meta=_meta(sidecars),
                           ref=(stem, image))
        self.skipped = skipped + len(self.refused)

    def _locate(self, key: str) -> tuple[str, str]:
        parts = key.split("/")
        for i in range(len(parts) - 1, 0, -1):
            stem = "/".join(parts[:i])
            if stem in self._shards:
                return stem, "/".join(parts[i:])
        raise PhotoError(key, f"no such shard in {self.location}")

    def payload(self, item: Item) -> bytes:
        stem, member = item.ref if item.ref is not None else self._locate(item.key)
        return self._reader(stem).read(member, item.key)

    def read(self, key: str) -> bytes:
        stem, member = self._locate(key)
        return self._reader(stem).read(member, key)
