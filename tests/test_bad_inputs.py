"""Bad input, end to end: every kind of file a camera roll or a broken download holds.

The corpus is generated here (nothing downloaded). For each file, the Python API
(`load_photo`, `find_faces`, `check`) gives a correct result or one clear ExposureError;
`exposure check FILE` exits 0 with a result or 1 with exactly one stderr line and no traceback;
and `exposure index` over a folder holding all of them indexes the good ones and lists every bad
one with its reason in manifest["failed"].

Notes on single cases:

* unreadable permissions: the tests run as root, which chmod 000 does not stop. The commands that
  must meet that file are run through `setpriv` with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
  dropped from the bounding set (still uid 0, so the venv under /root stays readable), which makes
  root obey file modes. Where that is not possible the case is skipped with the reason.
* the non-UTF-8 name is created from its bytes and passed as str (surrogate-escaped, as Python
  and argv give it) or Path; `load_photo(bytes)` means the photo's content, by design.
* a folder named x.jpg: `load_photo`/`check` say "is a folder"; `exposure index` walks it as a
  folder (of no images), so it is neither indexed nor listed as a failed image.
* the 8 EXIF orientations go through the CLI in one `exposure check` of all 8 (one person, 8
  photos): each is listed with its face; 7 fewer processes.
* beyond the issue's list: a 250x4 strip, a FIFO, a symlink to /dev/zero and a 2 GiB sparse file
  named .jpg (reading the last three used to hang or exhaust memory).
* cases that reach dlib's CNN detector (check() uses detector "auto": CNN when HOG finds no face)
  run the Python API in a child process, so a crash in dlib fails the test instead of pytest.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import EXIF_TO_STORED, SAMPLE_DATASET, deadline, run_cli
from PIL import Image

import exposure
from exposure import PhotoError

COLLINS = SAMPLE_DATASET / "Eileen_Collins" / "Eileen_Collins_0001.jpg"
HOPPER = SAMPLE_DATASET / "Grace_Hopper" / "Grace_Hopper_0001.jpg"
NON_UTF8_NAME = b"caf\xe9_\xff\xfe.jpg"  # Latin-1 and stray bytes: not valid UTF-8
LONG_NAME = "l" * 251 + ".jpg"  # 255 bytes, the longest name ext4/xfs/tmpfs allow
DROP_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
API_SECONDS = 60  # per case: a hang (e.g. on a FIFO) fails the test instead of blocking the suite


@dataclass(frozen=True)
class Case:
    name: str  # file name in the corpus (str; surrogate-escaped for the non-UTF-8 one)
    kind: str  # "face": a face is found; "noface": readable, no face; "error": one PhotoError
    reason: str = ""  # regex the error message must match ("error" cases)
    faces: int | None = None  # exact number of faces, when known
    who: str | None = None  # identity the check must rank first
    orientation: int | None = None
    in_index: bool = True  # listed by `exposure index` (a folder named x.jpg is a folder, not a file)

    @property
    def key(self) -> str:
        """How the index names this file (undecodable bytes as \\xNN)."""
        return os.fsencode(self.name).decode("utf-8", "backslashreplace")


# ---------------------------------------------------------------- the corpus


def _encode(pixels: np.ndarray | Image.Image, fmt: str, **kw) -> bytes:
    img = pixels if isinstance(pixels, Image.Image) else Image.fromarray(np.ascontiguousarray(pixels))
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR declaring width x height RGB, with a few bytes of pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b""))


def _png_rgb16(rgb8: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG, written by hand (Pillow cannot write one)."""
    a = rgb8.astype(">u2") * 257
    h, w, _ = a.shape
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(raw)) + _png_chunk(b"IEND", b"")


UPRIGHT_SHAPE = (250, 210, 3)  # not square: a rotation that is not undone changes the shape


def _animated(first: np.ndarray, fmt: str, **kw) -> bytes:
    frames = [Image.fromarray(first), Image.new("RGB", (first.shape[1], first.shape[0]), (0, 0, 0))]
    if fmt == "GIF":
        frames = [f.convert("P", palette=Image.Palette.ADAPTIVE) for f in frames]
    buf = io.BytesIO()
    frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **kw)
    return buf.getvalue()


def _crowd(collins: np.ndarray, hopper: np.ndarray) -> np.ndarray:
    """30 faces: 125-px tiles of the two sample faces in 5 rows of 6 (faces about 54 px)."""
    tiles = [np.asarray(Image.fromarray(c).resize((125, 125), Image.BILINEAR)) for c in (collins, hopper)]
    rows = [np.concatenate([tiles[(r + c) % 2] for c in range(6)], axis=1) for r in range(5)]
    return np.concatenate(rows, axis=0)


def build_corpus(folder: Path) -> dict[str, Case]:
    """Write every bad (and good-but-odd) input into folder; returns case id -> Case."""
    folder.mkdir(parents=True)
    collins = np.asarray(Image.open(COLLINS).convert("RGB"))
    hopper = np.asarray(Image.open(HOPPER).convert("RGB"))
    collins_jpeg = _encode(collins, "JPEG", quality=92)
    cases: dict[str, Case] = {}

    def add(cid: str, case: Case, data: bytes | None = None) -> None:
        if data is not None:
            with open(folder / case.name, "wb") as f:
                f.write(data)
        cases[cid] = case

    add("empty", Case("empty.jpg", "error", r"empty \(0 bytes\)"), b"")
    add("truncated_jpeg", Case("truncated.jpg", "error", r"truncated|damaged"), collins_jpeg[: len(collins_jpeg) // 2])
    png = _encode(collins, "PNG")
    add("truncated_png", Case("truncated.png", "error", r"truncated|damaged"), png[: len(png) * 2 // 3])
    add("text_as_jpeg", Case("notes.jpg", "error", r"not an image"), b"Shopping list: milk, eggs.\n" * 40)
    add("png_100000x100000", Case("bomb.png", "error", r"decompression bomb"), _png_header_only(100_000, 100_000))
    grey16 = np.asarray(Image.fromarray(collins).convert("L")).astype(np.uint16) * 257
    add("png_16bit_grey", Case("grey16.png", "face", who="Eileen_Collins"), _encode(grey16, "PNG"))
    add("png_16bit_rgb", Case("rgb16.png", "face", who="Eileen_Collins"), _png_rgb16(collins))
    add("cmyk_jpeg", Case("cmyk.jpg", "face", who="Eileen_Collins"),
        _encode(Image.fromarray(collins).convert("CMYK"), "JPEG", quality=92))
    add("animated_gif", Case("animated.gif", "face", who="Eileen_Collins"), _animated(collins, "GIF"))
    add("animated_webp", Case("animated.webp", "face", who="Eileen_Collins"), _animated(collins, "WEBP", lossless=True))
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        add("heic", Case("phone.heic", "face", who="Eileen_Collins"), _encode(collins, "HEIF", quality=90))
    except ImportError:  # pillow-heif is a dependency; without it HEIC is a clear "cannot be read"
        pass
    upright = collins[:, 20:230]
    assert upright.shape == UPRIGHT_SHAPE
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        add(f"exif_orientation_{o}", Case(f"orientation_{o}.jpg", "face", who="Eileen_Collins", orientation=o),
            _encode(EXIF_TO_STORED[o](upright), "JPEG", quality=92, exif=exif.tobytes()))
    add("greyscale", Case("grey.jpg", "face", who="Eileen_Collins"),
        _encode(np.asarray(Image.fromarray(collins).convert("L")), "JPEG", quality=92))
    add("one_pixel", Case("one_pixel.png", "noface"), _encode(np.full((1, 1, 3), 128, np.uint8), "PNG"))
    add("thin_strip", Case("strip.png", "noface"), _encode(collins[:4, :], "PNG"))  # 250x4: a banner, no face
    add("thirty_faces", Case("crowd.jpg", "face", faces=30), _encode(_crowd(collins, hopper), "JPEG", quality=92))
    add("face_cut_by_border", Case("edge.jpg", "face", faces=1), _encode(collins[:, 100:], "JPEG", quality=92))
    non_utf8 = os.fsdecode(NON_UTF8_NAME)
    with open(os.path.join(os.fsencode(folder), NON_UTF8_NAME), "wb") as f:  # created by its bytes name
        f.write(collins_jpeg)
    add("non_utf8_name", Case(non_utf8, "face", who="Eileen_Collins"))
    add("name_255_bytes", Case(LONG_NAME, "face", who="Eileen_Collins"), collins_jpeg)
    (folder / "x.jpg").mkdir()
    add("directory_named_jpg", Case("x.jpg", "error", r"is a folder", in_index=False))
    add("unreadable", Case("locked.jpg", "error", r"permission denied"), collins_jpeg)
    os.chmod(folder / "locked.jpg", 0)
    os.symlink("loop_b.jpg", folder / "loop_a.jpg")
    os.symlink("loop_a.jpg", folder / "loop_b.jpg")
    add("symlink_loop", Case("loop_a.jpg", "error", r"cannot be read \(Too many levels of symbolic links\)"))
    cases["symlink_loop_other_end"] = Case("loop_b.jpg", "error", r"Too many levels of symbolic links")
    # beyond the list, the other ways a "file" never ends or is too big to be a photo
    os.mkfifo(folder / "pipe.jpg")
    add("fifo", Case("pipe.jpg", "error", r"not a regular file"))
    os.symlink("/dev/zero", folder / "zero.jpg")
    add("symlink_to_dev_zero", Case("zero.jpg", "error", r"not a regular file"))
    with open(folder / "huge.jpg", "wb") as f:  # sparse: no disk used, never read
        f.truncate(exposure.photos.MAX_PHOTO_BYTES + 1)
    add("over_2_gib", Case("huge.jpg", "error", r"too large to be a photo"))
    return cases


# ---------------------------------------------------------------- helpers


def _root_reads_everything() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _dac_drop_works(folder: Path) -> str | None:
    """None when setpriv makes root obey file modes here; else why not (the reason to skip)."""
    if not _root_reads_everything():
        return None
    if shutil.which("setpriv") is None:
        return "running as root (chmod 000 does not stop root) and setpriv is not installed to drop CAP_DAC_OVERRIDE"
    probe = folder / "probe-000"
    probe.write_bytes(b"x")
    os.chmod(probe, 0)
    try:
        proc = subprocess.run([*DROP_DAC, sys.executable, "-c", f"open({str(probe)!r}, 'rb').read()"],
                              capture_output=True, text=True, timeout=60)
    finally:
        probe.unlink()
    if proc.returncode == 0:
        return "running as root and dropping CAP_DAC_OVERRIDE did not stop reading a chmod 000 file"
    if "PermissionError" not in proc.stderr:
        return f"running as root and setpriv was refused: {proc.stderr.strip()[-200:]}"
    return None


def _run_cli_as_file_modes_say(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """run_cli, but as root without CAP_DAC_OVERRIDE (so chmod 000 really stops reading)."""
    if not _root_reads_everything():
        return run_cli(*args, timeout=timeout)
    return subprocess.run([*DROP_DAC, sys.executable, "-m", "exposure", *args],
                          capture_output=True, text=True, timeout=timeout)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    """Assert the command failed with exactly one stderr line and no traceback; return that line."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("exposure: error: "), lines[0]
    return lines[0]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, Case], str | None]:
    """The corpus folder, its cases, and why unreadable-permission cases cannot be shown (or None)."""
    base = tmp_path_factory.mktemp("bad_inputs")
    folder = base / "camera_roll"
    cases = build_corpus(folder)
    return folder, cases, _dac_drop_works(base)


@pytest.fixture(scope="module")
def cli_checks(corpus, sample_index, module_home) -> dict[str, subprocess.CompletedProcess]:
    """`exposure check FILE --index IDX` for every case, two at a time (each is a real process)."""
    folder, cases, no_dac = corpus

    def one(item):
        cid, case = item
        path = str(folder / case.name)
        if cid == "unreadable":
            if no_dac:
                return cid, None
            return cid, _run_cli_as_file_modes_say("check", path, "--index", str(sample_index))
        return cid, run_cli("check", path, "--index", str(sample_index))

    oriented = {cid: c for cid, c in cases.items() if c.orientation is not None}
    single = {cid: c for cid, c in cases.items() if cid not in oriented}
    with ThreadPoolExecutor(2) as pool:
        # the 8 EXIF orientations are 8 good photos of one person: one check of all 8 (saves 7 processes)
        together = pool.submit(run_cli, "check", *(str(folder / c.name) for c in oriented.values()),
                               "--index", str(sample_index))
        out = dict(pool.map(one, sorted(single.items())))
        out.update(dict.fromkeys(oriented, together.result()))
    return out


CASE_IDS = [
    "empty", "truncated_jpeg", "truncated_png", "text_as_jpeg", "png_100000x100000", "png_16bit_grey",
    "png_16bit_rgb", "cmyk_jpeg", "animated_gif", "animated_webp", "heic",
    *[f"exif_orientation_{o}" for o in range(1, 9)], "greyscale", "one_pixel", "thin_strip", "thirty_faces",
    "face_cut_by_border", "non_utf8_name", "name_255_bytes", "directory_named_jpg", "unreadable",
    "symlink_loop", "symlink_loop_other_end", "fifo", "symlink_to_dev_zero", "over_2_gib",
]


def _case(corpus, cid: str) -> tuple[Path, Case]:
    folder, cases, no_dac = corpus
    if cid not in cases:
        pytest.skip(f"{cid}: not generated here (pillow-heif missing)")
    if cid == "unreadable" and no_dac:
        pytest.skip(no_dac)
    return folder / cases[cid].name, cases[cid]


# ---------------------------------------------------------------- the Python API


def _api_outcome(path: Path, case: Case, sample_index: Path) -> None:
    """Run load_photo, find_faces and check on one case and assert the case's expected outcome."""
    label = os.fsencode(str(path)).decode("utf-8", "backslashreplace")
    if case.kind == "error":
        for call in (lambda: exposure.load_photo(path), lambda: exposure.find_faces(path),
                     lambda: exposure.check([path], [sample_index])):
            with pytest.raises(PhotoError) as e:
                call()
            message = str(e.value)
            assert re.search(case.reason, message), message
            assert "\n" not in message and message.startswith(label), message
        return
    photo = exposure.load_photo(path)
    assert photo.pixels.dtype == np.uint8 and photo.pixels.ndim == 3 and photo.pixels.shape[2] == 3
    assert photo.source == label
    faces = exposure.find_faces(photo)
    assert faces, f"{case.name}: no face found"
    if case.faces is not None:
        assert len(faces) == case.faces
    for f in faces:
        assert np.isfinite(f.embedding).all() and f.embedding.shape == (128,)
        assert f.box.right > 0 and f.box.bottom > 0 and f.box.left < photo.width and f.box.top < photo.height
    if case.orientation is not None:
        assert photo.exif_orientation == case.orientation and photo.pixels.shape == UPRIGHT_SHAPE
    result = exposure.check([path], [sample_index])
    top = result.results.iloc[0]
    assert result.queries[0].faces_found == len(faces)
    if case.who:
        assert top["identity"] == case.who and top["distance"] < 0.4, top.to_dict()
    if case.name == "edge.jpg":  # the face runs off the left border: its box says so, its crop is inside
        box = faces[0].box
        assert box.left < 0 < box.right
        crop = result.queries[0].crop()
        assert crop.size and crop.shape[1] <= photo.width


@pytest.mark.parametrize("cid", CASE_IDS)
def test_python_api_gives_a_result_or_one_clear_error(corpus, sample_index, cid):
    path, case = _case(corpus, cid)
    if cid == "unreadable" and _root_reads_everything():
        outcomes = _api_in_a_child(path, sample_index, DROP_DAC)
        assert all(o[:2] == ["PhotoError", f"{path}: permission denied"] and o[2] for o in outcomes), outcomes
        return
    if case.kind == "noface":
        # check() then tries dlib's CNN detector too (detector "auto"): run where a crash cannot take pytest down
        outcomes = _api_in_a_child(path, sample_index)
        assert outcomes[0] == ["ok", 0, False] and outcomes[1] == ["ok", 0, False], outcomes
        assert outcomes[2][0] == "NoFaceError" and "no face found" in outcomes[2][1] and outcomes[2][2], outcomes
        return
    with deadline(API_SECONDS):
        _api_outcome(path, case, sample_index)


def _api_in_a_child(path: Path, sample_index: Path, prefix: list[str] = ()) -> list[list]:
    """load_photo, find_faces and check on one file in a child process: [outcome, detail, is ExposureError]."""
    script = (
        "import json, sys, exposure\n"
        "out = []\n"
        "for call in (lambda p: exposure.load_photo(p).width * 0, lambda p: len(exposure.find_faces(p)),\n"
        "             lambda p: len(exposure.check([p], [sys.argv[2]]).results)):\n"
        "    try:\n"
        "        out.append(['ok', call(sys.argv[1]), False])\n"
        "    except Exception as e:\n"
        "        out.append([type(e).__name__, str(e), isinstance(e, exposure.ExposureError)])\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([*prefix, sys.executable, "-c", script, str(path), str(sample_index)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"the Python API crashed the process ({proc.returncode}): {proc.stderr[-1500:]}"
    return json.loads(proc.stdout)


def test_bytes_are_content_and_a_path_object_names_a_non_utf8_file(corpus):
    """load_photo reads bytes as the photo itself; the non-UTF-8 file is opened by str or Path."""
    folder, cases, _ = corpus
    raw = os.path.join(os.fsencode(folder), NON_UTF8_NAME)
    as_bytes = exposure.load_photo(open(raw, "rb").read())
    by_path = exposure.load_photo(Path(os.fsdecode(raw)))
    assert (as_bytes.pixels == by_path.pixels).all()
    assert by_path.source.endswith("caf\\xe9_\\xff\\xfe.jpg")  # printable, names the bytes
    by_path.source.encode("utf-8")  # never a lone surrogate: printing it cannot fail


# ---------------------------------------------------------------- exposure check FILE


@pytest.mark.parametrize("cid", CASE_IDS)
def test_cli_check_exits_0_with_a_result_or_1_with_one_line(corpus, cli_checks, cid):
    path, case = _case(corpus, cid)
    proc = cli_checks[cid]
    if case.kind == "error":
        line = _one_error_line(proc)
        assert re.search(case.reason, line), line
        assert proc.stdout == ""
        return
    if case.kind == "noface":
        line = _one_error_line(proc)
        assert "no face found" in line
        return
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip() == "", proc.stderr
    printable = os.fsencode(str(path)).decode("utf-8", "backslashreplace")
    n = case.faces or r"\d+"
    assert re.search(rf"^photo {re.escape(printable)}: face 1 of {n}, \d+ px wide$", proc.stdout, re.M), proc.stdout
    rank1 = next(line for line in proc.stdout.splitlines() if re.match(r"\s+1\s+\d\.\d{3}\s", line))
    if case.who:
        assert f"{case.who} / " in rank1, proc.stdout


def test_cli_check_json_with_a_non_utf8_file_name(corpus, sample_index, module_home):
    path, _ = _case(corpus, "non_utf8_name")
    proc = run_cli("check", str(path), "--index", str(sample_index), "--json")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert results[0]["query"].endswith("caf\\xe9_\\xff\\xfe.jpg") and results[0]["identity"] == "Eileen_Collins"


# ---------------------------------------------------------------- exposure index FOLDER


@pytest.fixture(scope="module")
def corpus_index(corpus, module_home, tmp_path_factory):
    """`exposure index` over the whole corpus, 2 workers, as root obeying file modes where possible."""
    folder, cases, no_dac = corpus
    out = tmp_path_factory.mktemp("bad_inputs_index") / "ix"
    args = ("index", str(folder), "--out", str(out), "--quiet", "--workers", "2", "--shard-size", "8")
    proc = run_cli(*args) if no_dac else _run_cli_as_file_modes_say(*args)
    return proc, out, no_dac


def test_cli_index_over_the_corpus_indexes_the_good_and_lists_every_bad(corpus, corpus_index):
    folder, cases, _ = corpus
    proc, out, no_dac = corpus_index
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    failed = {f["path"]: f["reason"] for f in manifest["failed"]}
    listed = {c.key: c for c in cases.values() if c.in_index}
    bad = {k: c for k, c in listed.items() if c.kind == "error"}
    good = {k: c for k, c in listed.items() if c.kind != "error"}
    if no_dac:  # root read the chmod 000 file: it is a good photo then
        good["locked.jpg"] = bad.pop("locked.jpg")
    assert set(failed) == set(bad), (sorted(failed), sorted(bad))
    for key, case in bad.items():
        assert re.search(case.reason, failed[key]), (key, failed[key])
        assert "unexpected error" not in failed[key] and "\n" not in failed[key]
    c = manifest["counts"]
    assert manifest["complete"] and c["images_found"] == len(listed) == c["images_done"]
    assert c["failed"] == len(bad)
    assert "x.jpg" not in failed  # a folder named like a photo is a folder (of no images), not a failed image
    assert f"{len(bad)} unreadable" in proc.stdout
    ix = exposure.open_index(out)
    assert not ix.faces.duplicated(["image", "face"]).any()
    per_image = ix.faces.groupby("image").size().to_dict()
    for key, case in good.items():
        if case.kind == "noface":
            assert key not in per_image
        else:
            assert per_image.get(key, 0) >= 1, key
            if case.faces is not None:
                assert per_image[key] == case.faces, key
    assert c["faces"] == ix.n_faces == sum(per_image.values())
    assert ix.faces.loc[ix.faces["image"] == "edge.jpg", "box_left"].iloc[0] < 0  # the box, as found
    if not no_dac:
        assert stat.S_IMODE(os.stat(folder / "locked.jpg").st_mode) == 0


def test_cli_index_with_the_cnn_fallback_survives_tiny_images(corpus, module_home, tmp_path):
    """`--detector auto` runs dlib's CNN where HOG finds no face: a 1x1 photo and a 4-pixel strip must
    come out as images without a face, not crash a worker (and with it the build)."""
    folder, cases, _ = corpus
    data = tmp_path / "tiny"
    data.mkdir()
    for cid in ("one_pixel", "thin_strip", "greyscale"):
        shutil.copy(folder / cases[cid].name, data / cases[cid].name)
    proc = run_cli("index", str(data), "--out", str(tmp_path / "ix"), "--quiet", "--workers", "2",
                   "--detector", "auto")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "3 images indexed, 1 faces, 2 without a face, 0 unreadable" in proc.stdout
