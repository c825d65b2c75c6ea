"""Same photo vs same person, measured on LFW: copies of a photo against other photos of the person."""

from __future__ import annotations

import io

import numpy as np
from conftest import needs_lfw
from PIL import Image, ImageEnhance, ImageOps

from exposure import find_faces
from exposure.samephoto import SAME_PHOTO_BITS, chip_hash, hash_distance, same_photo


def scraped_copy(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """What a scraper does to a photo: crop, resize, re-encode; sometimes mirror or shift colours."""
    w, h = img.size
    keep = rng.uniform(0.8, 0.95)
    cw, ch = int(w * keep), int(h * keep)
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    out = img.crop((x, y, x + cw, y + ch))
    scale = rng.uniform(0.8, 1.6)
    out = out.resize((int(cw * scale), int(ch * scale)), Image.BILINEAR)
    if rng.random() < 0.5:
        out = ImageOps.mirror(out)
    if rng.random() < 0.5:
        out = ImageEnhance.Color(out).enhance(rng.uniform(0.7, 1.3))
        out = ImageEnhance.Brightness(out).enhance(rng.uniform(0.9, 1.1))
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=int(rng.integers(35, 90)))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


@needs_lfw
def test_same_photo_precision_and_recall_on_lfw(lfw_people):
    rng = np.random.default_rng(7)
    people = sorted(p for p in lfw_people.iterdir() if len(list(p.iterdir())) >= 2)
    chosen = [people[i] for i in sorted(rng.choice(len(people), size=60, replace=False))]
    copies, others = [], []  # (hash bits, distance) for copies, and for other photos of the person
    for person in chosen:
        a, b = sorted(person.iterdir())[:2]
        face_a = find_faces(a)
        face_b = find_faces(b)
        if not face_a or not face_b:
            continue
        fa, fb = face_a[0], face_b[0]
        others.append((hash_distance(fa.chip, chip_hash(fb.chip)), float(np.linalg.norm(fa.embedding - fb.embedding))))
        for _ in range(2):
            faces = find_faces(np.asarray(scraped_copy(Image.open(a).convert("RGB"), rng)))
            if faces:
                fc = faces[0]
                copies.append((hash_distance(fa.chip, chip_hash(fc.chip)),
                               float(np.linalg.norm(fa.embedding - fc.embedding))))

    tp = sum(same_photo(*c) for c in copies)
    fp = sum(same_photo(*o) for o in others)
    recall = tp / len(copies)
    precision = tp / max(tp + fp, 1)
    print(f"same photo: recall {recall:.3f} on {len(copies)} copies, precision {precision:.3f}; "
          f"copy bits p95 {np.percentile([c[0] for c in copies], 95):.0f}, "
          f"other-photo bits p5 {np.percentile([o[0] for o in others], 5):.0f}")
    assert len(copies) >= 100 and len(others) >= 50
    assert recall >= 0.9
    assert fp == 0 and precision == 1.0


def test_hash_ignores_recompression_and_mirroring_but_not_the_person():
    from conftest import SAMPLE_DATASET

    hopper = SAMPLE_DATASET / "Grace_Hopper"
    a = find_faces(hopper / "Grace_Hopper_0001.jpg")[0]
    mirrored_grey = find_faces(hopper / "Grace_Hopper_0002.jpg")[0]
    collins = find_faces(SAMPLE_DATASET / "Eileen_Collins" / "Eileen_Collins_0001.jpg")[0]
    assert hash_distance(a.chip, chip_hash(mirrored_grey.chip)) <= SAME_PHOTO_BITS
    assert hash_distance(a.chip, chip_hash(collins.chip)) > 2 * SAME_PHOTO_BITS
    assert hash_distance(a.chip, None) is None  # an index built before hashes: unknown, not "different"
