"""Dataset adapters, each tested on a small copy the test writes in the published byte format.

Every fixture is built here from real photos (LFW people from ../shared, sample_data) by a writer
that follows the format's own specification or reference writer, not by the reader under test:
LFW's tgz layout, CelebA's text files, FFHQ's JSON (NVlabs README), UTKFace's file names, dmlc
RecordIO + mxnet's IRHeader + insightface's face2rec2 record layout, MS-Celeb-1M's 7-column TSV,
img2dataset's WebDataset shards (webdataset TarWriter), Hugging Face image Parquet.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import struct
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE_DATASET, needs_lfw
from PIL import Image

from exposure.build import build_index
from exposure.datasets.layout import FolderSource
from exposure.datasets.sources import formats, open_source
from exposure.index import open_index

ALL_FORMATS = {"archive_folders", "celeba", "ffhq", "utkface", "recordio", "msceleb_tsv", "webdataset", "parquet_images"}


# ---------------------------------------------------------------- real photos to build fixtures from


@pytest.fixture(scope="module")
def people(lfw_people) -> list[tuple[str, list[Path]]]:
    """Four LFW people with two photos each (names A-C), in name order."""
    chosen = []
    for person in sorted(lfw_people.iterdir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) >= 2:
            chosen.append((person.name, photos[:2]))
        if len(chosen) == 4:
            break
    return chosen


def photos_of(people) -> list[tuple[str, Path]]:
    return [(name, p) for name, photos in people for p in photos]


def lfw_tree(people, root: Path) -> Path:
    """A copy of LFW's own layout: lfw-deepfunneled/<Name>/<Name>_<NNNN>.jpg."""
    top = root / "lfw-deepfunneled"
    for name, p in photos_of(people):
        (top / name).mkdir(parents=True, exist_ok=True)
        (top / name / p.name).write_bytes(p.read_bytes())
    return top


def tar_tree(tree: Path, out: Path, mode: str) -> Path:
    """Pack a folder the way `tar czf lfw-deepfunneled.tgz lfw-deepfunneled` does: folders, then files."""
    with tarfile.open(out, mode) as tar:
        tar.add(tree, arcname=tree.name, recursive=False)
        for d in sorted(p for p in tree.rglob("*") if p.is_dir()):
            tar.add(d, arcname=f"{tree.name}/{d.relative_to(tree).as_posix()}", recursive=False)
            for f in sorted(d.glob("*.jpg")):
                tar.add(f, arcname=f"{tree.name}/{f.relative_to(tree).as_posix()}")
    return out


def zip_tree(tree: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(tree.rglob("*")):
            zf.write(f, f"{tree.name}/{f.relative_to(tree).as_posix()}")
    return out


def read_all(source) -> dict:
    """key -> (identity, meta, payload bytes) through the Source interface, and read(key) agreeing."""
    out = {}
    for item in source.items():
        payload = source.payload(item)
        data = Path(payload).read_bytes() if isinstance(payload, str) else payload
        assert source.read(item.key) == data, item.key
        out[item.key] = (item.identity, item.meta, data)
    return out


def test_every_format_is_registered():
    assert ALL_FORMATS | {"folder"} <= set(formats())


# ---------------------------------------------------------------- folder layouts (FolderSource)


def test_vggface2_nesting_gives_the_class_folder_as_identity(tmp_path):
    # VGGFace2: train/n000001/0001_01.jpg (one folder per class id inside train/ and test/)
    root = tmp_path / "vggface2"
    photos = sorted(SAMPLE_DATASET.rglob("*.jpg"))
    layout = {"train/n000001/0001_01.jpg": photos[0], "train/n000001/0002_01.jpg": photos[1],
              "train/n000002/0001_01.jpg": photos[2], "test/n000003/0001_01.jpg": photos[3]}
    for rel, src in layout.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(src.read_bytes())
    source = open_source(root)
    assert source.format == "folder"
    got = read_all(source)
    assert {k: v[0] for k, v in got.items()} == {
        "train/n000001/0001_01.jpg": "n000001", "train/n000001/0002_01.jpg": "n000001",
        "train/n000002/0001_01.jpg": "n000002", "test/n000003/0001_01.jpg": "n000003"}
    assert got["train/n000002/0001_01.jpg"][2] == photos[2].read_bytes()
    # with only train/ present, the lone wrapper is descended: keys drop 'train/', identity unchanged
    only_train = tmp_path / "vgg_train"
    for cls in ("n000001", "n000002"):
        (only_train / "train" / cls).mkdir(parents=True)
        (only_train / "train" / cls / "0001_01.jpg").write_bytes(photos[0].read_bytes())
    assert [(i.key, i.identity) for i in open_source(only_train).items()] == [
        ("n000001/0001_01.jpg", "n000001"), ("n000002/0001_01.jpg", "n000002")]


# ---------------------------------------------------------------- archive_folders


@needs_lfw
@pytest.mark.parametrize("kind", ["tgz", "tar", "zip"])
def test_archive_folders_reads_lfw_layout_without_unpacking(people, tmp_path, kind):
    tree = lfw_tree(people, tmp_path / "src")
    arc = {"tgz": lambda: tar_tree(tree, tmp_path / "lfw-deepfunneled.tgz", "w:gz"),
           "tar": lambda: tar_tree(tree, tmp_path / "lfw-deepfunneled.tar", "w"),
           "zip": lambda: zip_tree(tree, tmp_path / "lfw-deepfunneled.zip")}[kind]()
    before = sorted(tmp_path.rglob("*"))
    source = open_source(arc)
    assert source.format == "archive_folders" and source.name == "lfw-deepfunneled"
    got = read_all(source)
    folder = read_all(FolderSource(tree))
    assert got == folder  # same keys, identities and bytes as the unpacked folder
    assert list(got) == sorted(got) and len(got) == 8
    assert {v[0] for v in got.values()} == {name for name, _ in people}
    assert source.skipped == 0 and sorted(tmp_path.rglob("*")) == before  # nothing written


@needs_lfw
def test_tgz_random_reads_use_checkpoints(people, tmp_path, monkeypatch):
    from exposure import archives

    monkeypatch.setattr(archives, "MIN_CHECKPOINT_SPACING", 8 * 1024)
    monkeypatch.setattr(archives, "_INFLATE_CHUNK", 4096)
    tree = lfw_tree(people, tmp_path / "src")
    arc = tar_tree(tree, tmp_path / "lfw.tgz", "w:gz")
    source = open_source(arc)
    keys = [i.key for i in source.items()]
    assert len(source._reader._gz.points) > 4  # several restart points were recorded
    for key in [*reversed(keys), keys[3], keys[0], keys[6], keys[1]]:
        assert source.read(key) == (tree / key).read_bytes()


@needs_lfw
def test_concatenated_gzip_members_are_read(people, tmp_path):
    tree = lfw_tree(people, tmp_path / "src")
    raw = tar_tree(tree, tmp_path / "lfw.tar", "w").read_bytes()
    cut = len(raw) // 3
    (tmp_path / "multi.tgz").write_bytes(gzip.compress(raw[:cut]) + gzip.compress(raw[cut:]))
    got = read_all(open_source(tmp_path / "multi.tgz"))
    assert {k: v[2] for k, v in got.items()} == {k: (tree / k).read_bytes() for k in got}


def test_unsafe_members_are_refused_and_counted_never_read(tmp_path):
    photo = (SAMPLE_DATASET / "Grace_Hopper" / "Grace_Hopper_0001.jpg").read_bytes()
    arc = tmp_path / "evil.tgz"
    with tarfile.open(arc, "w:gz") as tar:
        def add(name, data=photo, **kw):
            ti = tarfile.TarInfo(name)
            for k, v in kw.items():
                setattr(ti, k, v)
            ti.size = len(data) if ti.isreg() else 0
            tar.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
        add("set/Grace_Hopper/Grace_Hopper_0001.jpg")
        add("set/../../escaped.jpg")
        add("/etc/absolute.jpg")
        add("set/Grace_Hopper/link.jpg", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        add("set/notes.txt", b"text")
    source = open_source(arc)
    items = list(source.items())
    keys = [i.key for i in items]
    assert keys == ["Grace_Hopper/Grace_Hopper_0001.jpg"] and items[0].identity == "Grace_Hopper"  # 'set/' is the wrapper
    reasons = dict(source.refused)
    assert set(reasons) == {"set/../../escaped.jpg", "/etc/absolute.jpg", "set/Grace_Hopper/link.jpg"}
    assert "traversal" in reasons["set/../../escaped.jpg"] and "absolute" in reasons["/etc/absolute.jpg"]
    assert "link" in reasons["set/Grace_Hopper/link.jpg"]
    assert source.skipped == 4  # 3 refused + notes.txt
    assert not (tmp_path.parent / "escaped.jpg").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["evil.tgz"]
    assert source.read(keys[0]) == photo
    with pytest.raises(Exception, match="not in"):
        source.read("../../escaped.jpg")


@needs_lfw
def test_truncated_or_corrupt_archives_fail_clearly(people, tmp_path):
    from exposure.errors import ExposureError

    tree = lfw_tree(people, tmp_path / "src")
    data = tar_tree(tree, tmp_path / "lfw.tgz", "w:gz").read_bytes()
    (tmp_path / "short.tgz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ExposureError, match="corrupt, truncated"):
        list(open_source(tmp_path / "short.tgz").items())
    damaged = bytearray(data)
    damaged[len(data) // 2: len(data) // 2 + 64] = b"\0" * 64
    (tmp_path / "damaged.tgz").write_bytes(bytes(damaged))
    with pytest.raises(ExposureError, match="corrupt, truncated"):
        list(open_source(tmp_path / "damaged.tgz").items())


@needs_lfw
def test_build_index_from_tgz_end_to_end(people, tmp_path):
    tree = lfw_tree(people[:2], tmp_path / "src")
    arc = tar_tree(tree, tmp_path / "lfw-deepfunneled.tgz", "w:gz")
    manifest = build_index(arc, tmp_path / "ix", workers=1, progress=False)
    assert manifest["format"] == "archive_folders" and manifest["counts"]["images_done"] == 4
    assert manifest["counts"]["failed"] == 0
    ix = open_index(tmp_path / "ix")
    assert set(ix.faces["identity"].dropna()) == {name for name, _ in people[:2]}
    for _, row in ix.faces.iterrows():
        assert row["sha256"] == hashlib.sha256((tree / row["image"]).read_bytes()).hexdigest()


# ---------------------------------------------------------------- celeba


def write_celeba(root: Path, photos: list[tuple[int, bytes]], official: bool) -> dict[str, tuple[int, list[int]]]:
    """CelebA's files: identity_CelebA.txt, list_bbox_celeba.txt (count, header, rows) and the images.

    official=True: Anno/ + Img/img_align_celeba.zip as on CelebA's drive; else torchvision's flat folder.
    """
    anno = root / "Anno" if official else root
    anno.mkdir(parents=True, exist_ok=True)
    expected, ident_lines, bbox_lines = {}, [], []
    for n, (identity, _) in enumerate(photos, 1):
        name = f"{n:06d}.jpg"
        box = [95 + n, 71, 226, 313 - n]
        expected[name] = (identity, box)
        ident_lines.append(f"{name} {identity}\n")
        bbox_lines.append(f"{name} {box[0]:>5d} {box[1]:>3d} {box[2]:>3d} {box[3]:>3d}\n")
    (anno / "identity_CelebA.txt").write_text("".join(ident_lines))
    (anno / "list_bbox_celeba.txt").write_text(f"{len(photos)}\nimage_id x_1 y_1 width height\n" + "".join(bbox_lines))
    if official:
        (root / "Img").mkdir()
        with zipfile.ZipFile(root / "Img" / "img_align_celeba.zip", "w") as zf:
            zf.writestr("img_align_celeba/", b"")
            for n, (_, data) in enumerate(photos, 1):
                zf.writestr(f"img_align_celeba/{n:06d}.jpg", data)
    else:
        (root / "img_align_celeba").mkdir()
        for n, (_, data) in enumerate(photos, 1):
            (root / "img_align_celeba" / f"{n:06d}.jpg").write_bytes(data)
    return expected


@needs_lfw
@pytest.mark.parametrize("official", [True, False])
def test_celeba(people, tmp_path, official):
    photos = [(2880 + i, p.read_bytes()) for i, (_, ps) in enumerate(people) for p in ps]
    expected = write_celeba(tmp_path / "celeba", photos, official)
    source = open_source(tmp_path / "celeba")
    assert source.format == "celeba"
    got = read_all(source)
    assert list(got) == sorted(expected)
    for n, (name, (identity, box)) in enumerate(sorted(expected.items())):
        assert got[name][0] == f"celeba_{identity}" and got[name][1] == {"bbox": box}
        assert got[name][2] == photos[n][1]


# ---------------------------------------------------------------- ffhq


def ffhq_entry(n: int, png: bytes, pixels: np.ndarray, author: str, photo_id: int, license_: str = "Attribution License") -> dict:
    """One entry of ffhq-dataset-v2.json, with every field NVlabs' README lists."""
    folder = f"{n // 1000 * 1000:05d}"
    landmarks = [[float(x), float(y)] for x, y in zip(range(68), range(68, 136), strict=True)]
    return {
        "category": "training" if n < 60000 else "validation",
        "metadata": {
            "photo_url": f"https://www.flickr.com/photos/{author.lower().replace(' ', '')}/{photo_id}/",
            "photo_title": f"DSC{n:05d}.JPG",
            "author": author,
            "country": "" if n % 2 else "Finland",
            "license": license_,
            "license_url": "https://creativecommons.org/licenses/by/2.0/",
            "date_uploaded": "2007-08-16",
            "date_crawled": "2018-10-10",
        },
        "image": {
            "file_url": f"https://drive.google.com/uc?id=image{n}",
            "file_path": f"images1024x1024/{folder}/{n:05d}.png",
            "file_size": len(png),
            "file_md5": hashlib.md5(png).hexdigest(),
            "pixel_size": [pixels.shape[1], pixels.shape[0]],
            "pixel_md5": hashlib.md5(pixels.tobytes()).hexdigest(),
            "face_landmarks": landmarks,
        },
        "thumbnail": {
            "file_url": f"https://drive.google.com/uc?id=thumb{n}",
            "file_path": f"thumbnails128x128/{folder}/{n:05d}.png",
            "file_size": 0, "file_md5": "", "pixel_size": [128, 128], "pixel_md5": "",
        },
        "in_the_wild": {
            "file_url": f"https://drive.google.com/uc?id=wild{n}",
            "file_path": f"in-the-wild-images/{folder}/{n:05d}.png",
            "file_size": 0, "file_md5": "", "pixel_size": [2016, 1512], "pixel_md5": "",
            "face_rect": [667, 410, 1438, 1181], "face_landmarks": landmarks, "face_quad": [1.0] * 8,
        },
    }


def write_ffhq(root: Path, photos: list[Path], authors: list[str], missing: int = 0) -> dict:
    """ffhq-dataset-v2.json plus images1024x1024/NNNNN/NNNNN.png (PNG, as FFHQ ships); `missing` entries have no file."""
    data = {}
    for n, (p, author) in enumerate(zip(photos, authors, strict=True)):
        img = Image.open(p).convert("RGB")
        buf = io.BytesIO()
        img.save(buf, "PNG")
        png = buf.getvalue()
        entry = ffhq_entry(n, png, np.asarray(img), author, 2_000_000_000 + n)
        data[str(n)] = entry
        if n < len(photos) - missing:
            out = root / entry["image"]["file_path"]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(png)
    (root / "ffhq-dataset-v2.json").write_text(json.dumps(data, indent=2))
    return data


@needs_lfw
def test_ffhq(people, tmp_path):
    photos = [p for _, p in photos_of(people)][:5]
    data = write_ffhq(tmp_path / "ffhq", photos, ["Jeremy Frumkin", "A. Person", "Jeremy Frumkin", "B", "C"], missing=1)
    source = open_source(tmp_path / "ffhq")
    assert source.format == "ffhq"
    got = read_all(source)
    assert list(got) == [data[str(n)]["image"]["file_path"] for n in range(4)] and source.missing == 1
    first = got["images1024x1024/00000/00000.png"]
    m = data["0"]["metadata"]
    assert first[0] is None
    assert first[1] == {"url": m["photo_url"], "author": "Jeremy Frumkin", "license": m["license"],
                        "license_url": m["license_url"], "country": "Finland", "date_uploaded": "2007-08-16"}
    assert "country" not in got["images1024x1024/00000/00001.png"][1]  # empty in the JSON
    for n in range(4):
        assert hashlib.md5(got[data[str(n)]["image"]["file_path"]][2]).hexdigest() == data[str(n)]["image"]["file_md5"]
    # the JSON file itself is accepted too
    assert open_source(tmp_path / "ffhq" / "ffhq-dataset-v2.json").format == "ffhq"


@needs_lfw
def test_ffhq_build_index_records_flickr_provenance(people, tmp_path):
    photos = [p for _, p in photos_of(people)][:3]
    data = write_ffhq(tmp_path / "ffhq", photos, ["Jeremy Frumkin", "A. Person", "B"])
    build_index(tmp_path / "ffhq", tmp_path / "ix", workers=1, progress=False)
    faces = open_index(tmp_path / "ix").faces.set_index("image")
    assert len(faces) >= 3
    for n in range(3):
        row = faces.loc[data[str(n)]["image"]["file_path"]]
        row = row.iloc[0] if row.ndim > 1 else row
        assert row["source_url"] == data[str(n)]["metadata"]["photo_url"]
        assert json.loads(row["source_meta"])["author"] == data[str(n)]["metadata"]["author"]


# ---------------------------------------------------------------- utkface


def test_utkface(tmp_path):
    photos = sorted(SAMPLE_DATASET.rglob("*.jpg"))
    root = tmp_path / "UTKFace"
    root.mkdir()
    names = {"25_0_2_20170116174525125.jpg.chip.jpg": {"age": 25, "gender": "male", "race": "Asian"},
             "61_1_4_20170109150557335.jpg.chip.jpg": {"age": 61, "gender": "female", "race": "Others"},
             "1_0_0_20161219140623097.jpg.chip.jpg": {"age": 1, "gender": "male", "race": "White"},
             "39_1_20170116174525125.jpg.chip.jpg": {},  # a name missing its race field, as some in the release
             "116_1_1_20170112213303693.jpg.chip.jpg": {"age": 116, "gender": "female", "race": "Black"}}
    for (name, _), src in zip(names.items(), [*photos, photos[0]], strict=True):
        (root / name).write_bytes(src.read_bytes())
    source = open_source(tmp_path)  # the tarball unpacks to UTKFace/: the wrapper is descended
    assert source.format == "utkface"
    got = read_all(source)
    assert {k: v[1] for k, v in got.items()} == names
    assert all(v[0] is None for v in got.values())
    assert got["25_0_2_20170116174525125.jpg.chip.jpg"][2] == photos[0].read_bytes()
    assert open_source(SAMPLE_DATASET).format == "folder"  # LFW-style names are not taken for UTKFace


# ---------------------------------------------------------------- recordio


REC_MAGIC = 0xCED7230A  # dmlc-core recordio.h kMagic


def dmlc_write_record(f, data: bytes) -> None:
    """dmlc::RecordIOWriter::WriteRecord: magic, lrecord (cflag << 29 | length), data, zero pad to 4.

    Where the magic number occurs 4-byte aligned in the data, the data is split there and those 4
    bytes dropped: parts get cflag 1 (first), 2 (middle), 3 (last).
    """
    magic = struct.pack("<I", REC_MAGIC)
    n, dptr = len(data), 0
    for i in range(0, n - n % 4, 4):
        if data[i:i + 4] == magic:
            f.write(magic + struct.pack("<I", ((1 if dptr == 0 else 2) << 29) | (i - dptr)) + data[dptr:i])
            dptr = i + 4
    f.write(magic + struct.pack("<I", ((3 if dptr else 0) << 29) | (n - dptr)) + data[dptr:])
    f.write(b"\0" * (-n % 4))


def mx_pack(label, rid: int, s: bytes) -> bytes:
    """mxnet.recordio.pack(IRHeader(0, label, id, 0), s): a list label goes in front as float32, flag = its size."""
    if isinstance(label, (int, float)):
        return struct.pack("<IfQQ", 0, label, rid, 0) + s
    arr = np.asarray(label, dtype=np.float32)
    return struct.pack("<IfQQ", arr.size, 0, rid, 0) + arr.tobytes() + s


class IndexedRecordWriter:
    """mxnet.recordio.MXIndexedRecordIO(idx, rec, 'w').write_idx: idx line '%s\\t%d\\n' % (key, tell())."""

    def __init__(self, folder: Path, prefix: str = "train"):
        self.rec = (folder / f"{prefix}.rec").open("wb")
        self.idx = (folder / f"{prefix}.idx").open("w")

    def write_idx(self, key: int, s: bytes) -> None:
        self.idx.write("%s\t%d\n" % (str(key), self.rec.tell()))  # noqa: UP031 - as mxnet writes it
        dmlc_write_record(self.rec, s)

    def close(self):
        self.rec.close()
        self.idx.close()


def write_insightface_rec(folder: Path, classes: list[list[bytes]]) -> dict[int, tuple[int, bytes]]:
    """insightface face2rec2.py's layout: images 1..N labelled [class, aligned], header 0, identity ranges."""
    folder.mkdir(parents=True, exist_ok=True)
    w = IndexedRecordWriter(folder)
    expected, identities, _id = {}, [], 1
    for label, images in enumerate(classes):
        start = _id
        for img in images:
            w.write_idx(_id, mx_pack([float(label), 1.0], _id, img))
            expected[_id] = (label, img)
            _id += 1
        identities.append((start, _id))
    w.write_idx(0, mx_pack([float(_id), float(_id + len(identities))], 0, b""))
    for start, end in identities:
        w.write_idx(_id, mx_pack([float(start), float(end)], _id, b""))
        _id += 1
    w.close()
    (folder / "property").write_text(f"{len(classes)},112,112")
    return expected


def with_aligned_magic(jpeg: bytes) -> bytes:
    """A JPEG with trailing bytes holding the RecordIO magic 4-byte aligned in its record (decoders ignore them).

    The packed record has 24 header bytes + 8 label bytes before the image, so image offset 0 is aligned.
    """
    pad = b"\0" * (-len(jpeg) % 4)
    return jpeg + pad + struct.pack("<I", REC_MAGIC) + b"tail" + struct.pack("<I", REC_MAGIC) + b"end!"


def _cflags(rec: Path) -> list[int]:
    """The cflag of every part, walking the file by the lengths (independent of the reader)."""
    data, pos, flags = rec.read_bytes(), 0, []
    while pos < len(data):
        magic, lrec = struct.unpack_from("<II", data, pos)
        assert magic == REC_MAGIC
        length = lrec & ((1 << 29) - 1)
        flags.append(lrec >> 29)
        pos += 8 + length + (-length % 4)
    return flags


@needs_lfw
def test_recordio_insightface_layout(people, tmp_path):
    classes = [[p.read_bytes() for p in ps] for _, ps in people[:3]]
    classes[1][1] = with_aligned_magic(classes[1][1])
    expected = write_insightface_rec(tmp_path / "faces_emore", classes)
    assert {1, 2, 3} <= set(_cflags(tmp_path / "faces_emore" / "train.rec"))  # a split record really is there
    source = open_source(tmp_path / "faces_emore")
    assert source.format == "recordio" and source.name == "faces_emore"
    got = read_all(source)
    assert list(got) == [str(k) for k in sorted(expected)]  # records 1..N; header and identity records skipped
    for k, (label, img) in expected.items():
        assert got[str(k)][0] == str(label) and got[str(k)][2] == img
    assert source.skipped == 1 + 3  # header + one record per identity
    assert open_source(tmp_path / "faces_emore" / "train.rec").format == "recordio"


def test_recordio_im2rec_layout_without_header(tmp_path):
    # mxnet's im2rec: scalar labels (flag 0), no header record: every record is an image, record 0 included
    photos = sorted(SAMPLE_DATASET.rglob("*.jpg"))
    w = IndexedRecordWriter(tmp_path, "webface")
    for i, p in enumerate(photos):
        w.write_idx(i, mx_pack(float(i % 2), i, p.read_bytes()))
    w.close()
    source = open_source(tmp_path / "webface.rec")
    got = read_all(source)
    assert list(got) == [str(i) for i in range(len(photos))]
    assert [v[0] for v in got.values()] == [str(i % 2) for i in range(len(photos))]
    assert [v[2] for v in got.values()] == [p.read_bytes() for p in photos]


@needs_lfw
def test_recordio_build_index_end_to_end(people, tmp_path):
    classes = [[p.read_bytes() for p in ps] for _, ps in people[:2]]
    write_insightface_rec(tmp_path / "faces_webface_112x112", classes)
    manifest = build_index(tmp_path / "faces_webface_112x112", tmp_path / "ix", workers=1, progress=False)
    assert manifest["format"] == "recordio" and manifest["counts"]["images_done"] == 4
    assert manifest["counts"]["other_files_skipped"] == 3
    faces = open_index(tmp_path / "ix").faces
    assert set(faces["identity"].dropna()) <= {"0", "1"} and len(faces) >= 3


# ---------------------------------------------------------------- msceleb_tsv


def msceleb_line(mid: str, rank: int, face_id: str, jpeg: bytes, rect: tuple[float, float, float, float]) -> str:
    """One line of MsCelebV1-Faces-Aligned: MID, rank, ImageURL, PageURL, FaceID, rect (base64 floats), base64 JPEG."""
    return "\t".join([
        mid, str(rank), f"http://images.example.com/{mid[2:]}/{rank}.jpg", f"http://news.example.com/story/{mid[2:]}-{rank}.html",
        face_id, base64.b64encode(struct.pack("<4f", *rect)).decode(), base64.b64encode(jpeg).decode(),
    ]) + "\n"


def test_msceleb_tsv(tmp_path):
    photos = sorted(SAMPLE_DATASET.rglob("*.jpg"))
    rows = [("m.0107_f", 1, "FaceId-0", photos[0]), ("m.0107_f", 4, "FaceId-0", photos[1]),
            ("m.0c3kw", 2, "FaceId-1", photos[2]), ("m.0c3kw", 2, "FaceId-0", photos[3])]
    tsv = tmp_path / "ms" / "MsCelebV1-Faces-Aligned.tsv"
    tsv.parent.mkdir()
    tsv.write_text("".join(msceleb_line(m, r, f, p.read_bytes(), (0.25, 0.125, 0.75, 0.875)) for m, r, f, p in rows))
    for path in (tsv, tsv.parent):
        source = open_source(path)
        assert source.format == "msceleb_tsv"
        got = read_all(source)
        assert list(got) == [f"{m}/{r}-{f}.jpg" for m, r, f, _ in rows]
        for m, r, f, p in rows:
            identity, meta, data = got[f"{m}/{r}-{f}.jpg"]
            assert identity == m and data == p.read_bytes()
            assert meta == {"url": f"http://images.example.com/{m[2:]}/{r}.jpg",
                            "page_url": f"http://news.example.com/story/{m[2:]}-{r}.html",
                            "rank": r, "face_id": f, "face_rectangle": [0.25, 0.125, 0.75, 0.875]}
    fresh = open_source(tsv)  # read(key) works before items() (it indexes the lines itself)
    assert fresh.read("m.0c3kw/2-FaceId-0.jpg") == photos[3].read_bytes()


# ---------------------------------------------------------------- webdataset


def img2dataset_shard(path: Path, shard_id: int, samples: list[dict]) -> list[dict]:
    """A shard as img2dataset's WebDatasetSampleWriter writes it through webdataset's TarWriter.

    Per sample: members <key>.jpg, <key>.json (json.dumps(meta, indent=4)), <key>.txt, in sorted
    extension order, USTAR headers, mode 0o444, user/group 'bigdata'. Failed downloads go only to
    the <shard>.parquet beside the tar. Returns the metas written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    metas = []
    with path.open("wb") as fobj, tarfile.open(fileobj=fobj, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
        for i, s in enumerate(samples):
            key = f"{shard_id:05d}{i:04d}"
            ok = s.get("jpg") is not None
            meta = {"url": s["url"], "caption": s["caption"], "NSFW": "UNLIKELY", "similarity": 0.31,
                    "LICENSE": s.get("license", "?"), "SAMPLE_ID": 1000 + i, "key": key,
                    "status": "success" if ok else "failed_to_download", "error_message": None if ok else "HTTP 404",
                    "width": 250 if ok else None, "height": 250 if ok else None,
                    "original_width": 250 if ok else None, "original_height": 250 if ok else None,
                    "exif": None, "sha256": hashlib.sha256(s["jpg"]).hexdigest() if ok else None}
            metas.append(meta)
            if not ok:
                continue
            obj = {"__key__": key, "jpg": s["jpg"], "txt": s["caption"], "json": json.dumps(meta, indent=4)}
            for k in sorted(obj):
                if k == "__key__":
                    continue
                v = obj[k].encode("utf-8") if isinstance(obj[k], str) else obj[k]
                ti = tarfile.TarInfo(f"{key}.{k}")
                ti.size, ti.mtime, ti.mode, ti.uname, ti.gname = len(v), time.time(), 0o444, "bigdata", "bigdata"
                tar.addfile(ti, io.BytesIO(v))
    pq.write_table(pa.Table.from_pylist(metas), path.with_suffix(".parquet"))
    path.with_name(f"{path.stem}_stats.json").write_text(json.dumps({"count": len(samples), "successes": sum(m["status"] == "success" for m in metas)}))
    return metas


def laion_samples(photos: list[Path]) -> list[dict]:
    return [{"url": f"https://cdn.example.org/u{i}/photo-{i}.jpg", "caption": f"portrait number {i}",
             "jpg": p.read_bytes(), "license": "https://creativecommons.org/licenses/by/4.0/" if i == 0 else "?"}
            for i, p in enumerate(photos)]


def test_webdataset_img2dataset_shards(tmp_path):
    photos = sorted(SAMPLE_DATASET.rglob("*.jpg"))
    out = tmp_path / "laion_face" / "split_00000"
    out.mkdir(parents=True)
    s0 = laion_samples(photos[:2]) + [{"url": "https://gone.example.org/x.jpg", "caption": "lost", "jpg": None}]
    s1 = laion_samples(photos[2:])
    img2dataset_shard(out / "00000.tar", 0, s0)
    img2dataset_shard(out / "00001.tar", 1, s1)
    for path, expected_keys in ((tmp_path / "laion_face", ["split_00000/00000/000000000.jpg", "split_00000/00000/000000001.jpg",
                                                            "split_00000/00001/000010000.jpg", "split_00000/00001/000010001.jpg"]),
                                (out / "00001.tar", ["00001/000010000.jpg", "00001/000010001.jpg"])):
        source = open_source(path)
        assert source.format == "webdataset"
        got = read_all(source)
        assert list(got) == expected_keys
    got = read_all(open_source(tmp_path / "laion_face"))
    first = got["split_00000/00000/000000000.jpg"]
    assert first[0] is None and first[2] == photos[0].read_bytes()
    assert first[1] == {"url": s0[0]["url"], "caption": "portrait number 0", "license": s0[0]["license"], "sample_id": 1000}
    assert got["split_00000/00001/000010001.jpg"][2] == photos[3].read_bytes()
    assert open_source(out / "00000.tar").format == "webdataset"  # a shard, though a tar: detected before archives


def test_webdataset_build_index_records_urls(tmp_path):
    photos = sorted(SAMPLE_DATASET.rglob("*.jpg"))
    samples = laion_samples(photos)
    (tmp_path / "shards").mkdir()
    img2dataset_shard(tmp_path / "shards" / "00000.tar", 0, samples)
    build_index(tmp_path / "shards", tmp_path / "ix", workers=1, progress=False)
    faces = open_index(tmp_path / "ix").faces
    assert len(faces) >= 3
    urls = {s["url"] for s in samples}
    assert set(faces["source_url"]) <= urls and faces["source_url"].notna().all()
    meta = json.loads(faces["source_meta"].iloc[0])
    assert meta["caption"].startswith("portrait number")


# ---------------------------------------------------------------- parquet_images


def test_parquet_images_hugging_face_style(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    photos = sorted(SAMPLE_DATASET.rglob("*.jpg"))
    names = ["Eileen_Collins", "Grace_Hopper", "no_face"]
    labels = [0, 1, 1, 2]
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({
        "image": pa.array([{"bytes": p.read_bytes(), "path": p.name} for p in photos], type=image_type),
        "label": pa.array(labels, type=pa.int64()),
    })
    hf = {"info": {"features": {"image": {"_type": "Image"}, "label": {"names": names, "_type": "ClassLabel"}}}}
    table = table.replace_schema_metadata({b"huggingface": json.dumps(hf).encode()})
    (tmp_path / "hf" / "data").mkdir(parents=True)
    pq.write_table(table, tmp_path / "hf" / "data" / "train-00000-of-00001.parquet", row_group_size=3)
    source = open_source(tmp_path / "hf")
    assert source.format == "parquet_images"
    got = read_all(source)
    assert list(got) == [f"data/train-00000-of-00001.parquet#{i}" for i in range(4)]
    assert [v[0] for v in got.values()] == [names[i] for i in labels]
    assert [v[1] for v in got.values()] == [{"path": p.name} for p in photos]
    assert [v[2] for v in got.values()] == [p.read_bytes() for p in photos]
    assert open_source(tmp_path / "hf").read("data/train-00000-of-00001.parquet#3") == photos[3].read_bytes()


def test_parquet_images_img2dataset_parquet_output(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    photos = sorted(SAMPLE_DATASET.rglob("*.jpg"))[:2]
    pq.write_table(pa.table({"key": ["000000000", "000000001"], "jpg": [p.read_bytes() for p in photos],
                             "txt": ["a", "b"], "url": ["https://x.example/a.jpg", "https://x.example/b.jpg"],
                             "caption": ["a", "b"], "status": ["success", "success"]}), tmp_path / "00000.parquet")
    source = open_source(tmp_path / "00000.parquet")
    got = read_all(source)
    assert [v[1]["url"] for v in got.values()] == ["https://x.example/a.jpg", "https://x.example/b.jpg"]
    assert [v[2] for v in got.values()] == [p.read_bytes() for p in photos]
    # metadata-only parquet (LAION-Face's URL lists, img2dataset's sidecars) is not an image dataset
    pq.write_table(pa.table({"URL": ["https://x.example/a.jpg"], "TEXT": ["a"]}), tmp_path / "meta.parquet")
    from exposure.datasets.formats import parquet_images

    assert not parquet_images.detect(tmp_path / "meta.parquet")


# ---------------------------------------------------------------- detection and override


def test_format_override_and_unknown_format(tmp_path):
    from exposure.errors import ExposureError

    assert open_source(SAMPLE_DATASET, format="folder").format == "folder"
    with pytest.raises(ExposureError, match="unknown format"):
        open_source(SAMPLE_DATASET, format="nope")
    # a UTKFace-named folder read as a plain folder when told so
    (tmp_path / "u").mkdir()
    (tmp_path / "u" / "25_0_2_20170116174525125.jpg.chip.jpg").write_bytes((SAMPLE_DATASET / "coffee.jpg").read_bytes())
    assert open_source(tmp_path / "u").format == "utkface"
    assert open_source(tmp_path / "u", format="folder").format == "folder"


def test_detect_is_cheap_and_rejects_other_layouts(tmp_path):
    from exposure.datasets.sources import LAYOUTS

    (tmp_path / "x.tar").write_bytes(b"not a tar")
    (tmp_path / "x.tsv").write_text("a\tb\n")
    (tmp_path / "x.rec").write_bytes(b"\0" * 16)
    (tmp_path / "x.idx").write_text("0\t0\n")
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    for mod in LAYOUTS.values():
        assert not mod.detect(SAMPLE_DATASET), mod.FORMAT
        for f in ("x.tsv", "x.rec", "x.parquet"):
            assert not mod.detect(tmp_path / f), (mod.FORMAT, f)
    assert os.path.exists(tmp_path / "x.tar")
