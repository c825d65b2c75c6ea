"""exposure: find out, on your own computer, whether your face is in public face datasets.

The steps, each a plain function:

    photo = exposure.load_photo("me.jpg")            # any format, EXIF rotation applied
    faces = exposure.find_faces(photo)               # boxes, landmarks, embeddings, quality
    exposure.catalog()                               # the public face datasets: who, from what, consent
    folder = exposure.fetch("lfw")                   # download one still published (checksum-verified)
    exposure.build_index(folder, "lfw-index/")       # embed a dataset folder (resumable)
    result = exposure.check(["me.jpg"], ["lfw-index/"])
    result.results                                   # DataFrame: nearest faces with verdicts
    exposure.write_report(result, "report.html")
    exposure.request_letter(result.results.iloc[0])  # ask the dataset's makers what they hold
    exposure.forget()                                # delete everything exposure saved about you
    exposure.set_language("zh")                      # 简体中文 (or "en"): verdicts, report, letters

Nothing heavy (dlib, models, pandas) is loaded by `import exposure`; models load once, on first use.
"""

from __future__ import annotations

from exposure.lazy import attach

__version__ = "0.1.0"

_API = {
    # a person's photos and faces
    "load_photo": "exposure.photos",
    "Photo": "exposure.photos",
    "find_faces": "exposure.faces",
    "Face": "exposure.faces",
    "distance": "exposure.knn",
    # datasets: what exists, downloads, indexes
    "catalog": "exposure.datasets.catalog_table",
    "fetch": "exposure.datasets.download",
    "build_index": "exposure.build",
    "open_index": "exposure.index",
    "Index": "exposure.index",
    # the check and what follows it
    "check": "exposure.checker",
    "CheckResult": "exposure.checker",
    "verdict": "exposure.verdicts",
    "write_report": "exposure.report",
    "lookup": "exposure.source_lookup",
    "request_letter": "exposure.privacy",
    "forget": "exposure.privacy",
    # where things are
    "data_home": "exposure.home",
    "indexes_dir": "exposure.home",
    "available_indexes": "exposure.home",
    "sample_photo": "exposure.home",
    "sample_index": "exposure.build",
    "MODEL_ID": "exposure.models",
    # the language a person reads: English or Simplified Chinese
    "set_language": "exposure.i18n",
    "language": "exposure.i18n",
    # errors
    "ExposureError": "exposure.errors",
    "PhotoError": "exposure.errors",
    "NoFaceError": "exposure.errors",
    "BadIndexError": "exposure.errors",
}

__getattr__, __dir__, __all__ = attach(__name__, _API)
