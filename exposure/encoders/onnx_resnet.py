"""dlib's face recognition ResNet as an ONNX graph, run by ONNX Runtime.

The graph is built once from dlib's own .dat file (parsed by `dlib_dat`, nothing downloaded) and
cached under ``data_home()/models/``, keyed by the .dat file's sha256. It computes what dlib's
``face_recognition_model_v1.compute_face_descriptor(chip)`` computes for a 150x150 chip with no
jitter, layer for layer:

* input: uint8 (n, 150, 150, 3) RGB chips; (pixel - mean[c]) / 256 per channel, as dlib's
  input_rgb_image_sized does, then NHWC -> NCHW;
* con: Conv with dlib's (out, in, nr, nc) filters, its padding and stride, plus bias;
* affine (the trained net's batch norm, frozen): x * gamma[c] + beta[c], folded into the conv
  before it (exact up to float rounding);
* add_prev: dlib adds tensors of different shapes by zero-padding the smaller at the end of each
  axis (channels, rows, columns). The downsampling blocks need it: the 64-channel block output is
  added to the 32-channel shortcut, and at 8x8 -> 3x3 (block, conv without padding) vs 4x4
  (shortcut, 2x2 average pool) the block's output lands in the top-left corner of the sum;
* avg_pool_everything + fc_no_bias: global average pool, then x @ W with W as dlib stores it
  (num_inputs, num_outputs): no transpose. The loss layer (loss_metric) returns that vector as is.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import numpy as np

from exposure.encoders.dlib_dat import DlibResNet, read_dat
from exposure.files import sha256_file
from exposure.home import data_home
from exposure.models import model_path

GRAPH_VERSION = 1  # bump when the graph built from the same .dat changes
OPSET = 17
DEFAULT_BATCH = 32
CHIP_SHAPE = (150, 150, 3)


def _dat_path() -> Path:
    return model_path("recognition")



def _pool_out(size: int, window: int, stride: int, pad: int) -> int:
    return 1 + (size + 2 * pad - window) // stride


def build_model(net: DlibResNet, fold_affine: bool = True):
    """The network as an onnx.ModelProto: input 'chips' uint8 (n,150,150,3), output 'embeddings' (n,128)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list = []
    inits: list = []
    counter = iter(range(1_000_000))

    def name(prefix: str) -> str:
        return f"{prefix}_{next(counter)}"

    def const(prefix: str, array: np.ndarray) -> str:
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), n))
        return n

    def node(op: str, inputs: list[str], **attrs) -> str:
        out = name(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    h, w = net.input_size
    mean = np.array(net.mean_rgb, dtype=np.float32).reshape(1, 1, 1, 3)
    x = node("Cast", ["chips"], to=TensorProto.FLOAT)
    x = node("Sub", [x, const("mean_rgb", mean)])
    x = node("Mul", [x, const("inv256", np.array(1 / 256, dtype=np.float32))])  # exact, as / 256
    x = node("Transpose", [x], perm=[0, 3, 1, 2])
    shape = (3, h, w)  # (channels, rows, cols) of x; the batch axis stays free

    tags: dict[int, tuple[str, tuple]] = {}
    layers = net.layers
    i = 0
    while i < len(layers):
        layer = layers[i]
        a = layer.attrs
        if layer.kind == "con":
            weight, bias = layer.weight.astype(np.float32), layer.bias.astype(np.float32)
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if fold_affine and nxt is not None and nxt.kind == "affine":
                g = nxt.weight.astype(np.float64)
                weight = (weight.astype(np.float64) * g[:, None, None, None]).astype(np.float32)
                bias = (bias.astype(np.float64) * g + nxt.bias.astype(np.float64)).astype(np.float32)
                i += 1
            py, px = a["padding_y"], a["padding_x"]
            x = node(
                "Conv",
                [x, const("W", weight), const("B", bias)],
                kernel_shape=[a["nr"], a["nc"]],
                strides=[a["stride_y"], a["stride_x"]],
                pads=[py, px, py, px],
            )
            shape = (
                a["num_filters"],
                _pool_out(shape[1], a["nr"], a["stride_y"], py),
                _pool_out(shape[2], a["nc"], a["stride_x"], px),
            )
        elif layer.kind == "affine":
            k = shape[0]
            x = node("Mul", [x, const("gamma", layer.weight.astype(np.float32).reshape(1, k, 1, 1))])
            x = node("Add", [x, const("beta", layer.bias.astype(np.float32).reshape(1, k, 1, 1))])
        elif layer.kind == "relu":
            x = node("Relu", [x])
        elif layer.kind in ("max_pool", "avg_pool"):
            if a["nr"] == 0 and a["nc"] == 0:  # *_pool_everything
                x = node("GlobalAveragePool" if layer.kind == "avg_pool" else "GlobalMaxPool", [x])
                shape = (shape[0], 1, 1)
            else:
                py, px = a["padding_y"], a["padding_x"]
                if py or px:
                    # dlib averages over the in-bounds part of a window; pads here would need
                    # count_include_pad=0. The face ResNet has no padded pooling.
                    raise NotImplementedError("padded pooling")
                x = node(
                    "MaxPool" if layer.kind == "max_pool" else "AveragePool",
                    [x],
                    kernel_shape=[a["nr"], a["nc"]],
                    strides=[a["stride_y"], a["stride_x"]],
                )
                shape = (
                    shape[0],
                    _pool_out(shape[1], a["nr"], a["stride_y"], py),
                    _pool_out(shape[2], a["nc"], a["stride_x"], px),
                )
        elif layer.kind == "tag":
            tags[layer.tag] = (x, shape)
        elif layer.kind == "skip":
            x, shape = tags[layer.tag]
        elif layer.kind == "add_prev":
            other, other_shape = tags[layer.tag]
            out_shape = tuple(max(p, q) for p, q in zip(shape, other_shape, strict=True))

            def padded(t: str, s: tuple, out_shape=out_shape) -> str:
                if s == out_shape:
                    return t
                ends = [o - v for o, v in zip(out_shape, s, strict=True)]
                pads = np.array([0, 0, 0, 0, 0, *ends], dtype=np.int64)  # zeros at the end of C, H, W
                return node("Pad", [t, const("pads", pads)], mode="constant")

            x = node("Add", [padded(x, shape), padded(other, other_shape)])
            shape = out_shape
        elif layer.kind == "fc":
            x = node("Flatten", [x], axis=1)  # (k, nr, nc) order, as dlib's tensor layout
            x = node("MatMul", [x, const("fc_W", layer.weight.astype(np.float32))])
            shape = (a["num_outputs"],)
        else:  # pragma: no cover
            raise ValueError(f"unknown layer kind {layer.kind}")
        i += 1

    nodes.append(helper.make_node("Identity", [x], ["embeddings"], name="embeddings"))
    graph = helper.make_graph(
        nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", h, w, 3])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["n", shape[0]])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="exposure",
        doc_string=f"dlib_face_recognition_resnet_model_v1.dat sha256={net.sha256}; graph v{GRAPH_VERSION}",
    )
    model.ir_version = 8  # readable by onnxruntime >= 1.11
    onnx.checker.check_model(model)
    return model


def model_file(dat: str | Path | None = None, home: str | Path | None = None) -> Path:
    """The cached ONNX file for this .dat, built on first use (atomically) under data_home()/models/."""
    dat = Path(dat) if dat is not None else _dat_path()
    digest = sha256_file(dat)
    folder = data_home(home) / "models"
    path = folder / f"dlib_resnet_v1-{digest[:16]}-g{GRAPH_VERSION}.onnx"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    net = read_dat(dat)
    if net.sha256 != digest:  # the file changed while we read it
        raise RuntimeError(f"{dat} changed while it was read")
    data = build_model(net).SerializeToString()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _onnxruntime():
    """onnxruntime, imported so that it writes nothing: on import it saves a telemetry session file
    ($TMPDIR/.ses), which would break the promise that a check writes nothing to disk."""
    import sys
    import tempfile

    if "onnxruntime" not in sys.modules:
        saved = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = "/nonexistent/exposure-writes-nothing"  # its .ses write then fails quietly
        try:
            import onnxruntime  # noqa: F401
        finally:
            if saved is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = saved
            if (tempfile.tempdir or "").startswith("/nonexistent/"):
                tempfile.tempdir = None
    import onnxruntime as ort

    ort.disable_telemetry_events()
    return ort


def providers() -> list[str]:
    """CUDA when this onnxruntime build and machine offer it, then the CPU."""
    ort = _onnxruntime()

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class OnnxEncoder:
    """Runs the cached graph: `encode(chips)` gives the same 128-d vectors as dlib (max abs diff ~1e-6)."""

    def __init__(
        self,
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH,
        providers_: list[str] | None = None,
        model: str | Path | None = None,
    ):
        ort = _onnxruntime()

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.inter_op_num_threads = 1
        if threads:
            opts.intra_op_num_threads = threads
        # Idle worker threads sleep instead of spinning: the cores are shared with other work.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(model) if model is not None else model_file()
        self.session = ort.InferenceSession(str(self.path), opts, providers=providers_ or providers())
        self.batch_size = batch_size

    def encode(self, chips: np.ndarray) -> np.ndarray:
        """(n,150,150,3) uint8 RGB chips -> (n,128) float32 embeddings, in batches of batch_size."""
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        if chips.shape[1:] != CHIP_SHAPE:
            raise ValueError(f"chips must be (n, 150, 150, 3) RGB, got {chips.shape}")
        if chips.dtype != np.uint8:
            raise ValueError(f"chips must be uint8, got {chips.dtype}")
        out = np.empty((len(chips), 128), dtype=np.float32)
        for start in range(0, len(chips), self.batch_size):
            batch = np.ascontiguousarray(chips[start : start + self.batch_size])
            out[start : start + len(batch)] = self.session.run(["embeddings"], {"chips": batch})[0]
        return out


@functools.cache
def default_encoder(threads: int | None = None) -> OnnxEncoder:
    """One encoder per process (and thread count), built on first use."""
    return OnnxEncoder(threads=threads)
