"""Read dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1.dat) with numpy alone.

The file is dlib's own binary serialisation (dlib/serialize.h, dlib/dnn/*.h) of the network that
dlib's dnn_face_recognition_ex.cpp calls ``anet_type``::

    loss_metric<fc_no_bias<128, avg_pool_everything<
        alevel0<alevel1<alevel2<alevel3<alevel4<
        max_pool<3,3,2,2, relu<affine<con<32,7,7,2,2, input_rgb_image_sized<150>>>>>>>>>>>>>

with ``ares<N> = relu<add_prev1<block<N,1,tag1<x>>>>``,
``ares_down<N> = relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,2,tag1<x>>>>>>>`` and
``block<N,stride> = affine<con<N,3,3,1,1, relu<affine<con<N,3,3,stride,stride, x>>>>>>``.

The encodings used here, as dlib writes them:

* integers: one control byte (low nibble: how many bytes follow, 0x80: negative), then the
  magnitude in that many little-endian bytes;
* float/double: a float_details pair (mantissa int64, exponent int16), each an integer as above;
  the value is mantissa * 2**exponent (exponents 32000/32001/32002 mean inf, -inf, nan);
* bool: the ASCII character '1' or '0'; strings: their length as an integer, then the bytes;
* resizable_tensor: version 2, num_samples, k, nr, nc, then the values as little-endian float32
  in (n, k, nr, nc) order; alias_tensor: version 1, num_samples, k, nr, nc.

A network is written outside-in: the loss layer (version 1, the loss details, then the subnet);
every add_layer writes its version, then its subnetwork, then its details and bookkeeping;
tag and skip layers write only their version (1) and subnetwork. So the file holds every layer's
version number from the output down to the input layer, then the layers' details from the input
back up. Tag and skip layers are told apart by the known architecture, not by the file: the
parser walks the architecture above and checks every version number and every layer name it
reads against it, so a file of another network fails loudly instead of being misread.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exposure.errors import ExposureError


class DatFormatError(ExposureError):
    """The .dat file is not the dlib face recognition ResNet this parser knows."""


# ---------------------------------------------------------------------------------------------
# The architecture, input first, as dlib's templates expand it.


@dataclass
class Layer:
    """One layer of the network, input side first.

    kind is one of con, affine, relu, max_pool, avg_pool, add_prev, tag, skip, fc.
    `tag` is the tag number for tag, skip and add_prev layers. Parameters come from the file.
    """

    kind: str
    tag: int = 0
    attrs: dict = field(default_factory=dict)  # ints: num_filters, nr, nc, stride_*, padding_*, mode...
    weight: np.ndarray | None = field(default=None, repr=False)
    bias: np.ndarray | None = field(default=None, repr=False)

    @property
    def has_details(self) -> bool:
        return self.kind not in ("tag", "skip")


def _block(n: int, stride: int) -> list[Layer]:
    return [
        Layer("con", attrs={"num_filters": n, "nr": 3, "nc": 3, "stride": stride}),
        Layer("affine"),
        Layer("relu"),
        Layer("con", attrs={"num_filters": n, "nr": 3, "nc": 3, "stride": 1}),
        Layer("affine"),
    ]


def _ares(n: int) -> list[Layer]:
    return [Layer("tag", 1), *_block(n, 1), Layer("add_prev", 1), Layer("relu")]


def _ares_down(n: int) -> list[Layer]:
    return [
        Layer("tag", 1),
        *_block(n, 2),
        Layer("tag", 2),
        Layer("skip", 1),
        Layer("avg_pool", attrs={"nr": 2, "nc": 2, "stride": 2}),
        Layer("add_prev", 2),
        Layer("relu"),
    ]


def resnet_v1_architecture() -> list[Layer]:
    """dlib's `anet_type` (dnn_face_recognition_ex.cpp), input side first, without the input layer."""
    layers = [
        Layer("con", attrs={"num_filters": 32, "nr": 7, "nc": 7, "stride": 2}),
        Layer("affine"),
        Layer("relu"),
        Layer("max_pool", attrs={"nr": 3, "nc": 3, "stride": 2}),
    ]
    for _ in range(3):  # alevel4
        layers += _ares(32)
    layers += _ares_down(64)  # alevel3
    for _ in range(3):
        layers += _ares(64)
    layers += _ares_down(128)  # alevel2
    for _ in range(2):
        layers += _ares(128)
    layers += _ares_down(256)  # alevel1
    for _ in range(2):
        layers += _ares(256)
    layers += _ares_down(256)  # alevel0
    layers += [
        Layer("avg_pool", attrs={"nr": 0, "nc": 0, "stride": 1}),  # avg_pool_everything
        Layer("fc", attrs={"num_outputs": 128, "bias_mode": 1}),  # fc_no_bias
    ]
    return layers


# ---------------------------------------------------------------------------------------------
# dlib's primitive encodings.

_INF, _NINF, _NAN = 32000, 32001, 32002


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def fail(self, what: str) -> DatFormatError:
        return DatFormatError(f"dlib .dat file: {what} at byte {self.pos}")

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise self.fail(f"file ends early (wanted {n} bytes)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        ctrl = self.take(1)[0]
        size = ctrl & 0x0F
        if size == 0 or size > 8 or ctrl & 0x70:
            raise self.fail(f"bad integer control byte 0x{ctrl:02x}")
        value = int.from_bytes(self.take(size), "little")
        return -value if ctrl & 0x80 else value

    def float(self) -> float:
        if self.data[self.pos] & 0x70:
            raise self.fail("old ASCII float format (not supported)")
        mantissa, exponent = self.int(), self.int()
        if exponent == _INF:
            return math.inf
        if exponent == _NINF:
            return -math.inf
        if exponent == _NAN:
            return math.nan
        return math.ldexp(mantissa, exponent)

    def bool(self) -> bool:
        ch = self.take(1)
        if ch not in (b"0", b"1"):
            raise self.fail(f"bad bool {ch!r}")
        return ch == b"1"

    def string(self) -> str:
        n = self.int()
        return self.take(n).decode("latin-1")

    def expect_int(self, want: int | tuple[int, ...], what: str) -> int:
        got = self.int()
        wants = want if isinstance(want, tuple) else (want,)
        if got not in wants:
            raise self.fail(f"{what}: expected version {want}, found {got}")
        return got

    def tensor(self) -> np.ndarray:
        self.expect_int(2, "resizable_tensor")
        shape = tuple(self.int() for _ in range(4))
        count = math.prod(shape)
        raw = self.take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        self.expect_int(1, "alias_tensor")
        return tuple(self.int() for _ in range(4))


# ---------------------------------------------------------------------------------------------
# Layer details.


def _read_details(r: _Reader, layer: Layer) -> None:
    name = r.string()
    kind = layer.kind
    a = layer.attrs
    if kind == "con":
        if name != "con_4":
            raise r.fail(f"expected con_4, found {name!r}")
        params = r.tensor().ravel()
        got = {
            "num_filters": r.int(),
            "nr": r.int(),
            "nc": r.int(),
            "stride_y": r.int(),
            "stride_x": r.int(),
            "padding_y": r.int(),
            "padding_x": r.int(),
        }
        filters, biases = r.alias_tensor(), r.alias_tensor()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.float()
        want = (a["num_filters"], a["nr"], a["nc"], a["stride"], a["stride"])
        have = (got["num_filters"], got["nr"], got["nc"], got["stride_y"], got["stride_x"])
        if want != have:
            raise r.fail(f"con layer is {have}, architecture says {want}")
        nf = filters[0]
        nw = math.prod(filters)
        if biases[0] * biases[1] != nf or params.size != nw + nf:
            raise r.fail("con parameter sizes do not add up")
        a.update(got)
        layer.weight = params[:nw].reshape(filters)  # (out, in, nr, nc): ONNX's OIHW
        layer.bias = params[nw : nw + nf].copy()
    elif kind == "affine":
        if name != "affine_":
            raise r.fail(f"expected affine_ (a bn_ layer is not supported), found {name!r}")
        params = r.tensor().ravel()
        gamma, beta = r.alias_tensor(), r.alias_tensor()
        mode = r.int()
        if mode != 0:  # CONV_MODE: one gamma and beta per channel
            raise r.fail(f"affine layer in FC mode ({mode}) is not supported")
        ng = math.prod(gamma)
        if math.prod(beta) != ng or params.size != 2 * ng:
            raise r.fail("affine parameter sizes do not add up")
        a["mode"] = mode
        layer.weight = params[:ng].copy()  # gamma, per channel
        layer.bias = params[ng : 2 * ng].copy()  # beta, per channel
    elif kind in ("relu", "add_prev"):
        if name != kind + "_":
            raise r.fail(f"expected {kind}_, found {name!r}")
    elif kind in ("max_pool", "avg_pool"):
        if name != kind + "_2":
            raise r.fail(f"expected {kind}_2, found {name!r}")
        got = {k: r.int() for k in ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")}
        want = (a["nr"], a["nc"], a["stride"], a["stride"])
        have = (got["nr"], got["nc"], got["stride_y"], got["stride_x"])
        if want != have:
            raise r.fail(f"{kind} layer is {have}, architecture says {want}")
        a.update(got)
    elif kind == "fc":
        if name != "fc_2":
            raise r.fail(f"expected fc_2, found {name!r}")
        num_outputs, num_inputs = r.int(), r.int()
        params = r.tensor().ravel()
        weights, _biases = r.alias_tensor(), r.alias_tensor()
        bias_mode = r.int()
        for _ in range(4):
            r.float()
        if num_outputs != a["num_outputs"] or bias_mode != a["bias_mode"]:
            raise r.fail(f"fc layer has {num_outputs} outputs, bias mode {bias_mode}")
        nw = num_inputs * num_outputs
        if weights[:2] != (num_inputs, num_outputs) or params.size != nw:
            raise r.fail("fc parameter sizes do not add up")
        a["num_inputs"] = num_inputs
        # dlib computes output = input (n, num_inputs) @ W (num_inputs, num_outputs): no transpose.
        layer.weight = params.reshape(num_inputs, num_outputs)
    else:  # pragma: no cover - the architecture has no other kinds
        raise r.fail(f"unknown layer kind {kind}")


def _read_bookkeeping(r: _Reader, version: int, innermost: bool) -> None:
    """The fields add_layer writes after a layer's details (empty tensors in a clean() net)."""
    for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, get_output..._disabled
        r.bool()
    r.tensor()  # x_grad
    r.tensor()  # cached_output
    if innermost:
        r.tensor()  # grad_final
        if version >= 3:
            r.int()  # _sample_expansion_factor
    elif version >= 2:
        r.tensor()  # params_grad


# ---------------------------------------------------------------------------------------------


@dataclass
class DlibResNet:
    """The parsed network: input normalisation, layers (input side first) and the file's sha256."""

    input_size: tuple[int, int]
    mean_rgb: tuple[float, float, float]  # subtracted from each channel, then divided by 256
    layers: list[Layer]
    loss: dict
    sha256: str

    def describe(self) -> str:
        lines = [f"input_rgb_image_sized{self.input_size} mean={self.mean_rgb}"]
        for layer in self.layers:
            if layer.kind in ("tag", "skip", "add_prev"):
                lines.append(f"{layer.kind}{layer.tag}")
            else:
                shape = "" if layer.weight is None else f" {tuple(layer.weight.shape)}"
                lines.append(f"{layer.kind} {layer.attrs}{shape}")
        lines.append(f"loss_metric {self.loss}")
        return "\n".join(lines)


def read_dat(path: str | Path) -> DlibResNet:
    """Parse dlib_face_recognition_resnet_model_v1.dat into numpy arrays (no dlib involved)."""
    data = Path(path).read_bytes()
    r = _Reader(data)
    layers = resnet_v1_architecture()

    r.expect_int(1, "add_loss_layer")
    loss_name = r.string()
    if loss_name != "loss_metric_2":
        raise r.fail(f"expected loss_metric_2, found {loss_name!r}")
    loss = {"margin": r.float(), "dist_thresh": r.float()}

    # Version numbers, from the output layer down to the one on top of the input layer.
    versions = {}
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        if layer.has_details:
            versions[i] = r.expect_int((2, 3) if i == 0 else 2, f"add_layer<{layer.kind}>")
        else:
            r.expect_int(1, f"{layer.kind}{layer.tag} layer")

    name = r.string()
    if name != "input_rgb_image_sized":
        raise r.fail(f"expected input_rgb_image_sized, found {name!r}")
    mean = tuple(float(np.float32(r.float())) for _ in range(3))
    size = (r.int(), r.int())

    # Details and bookkeeping, from the input side up.
    for i, layer in enumerate(layers):
        if layer.has_details:
            _read_details(r, layer)
            _read_bookkeeping(r, versions[i], innermost=(i == 0))
    if r.pos != len(data):
        raise r.fail(f"{len(data) - r.pos} unread bytes after the network")
    return DlibResNet(
        input_size=size,
        mean_rgb=mean,
        layers=layers,
        loss=loss,
        sha256=hashlib.sha256(data).hexdigest(),
    )
