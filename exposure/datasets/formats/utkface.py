"""UTKFace: age, gender and race coded in each file name, `[age]_[gender]_[race]_[date&time].jpg`.

From the UTKFace README (susanqq.github.io/UTKFace): age is an integer 0-116; gender 0 (male) or
1 (female); race 0-4: White, Black, Asian, Indian, Others (like Hispanic, Latino, Middle
Eastern); date&time is yyyymmddHHMMSSFFF, when the image was collected. The aligned and cropped
set (`UTKFace/`) adds `.chip.jpg`; the in-the-wild set comes in `part1/` .. `part3/`.

meta {"age": int, "gender": "male"|"female", "race": name}; a name that does not follow the
pattern (a few in the release miss a field) gets empty meta. No identities.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from exposure.datasets.layout import Item, dataset_root, display_path, list_images
from exposure.errors import ExposureError
from exposure.photos import is_image_name, read_file

FORMAT = "utkface"
GENDERS = {0: "male", 1: "female"}
RACES = {0: "White", 1: "Black", 2: "Asian", 3: "Indian", 4: "Others"}
_STRICT = re.compile(r"^\d{1,3}_[01]_[0-4]_\d{17}\.jpg(\.chip\.jpg)?$", re.IGNORECASE)
_FIELDS = re.compile(r"^(\d{1,3})_(\d)_(\d)_(\d{8,17})\.jpg(?:\.chip\.jpg)?$", re.IGNORECASE)
_SAMPLE = 200


def parse_name(name: str) -> dict:
    """Age, gender and race from a UTKFace file name, or {} when it does not follow the pattern."""
    m = _FIELDS.match(name.rsplit("/", 1)[-1])
    if not m:
        return {}
    age, gender, race = int(m[1]), int(m[2]), int(m[3])
    if gender not in GENDERS or race not in RACES or age > 116:
        return {}
    return {"age": age, "gender": GENDERS[gender], "race": RACES[race]}


def detect(path: Path) -> bool:
    """A folder whose image names (a sample of them) mostly follow UTKFace's pattern."""
    p = Path(path)
    if not p.is_dir():
        return False
    names: list[str] = []
    for _dirpath, dirnames, filenames in os.walk(p):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        names += [f for f in sorted(filenames) if is_image_name(f)][: _SAMPLE - len(names)]
        if len(names) >= _SAMPLE:
            break
    return bool(names) and sum(bool(_STRICT.match(n)) for n in names) >= 0.7 * len(names)


def open(path: Path) -> UTKFaceSource:  # noqa: A001 - the registry's name
    return UTKFaceSource(path)


class UTKFaceSource:
    """UTKFace images, with the attributes their names encode; never the folder as identity."""

    format = FORMAT

    def __init__(self, path: str | os.PathLike):
        p = Path(path)
        if not p.is_dir():
            raise ExposureError(f"{p}: not a folder")
        self.location = dataset_root(p)
        self.name = "utkface"
        self.skipped = 0

    def items(self) -> Iterator[Item]:
        files, self.skipped = list_images(self.location)
        for rel in files:
            yield Item(key=display_path(rel), identity=None, meta=parse_name(rel), ref=rel)

    def payload(self, item: Item) -> str:
        return os.path.join(self.location, item.ref if item.ref is not None else item.key)

    def read(self, key: str) -> bytes:
        return read_file(os.path.join(self.location, key), key)
