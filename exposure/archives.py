"""Dataset archives read safely: unpacked all-or-nothing, or read in place without unpacking.

Downloaded archives come from mirrors nobody audits, so every member is checked before a byte is
written: no absolute paths, no `..`, no links, no devices or FIFOs, and limits on total size,
member count and compression ratio (measured while writing, not taken from headers alone).
Everything is unpacked into a hidden sibling folder that is renamed to the destination only when
the whole archive went through, so a failure never leaves a half-unpacked dataset behind.

`ArchiveReader` reads members in place (a tar, gzip-compressed or not, or a zip) with the same
checks: members with unsafe names, links, devices and oversized members are never read, and are
listed with the reason in `refused`. Tar archives have no table of contents, so the archive is
read once to list its members and the offset of each member's data; a plain tar is then read by
seeking straight there. A gzip-compressed tar cannot be seeked, so while listing it the gzip
stream is checkpointed (the inflater's state is copied every few MiB of output); a later read
restarts from the nearest checkpoint, or carries on from the previous read when it lies ahead,
so reading in archive order costs one pass.
"""

from __future__ import annotations

import bisect
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from exposure.errors import ExposureError, PhotoError

__all__ = [
    "ARCHIVE_SUFFIXES",
    "READABLE_SUFFIXES",
    "ArchiveReader",
    "ArchiveError",
    "UnsafeArchiveError",
    "extract",
    "is_archive_name",
    "list_members",
]

ARCHIVE_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")
READABLE_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".zip")  # read in place, without unpacking
MAX_MEMBER_BYTES = 1 << 28  # 256 MiB: no face photo is that large; bigger members are refused, not read
_GZIP_MAGIC = b"\x1f\x8b"
MIN_CHECKPOINT_SPACING = 1 << 20  # bytes of tar stream between gzip checkpoints, at least
_INFLATE_CHUNK = 1 << 16

DEFAULT_MAX_TOTAL_BYTES = 2**40  # 1 TiB: more than any single published face-dataset archive
DEFAULT_MAX_MEMBERS = 50_000_000  # WebFace42M has 42M images
DEFAULT_MAX_RATIO = 100.0  # JPEG archives are ~1:1, text ~10:1; zeros-bombs are ~1000:1
RATIO_FLOOR_BYTES = 1 << 20  # below 1 MiB unpacked, a high ratio is harmless (tiny text files)

_CHUNK = 1 << 20
_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError)


class ArchiveError(ValueError):
    """An archive could not be read or unpacked: corrupt, truncated or unsupported."""


class UnsafeArchiveError(ArchiveError):
    """An archive member was refused: it would escape the folder, is a link or device, or a bomb."""


def is_archive_name(name: str) -> bool:
    """True when a file name has an archive suffix that `extract` unpacks."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def list_members(archive: str | os.PathLike) -> list[str]:
    """Names of every member of a tar or zip archive, as stored, without unpacking anything."""
    path = Path(archive)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                return zf.namelist()
        with tarfile.open(path, "r:*") as tf:
            return tf.getnames()
    except (*_READ_ERRORS, OSError, RuntimeError) as exc:
        raise _read_error(path, exc) from exc


def extract(
    archive: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    max_ratio: float = DEFAULT_MAX_RATIO,
) -> Path:
    """Unpack `archive` into `dest` (which must not exist or be empty), all or nothing; returns dest."""
    src, dest = Path(archive), Path(dest)
    _check_dest(dest)
    limits = _Limits(src, max_total_bytes, max_members, max_ratio)
    partial = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        os.chmod(partial, 0o755)
        _extract_any(src, partial, limits)
        if dest.exists():
            dest.rmdir()  # empty (checked above); rename onto it
        os.rename(partial, dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return dest


def _check_dest(dest: Path) -> None:
    """Refuse a destination that already holds something, and create its parent."""
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise FileExistsError(f"{dest}: already exists and is not an empty folder")
    dest.parent.mkdir(parents=True, exist_ok=True)


def _extract_any(src: Path, out: Path, limits: _Limits) -> None:
    """Dispatch on the archive's content (not its name) and wrap read errors as ArchiveError."""
    if not src.is_file():
        raise ArchiveError(f"{src}: no such archive")
    try:
        if zipfile.is_zipfile(src):
            _extract_zip(src, out, limits)
        else:
            _extract_tar(src, out, limits)
    except ArchiveError:
        raise
    except tarfile.FilterError as exc:
        raise UnsafeArchiveError(f"{src}: refused by tarfile's data filter: {exc}") from exc
    except (*_READ_ERRORS, OSError, RuntimeError) as exc:
        raise _read_error(src, exc) from exc


def _read_error(src: Path, exc: BaseException) -> ArchiveError:
    """One clear ArchiveError for an archive that could not be read or written out."""
    corrupt = isinstance(exc, _READ_ERRORS) or (isinstance(exc, OSError) and exc.errno is None)
    what = "corrupt, truncated or not a tar/zip archive" if corrupt else "cannot be unpacked"
    return ArchiveError(f"{src}: {what} ({type(exc).__name__}: {exc})")


class _Limits:
    """Running totals of what an archive has unpacked, checked against the bomb limits."""

    def __init__(self, src: Path, max_total: int, max_members: int, max_ratio: float):
        self.src, self.max_total, self.max_members, self.max_ratio = (src, max_total, max_members, max_ratio)
        self.archive_size = max(src.stat().st_size if src.exists() else 0, 1)
        self.total = 0
        self.members = 0

    def refuse(self, member: str, reason: str) -> UnsafeArchiveError:
        """The error for one refused member: names the archive, the member and the reason."""
        return UnsafeArchiveError(f"{self.src}: member {member!r} refused: {reason}")

    def count_member(self, member: str) -> None:
        """Count one more member; refuse past the member limit."""
        self.members += 1
        if self.members > self.max_members:
            raise self.refuse(member, f"more than {self.max_members} members (archive bomb?)")

    def add_bytes(self, member: str, n: int, member_total: int = 0, compressed: int = 0) -> None:
        """Add `n` unpacked bytes; refuse past the size limit or the compression-ratio limit."""
        self.total += n
        if self.total > self.max_total:
            raise self.refuse(member, f"unpacks to more than {self.max_total} bytes (archive bomb?)")
        if self.total > RATIO_FLOOR_BYTES and self.total > self.max_ratio * self.archive_size:
            raise self.refuse(member, f"compression ratio over {self.max_ratio:g}:1 overall (archive bomb?)")
        if compressed and member_total > RATIO_FLOOR_BYTES:
            if member_total > self.max_ratio * compressed:
                raise self.refuse(member, f"compression ratio over {self.max_ratio:g}:1 (zip bomb?)")


def _safe_relpath(name: str) -> PurePosixPath | None:
    """The member's path relative to the target, or None for the root itself; raises ValueError."""
    if not name or "\x00" in name:
        raise ValueError("empty name or NUL byte in name")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ValueError("absolute path (named like a system path)")
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".")]
    if ".." in parts:
        raise ValueError("'..' path traversal")
    return PurePosixPath(*parts) if parts else None


def _checked_path(limits: _Limits, name: str) -> PurePosixPath | None:
    """`_safe_relpath`, with the refusal turned into an UnsafeArchiveError naming the member."""
    try:
        return _safe_relpath(name)
    except ValueError as exc:
        raise limits.refuse(name, str(exc)) from None


# -- tar ---------------------------------------------------------------------------------------


def _tar_kind_problem(member: tarfile.TarInfo) -> str | None:
    """Why a tar member's type is refused (links, devices, FIFOs, oddities), or None if fine."""
    if member.issym() or member.islnk():
        return f"link to {member.linkname!r} (datasets need no links)"
    if member.ischr() or member.isblk():
        return "device file"
    if member.isfifo():
        return "FIFO"
    if not (member.isreg() or member.isdir()):
        return f"unsupported member type {member.type!r}"
    return None


def _check_tar_member(member: tarfile.TarInfo, limits: _Limits) -> bool:
    """Refuse an unsafe tar member before anything is written; False for the root folder entry."""
    limits.count_member(member.name)
    rel = _checked_path(limits, member.name)
    problem = _tar_kind_problem(member)
    if problem:
        raise limits.refuse(member.name, problem)
    if member.isreg():
        limits.add_bytes(member.name, member.size)  # tar sizes are exact: the reader copies them
    return rel is not None


def _extract_tar(src: Path, out: Path, limits: _Limits) -> None:
    """Stream through a (compressed) tar, checking each member, then extracting it with filter='data'."""
    with tarfile.open(src, "r|*") as tf:
        for member in tf:
            if _check_tar_member(member, limits):
                tf.extract(member, out, set_attrs=member.isreg(), filter="data")


# -- zip ---------------------------------------------------------------------------------------


def _zip_kind_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member's Unix mode is refused (symlinks, devices, FIFOs), or None if fine."""
    mode = info.external_attr >> 16
    if info.create_system != 3 or not mode:  # not made on Unix: no Unix file type recorded
        return None
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        return "symbolic link (datasets need no links)"
    if kind in (stat.S_IFCHR, stat.S_IFBLK):
        return "device file"
    if kind == stat.S_IFIFO:
        return "FIFO"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return f"unsupported file type {oct(kind)}"
    return None


def _check_zip_headers(zf: zipfile.ZipFile, limits: _Limits) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Check every central-directory entry up front; returns [(info, relative path)] to unpack."""
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise limits.refuse(infos[-1].filename, f"more than {limits.max_members} members")
    declared = 0
    plan = []
    for info in infos:
        rel = _checked_path(limits, info.filename)
        problem = _zip_kind_problem(info)
        if problem:
            raise limits.refuse(info.filename, problem)
        declared += info.file_size
        if declared > limits.max_total:
            raise limits.refuse(info.filename, f"declares more than {limits.max_total} bytes")
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise limits.refuse(info.filename, f"compression ratio over {limits.max_ratio:g}:1 (zip bomb?)")
        if rel is not None:
            plan.append((info, rel))
    return plan


def _copy_counted(reader: BinaryIO, writer: BinaryIO, name: str, compressed: int, limits: _Limits) -> None:
    """Copy a member's bytes, counting what is really written against the limits as it goes."""
    written = 0
    for chunk in _chunks(reader):
        written += len(chunk)
        limits.add_bytes(name, len(chunk), written, max(compressed, 1))
        writer.write(chunk)


def _chunks(reader: BinaryIO) -> Iterator[bytes]:
    """Read a stream in 1 MiB pieces."""
    while chunk := reader.read(_CHUNK):
        yield chunk


def _inside(out: Path, rel: PurePosixPath, name: str, limits: _Limits) -> Path:
    """`out/rel`, checked (after resolving) to lie inside `out`: defence in depth against escapes."""
    target = out.joinpath(*rel.parts)
    if not target.resolve().is_relative_to(out.resolve()):
        raise limits.refuse(name, "would be written outside the target folder")
    return target


def _extract_zip(src: Path, out: Path, limits: _Limits) -> None:
    """Unpack a zip member by member with our own writer (no links, counted bytes)."""
    with zipfile.ZipFile(src) as zf:
        for info, rel in _check_zip_headers(zf, limits):
            limits.count_member(info.filename)
            target = _inside(out, rel, info.filename, limits)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as reader, open(target, "wb") as writer:
                _copy_counted(reader, writer, info.filename, info.compress_size, limits)


# ---------------------------------------------------------------- reading in place


def unsafe_reason(name: str) -> str | None:
    """Why a member name must not be used (absolute, `..`, NUL), or None when it is safe."""
    try:
        _safe_relpath(name)
    except ValueError as e:
        return str(e)
    return None


def hidden_member(name: str) -> bool:
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
        chunk = self.f.read(_INFLATE_CHUNK)
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
                    while scan.read(_INFLATE_CHUNK):  # tarfile stops at the end-of-archive blocks: read on to the
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
        with tf:
            for m in tf:
                tf.members.clear()  # tarfile keeps every TarInfo; millions of them would fill memory
                if m.isdir():
                    continue
                self._refuse_or_keep(m.name, m.isreg(), _tar_kind_problem(m), m.size, m.offset_data)

    def _list_zip(self) -> None:
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
