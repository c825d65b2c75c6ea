"""Parquet files that hold the images themselves (Hugging Face `datasets` style, img2dataset parquet).

Hugging Face stores an `Image` feature as a struct {bytes: binary, path: string} and a
`ClassLabel` as an integer whose names are in the schema metadata (`huggingface` key, JSON
`info.features`). Plain binary image columns (`image`, `img`, `jpg`, `png` ...) are read too, as
img2dataset's `--output_format parquet` writes (`jpg`, with `url` and `caption`).

The path is a .parquet file or a folder searched recursively (HF: `data/train-00000-of-00001.parquet`).
Keys are `<file relative path>#<row>`; identity comes from a label column (`label_column`): a
ClassLabel whose names are in the schema metadata or the dataset card (README.md beside the data),
else a string column (`label_name`, `identity`, `celeb_id`, `name` ...), else an integer label;
meta holds the image's `path`, and `url`/`caption` columns when present. Images are read one row group at a time, never the whole file.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from exposure.datasets.card import card_names_near
from exposure.datasets.layout import Item, files_with_suffix, first_with_suffix
from exposure.errors import ExposureError, PhotoError

FORMAT = "parquet_images"
IMAGE_COLUMNS = ("image", "img", "jpg", "jpeg", "png", "webp", "image_bytes", "picture", "photo", "face")
LABEL_COLUMNS = ("identity", "label_name", "identity_name", "celeb_id", "celebrity", "celebrity_name", "person",
                 "person_name", "name", "subject", "class_name", "label", "labels", "id")
META_COLUMNS = {"url": "url", "URL": "url", "caption": "caption", "TEXT": "caption", "LICENSE": "license", "license": "license"}


def image_column(schema) -> str | None:
    """The column holding image bytes: an HF Image struct {bytes, path}, or a binary column named like one."""
    import pyarrow as pa

    for f in schema:
        t = f.type
        if pa.types.is_struct(t) and t.get_field_index("bytes") >= 0:
            inner = t.field(t.get_field_index("bytes")).type
            if pa.types.is_binary(inner) or pa.types.is_large_binary(inner):
                return f.name
    for name in IMAGE_COLUMNS:
        i = schema.get_field_index(name)
        if i >= 0 and (pa.types.is_binary(schema.field(i).type) or pa.types.is_large_binary(schema.field(i).type)):
            return name
    return None


def _has_images(path: Path) -> bool:
    import pyarrow.parquet as pq

    try:
        return image_column(pq.read_schema(path)) is not None
    except Exception:  # noqa: BLE001 - not a parquet file we can read: not this format
        return False


def detect(path: Path) -> bool:
    p = Path(path)
    if p.is_file():
        return p.suffix == ".parquet" and _has_images(p)
    if p.is_dir():
        first = first_with_suffix(p, ".parquet", depth=2)
        return first is not None and _has_images(first)
    return False


def open(path: Path) -> ParquetImagesSource:  # noqa: A001 - the registry's name
    return ParquetImagesSource(path)


def class_names(schema, column: str) -> list[str] | None:
    """Names of a Hugging Face ClassLabel column, from the `huggingface` schema metadata."""
    raw = (schema.metadata or {}).get(b"huggingface")
    if not raw:
        return None
    try:
        feature = json.loads(raw)["info"]["features"][column]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" and feature.get("names"):
        return list(feature["names"])
    return None


def label_column(schema, image: str, card: dict[str, list[str]] | None = None) -> tuple[str | None, list[str] | None]:
    """The column that names each image's person and its class names: a named ClassLabel first, then
    a string column, then an integer label (its numbers as identities), in LABEL_COLUMNS order."""
    import pyarrow as pa

    present = [c for c in LABEL_COLUMNS if c != image and schema.get_field_index(c) >= 0]
    for c in present:
        names = class_names(schema, c) or (card or {}).get(c)
        if names and pa.types.is_integer(schema.field(c).type):
            return c, names
    for c in present:
        if pa.types.is_string(schema.field(c).type) or pa.types.is_large_string(schema.field(c).type):
            return c, None
    return (present[0], None) if present else (None, None)


class ParquetImagesSource:
    """Rows of Parquet files holding image bytes."""

    format = FORMAT

    def __init__(self, path: str | os.PathLike):
        p = Path(path)  # open_source has checked that it exists
        self.location = p
        root = p.parent if p.is_file() else p
        self.files = {f.relative_to(root).as_posix(): f for f in files_with_suffix(p, ".parquet")}
        self.name = p.stem if p.is_file() else p.name
        self.skipped = 0
        self._cache: tuple | None = None  # (file, row group, image list)
        self._pf: dict = {}  # file -> open ParquetFile
        self._lock = threading.Lock()
        self.card_names: dict[str, list[str]] = card_names_near(p)  # column -> ClassLabel names from README.md

    def items(self) -> Iterator[Item]:
        import pyarrow as pa

        self._reading = self.location
        try:
            yield from self._items()
        except (OSError, ValueError, pa.ArrowException) as e:  # a damaged file: one error naming it, no pyarrow traceback
            raise ExposureError(f"{self._reading}: damaged or not a Parquet file ({type(e).__name__}: {e})") from None

    def _items(self) -> Iterator[Item]:
        import pyarrow.parquet as pq

        self.skipped = 0
        for rel, path in self.files.items():
            self._reading = path
            pf = pq.ParquetFile(path)
            schema = pf.schema_arrow
            img = image_column(schema)
            if img is None:
                self.skipped += pf.metadata.num_rows
                continue
            label, names = label_column(schema, img, self.card_names)
            metas = [c for c in META_COLUMNS if schema.get_field_index(c) >= 0 and c != img]
            is_struct = schema.field(img).type.num_fields > 0
            has_path = is_struct and schema.field(img).type.get_field_index("path") >= 0
            cols = ([label] if label else []) + metas + ([f"{img}.path"] if has_path else [])
            row = 0
            for batch in pf.iter_batches(columns=cols or None, batch_size=4096):
                data = batch.to_pydict() if cols else {}
                for i in range(batch.num_rows):
                    identity = None
                    if label:
                        value = data[label][i]
                        if names is not None and isinstance(value, int) and 0 <= value < len(names):
                            identity = names[value]
                        elif value is not None:
                            identity = str(value)
                    meta = {}
                    for c in metas:
                        if data[c][i] not in (None, ""):
                            meta.setdefault(META_COLUMNS[c], data[c][i])
                    if has_path:
                        image_path = data.get(f"{img}.path", data.get(img, [None] * batch.num_rows))[i]
                        if isinstance(image_path, dict):
                            image_path = image_path.get("path")
                        if image_path:
                            meta["path"] = image_path
                    yield Item(key=f"{rel}#{row}", identity=identity, meta=meta, ref=(rel, row))
                    row += 1
            if not cols:  # no column to read but the images: count rows from the footer
                for r in range(row, pf.metadata.num_rows):
                    yield Item(key=f"{rel}#{r}", identity=None, meta={}, ref=(rel, r))

    def _image(self, rel: str, row: int, label: str) -> bytes:
        import pyarrow as pa

        try:
            return self._cell(rel, row, label)
        except (OSError, ValueError, TypeError, IndexError, pa.ArrowException) as e:  # damaged data fails this image only
            raise PhotoError(label, f"cannot be read from {rel} ({type(e).__name__}: {e})") from None

    def _cell(self, rel: str, row: int, label: str) -> bytes:
        import pyarrow.parquet as pq

        path = self.files.get(rel)
        if path is None:
            raise PhotoError(label, f"no file {rel} in {self.location}")
        with self._lock:
            pf = self._pf.get(rel)
            if pf is None:
                pf = self._pf[rel] = pq.ParquetFile(path)
            md = pf.metadata
            start = 0
            for rg in range(md.num_row_groups):
                n = md.row_group(rg).num_rows
                if row < start + n:
                    break
                start += n
            else:
                raise PhotoError(label, f"{rel} has no row {row}")
            if self._cache is None or self._cache[:2] != (rel, rg):
                img = image_column(pf.schema_arrow)
                column = pf.read_row_group(rg, columns=[img]).column(0).to_pylist()
                self._cache = (rel, rg, column)
            value = self._cache[2][row - start]
        if isinstance(value, dict):
            value = value.get("bytes")
        if not value:
            raise PhotoError(label, "no image bytes in this row (Hugging Face stores only a path for some images)")
        return bytes(value)

    def _ref(self, key: str) -> tuple[str, int]:
        rel, _, row = key.rpartition("#")
        try:
            return rel, int(row)
        except ValueError:
            raise PhotoError(key, "not a '<file>#<row>' key") from None

    def payload(self, item: Item) -> bytes:
        rel, row = item.ref if item.ref is not None else self._ref(item.key)
        return self._image(rel, row, item.key)

    def read(self, key: str) -> bytes:
        return self._image(*self._ref(key), key)
