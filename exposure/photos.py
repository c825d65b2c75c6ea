"""Load any photo a person may have into an upright 8-bit RGB array, or fail with one clear error."""

from __future__ import annotations

import io
import os
import stat
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exposure.errors import PhotoError
from exposure.i18n import N_

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".heic", ".heif", ".avif", ".tif", ".tiff",
     ".bmp", ".gif", ".pgm", ".ppm", ".pnm"}
)
# Pillow refuses images above 2 x Image.MAX_IMAGE_PIXELS (~179 MP) as decompression bombs.
# We keep that limit: a 100000x100000 PNG header is refused before any pixel is decoded.

_ORIENTATION_TAG = 0x0112
# No photo file is this big (an uncompressed 16-bit TIFF at Pillow's pixel limit is ~1 GiB).
MAX_PHOTO_BYTES = 2 << 30


@dataclass(frozen=True)
class Photo:
    """An upright RGB photo: pixels (H, W, 3) uint8, plus where it came from."""

    pixels: np.ndarray = field(repr=False)
    source: str
    format: str | None = None
    original_mode: str | None = None
    exif_orientation: int = 1

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def is_image_name(path: str | os.PathLike) -> bool:
    """True when the file name has a photo suffix we read (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def load_photo(source: str | os.PathLike | bytes | Photo | np.ndarray, name: str | None = None) -> Photo:
    """Read a photo from a path or bytes: EXIF rotation applied, any mode converted to 8-bit RGB.

    Raises PhotoError naming the file and the reason for anything unreadable.
    """
    if isinstance(source, Photo):
        return source
    if isinstance(source, np.ndarray):
        return Photo(pixels=_array_to_rgb(source, name or "<array>"), source=name or "<array>")
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "<bytes>"
        return decode_photo(bytes(source), label)
    label = printable_name(name or os.fsdecode(source))  # non-UTF-8 names would make printing the result fail
    return decode_photo(read_file(source, label), label)


def read_file(path: str | os.PathLike, label: str | None = None) -> bytes:
    """The bytes of a photo file, with file-system problems turned into PhotoError."""
    label = printable_name(label or os.fsdecode(path))
    try:
        # O_NONBLOCK: opening a FIFO named like a photo must not wait forever for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with open(fd, "rb") as f:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError
            if not stat.S_ISREG(info.st_mode):  # a FIFO, socket or device (/dev/zero) never ends: refuse it
                raise PhotoError(label, N_("not a regular file (a pipe or device), not a photo"))
            if info.st_size > MAX_PHOTO_BYTES:  # refused before reading: it would exhaust memory
                raise PhotoError(label, f"{info.st_size} bytes: too large to be a photo")
            data = f.read()
    except IsADirectoryError:
        raise PhotoError(label, N_("is a folder, not a photo")) from None
    except FileNotFoundError:
        raise PhotoError(label, N_("no such file")) from None
    except PermissionError:
        raise PhotoError(label, N_("permission denied")) from None
    except OSError as e:
        raise PhotoError(label, f"cannot be read ({e.strerror or e})") from None
    return data


def printable_name(label: str) -> str:
    """A file name as valid UTF-8 text: undecodable bytes (surrogate escapes) shown as \\xNN (names are bytes on Linux)."""
    try:
        return os.fsencode(label).decode("utf-8", "backslashreplace")
    except UnicodeError:  # a lone surrogate that is no escaped byte
        return label.encode("utf-8", "backslashreplace").decode("utf-8")


def decode_photo(data: bytes, label: str) -> Photo:
    """Decode photo bytes (JPEG, PNG, WebP, HEIC, TIFF, BMP, GIF ...) into an upright RGB Photo."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    _register_heif()
    if not data:
        raise PhotoError(label, N_("the file is empty (0 bytes)"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format
            img.seek(0)  # first frame of an animation
            img.load()
            orientation = _orientation(img)
            img = ImageOps.exif_transpose(img)
    except Image.DecompressionBombError as e:
        raise PhotoError(label, f"too many pixels to be a photo; refused as a decompression bomb ({e})") from None
    except UnidentifiedImageError:
        raise PhotoError(label, N_("not an image, or in a format that cannot be read")) from None
    # RuntimeError: pillow-heif's "Security limit exceeded" and other libheif errors on damaged files
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, MemoryError, RuntimeError) as e:
        reason = " ".join(str(e).split()) or type(e).__name__  # one line: libheif's messages end in a newline
        if "truncated" in reason.lower() or isinstance(e, EOFError):
            reason = f"the file is truncated or damaged ({reason})"
        else:
            reason = f"damaged or unreadable image ({reason})"
        raise PhotoError(label, reason) from None
    mode = img.mode
    try:
        pixels = _pil_to_rgb(img)
    except (OSError, ValueError) as e:
        raise PhotoError(label, f"unsupported pixel format {mode!r} ({e})") from None
    if pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise PhotoError(label, N_("the image has no pixels"))
    return Photo(pixels=pixels, source=label, format=fmt, original_mode=mode, exif_orientation=orientation)


def _register_heif() -> None:
    """Teach Pillow HEIC/HEIF (iPhone photos) once, on first use."""
    global _HEIF_READY
    if not _HEIF_READY:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:  # HEIC then fails with a clear "cannot be read"
            pass
        _HEIF_READY = True


_HEIF_READY = False


def _orientation(img) -> int:
    try:
        value = int(img.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make a good photo unreadable
        return 1
    return value if 1 <= value <= 8 else 1


def _pil_to_rgb(img) -> np.ndarray:
    """Any Pillow mode to (H, W, 3) uint8: 16-bit scaled, alpha over white, CMYK and palette converted."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        from PIL import Image

        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    if mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img)


def _array_to_rgb(arr: np.ndarray, label: str) -> np.ndarray:
    """A numpy image (gray, RGB or RGBA; uint8, uint16 or float in [0, 1]) to (H, W, 3) uint8."""
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise PhotoError(label, f"an image array must be HxW, HxWx3 or HxWx4, got shape {a.shape}")
    if a.dtype == np.uint16:
        a = (a.astype(np.uint32) * 255 + 32767) // 65535
    elif a.dtype.kind == "f":
        a = np.clip(a * 255.0 + 0.5, 0, 255)
    a = a.astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        a = (a[:, :, :3] * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)
