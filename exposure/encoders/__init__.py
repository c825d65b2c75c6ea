"""Face encoders: dlib's ResNet run by dlib itself (the reference) or by ONNX Runtime.

`dlib_dat` reads dlib's model file with numpy; `onnx_resnet` builds the same network as an ONNX
graph, caches it in the data home and runs it. Both take the 150x150 RGB chip dlib aligns, and
give the same embedding within 1e-6 (tests/test_onnx_encoder.py): one model id.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from exposure.encoders.onnx_resnet import default_encoder
from exposure.errors import ExposureError
from exposure.models import face_encoder

ENCODERS = ("onnx", "dlib")


def encoder_name(encoder: str | None = None) -> str:
    """The encoder to use: the one asked for, else $EXPOSURE_ENCODER, else ONNX Runtime when installed."""
    name = encoder or os.environ.get("EXPOSURE_ENCODER")
    if name is None:
        have_onnx = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))
        return "onnx" if have_onnx else "dlib"
    if name not in ENCODERS:
        raise ExposureError(f"unknown encoder {name!r}: use one of {', '.join(ENCODERS)}")
    return name


def encode_chips(chips: list[np.ndarray], encoder: str | None = None) -> np.ndarray:
    """128-d embeddings of aligned 150x150 chips, shape (n, 128) float32."""
    if not len(chips):
        return np.zeros((0, 128), np.float32)
    if encoder_name(encoder) == "onnx":
        threads = int(os.environ.get("EXPOSURE_ENCODER_THREADS", "0")) or None
        return default_encoder(threads).encode(np.stack(chips))
    vectors = face_encoder().compute_face_descriptor(list(chips))
    return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32)
