"""MS-Celeb-1M aligned faces: TSV lines with each face as base64 JPEG and the web page it came from.

msceleb.github.io ("Aligned face images", download-aligned.md): text files, one image record per
line, 7 columns delimited by TAB: Freebase MID, ImageSearchRank, ImageURL, PageURL, FaceID,
FaceRectangle_Base64Encoded (four floats, relative coordinates of the upper-left and bottom-right
corners), FaceData_Base64Encoded. The file is read once to index line offsets; reading a face
then seeks to its line.

identity = MID; keys `<MID>/<rank>-<FaceID>.jpg` (the layout every extraction script writes);
meta {"url": ImageURL, "page_url": PageURL, "rank": int, "face_id", "face_rectangle": [4 floats]}.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from exposure.datasets.layout import Item
from exposure.errors import ExposureError, PhotoError

FORMAT = "msceleb_tsv"
COLUMNS = ("MID", "ImageSearchRank", "ImageURL", "PageURL", "FaceID", "FaceRectangle", "FaceData")
_IMAGE_B64_STARTS = (b"/9j/", b"iVBOR")  # JPEG, PNG


def looks_like_tsv(path: Path) -> bool:
    """The first line has the 7 columns, a MID first and base64 image data last (reads 64 KiB at most)."""
    try:
        with path.open("rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    fields = head.split(b"\n", 1)[0].split(b"\t")
    return len(fields) == 7 and fields[0].startswith(b"m.") and fields[6].lstrip().startswith(_IMAGE_B64_STARTS)


def _tsvs(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob("*.tsv") if p.is_file() and not p.name.startswith("."))


def detect(path: Path) -> bool:
    p = Path(path)
    if p.is_file():
        return p.suffix.lower() == ".tsv" and looks_like_tsv(p)
    if p.is_dir():
        files = _tsvs(p)
        return bool(files) and looks_like_tsv(files[0])
    return False


def open(path: Path) -> MsCelebSource:  # noqa: A001 - the registry's name
    return MsCelebSource(path)


def face_rectangle(b64: bytes) -> list[float] | None:
    """The four floats of the FaceRectangle column (little-endian float32), or None if not that."""
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return [round(v, 6) for v in struct.unpack("<4f", raw)] if len(raw) == 16 else None


class MsCelebSource:
    """Faces of MS-Celeb-1M aligned TSV files, decoded from base64 one line at a time."""

    format = FORMAT

    def __init__(self, path: str | os.PathLike):
        p = Path(path)  # open_source has checked that it exists
        self.location = p
        self.files = _tsvs(p)
        if not self.files:
            raise ExposureError(f"{p}: no .tsv files")
        self.name = "ms-celeb-1m"
        self.skipped = 0
        self._index: dict[str, tuple[int, int]] | None = None  # key -> (file number, line offset), for read()
        self._pending: Iterator | None = None  # the scan read() continues
        self._handles: dict[int, object] = {}
        self._lock = threading.Lock()

    def _records(self) -> Iterator[tuple[str, int, int, list[bytes]]]:
        """(key, file number, line offset, first six fields) of every well-formed line; counts the others."""
        seen: set[str] = set()
        self.skipped = 0
        for fno, tsv in enumerate(self.files):
            with tsv.open("rb") as f:
                offset = 0
                for line in f:
                    here, offset = offset, offset + len(line)
                    fields = line.rstrip(b"\r\n").split(b"\t", 6)
                    if len(fields) != 7:
                        self.skipped += 1
                        continue
                    mid, rank, face_id = (fields[i].decode("utf-8", "replace") for i in (0, 1, 4))
                    key = f"{mid}/{rank}-{face_id}.jpg"
                    if key in seen:  # the same face listed twice: keep both, keyed apart
                        key = f"{mid}/{rank}-{face_id}-{fno}-{here}.jpg"
                    seen.add(key)
                    yield key, fno, here, fields[:6]

    def items(self) -> Iterator[Item]:
        for key, fno, here, fields in self._records():
            mid, rank, url, page, face_id = (v.decode("utf-8", "replace") for v in fields[:5])
            meta = {"url": url, "page_url": page, "face_id": face_id}
            try:
                meta["rank"] = int(rank)
            except ValueError:
                meta["rank"] = rank
            rect = face_rectangle(fields[5])
            if rect is not None:
                meta["face_rectangle"] = rect
            yield Item(key=key, identity=mid, meta=meta, ref=(fno, here))

    def _face(self, fno: int, offset: int, label: str) -> bytes:
        with self._lock:
            f = self._handles.get(fno)
            if f is None:
                f = self._handles[fno] = self.files[fno].open("rb")
            f.seek(offset)
            line = f.readline()
        fields = line.rstrip(b"\r\n").split(b"\t", 6)
        if len(fields) != 7:
            raise PhotoError(label, f"line at offset {offset} of {self.files[fno].name} is not a face record")
        try:
            return base64.b64decode(fields[6])
        except (binascii.Error, ValueError) as e:
            raise PhotoError(label, f"the face's base64 data is damaged ({e})") from None

    def payload(self, item: Item) -> bytes:
        if item.ref is None:
            return self.read(item.key)
        return self._face(*item.ref, item.key)

    def read(self, key: str) -> bytes:
        """One face by key: the files are scanned up to that line (the offsets seen are kept for later reads)."""
        if self._index is None:
            self._index, self._pending = {}, self._records()
        where = self._index.get(key)
        while where is None and self._pending is not None:
            for k, fno, here, _ in self._pending:
                self._index[k] = (fno, here)
                if k == key:
                    where = (fno, here)
                    break
            else:
                self._pending = None
        if where is None:
            raise PhotoError(key, f"not in {self.location}")
        return self._face(*where, key)
