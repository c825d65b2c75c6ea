"""Photos in: every format and mode a phone or camera produces, and one clear error for bad files."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from conftest import EXIF_TO_STORED, MY_PHOTO, SAMPLE_DATASET
from PIL import Image

from exposure import PhotoError, find_faces, load_photo

COLLINS = SAMPLE_DATASET / "Eileen_Collins" / "Eileen_Collins_0001.jpg"


@pytest.fixture(scope="module")
def upright() -> np.ndarray:
    """A non-square upright face photo (260x200): rotations change its shape, flips its content."""
    return load_photo(MY_PHOTO).pixels[40:300, 120:320].copy()




def encode(pixels: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, format=fmt, **kw)
    return buf.getvalue()


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) if a.shape == b.shape else 255.0


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_exif_orientations_come_out_upright(upright, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(EXIF_TO_STORED[orientation](upright), "JPEG", quality=95, exif=exif.tobytes())
    photo = load_photo(data, name=f"orientation{orientation}.jpg")
    assert photo.exif_orientation == orientation
    assert photo.pixels.shape == upright.shape
    assert diff(photo.pixels, upright) < 3.0
    assert diff(photo.pixels, upright) < diff(photo.pixels, upright[:, ::-1]) / 2  # not mirrored


def test_rotated_phone_photo_has_its_face_found_only_with_exif_applied():
    raw = np.asarray(Image.open(MY_PHOTO))  # pixels as stored, ignoring EXIF like face_recognition does
    assert find_faces(raw, detector="hog") == []  # face_recognition's detector finds no sideways face
    faces = find_faces(MY_PHOTO, detector="hog")
    assert faces and 80 <= faces[0].quality.width_px <= 100


def test_heic_is_read(upright):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    data = encode(upright, "HEIF", quality=90)
    photo = load_photo(data, name="phone.heic")
    assert photo.format == "HEIF"
    assert diff(photo.pixels, upright) < 6.0


def test_cmyk_jpeg_is_converted(upright):
    buf = io.BytesIO()
    Image.fromarray(upright).convert("CMYK").save(buf, format="JPEG", quality=95)
    photo = load_photo(buf.getvalue(), name="print.jpg")
    assert photo.original_mode == "CMYK"
    assert photo.pixels.shape == upright.shape and photo.pixels.dtype == np.uint8
    assert diff(photo.pixels, upright) < 8.0


def test_16_bit_greyscale_png_is_scaled_not_clipped(upright):
    grey8 = np.asarray(Image.fromarray(upright).convert("L"))
    grey16 = grey8.astype(np.uint16) * 257
    data = encode(grey16, "PNG")
    photo = load_photo(data, name="scan16.png")
    assert photo.original_mode.startswith("I")
    assert np.abs(photo.pixels[:, :, 0].astype(int) - grey8).max() <= 1
    assert (photo.pixels[:, :, 0] == photo.pixels[:, :, 2]).all()


def test_palette_alpha_and_grey_modes(upright):
    rgba = np.dstack([upright, np.full(upright.shape[:2], 255, np.uint8)])
    rgba[:10, :10, 3] = 0  # a transparent corner becomes white
    photo = load_photo(encode(rgba, "PNG"), name="alpha.png")
    assert (photo.pixels[:10, :10] == 255).all()
    assert diff(photo.pixels[20:, 20:], upright[20:, 20:]) < 1.0
    pal = Image.fromarray(upright).convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    buf = io.BytesIO()
    pal.save(buf, format="PNG")
    assert diff(load_photo(buf.getvalue(), name="pal.png").pixels, upright) < 8.0
    grey = load_photo(encode(np.asarray(Image.fromarray(upright).convert("L")), "PNG"), name="grey.png")
    assert grey.pixels.shape == upright.shape


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF", "BMP"])
def test_formats(upright, fmt):
    kw = {"lossless": True} if fmt == "WEBP" else {}
    photo = load_photo(encode(upright, fmt, **kw), name=f"x.{fmt.lower()}")
    assert photo.format == fmt
    assert diff(photo.pixels, upright) < 1.0


def test_gif_first_frame(upright):
    frames = [Image.fromarray(upright).convert("P"), Image.new("P", (upright.shape[1], upright.shape[0]))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    photo = load_photo(buf.getvalue(), name="anim.gif")
    assert photo.pixels.std() > 20  # the first frame (the face), not the blank second one
    assert find_faces(photo)


def test_huge_group_photo_with_small_faces():
    """5568x3712 with faces of about 150 px: found at the sizes the detection strategy promises."""
    rng = np.random.default_rng(0)
    canvas = rng.integers(90, 140, size=(3712, 5568, 3), dtype=np.uint8)
    collins = Image.open(COLLINS).convert("RGB")  # face is ~108 px in 250 px
    hopper = Image.open(SAMPLE_DATASET / "Grace_Hopper" / "Grace_Hopper_0001.jpg").convert("RGB")
    spots = [(400, 300), (3000, 1800), (5000, 3300)]
    for (x, y), src in zip(spots, [collins, hopper, collins], strict=True):
        tile = np.asarray(src.resize((350, 350), Image.BILINEAR))  # face ~150 px
        canvas[y:y + 350, x:x + 350] = tile[: min(350, 3712 - y), : min(350, 5568 - x)]
    faces = find_faces(canvas)
    centres = sorted(((f.box.left + f.box.right) // 2, (f.box.top + f.box.bottom) // 2) for f in faces)
    assert len(faces) == 3, centres
    for (x, y), (cx, cy) in zip(sorted(spots), centres, strict=True):
        assert x < cx < x + 350 and y < cy < y + 350
    assert all(120 <= f.quality.width_px <= 200 for f in faces)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "name, make, reason",
    [
        ("empty.jpg", lambda: b"", "empty"),
        ("notes.jpg", lambda: b"these are my notes, not a photo\n" * 20, "not an image"),
        ("cut.jpg", lambda: MY_PHOTO.read_bytes()[:20000], "truncated"),
        ("cut.png", lambda: encode(np.zeros((300, 300, 3), np.uint8) + 7, "PNG")[:400], "damaged"),
        ("bomb.png", lambda: _png_header_only(100_000, 100_000), "decompression bomb"),
    ],
)
def test_bad_files_raise_one_clear_error(tmp_path, name, make, reason):
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(PhotoError) as e:
        load_photo(path)
    assert str(path) in str(e.value) and reason in str(e.value)
    assert "\n" not in str(e.value)


def test_folder_and_missing_file(tmp_path):
    (tmp_path / "x.jpg").mkdir()
    with pytest.raises(PhotoError, match="is a folder"):
        load_photo(tmp_path / "x.jpg")
    with pytest.raises(PhotoError, match="no such file"):
        load_photo(tmp_path / "gone.jpg")


def test_non_ascii_file_name(tmp_path):
    path = tmp_path / "Zoë_日本語_фото.jpg"
    path.write_bytes(COLLINS.read_bytes())
    photo = load_photo(path)
    assert photo.source == str(path)
    assert find_faces(photo)


def test_arrays_in_any_common_dtype(upright):
    assert diff(load_photo(upright.astype(np.float32) / 255).pixels, upright) < 1.0
    assert diff(load_photo(upright.astype(np.uint16) * 257).pixels, upright) < 1.0
    grey = load_photo(upright[:, :, 0]).pixels
    assert grey.shape == upright.shape
    with pytest.raises(PhotoError, match="shape"):
        load_photo(np.zeros((4, 4, 2), np.uint8))
