"""The ONNX Runtime encoder gives dlib's embeddings: same .dat, same chip, max abs difference <= 1e-4."""

from __future__ import annotations

import tarfile
from io import BytesIO

import numpy as np
import pytest
from conftest import LFW_DIR, SAMPLE, needs_lfw

try:
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    pytest.skip(
        f"the ONNX encoder needs onnx and onnxruntime ({exc.name} is not installed): pip install onnx onnxruntime",
        allow_module_level=True,
    )

from exposure import models
from exposure.encoders import encode_chips
from exposure.encoders.dlib_dat import read_dat
from exposure.encoders.onnx_resnet import OnnxEncoder, model_file
from exposure.faces import face_chip

TOLERANCE = 1e-4
LFW_FACES = 60


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A data home of this module's own (the autouse EXPOSURE_HOME is per test, so built once here)."""
    return tmp_path_factory.mktemp("onnx-home")


@pytest.fixture(scope="module")
def encoder(home) -> OnnxEncoder:
    return OnnxEncoder(threads=1, model=model_file(home=home))


@pytest.fixture(scope="module")
def sample_chips() -> np.ndarray:
    from PIL import Image

    chips = []
    for path in sorted(SAMPLE.rglob("*.jpg")):
        chip = face_chip(np.asarray(Image.open(path).convert("RGB")))
        if chip is not None:
            chips.append(chip)
    assert len(chips) >= 3
    return np.stack(chips)


@pytest.fixture(scope="module")
def lfw_chips() -> np.ndarray:
    """Chips of the first photo of LFW_FACES people, read from the tarball (nothing unpacked)."""
    from PIL import Image

    chips, seen = [], set()
    with tarfile.open(LFW_DIR / "lfw-deepfunneled.tgz") as tar:
        for member in tar:
            person = member.name.split("/")[1] if member.name.count("/") == 2 else None
            if not member.isfile() or not member.name.endswith(".jpg") or person in seen:
                continue
            seen.add(person)
            pixels = np.asarray(Image.open(BytesIO(tar.extractfile(member).read())).convert("RGB"))
            chip = face_chip(pixels)
            if chip is not None:
                chips.append(chip)
            if len(chips) >= LFW_FACES:
                break
    return np.stack(chips)


def test_the_dat_file_parses_into_dlibs_resnet():
    net = read_dat(models.model_path("recognition"))
    kinds = [layer.kind for layer in net.layers]
    assert net.input_size == (150, 150)
    # input_rgb_image_sized's means, as dlib's input.h sets them (stored as float32)
    assert net.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-4)
    assert kinds.count("con") == 29 and kinds.count("affine") == 29 and kinds.count("add_prev") == 14
    assert net.layers[0].weight.shape == (32, 3, 7, 7)
    assert net.layers[-1].kind == "fc" and net.layers[-1].weight.shape == (256, 128)
    assert net.loss == pytest.approx({"margin": 0.04, "dist_thresh": 0.6})
    assert all(np.isfinite(layer.weight).all() for layer in net.layers if layer.weight is not None)


def test_graph_is_cached_in_the_data_home_by_the_dat_files_hash(home, encoder):
    path = model_file(home=home)
    assert path == encoder.path and path.parent == home / "models"
    net_sha = read_dat(models.model_path("recognition")).sha256
    assert net_sha[:16] in path.name
    mtime = path.stat().st_mtime_ns
    assert model_file(home=home).stat().st_mtime_ns == mtime  # not rebuilt


def test_sample_photos_embed_as_dlib_does(encoder, sample_chips):
    got = encoder.encode(sample_chips)
    assert got.shape == (len(sample_chips), 128) and got.dtype == np.float32
    assert np.abs(got - encode_chips(sample_chips, "dlib")).max() <= TOLERANCE


@needs_lfw
def test_lfw_chips_embed_as_dlib_does(encoder, lfw_chips):
    assert len(lfw_chips) >= 50
    want = encode_chips(lfw_chips, "dlib")
    got = encoder.encode(lfw_chips)
    diff = np.abs(got - want).max()
    assert diff <= TOLERANCE, f"max abs difference {diff:.3g} over {len(lfw_chips)} LFW chips"

    # and so are the distances verdicts are made of
    def dists(e):
        return np.linalg.norm(e[:, None, :].astype(np.float64) - e[None, :, :], axis=-1)

    assert np.abs(dists(got) - dists(want)).max() <= 2 * TOLERANCE


def test_batching_does_not_change_embeddings(home, sample_chips):
    one = OnnxEncoder(threads=1, batch_size=1, model=model_file(home=home)).encode(sample_chips)
    many = OnnxEncoder(threads=1, batch_size=32, model=model_file(home=home)).encode(sample_chips)
    assert np.abs(one - many).max() <= 1e-6


def test_bad_chips_are_refused(encoder):
    with pytest.raises(ValueError, match="150, 150, 3"):
        encoder.encode(np.zeros((2, 100, 100, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        encoder.encode(np.zeros((2, 150, 150, 3), np.float32))
