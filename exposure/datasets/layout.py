"""What every dataset layout shares: an Item, the Source protocol, and the plain folder of images.

A source yields `Item`s (a stable key, an identity label or None, source metadata) in a fixed
order, and gives each item's image as a file path (read by the worker that embeds it) or bytes.
Every other published layout is a module of `exposure.datasets.formats` built on this one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from exposure.errors import ExposureError
from exposure.photos import is_image_name, printable_name, read_file


@dataclass(frozen=True)
class Item:
    """One image of a dataset: its key (unique, stable, shown to people), identity and provenance."""

    key: str
    identity: str | None = None
    meta: dict = field(default_factory=dict)  # e.g. {"url": ..., "author": ..., "license": ...}
    ref: object = None  # where the source finds it: a file name, archive member, record offset ...


class Source(Protocol):
    """What build_index needs from a dataset, whatever its published layout."""

    format: str
    name: str  # default dataset name
    location: Path  # what the index records as the dataset's place
    skipped: int  # files present that are not images (counted, not failed)

    def items(self) -> Iterator[Item]: ...

    def payload(self, item: Item) -> str | bytes:
        """A file path for the embedding worker to read, or the image bytes themselves."""
        ...

    def read(self, key: str) -> bytes:
        """The image bytes of one key (for showing a matched face)."""
        ...


# ---------------------------------------------------------------- folder of images


def display_path(rel: str) -> str:
    """A relative path as the key shown to people and stored in the index (valid UTF-8 text)."""
    return printable_name(rel)


def dataset_root(path: str | os.PathLike) -> Path:
    """The folder that holds the images: descends through lone wrapper folders left by unpacking.

    (A dataset of a single identity folder is therefore read as flat: far rarer than a flat set
    unpacked into one folder, like UTKFace/ or img_align_celeba/.)
    """
    root = Path(path)
    if not root.exists():
        raise ExposureError(f"{root}: no such folder")
    if not root.is_dir():
        raise ExposureError(f"{root}: not a folder (give the folder that holds the dataset's images)")
    while True:
        entries = [e for e in os.scandir(root) if not e.name.startswith(".")]
        if len(entries) == 1 and entries[0].is_dir(follow_symlinks=False):
            root = Path(entries[0].path)
        else:
            return root



def list_images(root: Path) -> tuple[list[str], int]:
    """Relative POSIX paths of the photo files under root, sorted, and the count of other files skipped."""
    found, skipped = [], 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in filenames:
            if fn.startswith("."):
                continue
            if is_image_name(fn):
                rel = os.path.relpath(os.path.join(dirpath, fn), root)
                found.append(rel.replace(os.sep, "/"))
            else:
                skipped += 1
    found.sort()
    return found, skipped


def identity_of(rel: str) -> str | None:
    """The identity a folder-per-identity layout gives: the image's folder; None at the root."""
    parts = rel.split("/")
    return display_path(parts[-2]) if len(parts) > 1 else None


class FolderSource:
    """Images in folders: one folder per identity (LFW, CASIA-WebFace, VGGFace2 ...) or flat (no identities)."""

    format = "folder"

    def __init__(self, path: str | os.PathLike):
        self.location = dataset_root(path)
        self.name = self.location.name
        self.skipped = 0

    def items(self) -> Iterator[Item]:
        files, self.skipped = list_images(self.location)  # listed only when asked: reading one key is cheap
        for rel in files:
            yield Item(key=display_path(rel), identity=identity_of(rel), ref=rel)

    def payload(self, item: Item) -> str:
        return os.path.join(self.location, item.ref if item.ref is not None else item.key)

    def read(self, key: str) -> bytes:
        return read_file(os.path.join(self.location, key), key)


def files_with_suffix(path: Path, suffix: str) -> list[Path]:
    """The file itself, or every non-hidden file under a folder whose name ends with suffix, sorted."""
    if path.is_file():
        return [path]
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath, f) for f in filenames if f.endswith(suffix) and not f.startswith(".")]
    return sorted(found)


def first_with_suffix(folder: Path, suffix: str, depth: int = 1) -> Path | None:
    """The first such file in a folder or in its first few subfolders: cheap on huge trees (format detection)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return None
    for e in entries:
        if e.name.endswith(suffix) and not e.name.startswith(".") and e.is_file():
            return Path(e.path)
    if depth > 0:
        for e in [e for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")][:3]:
            found = first_with_suffix(Path(e.path), suffix, depth - 1)
            if found is not None:
                return found
    return None
