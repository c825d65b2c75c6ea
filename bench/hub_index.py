"""Stream-index all of LFW as a Hub dataset of 112x112 aligned crops, from a loopback Hub: faces/s, peak disk and memory.

The repo is laid out as `datasets` writes it (Parquet shards `data/train-NNNNN-of-NNNNN.parquet`,
image struct<bytes, path>, ClassLabel names in the schema metadata) and served by bench/hub_server.py;
`exposure index hf:bench/lfw112 --out DIR --workers 2` runs end to end (download, verify, decode,
faces, index) in a new process, with HF_ENDPOINT pointing at the server.

    python bench/hub_index.py
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import shutil
import sys
from pathlib import Path

from hub_server import HubServer, Repo
from lfw import unpacked_lfw, work_dir
from record import record, run_watched

SIZE = 112
# insightface's ArcFace template: where eyes, nose tip and mouth corners sit in a 112x112 crop
ARCFACE = [(38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041)]
CROP = (62, 62, 188, 188)  # when no face is found: the middle of a 250x250 deep-funneled LFW image
SHARD_ROWS = 1024


def arcface_crop(path: Path) -> bytes:
    """A 112x112 JPEG aligned to the ArcFace template (as MS1MV3, Glint360K, WebFace ship theirs) on dlib's landmarks."""
    import numpy as np
    from PIL import Image

    from exposure.models import hog_detector, landmark_predictor

    img = Image.open(path).convert("RGB")
    arr = np.asarray(img)
    found = hog_detector()(arr, 1)
    if len(found):
        box = max(found, key=lambda r: r.width() * r.height())
        pts = np.array([(p.x, p.y) for p in landmark_predictor()(arr, box).parts()], dtype=np.float64)
        src = np.array([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]])
        dst = np.array(ARCFACE)
        # similarity transform src -> dst by least squares: x' = a x - b y + tx, y' = b x + a y + ty
        rows = []
        for (x, y) in src:
            rows += [[x, -y, 1, 0], [y, x, 0, 1]]
        a, b, tx, ty = np.linalg.lstsq(np.array(rows), dst.reshape(-1), rcond=None)[0]
        fwd = np.array([[a, -b, tx], [b, a, ty], [0, 0, 1]])
        inv = np.linalg.inv(fwd)  # PIL maps output pixels back to input pixels
        out = img.transform((SIZE, SIZE), Image.AFFINE, tuple(inv[:2].reshape(-1)), resample=Image.BILINEAR)
    else:
        out = img.crop(CROP).resize((SIZE, SIZE), Image.BILINEAR)
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def shards() -> dict[str, bytes]:
    """LFW as 112x112 JPEG crops in Hub-style Parquet shards (written once, kept in the bench folder)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    folder = work_dir() / "hub-lfw112"
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        root = unpacked_lfw()
        people = sorted(p.name for p in root.iterdir() if p.is_dir())
        photos = [(k, photo) for k, name in enumerate(people) for photo in sorted((root / name).glob("*.jpg"))]
        with multiprocessing.get_context("forkserver").Pool(2) as pool:
            crops = pool.map(arcface_crop, [p for _, p in photos], chunksize=64)
        rows = [(crop, photo.name, k) for (k, photo), crop in zip(photos, crops, strict=True)]
        n = (len(rows) + SHARD_ROWS - 1) // SHARD_ROWS
        image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
        hf = {"info": {"features": {"image": {"_type": "Image"}, "label": {"names": people, "_type": "ClassLabel"}}}}
        (folder / "data").mkdir(parents=True)
        for s in range(n):
            part = rows[s * SHARD_ROWS:(s + 1) * SHARD_ROWS]
            table = pa.table({"image": pa.array([{"bytes": b, "path": p} for b, p, _ in part], type=image_type),
                              "label": pa.array([k for _, _, k in part], type=pa.int64())})
            table = table.replace_schema_metadata({b"huggingface": json.dumps(hf).encode()})
            pq.write_table(table, folder / "data" / f"train-{s:05d}-of-{n:05d}.parquet")
        done.touch()
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted((folder / "data").glob("*.parquet"))}


def disk_use(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, f))
            except OSError:
                pass
    return total


def main() -> None:
    files = shards()
    repo = Repo(files)
    out = work_dir() / "hub-index-bench"
    shutil.rmtree(out, ignore_errors=True)
    with HubServer({"bench/lfw112": repo}, page_size=1000) as server:
        env = {**os.environ, "HF_ENDPOINT": server.url, "HF_HUB_DISABLE_TELEMETRY": "1",
               "HF_HOME": str(work_dir() / "hf-home")}
        env.pop("HF_TOKEN", None)
        cmd = [str(Path(sys.executable).parent / "exposure"), "index", "hf:bench/lfw112", "--out", str(out),
               "--workers", "2", "--quiet"]
        load_before = os.getloadavg()[0]
        peak_disk = 0

        def watch():
            nonlocal peak_disk
            peak_disk = max(peak_disk, disk_use(out / ".hub-download"))

        seconds, peak_rss = run_watched(cmd, env, every=0.25, watch=watch)
    m = json.loads((out / "manifest.json").read_text())
    c = m["counts"]
    total = sum(len(b) for b in files.values())
    result = {
        "images": c["images_done"], "faces": c["faces"], "failed": c["failed"], "shards": len(files),
        "bytes_downloaded": total, "largest_shard_mb": round(max(len(b) for b in files.values()) / 2**20, 1),
        "seconds": round(seconds, 1), "faces_per_s": round(c["faces"] / seconds, 1),
        "images_per_s": round(c["images_done"] / seconds, 1), "fast_path": bool(m.get("fast_path")),
        "peak_download_disk_mb": round(peak_disk / 2**20, 1), "index_mb": round(disk_use(out / "shards") / 2**20, 1),
        "peak_rss_mb": round(peak_rss / 2**20),
        "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # others on the 2 cores
    }
    record(
        "hub_index",
        result,
        "Stream-indexing a Hub dataset: all LFW as 112x112 aligned crops from a loopback Hub",
        "`python bench/hub_index.py`: LFW's 13,233 images aligned to insightface's 112x112 ArcFace template on "
        "dlib's landmarks (as MS1MV3, Glint360K and WebFace ship theirs) and written as a Hub dataset "
        f"({len(files)} Parquet shards of {SHARD_ROWS} rows, ClassLabel names in the metadata), served by "
        "bench/hub_server.py on 127.0.0.1; `exposure index hf:bench/lfw112 --workers 2` in a new process, end to "
        "end: download and sha256 check of each shard, decode, faces (aligned-crop fast path when the probe finds "
        "it), index, shard deleted. Peak disk is the download folder's largest size during the run (one shard at "
        "a time); peak memory is the resident set of the process and its workers. Goal: 150 faces/s on 2 cores. "
        "The fast path engages when the probe's fixed box gives nearly the embeddings detection gives "
        "(`fast_path` says whether it did; its accuracy on these crops is in the fast_path benchmark); one pool "
        "of workers serves every shard. The load average says how busy the shared cores were.",
    )


if __name__ == "__main__":
    main()
