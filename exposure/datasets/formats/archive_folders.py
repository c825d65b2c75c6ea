"""A folder-per-identity tree inside a .tar, .tgz/.tar.gz or .zip (LFW's own tgz), read without unpacking.

Tar archives have no table of contents, so the archive is read once to list its members and the
offset of each member's data. A plain .tar is then read by seeking straight to that offset. A
gzip-compressed tar cannot be seeked, so while listing it the gzip stream is checkpointed (the
inflater's state is copied every few MiB of output); a later read restarts from the nearest
checkpoint, or carries on from the previous read when it lies ahead, so reading in archive order
costs one pass. A zip has a central directory and is read with `zipfile`.

Members with unsafe names (absolute, `..`), links, devices and oversized members are never read
or extracted: they are counted in `skipped` and listed with the reason in `refused`.

The reader here (`ArchiveReader`) is shared by the other formats that ship in tar shards.
"""

from __future__ import annotations

import bisect
import lzma
import os
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from exposure.datasets.sources import Item, display_path, identity_of
from exposure.errors import ExposureError, PhotoError

FORMAT = "archive_folders"
SUFFIXES = (".tar", ".tgz", ".tar.gz", ".zip")
MAX_MEMBER_BYTES = 1 << 28  # 256 MiB: no face photo is that large; bigger members are refused, not read
_GZIP_MAGIC = b"\x1f\x8b"
MIN_CHECKPOINT_SPACING = 1 << 20  # bytes of tar stream between gzip checkpoints, at least
_CHUNK = 1 << 16


def detect(path: Path) -> bool:
    """An archive file named like one, that is not a WebDataset shard (those have their own reader)."""
    p = Path(path)
    if not (p.is_file() and p.name.lower().endswith(SUFFIXES)):
        return False
    if p.name.lower().endswith(".tar"):
        from exposure.datasets.formats import webdataset

        if webdataset.looks_like_shard(p):
            return False
    return True


def open(path: Path) -> ArchiveFoldersSource:  # noqa: A001 - the registry's name
    return ArchiveFoldersSource(path)


def archive_stem(path: Path) -> str:
    """The archive's file name without its archive suffix: lfw-deepfunneled.tgz -> lfw-deepfunneled."""
    name = Path(path).name
    for suffix in sorted((*SUFFIXES, ".tar.bz2", ".tar.xz"), key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def unsafe_reason(name: str) -> str | None:
    """Why a member name must not be used (absolute, `..`, NUL), or None when it is safe."""
    from exposure.archives import _safe_relpath

    try:
        _safe_relpath(name)
    except ValueError as e:
        return str(e)
    return None


def _hidden(name: str) -> bool:
    """Hidden files and macOS resource forks (`.DS_Store`, `__MACOSX/`), ignored like FolderSource does."""
    return any(part.startswith(".") or part == "__MACOSX" for part in PurePosixPath(name).parts)


# ---------------------------------------------------------------- gzip with checkpoints


class _Inflate:
    """A forward-only reader of a gzip file from some restart point, optionally recording checkpoints."""

    def __init__(self, f, cpos: int, upos: int, d, points: list | None = None, spacing: int = 0):
        self.f, self.cpos, self.upos = f, cpos, upos  # next compressed byte to feed; offset of pending[0]
        self.d = d if d is not None else zlib.decompressobj(31)
        self.pending = bytearray()
        self.points, self.spacing = points, spacing
        self.done = False

    def _fill(self) -> bool:
        if self.done:
            return False
        self.f.seek(self.cpos)
        chunk = self.f.read(_CHUNK)
        if not chunk:
            self.done = True
            if not self.d.eof and self.upos + len(self.pending) > 0:
                raise zlib.error("compressed data ends early (truncated archive)")
            return False
        self.cpos += len(chunk)
        out = self.d.decompress(chunk)
        while self.d.eof:  # end of one gzip member: more may follow (concatenated gzip)
            rest = self.d.unused_data
            if not rest:  # the member ended with the chunk: look at what follows it
                self.f.seek(self.cpos)
                if self.f.read(2) == _GZIP_MAGIC:
                    self.d = zlib.decompressobj(31)
                else:
                    self.done = True
                break
            if not rest.startswith(_GZIP_MAGIC):
                self.done = True  # trailing padding after the last member
                break
            self.d = zlib.decompressobj(31)
            out += self.d.decompress(rest)
        self.pending += out
        end = self.upos + len(self.pending)
        if self.points is not None and not self.done and end - self.points[-1][0] >= self.spacing:
            self.points.append((end, self.cpos, self.d.copy()))
        return True

    def read(self, n: int) -> bytes:
        while len(self.pending) < n and self._fill():
            pass
        out = bytes(self.pending[:n])
        del self.pending[:n]
        self.upos += len(out)
        return out

    def skip_to(self, target: int) -> None:
        while self.upos + len(self.pending) < target:
            self.upos += len(self.pending)
            self.pending.clear()
            if not self._fill():
                raise EOFError("archive ends before the member")
        cut = target - self.upos
        del self.pending[:cut]
        self.upos = target


class _GzipSeeker:
    """Random reads of the uncompressed stream of a .gz file, through checkpoints recorded on one pass."""

    def __init__(self, path: Path):
        self.path = path
        self.f = None
        size = path.stat().st_size
        # ~1000 checkpoints at most (each holds a 32 KiB window), never closer than 1 MiB
        self.spacing = max(MIN_CHECKPOINT_SPACING, size // 1000)
        self.points: list = [(0, 0, None)]  # (uncompressed offset, compressed offset, inflater copy)
        self.cursor: _Inflate | None = None

    def _file(self):
        if self.f is None:
            self.f = _open_binary(self.path)
        return self.f

    def scanner(self) -> _Inflate:
        """A stream over the whole file that records checkpoints as it goes (the listing pass)."""
        self.points = [(0, 0, None)]
        return _Inflate(_open_binary(self.path), 0, 0, None, self.points, self.spacing)

    def pread(self, offset: int, size: int) -> bytes:
        i = bisect.bisect_right([p[0] for p in self.points], offset) - 1
        upos, cpos, d = self.points[i]
        cur = self.cursor
        if cur is None or cur.upos > offset or cur.upos < upos:  # a checkpoint is nearer than the cursor
            cur = _Inflate(self._file(), cpos, upos, d.copy() if d is not None else None)
        cur.skip_to(offset)
        data = cur.read(size)
        self.cursor = cur
        return data


class _StreamFile:
    """The file-like object tarfile's stream mode reads from: just `read(n)`."""

    def __init__(self, inflate: _Inflate):
        self.inflate = inflate

    def read(self, n: int = -1) -> bytes:
        return self.inflate.read(n if n >= 0 else 1 << 62)


def _open_binary(path: Path):
    import builtins

    return builtins.open(path, "rb")


# ---------------------------------------------------------------- archive reader


@dataclass(frozen=True)
class Member:
    name: str  # as stored in the archive
    offset: int  # tar: offset of the data in the (uncompressed) tar stream; zip: -1
    size: int


class ArchiveReader:
    """Read the regular-file members of a tar (plain or gzip) or zip by name, without unpacking.

    `members` maps each safe member name to where its bytes are, in archive order; `refused`
    lists (name, reason) for members that are never read.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.members: dict[str, Member] = {}
        self.refused: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._zip: zipfile.ZipFile | None = None
        self._gz: _GzipSeeker | None = None
        self._file = None
        try:
            with _open_binary(self.path) as f:
                head = f.read(6)
        except OSError as e:
            raise ExposureError(f"{self.path}: cannot be read ({e.strerror or e})") from None
        try:
            if zipfile.is_zipfile(self.path):
                self.kind = "zip"
                self._list_zip()
            elif head.startswith(_GZIP_MAGIC):
                self.kind = "tar.gz"
                self._gz = _GzipSeeker(self.path)
                scan = self._gz.scanner()
                try:
                    self._list_tar(tarfile.open(fileobj=_StreamFile(scan), mode="r|"))
                    while scan.read(_CHUNK):  # tarfile stops at the end-of-archive blocks: read on to the
                        pass  # gzip trailer, whose CRC-32 tells whether any byte of the archive is damaged
                finally:
                    scan.f.close()
            elif head.startswith((b"BZh", b"\xfd7zXZ")):
                raise ExposureError(
                    f"{self.path}: bzip2/xz-compressed tars cannot be read without unpacking; "
                    "unpack it (exposure fetch does) and index the folder"
                )
            else:
                self.kind = "tar"
                self._list_tar(tarfile.open(self.path, mode="r:"))
        # NotImplementedError, ValueError: zipfile on a damaged central directory ("zip file version 12.7")
        except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                ValueError) as e:
            raise ExposureError(f"{self.path}: corrupt, truncated or not a tar/zip archive ({type(e).__name__}: {e})") from None

    def _refuse_or_keep(self, name: str, is_file: bool, problem: str | None, size: int, offset: int) -> None:
        reason = unsafe_reason(name) or problem
        if reason is None and is_file and size > MAX_MEMBER_BYTES:
            reason = f"{size} bytes: too large to be a photo"
        if reason is not None:
            self.refused.append((name, reason))
        elif is_file:
            self.members[name] = Member(name, offset, size)

    def _list_tar(self, tf: tarfile.TarFile) -> None:
        from exposure.archives import _tar_kind_problem

        with tf:
            for m in tf:
                tf.members.clear()  # tarfile keeps every TarInfo; millions of them would fill memory
                if m.isdir():
                    continue
                self._refuse_or_keep(m.name, m.isreg(), _tar_kind_problem(m), m.size, m.offset_data)

    def _list_zip(self) -> None:
        from exposure.archives import _zip_kind_problem

        with zipfile.ZipFile(self.path) as zf:
            for info in zf.infolist():
                if not info.filename:  # a damaged entry whose name is empty (ZipInfo.is_dir() fails on it)
                    self.refused.append(("", "empty name"))
                    continue
                if info.is_dir():
                    continue
                problem = _zip_kind_problem(info)
                if problem is None and info.flag_bits & 0x1:
                    problem = "encrypted"
                self._refuse_or_keep(info.filename, True, problem, info.file_size, -1)

    def read(self, name: str, label: str | None = None) -> bytes:
        """The bytes of one member; PhotoError naming `label` when it cannot be read."""
        label = label or name
        m = self.members.get(name)
        if m is None:
            raise PhotoError(label, f"not in {self.path.name}")
        try:
            with self._lock:
                if self.kind == "zip":
                    if self._zip is None:
                        self._zip = zipfile.ZipFile(self.path)
                    return self._zip.read(name)
                if self.kind == "tar.gz":
                    data = self._gz.pread(m.offset, m.size)
                else:
                    if self._file is None:
                        self._file = _open_binary(self.path)
                    self._file.seek(m.offset)
                    data = self._file.read(m.size)
        # NotImplementedError: a damaged zip naming an unsupported compression method (deflate64 ...);
        # LZMAError, ValueError, RuntimeError: what zipfile's decompressors raise on damaged data
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError,
                lzma.LZMAError) as e:
            raise PhotoError(label, f"cannot be read from {self.path.name} ({type(e).__name__}: {e})") from None
        if len(data) != m.size:
            raise PhotoError(label, f"the archive {self.path.name} is truncated")
        return data

    def close(self) -> None:
        """Close open file handles (a later read opens them again)."""
        with self._lock:
            for f in (self._zip, self._file, self._gz.f if self._gz else None):
                if f is not None:
                    f.close()
            self._zip = self._file = None
            if self._gz is not None:
                self._gz.f = None
                self._gz.cursor = None


def wrapper_prefix(names: list[str]) -> str:
    """The lone top folders every member shares ('lfw-deepfunneled/'), stripped like FolderSource does."""
    parts = [PurePosixPath(n).parts for n in names]
    prefix: list[str] = []
    while parts and all(len(p) > len(prefix) + 1 for p in parts):
        first = {p[len(prefix)] for p in parts}
        if len(first) != 1:
            break
        prefix.append(first.pop())
    return "".join(f"{p}/" for p in prefix)


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
            from exposure.photos import is_image_name

            reader = ArchiveReader(self.location)
            visible = [n for n in reader.members if not _hidden(n)]
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
        from exposure.datasets.sources import list_images
        from exposure.photos import is_image_name

        if self._names is None:
            if self.is_zip:
                self._reader = ArchiveReader(self.place)
                inside = [n for n in self._reader.members if n.startswith(self.inside) and not _hidden(n)]
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
        from exposure.photos import read_file

        if not self.is_zip:
            return read_file(os.path.join(self.place, name), label)
        self.names()
        if name not in self._names:
            raise PhotoError(label, f"not in {self.place.name}")
        return self._reader.read(self._names[name], label)
