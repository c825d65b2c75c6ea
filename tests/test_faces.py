"""Faces: detection, landmarks, the aligned chip, embeddings and quality; models load lazily."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from conftest import MY_PHOTO, SAMPLE_DATASET

from exposure import MODEL_ID, find_faces
from exposure.faces import detection_scale


def test_import_loads_no_model():
    code = "import sys, exposure; exposure.load_photo; print('dlib' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_demo_photo_faces_largest_and_most_confident_first():
    faces = find_faces(MY_PHOTO)
    assert len(faces) == 2  # her face, and dlib's weak false detection on the suit patch
    face, patch = faces
    assert 170 <= face.box.left <= 182 and 70 <= face.box.top <= 84  # the real face, not the patch
    assert face.detector_score > patch.detector_score
    assert face.embedding.shape == (128,) and face.embedding.dtype == np.float32
    assert np.isfinite(face.embedding).all() and float(np.linalg.norm(face.embedding)) > 0.5
    assert face.landmarks.shape == (68, 2)
    assert face.box.left <= face.landmarks[:, 0].mean() <= face.box.right
    assert face.chip.shape == (150, 150, 3)
    assert face.model_id == MODEL_ID
    assert face.quality.frontal and face.quality.width_px == face.box.width


def test_same_photo_recompressed_is_close_and_another_person_is_far():
    me = find_faces(MY_PHOTO)[0].embedding
    copy = find_faces(SAMPLE_DATASET / "Eileen_Collins" / "Eileen_Collins_0001.jpg")[0].embedding
    other = find_faces(SAMPLE_DATASET / "Grace_Hopper" / "Grace_Hopper_0001.jpg")[0].embedding
    assert np.linalg.norm(me - copy) < 0.2
    assert np.linalg.norm(me - other) > 0.6


def test_no_face_gives_empty_list():
    assert find_faces(SAMPLE_DATASET / "coffee.jpg") == []


def test_detection_scale_enlarges_small_photos_and_bounds_huge_ones():
    assert detection_scale(250, 250) == 2.0  # 40 px faces reach the 80 px HOG window
    assert 0.8 < detection_scale(3712, 5568) < 0.9  # faces of 1/40 of the short side stay findable
    h, w = 12000, 16000
    assert detection_scale(h, w) ** 2 * h * w <= 16_000_000 * 1.001


def test_blurred_and_small_faces_carry_warnings():
    from PIL import Image, ImageFilter

    img = Image.open(SAMPLE_DATASET / "Eileen_Collins" / "Eileen_Collins_0001.jpg")
    blurred = np.asarray(img.filter(ImageFilter.GaussianBlur(3)))
    faces = find_faces(blurred)
    assert faces and any("blurred" in w for w in faces[0].quality.warnings())
    small = np.asarray(img.resize((150, 150)))
    faces = find_faces(small)
    assert faces and any("small face" in w for w in faces[0].quality.warnings())


def test_a_labelled_dataset_photo_names_its_centred_face_and_a_selfie_leads_with_the_largest():
    import io

    from PIL import Image

    from exposure.embed import embed_image

    big = Image.open(SAMPLE_DATASET / "Grace_Hopper" / "Grace_Hopper_0001.jpg").convert("RGB")
    big = big.resize((big.width * 3 // 2, big.height * 3 // 2))
    small = Image.open(SAMPLE_DATASET / "Eileen_Collins" / "Eileen_Collins_0001.jpg").convert("RGB")
    canvas = Image.new("RGB", (2 * big.width + small.width, big.height), "white")
    canvas.paste(big, (0, 0))
    canvas.paste(small, (big.width + (big.width - small.width) // 2, (big.height - small.height) // 2))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=95)
    centre = canvas.width / 2
    record, rows = embed_image("two.jpg", buf.getvalue(), identity="Eileen_Collins", detector="hog")
    assert record["n_faces"] == 2, record
    primary = [r for r in rows if r["primary"]]
    assert len(primary) == 1 and primary[0]["identity"] == "Eileen_Collins"
    assert abs((primary[0]["box_left"] + primary[0]["box_right"]) / 2 - centre) < small.width / 2
    selfie = find_faces(buf.getvalue(), detector="hog")
    assert selfie[0].box.width > selfie[1].box.width  # a selfie's person is the largest face
    assert (selfie[0].box.left + selfie[0].box.right) / 2 < big.width
