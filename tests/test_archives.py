"""Safe unpacking: hostile tar and zip archives built here are refused and write nothing outside."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exposure.archives import (
    ArchiveError,
    UnsafeArchiveError,
    _safe_relpath,
    extract,
    is_archive_name,
    list_members,
)

MB = 1 << 20


# -- builders -----------------------------------------------------------------------------------


def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> Path:
    """Write a tar whose members are TarInfo headers (no data) or (name, bytes) regular files."""
    with tarfile.open(path, mode) as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    return path


def _tarinfo(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    """A data-less tar header of the given type (symlink, hardlink, device, FIFO...)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def _zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    """Write a deflated zip from (name or ZipInfo, bytes) pairs."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def _zipinfo(name: str, file_type: int) -> zipfile.ZipInfo:
    """A zip entry made 'on Unix' with the given file type bits (symlink, FIFO, device)."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (file_type | 0o644) << 16
    return info


def _snapshot(root: Path) -> set[str]:
    """Every path under `root` (files, folders, links), relative: compared before/after a refusal."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def refused(tmp_path: Path) -> Callable[..., UnsafeArchiveError]:
    """Extract an archive that must be refused; assert nothing changed anywhere under tmp_path."""

    def check(archive: Path, **limits: int | float) -> UnsafeArchiveError:
        dest = tmp_path / "work" / "out"
        dest.parent.mkdir(exist_ok=True)
        before = _snapshot(tmp_path)
        with pytest.raises(UnsafeArchiveError) as caught:
            extract(archive, dest, **limits)
        assert _snapshot(tmp_path) == before, "files were written (or left) by a refused extraction"
        assert not dest.exists()
        assert str(archive) in str(caught.value)
        return caught.value

    return check


# -- normal archives ----------------------------------------------------------------------------


def test_tar_and_zip_unpack_all_members(tmp_path: Path) -> None:
    files = [("./", b""), ("./Ada/Ada_0001.jpg", b"a" * 100), ("Bob/Bob_0001.jpg", b"b" * 10), ("x.txt", b"")]
    tar_members: list = [_tarinfo("./", tarfile.DIRTYPE)] + files[1:]
    tgz = _tar(tmp_path / "d.tgz", tar_members)
    zp = _zip(tmp_path / "d.zip", [("Ada/", b"")] + files[1:])
    for archive in (tgz, zp):
        out = extract(archive, tmp_path / f"out-{archive.suffix[1:]}")
        assert (out / "Ada" / "Ada_0001.jpg").read_bytes() == b"a" * 100
        assert (out / "Bob" / "Bob_0001.jpg").read_bytes() == b"b" * 10
        assert (out / "x.txt").read_bytes() == b""
        assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]
    assert "./Ada/Ada_0001.jpg" in list_members(tgz)
    assert list_members(zp) == ["Ada/", "./Ada/Ada_0001.jpg", "Bob/Bob_0001.jpg", "x.txt"]


def test_plain_tar_and_empty_existing_dest(tmp_path: Path) -> None:
    tar = _tar(tmp_path / "d.tar", [("a/b.txt", b"hi")], mode="w")
    dest = tmp_path / "dest"
    dest.mkdir()
    assert (extract(tar, dest) / "a" / "b.txt").read_text() == "hi"
    with pytest.raises(FileExistsError):
        extract(tar, dest)


def test_archive_names() -> None:
    assert all(map(is_archive_name, ["a.tgz", "a.TAR.GZ", "a.tar", "a.zip"]))
    assert not any(map(is_archive_name, ["pairs.txt", "a.gz", "a.jpg"]))


# -- corrupt archives ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tgz", "zip"])
def test_truncated_archive_is_a_clear_error_and_leaves_nothing(tmp_path: Path, kind: str) -> None:
    blob = bytes(range(256)) * 4000  # incompressible-ish, so truncation cuts member data
    whole = tmp_path / f"whole.{kind}"
    _tar(whole, [("a.bin", blob), ("b.bin", blob)]) if kind == "tgz" else _zip(whole, [("a.bin", blob)])
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    before = _snapshot(tmp_path)
    with pytest.raises(ArchiveError, match="corrupt, truncated") as caught:
        extract(cut, tmp_path / "out")
    assert not isinstance(caught.value, UnsafeArchiveError)
    assert str(cut) in str(caught.value)
    assert _snapshot(tmp_path) == before
    with pytest.raises(ArchiveError):
        list_members(cut)


def test_not_an_archive(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"this is not an archive" * 10)
    with pytest.raises(ArchiveError, match="junk.tgz"):
        extract(junk, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- hostile tar --------------------------------------------------------------------------------


def test_tar_dotdot_traversal(tmp_path: Path, refused: Callable) -> None:
    tgz = _tar(tmp_path / "evil.tgz", [("ok.txt", b"fine"), ("../work/escaped.txt", b"pwned")])
    err = refused(tgz)
    assert "../work/escaped.txt" in str(err) and ".." in str(err)


def test_tar_absolute_path_named_like_system_file(tmp_path: Path, refused: Callable) -> None:
    # tarfile's data filter would also stop this; ours refuses first and names the member.
    err = refused(_tar(tmp_path / "evil.tgz", [("/etc/passwd", b"root::0:0::/:/bin/sh\n")]))
    assert "'/etc/passwd'" in str(err) and "absolute" in str(err)


def test_tar_absolute_path_into_tmp(tmp_path: Path, refused: Callable) -> None:
    outside = tmp_path / "outside.txt"
    refused(_tar(tmp_path / "evil.tgz", [(str(outside), b"pwned")]))
    assert not outside.exists()


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_tarinfo("link", tarfile.SYMTYPE, "/etc"), "link"),
        (_tarinfo("up", tarfile.SYMTYPE, "../../.."), "link"),
        (_tarinfo("inside-looking", tarfile.SYMTYPE, "ok.txt"), "link"),
        (_tarinfo("hard", tarfile.LNKTYPE, "../outside.txt"), "link"),
        (_tarinfo("dev", tarfile.CHRTYPE), "device"),
        (_tarinfo("blk", tarfile.BLKTYPE), "device"),
        (_tarinfo("fifo", tarfile.FIFOTYPE), "FIFO"),
    ],
    ids=["symlink-abs", "symlink-up", "symlink-inside", "hardlink", "chardev", "blockdev", "fifo"],
)
def test_tar_links_devices_fifos(tmp_path: Path, refused: Callable, member: tarfile.TarInfo, reason: str) -> None:
    # A regular file first, then the bad member, then a file that would be written "through" a link.
    tgz = _tar(tmp_path / "evil.tgz", [("ok.txt", b"fine"), member, (f"{member.name}/payload", b"pwned")])
    err = refused(tgz)
    assert reason in str(err) and repr(member.name) in str(err)


def test_tar_bomb_ratio_and_total(tmp_path: Path, refused: Callable) -> None:
    tgz = tmp_path / "bomb.tgz"
    with tarfile.open(tgz, "w:gz") as tf:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 200 * MB
        tf.addfile(info, _Zeros(info.size))
    assert tgz.stat().st_size < 1 * MB
    assert "compression ratio" in str(refused(tgz))  # default limits
    assert "more than" in str(refused(tgz, max_total_bytes=10 * MB, max_ratio=1e9))


def test_tar_member_count_limit(tmp_path: Path, refused: Callable) -> None:
    tgz = _tar(tmp_path / "many.tgz", [(f"f{i}.txt", b"x") for i in range(50)])
    assert "more than 20 members" in str(refused(tgz, max_members=20))


class _Zeros(io.RawIOBase):
    """A readable stream of `n` zero bytes, without holding them in memory."""

    def __init__(self, n: int):
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # noqa: ANN001 - buffer protocol object
        n = min(len(buf), self.left)
        buf[:n] = bytes(n)
        self.left -= n
        return n


# -- hostile zip --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../escaped.txt", ".."),
        ("a/../../escaped.txt", ".."),
        ("/etc/passwd", "absolute"),
        ("C:/Windows/evil.dll", "absolute"),
        ("..\\escaped.txt", ".."),
    ],
)
def test_zip_bad_paths(tmp_path: Path, refused: Callable, name: str, reason: str) -> None:
    # For '/etc/passwd' the header check refuses the whole archive before any file is opened.
    err = refused(_zip(tmp_path / "evil.zip", [("ok.txt", b"fine"), (zipfile.ZipInfo(name), b"pwned")]))
    assert reason in str(err) and repr(name) in str(err)


def test_zip_absolute_path_into_tmp(tmp_path: Path, refused: Callable) -> None:
    outside = tmp_path / "outside.txt"
    refused(_zip(tmp_path / "evil.zip", [(zipfile.ZipInfo(str(outside)), b"pwned")]))
    assert not outside.exists()


@pytest.mark.parametrize(
    ("file_type", "target", "reason"),
    [
        (stat.S_IFLNK, b"/etc/passwd", "link"),
        (stat.S_IFLNK, b"../../outside.txt", "link"),
        (stat.S_IFIFO, b"", "FIFO"),
        (stat.S_IFCHR, b"", "device"),
        (stat.S_IFBLK, b"", "device"),
        (stat.S_IFSOCK, b"", "unsupported"),
    ],
    ids=["symlink-abs", "symlink-up", "fifo", "chardev", "blockdev", "socket"],
)
def test_zip_links_devices(tmp_path: Path, refused: Callable, file_type: int, target: bytes, reason: str) -> None:
    zp = _zip(tmp_path / "evil.zip", [("ok.txt", b"fine"), (_zipinfo("special", file_type), target)])
    assert reason in str(refused(zp))


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 MB of zeros deflated into one member (a few hundred KB on disk), built once."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    zero = bytes(MB)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("zeros.bin", "w") as member:
            for _ in range(200):
                member.write(zero)
    return path


def test_zip_bomb_refused_by_limits(zip_bomb: Path, tmp_path: Path, refused: Callable) -> None:
    assert zip_bomb.stat().st_size < 1 * MB
    assert "compression ratio" in str(refused(zip_bomb))
    assert "more than" in str(refused(zip_bomb, max_total_bytes=10 * MB, max_ratio=1e9))


def test_zip_bomb_with_lying_header_is_refused(zip_bomb: Path, tmp_path: Path) -> None:
    # Rewrite the declared uncompressed size (local header and central directory) to 1000 bytes,
    # so header checks pass; the bytes actually inflated then disagree and nothing is kept.
    data = bytearray(zip_bomb.read_bytes())
    info = zipfile.ZipFile(zip_bomb).infolist()[0]
    real = info.file_size.to_bytes(4, "little")
    for offset in _find_all(data, real):
        data[offset : offset + 4] = (1000).to_bytes(4, "little")
    liar = tmp_path / "liar.zip"
    liar.write_bytes(bytes(data))
    assert zipfile.ZipFile(liar).infolist()[0].file_size == 1000
    before = _snapshot(tmp_path)
    with pytest.raises(ArchiveError, match="liar.zip"):
        extract(liar, tmp_path / "out")
    assert _snapshot(tmp_path) == before


def _find_all(data: bytearray, needle: bytes) -> list[int]:
    """Offsets of every occurrence of `needle` in `data`."""
    found, start = [], 0
    while (i := data.find(needle, start)) >= 0:
        found.append(i)
        start = i + 1
    return found


def test_zip_ratio_measured_while_extracting(tmp_path: Path, refused: Callable) -> None:
    # Each member is under the per-member floor, so header checks pass; the running total of bytes
    # actually written crosses the overall ratio limit part-way, and what was written is removed.
    zp = tmp_path / "many-zeros.zip"
    with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for i in range(40):
            zf.writestr(f"z{i:02d}.bin", bytes(MB - 1))
    err = refused(zp)
    assert "compression ratio" in str(err) and "overall" in str(err)


def test_zip_member_count_limit(tmp_path: Path, refused: Callable) -> None:
    zp = _zip(tmp_path / "many.zip", [(f"f{i}.txt", b"x") for i in range(50)])
    assert "more than 20 members" in str(refused(zp, max_members=20))


# -- the name check itself ----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab./\\:C\x00~")), max_size=12))
def test_safe_relpath_never_escapes(name: str) -> None:
    try:
        rel = _safe_relpath(name)
    except ValueError:
        return
    if rel is None:
        return
    assert not rel.is_absolute() and ".." not in rel.parts
    base = PurePosixPath("/base")
    assert str(base.joinpath(rel)).startswith("/base/")
