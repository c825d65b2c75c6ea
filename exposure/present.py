"""What the report and the app show alike: thumbnails, verdict badges, the by-person table, an index's counts."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from exposure.i18n import _
from exposure.privacy import catalog_entry
from exposure.verdicts import COLOURS, shown


def jpeg_bytes(pixels: np.ndarray, size: int = 128, blur: bool = False) -> bytes:
    """A thumbnail as JPEG bytes; `blur` makes the face unrecognisable."""
    from PIL import Image, ImageFilter

    img = Image.fromarray(np.asarray(pixels, dtype=np.uint8))
    img.thumbnail((size, size))
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(radius=max(img.size) / 8))
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def data_uri(pixels: np.ndarray, size: int = 128) -> str:
    """A thumbnail inlined as a data: URI (the report fetches nothing when opened)."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes(pixels, size)).decode()


def esc(x) -> str:
    return html.escape("" if x is None else str(x))


def badge(label: str) -> str:
    """A verdict as a coloured pill, in its colour (exposure.verdicts.COLOURS)."""
    return (f"<span style='background:{COLOURS.get(label, '#999999')};color:#fff;padding:.15em .6em;border-radius:1em;"
            f"font-weight:600;white-space:nowrap'>{esc(shown(label))}</span>")


def provenance(row, index) -> tuple[str, str | None]:
    """Where a matched face comes from: the file (as text) and a link to the dataset's page, if known."""
    info = catalog_entry(index.name)
    url = (info.get("urls") or [None])[0] if info else None
    path = Path(index.dataset_root) / row["image"]
    return str(path), url


def people_table(people, full: bool = True) -> str:
    """The dataset's named people nearest to the person, each judged as one by the mean of their photos
    (`full`: with the nearest single photo and the explanation, as the report shows them)."""
    head = ("<tr><th>#</th><th>" + _("name in the dataset") + "</th><th>" + _("photos") + "</th><th>"
            + _("distance (mean face)") + "</th>" + ("<th>" + _("nearest single photo") + "</th>" if full else "")
            + "<th>" + _("verdict") + "</th>" + ("<th>" + _("what it means") + "</th>" if full else "") + "</tr>")
    rows = []
    for _n, r in people.iterrows():
        averaged = _("{photos} ({averaged} averaged)").format(photos=int(r["photos"]), averaged=int(r["photos_averaged"]))
        rows.append(
            f"<tr><td>{int(r['rank'])}</td><td>{esc(r['identity'])}</td>"
            f"<td>{averaged}</td><td>{r['distance']:.3f}</td>"
            + (f"<td>{r['nearest_face_distance']:.3f}<br><code>{esc(r['nearest_image'])}</code></td>" if full else "")
            + f"<td>{badge(r['verdict'])}</td>" + (f"<td>{esc(r['explanation'])}</td>" if full else "") + "</tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def index_summary(manifest: dict):
    """What an index holds, as a small table: images found, with faces, without, failed, faces."""
    import pandas as pd

    c = manifest.get("counts", {})
    rows = [
        (_("images found in the folder"), c.get("images_found", 0)),
        (_("images looked at so far"), c.get("images_done", 0)),
        (_("images with at least one face"), c.get("images_with_faces", 0)),
        (_("images where no face was found"), c.get("images_without_face", 0)),
        (_("images that could not be read"), c.get("failed", 0)),
        (_("faces indexed"), c.get("faces", 0)),
        (_("other files skipped (not photos)"), c.get("other_files_skipped", 0)),
    ]
    return pd.DataFrame(rows, columns=["what", "how many"]).set_index("what")


def failed_images(manifest: dict):
    """The images an index could not read, with the reason."""
    import pandas as pd

    return pd.DataFrame(manifest.get("failed", []), columns=["path", "reason"])
