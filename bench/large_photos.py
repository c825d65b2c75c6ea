"""Small faces in big photos: the detection strategy against the two obvious ones.

A 5568x3712 photo (a 20-megapixel group shot) with three faces of about 150 px, made from the
sample data. Strategies: exposure's (resize so the smallest face sought, 1/40 of the short side,
fills dlib's 80 px HOG window, at most 16 MP), plain downscaling to 1024 px then HOG with one
upsampling (as face_recognition would on a resized photo), and HOG with one upsampling on the
full photo (face_recognition's default on the original).

    python bench/large_photos.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image
from record import record

from exposure import models
from exposure.faces import detect, detection_scale
from exposure.photos import Photo

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "dataset"
SPOTS = [(400, 300), (3000, 1800), (5000, 3300)]


def group_photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    canvas = rng.integers(90, 140, size=(3712, 5568, 3), dtype=np.uint8)
    faces = [SAMPLE / "Eileen_Collins" / "Eileen_Collins_0001.jpg", SAMPLE / "Grace_Hopper" / "Grace_Hopper_0001.jpg",
             SAMPLE / "Eileen_Collins" / "Eileen_Collins_0001.jpg"]
    for (x, y), p in zip(SPOTS, faces, strict=True):
        tile = np.asarray(Image.open(p).convert("RGB").resize((350, 350), Image.BILINEAR))
        canvas[y:y + 350, x:x + 350] = tile[: 3712 - y, : 5568 - x]
    return canvas


def timed(fn) -> tuple[float, int]:
    t = time.perf_counter()
    n = fn()
    return round(time.perf_counter() - t, 2), n


def main() -> None:
    img = group_photo()
    models.hog_detector()  # loaded before timing
    h, w = img.shape[:2]
    ours = timed(lambda: len(detect(Photo(pixels=img, source="group"), "hog")))

    def downscaled() -> int:
        s = 1024 / max(h, w)
        small = np.asarray(Image.fromarray(img).resize((round(w * s), round(h * s)), Image.BILINEAR))
        return len(models.hog_detector()(small, 1))

    small = timed(downscaled)
    full = timed(lambda: len(models.hog_detector()(img, 1)))
    result = {
        "photo": f"{w}x{h}", "faces_in_photo": len(SPOTS), "face_px": 150,
        "exposure": {"seconds": ours[0], "faces_found": ours[1], "scale": round(detection_scale(h, w), 3)},
        "downscale_to_1024_then_hog_upsample_1": {"seconds": small[0], "faces_found": small[1]},
        "hog_upsample_1_on_full_photo": {"seconds": full[0], "faces_found": full[1]},
    }
    record(
        "large_photos",
        result,
        "Small faces in big photos",
        "`python bench/large_photos.py`: a 5568x3712 photo with three faces of about 150 px (sample data on "
        "noise). exposure resizes so that faces of 1/40 of the short side fill dlib's 80 px HOG window "
        "(capped at 16 MP); compared with downscaling to 1024 px and with HOG upsampling on the full photo.",
    )


if __name__ == "__main__":
    main()
