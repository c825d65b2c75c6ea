"""exposure: find out, on your own computer, whether your face is in public face datasets.

The steps, each a plain function:

    photo = exposure.load_photo("me.jpg")            # any format, EXIF rotation applied
    faces = exposure.find_faces(photo)               # boxes, landmarks, embeddings, quality
    exposure.build_index("lfw/", "lfw-index/")       # embed a dataset folder (resumable)
    result = exposure.check(["me.jpg"], ["lfw-index/"])
    result.results                                   # DataFrame: nearest faces with verdicts
    exposure.write_report(result, "report.html")

Nothing heavy (dlib, models, pandas) is loaded by `import exposure`; models load once, on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

_API = {
    "load_photo": "exposure.photos",
    "Photo": "exposure.photos",
    "find_faces": "exposure.faces",
    "Face": "exposure.faces",
    "build_index": "exposure.index",
    "open_index": "exposure.index",
    "Index": "exposure.index",
    "check": "exposure.checker",
    "CheckResult": "exposure.checker",
    "verdict": "exposure.verdicts",
    "write_report": "exposure.report",
    "data_home": "exposure.home",
    "MODEL_ID": "exposure.models",
    "ExposureError": "exposure.errors",
    "PhotoError": "exposure.errors",
    "NoFaceError": "exposure.errors",
    "BadIndexError": "exposure.errors",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'exposure' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
