"""Face encoders: dlib's ResNet run by dlib itself (the reference) or by ONNX Runtime.

`dlib_dat` reads dlib's model file with numpy; `onnx_resnet` builds the same network as an ONNX
graph, caches it in the data home and runs it. Both take the 150x150 RGB chip dlib aligns.
"""

from __future__ import annotations

ENCODERS = ("dlib", "onnx")
