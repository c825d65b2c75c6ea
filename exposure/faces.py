"""Find faces in a photo and describe each: box, landmarks, aligned chip, 128-d embedding, quality."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from exposure import models
from exposure.encoders import encode_chips
from exposure.i18n import _
from exposure.models import MODEL_ID
from exposure.photos import Photo, load_photo

HOG_WINDOW = 80  # dlib's frontal HOG detector finds faces of about 80x80 pixels and larger
MIN_FACE_PX = 40  # the smallest face we look for in a small photo
FACES_PER_SIDE = 40  # in a big photo, the smallest face looked for is 1/40 of its shorter side
MAX_DETECT_PIXELS = {"hog": 16_000_000, "cnn": 4_000_000}  # bounds detection time on huge photos
CHIP_SIZE = 150
CHIP_PADDING = 0.25
SMALL_FACE_PX = 80
BLURRY_SHARPNESS = 40.0  # variance of the Laplacian of the grey 150x150 chip
FRONTAL_YAW = 0.35


@dataclass(frozen=True)
class Box:
    """A face box in the photo's own pixels (left, top inclusive; right, bottom exclusive)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(self.width, 0) * max(self.height, 0)


@dataclass(frozen=True)
class FaceQuality:
    """How far a face can be trusted: its size, sharpness and how frontal it is."""

    width_px: int
    sharpness: float
    yaw: float  # -1..1: landmark asymmetry; 0 is frontal
    frontal: bool

    def warnings(self) -> list[str]:
        """Plain-language reasons this face may give less reliable matches."""
        out = []
        if self.width_px < SMALL_FACE_PX:
            out.append(_("small face ({px} px wide): matches are less reliable").format(px=self.width_px))
        if self.sharpness < BLURRY_SHARPNESS:
            out.append(_("blurred face: matches are less reliable"))
        if not self.frontal:
            out.append(_("face turned away from the camera: matches are less reliable"))
        return out


@dataclass(frozen=True)
class Face:
    """One face: where it is, its 68 landmarks, the aligned chip the model saw and its embedding."""

    box: Box
    landmarks: np.ndarray = field(repr=False)  # (68, 2) int, photo pixels
    chip: np.ndarray = field(repr=False)  # (150, 150, 3) uint8: the crop that is compared
    embedding: np.ndarray = field(repr=False)  # (128,) float32
    quality: FaceQuality
    detector_score: float
    model_id: str = MODEL_ID


def detection_scale(height: int, width: int, detector: str = "hog") -> float:
    """The factor to resize a photo by so that its smallest expected face fills the detector window.

    Small photos are enlarged (faces of 40 px become 80 px, as HOG with one upsampling does);
    big photos are reduced only as far as faces of 1/40 of the shorter side stay findable,
    and the pixel count is capped to bound the time on huge photos.
    """
    smallest = max(MIN_FACE_PX, min(height, width) / FACES_PER_SIDE)
    scale = HOG_WINDOW / smallest
    cap = math.sqrt(MAX_DETECT_PIXELS[detector] / (height * width))
    return min(scale, cap)


DETECTORS = ("hog", "cnn", "auto")


def detect(photo: Photo, detector: str = "hog") -> list[tuple[Box, float]]:
    """Face boxes in photo pixels with the detector's confidence, most prominent first.

    "auto" runs HOG and, only when it finds nothing, dlib's slower CNN detector (bench/accuracy.py
    measures what it finds that HOG misses).
    """
    if detector == "auto":
        return detect(photo, "hog") or detect(photo, "cnn")
    if detector not in MAX_DETECT_PIXELS:
        raise ValueError(f"unknown detector {detector!r}: use one of {', '.join(DETECTORS)}")
    pixels = photo.pixels
    h, w = pixels.shape[:2]
    scale = detection_scale(h, w, detector)
    if abs(scale - 1.0) > 0.05:
        from PIL import Image

        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        work = np.asarray(Image.fromarray(pixels).resize(size, Image.BILINEAR, reducing_gap=2.0))
    else:
        scale, work = 1.0, pixels
    if detector == "cnn" and min(work.shape[:2]) < HOG_WINDOW // 2:
        return []  # dlib's CNN corrupts memory on images under ~10 px; no face fits in one this small
    found: list[tuple[Box, float]] = []
    if detector == "hog":
        rects, scores, _ = models.hog_detector().run(work, 0, 0.0)
        pairs = zip(rects, scores, strict=True)
    else:
        pairs = ((d.rect, d.confidence) for d in models.cnn_detector()(work, 0))
    for r, score in pairs:
        box = Box(
            left=round(r.left() / scale),
            top=round(r.top() / scale),
            right=round((r.right() + 1) / scale),
            bottom=round((r.bottom() + 1) / scale),
        )
        found.append((box, float(score)))
    return _prominence_order(found)


def _prominence_order(found: list[tuple[Box, float]]) -> list[tuple[Box, float]]:
    """Largest face first; among faces within 10% of the largest area, the most confident wins."""
    if not found:
        return found
    found = sorted(found, key=lambda bs: -bs[0].area)
    biggest = found[0][0].area
    near = [i for i, (b, _) in enumerate(found) if b.area >= 0.9 * biggest]
    best = max(near, key=lambda i: found[i][1])
    return [found[best]] + [f for i, f in enumerate(found) if i != best]


def centred_first(found: list[tuple[Box, float]], width: int, height: int) -> list[tuple[Box, float]]:
    """The face nearest the photo's centre first, the rest in their order: a labelled dataset photo's
    subject is centred (LFW, CelebA, the aligned recognition sets), where a selfie's is the largest."""
    if len(found) < 2:
        return found

    def off_centre(box: Box) -> float:
        return ((box.left + box.right - width) / 2) ** 2 + ((box.top + box.bottom - height) / 2) ** 2

    first = min(range(len(found)), key=lambda i: off_centre(found[i][0]))
    return [found[first]] + [f for i, f in enumerate(found) if i != first]


def find_faces(source, detector: str = "auto", encoder: str | None = None) -> list[Face]:
    """Every face in a photo (path, bytes, array or Photo), most prominent first, each embedded.

    An empty list means no face was found. `detector`: "auto" (as for `check`: HOG, then dlib's
    CNN where HOG finds none, the default everywhere), "hog" or "cnn". `encoder` is "onnx" (default
    when installed) or "dlib".
    """
    photo = load_photo(source)
    boxes = detect(photo, detector)
    return describe_faces(photo, boxes, encoder)


def aligned_chip(pixels: np.ndarray, box: Box, predictor=None) -> tuple[object, np.ndarray]:
    """dlib's landmarks of one face box and the 150x150 chip aligned on them: what the model sees.

    `predictor` is the 68-point landmark model unless another is given (bench/accuracy.py tries
    dlib's 5-point one).
    """
    import dlib

    rect = dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
    shape = (predictor or models.landmark_predictor())(pixels, rect)
    return shape, np.asarray(dlib.get_face_chip(pixels, shape, size=CHIP_SIZE, padding=CHIP_PADDING))


def face_chip(source, detector: str = "hog") -> np.ndarray | None:
    """The aligned chip of the most prominent face in a photo, not embedded (None without a face)."""
    photo = load_photo(source)
    boxes = detect(photo, detector)
    return aligned_chip(photo.pixels, boxes[0][0])[1] if boxes else None


def describe_faces(photo: Photo, boxes: list[tuple[Box, float]], encoder: str | None = None) -> list[Face]:
    """Landmarks, aligned chip, embedding and quality for known face boxes in a photo."""

    if not boxes:
        return []
    shapes, chips = zip(*(aligned_chip(photo.pixels, box) for box, _ in boxes), strict=True)
    vectors = encode_chips(list(chips), encoder)
    faces = []
    for (box, score), shape, chip, vec in zip(boxes, shapes, chips, vectors, strict=True):
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.int32)
        faces.append(
            Face(
                box=box,
                landmarks=points,
                chip=chip,
                embedding=np.asarray(vec, dtype=np.float32),
                quality=face_quality(box, points, chip),
                detector_score=score,
            )
        )
    return faces


def face_quality(box: Box, landmarks: np.ndarray, chip: np.ndarray) -> FaceQuality:
    """Size in pixels, sharpness (variance of the Laplacian of the grey chip) and yaw from landmarks."""
    grey = chip.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    lap = (
        -4 * grey[1:-1, 1:-1] + grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]
    )
    nose, eye_l, eye_r = landmarks[30], landmarks[36], landmarks[45]
    left = abs(float(nose[0] - eye_l[0]))
    right = abs(float(eye_r[0] - nose[0]))
    yaw = (left - right) / max(left + right, 1.0)
    return FaceQuality(
        width_px=int(box.width),
        sharpness=round(float(lap.var()), 1),
        yaw=round(yaw, 3),
        frontal=abs(yaw) < FRONTAL_YAW,
    )


def face_crop(photo: Photo, box: Box, margin: float = 0.35) -> np.ndarray:
    """The face with some margin around it, cut from the photo, for showing to a person."""
    h, w = photo.pixels.shape[:2]
    mx, my = int(box.width * margin), int(box.height * margin)
    top, bottom = max(0, box.top - my), min(h, box.bottom + my)
    left, right = max(0, box.left - mx), min(w, box.right + mx)
    return photo.pixels[top:bottom, left:right]
