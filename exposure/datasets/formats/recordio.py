"""MXNet RecordIO (`train.rec` + `train.idx`) as insightface ships MS1MV2/MS1MV3, Glint360K, faces_webface.

Read without mxnet, following dmlc-core's recordio.h/recordio.cc and mxnet's recordio.py:

* a record is `magic` (uint32 LE 0xced7230a), `lrecord` (uint32 LE: upper 3 bits `cflag`, lower
  29 bits the length), the data, then zero padding to a multiple of 4 bytes. When the writer
  meets the magic number at a 4-byte-aligned position of the data, it splits the data there into
  parts (cflag 1 = first, 2 = middle, 3 = last) and drops those 4 bytes; the reader joins the
  parts with the magic number put back.
* the data is mxnet's image record: an IRHeader `IfQQ` (flag uint32, label float32, id uint64,
  id2 uint64), then, when flag > 0, `flag` float32 labels (the label field is then 0), then the
  encoded image.
* the `.idx` file has a line `key<TAB>offset` per record.
* insightface (face2rec2.py, arcface_torch's MXFaceDataset): record 0 is a header whose labels
  are (first identity record, end); the images are records 1 .. label[0]-1 and carry the labels
  (class, aligned); the records after them are per-identity ranges, not images. Without such a
  header (flag 0), every record in the .idx is an image.

identity = str(int(label)) (the first label when there are several). Keys are the record index.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from exposure.datasets.layout import Item
from exposure.errors import ExposureError, PhotoError

FORMAT = "recordio"
MAGIC = 0xCED7230A
MAGIC_BYTES = struct.pack("<I", MAGIC)
IR_FORMAT = "<IfQQ"
IR_SIZE = struct.calcsize(IR_FORMAT)
_LEN_MASK = (1 << 29) - 1


def _rec_of(path: Path) -> Path | None:
    """The .rec file a path names: itself, or the one .rec in a folder (insightface: train.rec)."""
    if path.is_file():
        return path if path.suffix == ".rec" else None
    if path.is_dir():
        if (path / "train.rec").is_file():
            return path / "train.rec"
        recs = sorted(path.glob("*.rec"))
        if len(recs) == 1:
            return recs[0]
    return None


def detect(path: Path) -> bool:
    rec = _rec_of(Path(path))
    if rec is None or not rec.with_suffix(".idx").is_file():
        return False
    try:
        with rec.open("rb") as f:
            return f.read(4) == MAGIC_BYTES
    except OSError:
        return False


def open(path: Path) -> RecordIOSource:  # noqa: A001 - the registry's name
    return RecordIOSource(path)


def read_record(f, offset: int) -> bytes:
    """The data of the record at `offset`, multi-part records joined as dmlc's RecordIOReader does."""
    f.seek(offset)
    parts = []
    while True:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"truncated record at offset {offset}")
        magic, lrec = struct.unpack("<II", head)
        if magic != MAGIC:
            raise ValueError(f"no RecordIO magic number at offset {f.tell() - 8}")
        cflag, length = lrec >> 29, lrec & _LEN_MASK
        data = f.read(length)
        if len(data) != length:
            raise ValueError(f"truncated record at offset {offset}")
        f.seek(-length % 4, os.SEEK_CUR)
        parts.append(data)
        if cflag in (0, 3):
            return MAGIC_BYTES.join(parts)
        if cflag not in (1, 2):
            raise ValueError(f"bad continuation flag {cflag} at offset {offset}")


def read_labels(f, offset: int) -> list[float]:
    """Just the labels of the record at `offset`, reading its header rather than its image."""
    f.seek(offset)
    head = f.read(8 + IR_SIZE)
    if len(head) == 8 + IR_SIZE:
        magic, lrec = struct.unpack("<II", head[:8])
        if magic == MAGIC and lrec >> 29 == 0 and (lrec & _LEN_MASK) >= IR_SIZE:
            flag, label, _, _ = struct.unpack(IR_FORMAT, head[8:])
            if flag == 0:
                return [label]
            if IR_SIZE + 4 * flag <= (lrec & _LEN_MASK):
                raw = f.read(4 * flag)
                if len(raw) != 4 * flag:  # the file ends inside the labels: ValueError, not struct.error
                    raise ValueError(f"truncated record at offset {offset}")
                return list(struct.unpack(f"<{flag}f", raw))
    return unpack(read_record(f, offset))[1]  # split or odd record: read it whole


def unpack(record: bytes) -> tuple[int, list[float], int, bytes]:
    """mxnet.recordio.unpack: (flag, labels, id, payload); labels is [label] when flag is 0."""
    if len(record) < IR_SIZE:
        raise ValueError("record shorter than its header")
    flag, label, rid, _id2 = struct.unpack(IR_FORMAT, record[:IR_SIZE])
    rest = record[IR_SIZE:]
    if flag > 0:
        if len(rest) < 4 * flag:
            raise ValueError("record shorter than its labels")
        labels = list(struct.unpack(f"<{flag}f", rest[: 4 * flag]))
        rest = rest[4 * flag:]
    else:
        labels = [label]
    return flag, labels, rid, rest


class Idx:
    """The .idx file: record keys in file order and their byte offsets (numpy: MS1M has 5.8M records)."""

    def __init__(self, path: Path):
        import numpy as np

        keys, offsets = [], []
        with path.open("r", encoding="ascii", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    key, offset = line.split("\t")
                    keys.append(int(key))
                    offsets.append(int(offset))
                except ValueError:
                    raise ExposureError(f"{path}: line {n} is not 'key<TAB>offset'") from None
        self.keys = np.array(keys, dtype=np.int64)
        if len(keys) and (self.keys.min() < 0 or self.keys.max() > 4 * len(keys) + 1024):
            raise ExposureError(f"{path}: record keys are not the small integers insightface writes")
        self._by_key = np.full(int(self.keys.max()) + 1 if len(keys) else 0, -1, dtype=np.int64)
        self._by_key[self.keys] = np.array(offsets, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: int) -> bool:
        return 0 <= key < len(self._by_key) and self._by_key[key] >= 0

    def __getitem__(self, key: int) -> int:
        if key not in self:
            raise KeyError(key)
        return int(self._by_key[key])


class RecordIOSource:
    """The images of an insightface-style RecordIO pair, read by seeking through the .idx offsets."""

    format = FORMAT

    def __init__(self, path: str | os.PathLike):
        p = Path(path)
        rec = _rec_of(p)
        if rec is None:
            raise ExposureError(f"{p}: no .rec file (give train.rec or the folder that holds it)")
        self.rec, self.idx = rec, rec.with_suffix(".idx")
        if not self.idx.is_file():
            raise ExposureError(f"{rec}: its index {self.idx.name} is missing (RecordIO needs both)")
        self.location = p
        self.name = rec.parent.name if rec.stem == "train" else rec.stem
        self.skipped = 0
        self._offsets: Idx | None = None
        self._file = None
        self._lock = threading.Lock()

    def _fh(self):
        if self._file is None:
            self._file = self.rec.open("rb")
        return self._file

    def _record(self, key: int) -> bytes:
        with self._lock:
            return read_record(self._fh(), self._offsets[key])

    def image_keys(self) -> list[int]:
        """Record keys holding images: 1 .. header[0]-1 with an insightface header, else all."""
        if self._offsets is None:
            self._offsets = Idx(self.idx)
        if 0 in self._offsets:
            flag, labels, _, _ = unpack(self._record(0))
            if flag > 0:
                end = min(int(labels[0]), len(self._offsets._by_key))  # never trust a count beyond the index
                return [k for k in range(1, end) if k in self._offsets]
        return [int(k) for k in self._offsets.keys]

    def items(self) -> Iterator[Item]:
        keys = self.image_keys()
        self.skipped = len(self._offsets) - len(keys)
        for k in keys:
            try:
                with self._lock:
                    labels = read_labels(self._fh(), self._offsets[k])
                identity = str(int(labels[0])) if labels else None
            except ValueError:
                identity = None  # unreadable: embedding it records the reason
            yield Item(key=str(k), identity=identity, ref=k)

    def _image(self, k: int, label: str) -> bytes:
        if self._offsets is None:
            self._offsets = Idx(self.idx)
        if k not in self._offsets:
            raise PhotoError(label, f"no record {k} in {self.idx.name}")
        try:
            return unpack(self._record(k))[3]
        except (ValueError, OSError) as e:
            raise PhotoError(label, f"damaged record in {self.rec.name} ({e})") from None

    def payload(self, item: Item) -> bytes:
        return self._image(item.ref if item.ref is not None else int(item.key), item.key)

    def read(self, key: str) -> bytes:
        try:
            k = int(key)
        except ValueError:
            raise PhotoError(key, "not a record number") from None
        return self._image(k, key)
