"""Safe, all-or-nothing unpacking of dataset archives (.tar, .tgz, .tar.gz, .zip).

Downloaded archives come from mirrors nobody audits, so every member is checked before a byte is
written: no absolute paths, no `..`, no links, no devices or FIFOs, and limits on total size,
member count and compression ratio (measured while writing, not taken from headers alone).
Everything is unpacked into a hidden sibling folder that is renamed to the destination only when
the whole archive went through, so a failure never leaves a half-unpacked dataset behind.
"""

from __future__ import annotations

import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

__all__ = [
    "ARCHIVE_SUFFIXES",
    "ArchiveError",
    "UnsafeArchiveError",
    "extract",
    "is_archive_name",
    "list_members",
]

ARCHIVE_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")

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
