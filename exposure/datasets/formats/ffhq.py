"""FFHQ: `ffhq-dataset-v2.json` with each image's Flickr source (photo URL, author, license).

NVlabs/ffhq-dataset README ("Metadata"): the JSON is a dict keyed "0" .. "69999"; each entry has
`category`, `metadata` {photo_url, photo_title, author, country, license, license_url,
date_uploaded, date_crawled}, `image` {file_url, file_path, file_size, file_md5, pixel_size,
pixel_md5, face_landmarks}, `thumbnail` {...} and `in_the_wild` {...}, where `file_path` is e.g.
`images1024x1024/00000/00000.png`. The images are read from the folder next to the JSON (or
from `images1024x1024.zip`, also under `zips/`, without unpacking). When `images1024x1024` is
absent, the thumbnails or in-the-wild images are used, whichever is there.

Keys are the `file_path`; meta {"url": photo_url, "author", "license", "license_url", "country",
"date_uploaded"} (empty values left out); FFHQ has no identities.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from exposure.datasets.formats.archive_folders import FolderOrZip
from exposure.datasets.layout import Item
from exposure.errors import ExposureError, PhotoError

FORMAT = "ffhq"
JSON_NAME = "ffhq-dataset-v2.json"
VARIANTS = ("image", "thumbnail", "in_the_wild")  # entry key -> its file_path's first folder
FOLDERS = {"image": "images1024x1024", "thumbnail": "thumbnails128x128", "in_the_wild": "in-the-wild-images"}
_DROP = frozenset({"face_landmarks", "face_quad", "face_rect", "pixel_md5", "file_url"})


def _json_of(path: Path) -> Path | None:
    if path.is_file() and path.name.endswith(".json"):
        return path if path.name == JSON_NAME or _looks_like_ffhq_json(path) else None
    if path.is_dir() and (path / JSON_NAME).is_file():
        return path / JSON_NAME
    return None


def _looks_like_ffhq_json(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and b'"metadata"' in head and b'"photo_url"' in head


def detect(path: Path) -> bool:
    return _json_of(Path(path)) is not None


def open(path: Path) -> FFHQSource:  # noqa: A001 - the registry's name
    return FFHQSource(path)


def load_metadata(path: Path) -> dict[str, dict]:
    """The JSON, without the landmark arrays (they are most of its 255 MB; dropped while parsing)."""
    def hook(d: dict) -> dict:
        return {k: v for k, v in d.items() if k not in _DROP} if _DROP.intersection(d) else d

    try:
        with path.open("rb") as f:
            data = json.load(f, object_hook=hook)
    except (OSError, ValueError) as e:
        raise ExposureError(f"{path}: not readable as FFHQ's JSON ({e})") from None
    if not isinstance(data, dict):
        raise ExposureError(f"{path}: FFHQ's JSON is a dict keyed by image number")
    return data


def _obj(value) -> dict:
    """value when it is a JSON object, else {}: a damaged entry must not crash the reader."""
    return value if isinstance(value, dict) else {}


def provenance(entry: dict) -> dict:
    """The meta of one entry: where the photo came from on Flickr, who took it, under what license."""
    m = _obj(entry.get("metadata"))
    meta = {
        "url": m.get("photo_url"),
        "author": m.get("author"),
        "license": m.get("license"),
        "license_url": m.get("license_url"),
        "country": m.get("country"),
        "date_uploaded": m.get("date_uploaded"),
    }
    return {k: v for k, v in meta.items() if v not in (None, "")}


class FFHQSource:
    """FFHQ images with their Flickr provenance."""

    format = FORMAT

    def __init__(self, path: str | os.PathLike):
        p = Path(path)
        js = _json_of(p)
        if js is None:
            raise ExposureError(f"{p}: no {JSON_NAME}")
        self.location = p
        self.root = js.parent
        self.name = "ffhq"
        self.skipped = 0
        self.missing = 0  # entries whose image file is not here (a partial download)
        self._json = js
        self._variant, self._images = self._pick()

    def _pick(self) -> tuple[str, FolderOrZip]:
        for variant in VARIANTS:
            folder = FOLDERS[variant]
            for place in (self.root / folder, self.root / f"{folder}.zip", self.root / "zips" / f"{folder}.zip"):
                if place.exists():
                    return variant, FolderOrZip(place, folder if place.is_file() else "")
        raise ExposureError(f"{self.root}: no FFHQ images next to {JSON_NAME} (expected {FOLDERS['image']}/)")

    def _rel(self, key: str) -> str:
        return key.split("/", 1)[1] if "/" in key else key

    def items(self) -> Iterator[Item]:
        data = load_metadata(self._json)
        present = set(self._images.names())
        self.skipped = self._images.skipped
        used = set()
        self.missing = 0
        for number in sorted(data, key=lambda k: (len(k), k)):
            entry = _obj(data[number])  # a damaged entry (not an object) is skipped, not a crash
            file_path = _obj(entry.get(self._variant)).get("file_path")
            file_path = (file_path if isinstance(file_path, str) else "").replace("\\", "/")
            rel = self._rel(file_path)
            if rel not in present:
                self.missing += 1
                continue
            used.add(rel)
            yield Item(key=file_path, identity=None, meta=provenance(entry), ref=rel)
        self.skipped += len(present - used)  # images the JSON does not describe are not FFHQ's

    def payload(self, item: Item) -> str | bytes:
        return self._images.payload(item.ref if item.ref is not None else self._rel(item.key), item.key)

    def read(self, key: str) -> bytes:
        rel = self._rel(key)
        if rel not in self._images:
            raise PhotoError(key, f"not in {self.root}")
        return self._images.read(rel, key)
