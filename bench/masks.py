"""Faces with a drawn surgical-style mask, made from dlib's landmarks: a masked-face dataset at test time.

Masked-face photos are sold as datasets (one of the reports this project started from), and HOG
misses about half of such faces. The mask covers the nose from its bridge down, the mouth and the
chin, up to the jaw line, in a pale blue-grey: a plain stand-in, not a photo-realistic one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MASK_COLOUR = (196, 210, 222)


def mask_face(pixels: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The photo with a mask drawn over the face whose 68 landmarks are given."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(np.asarray(pixels, dtype=np.uint8).copy())
    jaw = [(int(x), int(y)) for x, y in landmarks[1:16]]  # cheek to cheek, under the chin
    bridge = landmarks[28]  # a third of the way down the nose
    top = [(int(landmarks[15][0]), int(bridge[1])), (int(bridge[0]), int(bridge[1]) - 3),
           (int(landmarks[1][0]), int(bridge[1]))]
    ImageDraw.Draw(img).polygon(jaw + top, fill=MASK_COLOUR)
    return np.asarray(img)


def masked_dataset(people: dict[str, list[Path]], out: Path) -> dict[str, list[Path]]:
    """Copy each person's photos into out/NAME/ with a mask drawn on their most prominent face
    (photos where no face is found unmasked are left out). Returns the masked files per person."""
    from PIL import Image

    from exposure import find_faces, load_photo

    made: dict[str, list[Path]] = {}
    for name, photos in people.items():
        (out / name).mkdir(parents=True, exist_ok=True)
        for path in photos:
            photo = load_photo(path)
            faces = find_faces(photo)
            if not faces:
                continue
            dest = out / name / Path(path).name
            Image.fromarray(mask_face(photo.pixels, faces[0].landmarks)).save(dest, quality=92)
            made.setdefault(name, []).append(dest)
    return made
