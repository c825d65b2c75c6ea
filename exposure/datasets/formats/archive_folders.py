"""A folder-per-identity tree inside a .tar, .tgz/.tar.gz or .zip (LFW's own tgz), read without unpacking.

Tar archives have no table of contents, so the archive is read once to list its members and the
offset of each member's data. A plain .tar is then read by seeking straight to that offset. A
gzip-compressed tar cannot be seeked, so while listing it the gzip stream is checkpointed (the
inflater's state is copied every few MiB of output); a later read restarts from the nearest
checkpoint, or carries on from the previous read when it lies ahead, so reading in archive order
costs one pass. A zip has a central directory and is read with `zipfile`.

Members with unsafe names (absolute, `..`), links, devices and oversized members are never read
or extracted: they are counted in `skipped` and listed with the reason in `refused`.

The reading itself (exposure.archives.ArchiveReader) is shared with the other formats that ship in archives.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from exposure.archives import ARCHIVE_SUFFIXES, READABLE_SUFFIXES, ArchiveReader, hidden_member, wrapper_prefix
from exposure.datasets.layout import Item, display_path, identity_of, list_images
from exposure.errors import ExposureError, PhotoError
from exposure.photos import is_image_name, read_file

FORMAT = "archive_folders"


def detect(path: Path) -> bool:
    """An archive that exposure reads in place (WebDataset shards are detected before, as their own layout)."""
    p = Path(path)
    return p.is_file() and p.name.lower().endswith(READABLE_SUFFIXES)


def open(path: Path) -> ArchiveFoldersSource:  # noqa: A001 - the registry's name
    return ArchiveFoldersSource(path)


def archive_stem(path: Path) -> str:
    """The archive's file name without its archive suffix: lfw-deepfunneled.tgz -> lfw-deepfunneled."""
    name = Path(path).name
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


# ---------------------------------------------------------------- the source


class ArchiveFoldersSource:
    """Images in a folder-per-identity tree inside one archive; identity = the image's folder."""

    format = FORMAT

    def __init__(self, path: str | os.PathLike):
        self.location = Path(path)
        if not self.location.is_file():
            raise ExposureError(f"{self.location}: no such archive")
        self.name = archive_stem(self.location)
        self.skipped = 0
        self.refused: list[tuple[str, str]] = []
        self._reader: ArchiveReader | None = None
        self._keys: dict[str, str] = {}

    def _load(self) -> ArchiveReader:
        """List the archive once (a full read for a tar): the keys, and what is skipped and why."""
        if self._reader is None:
            reader = ArchiveReader(self.location)
            visible = [n for n in reader.members if not hidden_member(n)]
            prefix = wrapper_prefix(visible)
            self._keys = {
                display_path(n[len(prefix):]): n for n in visible if is_image_name(n)
            }
            self.refused = list(reader.refused)
            self.skipped = len(visible) - len(self._keys) + len(self.refused)
            self._reader = reader
        return self._reader

    def items(self) -> Iterator[Item]:
        self._load()
        for key in sorted(self._keys):
            yield Item(key=key, identity=identity_of(key), ref=self._keys[key])

    def payload(self, item: Item) -> bytes:
        reader = self._load()
        return reader.read(item.ref if item.ref is not None else self._keys.get(item.key, item.key), item.key)

    def read(self, key: str) -> bytes:
        reader = self._load()
        if key not in self._keys:
            raise PhotoError(key, f"not in {self.location.name}")
        return reader.read(self._keys[key], key)


# ---------------------------------------------------------------- images in a folder or a zip of it


class FolderOrZip:
    """The images under a folder, or under the same folder inside a zip (CelebA, FFHQ ship both).

    Names are relative to the folder (`000001.jpg`, `00000/00000.png`) in either case.
    """

    def __init__(self, place: Path, inside: str = ""):
        self.place = Path(place)
        self.is_zip = self.place.is_file()
        self.inside = inside.strip("/") + "/" if inside.strip("/") else ""
        self._reader: ArchiveReader | None = None
        self._names: dict[str, str] | None = None
        self.skipped = 0

    def names(self) -> list[str]:
        """Relative names of every image, sorted; counts other files in `skipped`."""
        if self._names is None:
            if self.is_zip:
                self._reader = ArchiveReader(self.place)
                inside = [n for n in self._reader.members if n.startswith(self.inside) and not hidden_member(n)]
                self._names = {n[len(self.inside):]: n for n in inside if is_image_name(n)}
                self.skipped = len(inside) - len(self._names) + len(self._reader.refused)
            else:
                files, self.skipped = list_images(self.place)
                self._names = {f: f for f in files}
        return sorted(self._names)

    def __contains__(self, name: str) -> bool:
        if self._names is None:
            self.names()
        return name in self._names

    def payload(self, name: str, label: str) -> str | bytes:
        """A path for the worker to read (folder) or the bytes (zip)."""
        if not self.is_zip:
            return os.path.join(self.place, name)
        return self.read(name, label)

    def read(self, name: str, label: str) -> bytes:
        if not self.is_zip:
            return read_file(os.path.join(self.place, name), label)
        self.names()
        if name not in self._names:
            raise PhotoError(label, f"not in {self.place.name}")
        return self._reader.read(self._names[name], label)
