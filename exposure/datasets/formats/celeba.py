"""CelebA: flat images (`img_align_celeba/000001.jpg`) with identities and face boxes in text files.

The release (CUHK MMLAB Google Drive; torchvision's `CelebA` reads the same files) has
`Img/img_align_celeba.zip` (or the in-the-wild `Img/img_celeba`), `Anno/identity_CelebA.txt`
(`000001.jpg 2880` per line) and `Anno/list_bbox_celeba.txt` (a count line, a header line
`image_id x_1 y_1 width height`, then one whitespace-separated line per image). Files may sit in
`Anno/` and `Img/` as released, or all in one folder as torchvision keeps them; the images may be
the unpacked folder or the zip itself (read without unpacking).

identity = "celeba_<id>"; meta {"bbox": [x_1, y_1, width, height]}. CelebA's boxes are given in
the coordinates of the in-the-wild images (img_celeba), also for the aligned set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from exposure.datasets.formats.archive_folders import FolderOrZip
from exposure.datasets.layout import Item
from exposure.errors import ExposureError, PhotoError

FORMAT = "celeba"
IMAGE_SETS = ("img_align_celeba", "img_celeba")
IDENTITY_FILE = "identity_CelebA.txt"
BBOX_FILE = "list_bbox_celeba.txt"


def _find(root: Path) -> tuple[Path | None, Path | None, Path | None]:
    """(identity file, bbox file, image folder or zip) of a CelebA folder, or Nones."""
    def first(*cands: Path) -> Path | None:
        return next((c for c in cands if c.exists()), None)

    ident = first(root / IDENTITY_FILE, root / "Anno" / IDENTITY_FILE)
    bbox = first(root / BBOX_FILE, root / "Anno" / BBOX_FILE)
    images = None
    for name in IMAGE_SETS:
        images = first(root / name, root / "Img" / name, root / f"{name}.zip", root / "Img" / f"{name}.zip")
        if images is not None:
            break
    return ident, bbox, images


def detect(path: Path) -> bool:
    p = Path(path)
    if not p.is_dir():
        return False
    ident, _, images = _find(p)
    return ident is not None and images is not None


def open(path: Path) -> CelebASource:  # noqa: A001 - the registry's name
    return CelebASource(path)


def read_identities(path: Path) -> dict[str, str]:
    """identity_CelebA.txt: image name -> "celeba_<id>"."""
    out = {}
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise ExposureError(f"{path}: line {n} is not '<image> <identity>'")
            out[fields[0]] = f"celeba_{fields[1]}"
    return out


def read_bboxes(path: Path) -> dict[str, list[int]]:
    """list_bbox_celeba.txt: image name -> [x_1, y_1, width, height] (skips the count and header lines)."""
    out = {}
    with path.open(encoding="utf-8") as f:
        lines = iter(f)
        next(lines, None)  # number of images
        header = next(lines, "").split()
        if header[:1] != ["image_id"]:
            raise ExposureError(f"{path}: second line should be the header 'image_id x_1 y_1 width height'")
        for n, line in enumerate(lines, 3):
            fields = line.split()
            if not fields:
                continue
            try:
                out[fields[0]] = [int(v) for v in fields[1:5]]
            except ValueError:
                raise ExposureError(f"{path}: line {n} has a box that is not 4 integers") from None
    return out


class CelebASource:
    """CelebA images with their identity number and face box."""

    format = FORMAT

    def __init__(self, path: str | os.PathLike):
        p = Path(path)
        ident, bbox, images = _find(p) if p.is_dir() else (None, None, None)
        if ident is None or images is None:
            raise ExposureError(f"{p}: not a CelebA folder (needs {IDENTITY_FILE} and img_align_celeba/ or its zip)")
        self.location = p
        self.name = "celeba"
        self.skipped = 0
        self._ident_file, self._bbox_file = ident, bbox
        inside = images.name[: -len(".zip")] if images.is_file() else ""
        self._images = FolderOrZip(images, inside)

    def items(self) -> Iterator[Item]:
        identities = read_identities(self._ident_file)
        boxes = read_bboxes(self._bbox_file) if self._bbox_file else {}
        names = self._images.names()
        self.skipped = self._images.skipped
        for name in names:
            base = name.rsplit("/", 1)[-1]
            meta = {"bbox": boxes[base]} if base in boxes else {}
            yield Item(key=name, identity=identities.get(base), meta=meta, ref=name)

    def payload(self, item: Item) -> str | bytes:
        return self._images.payload(item.ref if item.ref is not None else item.key, item.key)

    def read(self, key: str) -> bytes:
        if key not in self._images:
            raise PhotoError(key, f"not in {self.location}")
        return self._images.read(key, key)
