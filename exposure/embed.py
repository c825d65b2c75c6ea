"""Embed one dataset image: read it, find its faces, describe and embed each; never raise for a bad image.

The unit of work of a build, run in the build's worker processes (exposure.workers) or on a Dask
cluster (exposure.distributed): its status record goes into a shard's metadata, its rows (one
per face) into the shard.
"""

from __future__ import annotations

import hashlib
import json

from exposure.errors import PhotoError
from exposure.faces import Box, centred_first, describe_faces, detect
from exposure.photos import decode_photo, read_file
from exposure.samephoto import chip_hash


def image_record(key: str, error: str | None = None) -> dict:
    """The status of one image in a shard's metadata: filled in as it is read, detected and embedded."""
    return {"image": key, "sha256": None, "width": None, "height": None, "n_faces": 0, "error": error}


def embed_image(key: str, payload: str | bytes, identity: str | None = None, meta: dict | None = None,
                detector: str = "hog", encoder: str | None = None, known_box: dict | None = None,
                ) -> tuple[dict, list[dict]]:
    """Read, detect and embed one dataset image: its status record and a row per face.

    `payload` is a file path or the image bytes. `known_box` ({"size": [w, h], "box": [l, t, r, b]})
    skips detection for an image of that size: the aligned-crop fast path. Never raises for a bad
    image: the reason goes into the record, so one broken file cannot stop a build of millions.
    """
    record = image_record(key)
    try:
        data = read_file(payload, key) if isinstance(payload, str) else payload
        record["sha256"] = hashlib.sha256(data).hexdigest()
        photo = decode_photo(data, key)
        record["width"], record["height"] = photo.width, photo.height
        if known_box is not None and [photo.width, photo.height] == known_box["size"]:
            boxes = [(Box(*known_box["box"]), float("nan"))]  # an aligned crop: the face is where it always is
        else:
            boxes = detect(photo, detector)
            if identity is not None:  # the label names the photo's subject, who is centred
                boxes = centred_first(boxes, photo.width, photo.height)
        faces = describe_faces(photo, boxes, encoder)
    except PhotoError as e:
        record["error"] = e.reason
        return record, []
    except MemoryError:
        record["error"] = "not enough memory to read this image"
        return record, []
    except Exception as e:  # noqa: BLE001 - a crash on one image is recorded, not raised
        record["error"] = f"unexpected error: {type(e).__name__}: {e}"
        return record, []
    record["n_faces"] = len(faces)
    meta = meta or {}
    source_url = meta.get("url")
    source_meta = json.dumps(meta, ensure_ascii=False, sort_keys=True) if meta else None
    rows = []
    for i, f in enumerate(faces):
        rows.append(
            {
                "image": key,
                "face": i,
                "primary": i == 0,
                "identity": identity if i == 0 else None,
                "box_left": f.box.left,
                "box_top": f.box.top,
                "box_right": f.box.right,
                "box_bottom": f.box.bottom,
                "detector_score": f.detector_score,
                "face_px": f.quality.width_px,
                "sharpness": f.quality.sharpness,
                "yaw": f.quality.yaw,
                "embedding": f.embedding,
                "sha256": record["sha256"],
                "model_id": f.model_id,
                "source_url": source_url,
                "source_meta": source_meta,
                "chip_phash": chip_hash(f.chip),
            }
        )
    return record, rows
