"""Rebuild sample_data/ from public-domain and CC0 images shipped in the scikit-image and matplotlib wheels.

The story: Eileen Collins posts her portrait (from a phone: stored rotated, with an EXIF
orientation tag). A scraper copies it into a face dataset, cropped to the face, resized to
250x250 and re-encoded as a low-quality JPEG, as LFW's images were. The dataset also holds Grace
Hopper (two re-packaged copies of one photo) and a photo with no face.

    pip install scikit-image  # only needed to rebuild; the output is committed
    python tools/make_sample_data.py
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.cbook
import numpy as np
import skimage.data
from PIL import Image, ImageOps

OUT = Path(__file__).resolve().parents[1] / "sample_data"


def crop_square(img: np.ndarray, cx: int, cy: int, side: int) -> Image.Image:
    h, w = img.shape[:2]
    half = side // 2
    left, top = max(0, cx - half), max(0, cy - half)
    right, bottom = min(w, left + side), min(h, top + side)
    return Image.fromarray(img[top:bottom, left:right])


def save_jpeg(img: Image.Image, path: Path, quality: int, exif: bytes | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, **({"exif": exif} if exif else {}))
    path.write_bytes(buf.getvalue())


def main() -> None:
    collins = skimage.data.astronaut()  # NASA, public domain
    hopper = np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    coffee = skimage.data.coffee()  # CC0, Rachel Michetti

    # The person's own photo, as a phone stores it: pixels rotated, EXIF orientation 6 to show it upright.
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(collins, k=1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    save_jpeg(stored, OUT / "photos" / "my_photo.jpg", quality=92, exif=exif.tobytes())

    ds = OUT / "dataset"
    save_jpeg(crop_square(collins, 221, 122, 226).resize((250, 250), Image.BILINEAR),
              ds / "Eileen_Collins" / "Eileen_Collins_0001.jpg", quality=70)
    hop = crop_square(hopper, 274, 233, 460).resize((250, 250), Image.BILINEAR)
    save_jpeg(hop, ds / "Grace_Hopper" / "Grace_Hopper_0001.jpg", quality=75)
    save_jpeg(ImageOps.grayscale(ImageOps.mirror(hop)).resize((180, 180), Image.BILINEAR),
              ds / "Grace_Hopper" / "Grace_Hopper_0002.jpg", quality=60)
    save_jpeg(Image.fromarray(coffee), ds / "coffee.jpg", quality=80)


if __name__ == "__main__":
    main()
