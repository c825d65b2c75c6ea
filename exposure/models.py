"""dlib's models from face_recognition_models: found on disk, loaded lazily and once per process."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from exposure.errors import ExposureError

# The embedding pipeline: dlib ResNet v1 on a 150x150 chip aligned with the 68-point landmarks,
# no jitter. Embeddings from any other pipeline are not comparable with an index built by this one.
# The network runs in dlib (the reference) or in ONNX Runtime (same weights, read from the same
# file; equal to dlib within 1e-6, tests/test_onnx_encoder.py): both give this model id.
MODEL_ID = "dlib-resnet-v1/sp68/chip150-pad0.25/jitter0"

_FILES = {
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
    "landmarks68": "shape_predictor_68_face_landmarks.dat",
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "cnn_detector": "mmod_human_face_detector.dat",
}


def model_path(kind: str) -> Path:
    """Path of one model file, located without importing face_recognition_models.

    That package imports pkg_resources, which setuptools >= 82 no longer ships; finding the
    spec does not execute the package.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ExposureError(
            "the face models are not installed: pip install face_recognition_models"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / _FILES[kind]
    if not path.is_file():
        raise ExposureError(f"face model file missing: {path}")
    return path


@functools.cache
def hog_detector():
    import dlib

    return dlib.get_frontal_face_detector()


@functools.cache
def cnn_detector():
    import dlib

    return dlib.cnn_face_detection_model_v1(str(model_path("cnn_detector")))


@functools.cache
def landmark_predictor():
    import dlib

    return dlib.shape_predictor(str(model_path("landmarks68")))


@functools.cache
def face_encoder():
    import dlib

    return dlib.face_recognition_model_v1(str(model_path("recognition")))
