"""Lookup without a face: Flickr users and URLs in the source metadata datasets publish."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SAMPLE_DATASET
from PIL import Image
from test_formats import ffhq_entry, msceleb_line

from exposure.errors import ExposureError
from exposure.source_lookup import flickr_photo_id, flickr_user, lookup, normalize_url, records

PHOTO = (SAMPLE_DATASET / "Grace_Hopper" / "Grace_Hopper_0001.jpg").read_bytes()


def _png() -> tuple[bytes, np.ndarray]:
    img = Image.open(io.BytesIO(PHOTO)).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue(), np.asarray(img)


def write_metadata(root):
    """One copy of each published metadata file, in its format, mentioning Jeremy's Flickr photos and others."""
    png, pixels = _png()
    ffhq = root / "ffhq"
    ffhq.mkdir(parents=True)
    data = {str(n): ffhq_entry(n, png, pixels, author, photo_id) for n, (author, photo_id) in
            enumerate([("Jeremy Frumkin", 1), ("Someone Else", 2), ("jeremy  frumkin", 3)])}
    data["1"]["metadata"]["photo_url"] = "https://www.flickr.com/photos/12345678@N00/2/"
    data["2"]["metadata"]["photo_url"] = "https://www.flickr.com/photos/jeremyfrumkin/3/"
    (ffhq / "ffhq-dataset-v2.json").write_text(json.dumps(data, indent=2))

    ms = root / "msceleb"
    ms.mkdir()
    line = msceleb_line("m.0abc", 3, "FaceId-0", PHOTO, (0.1, 0.2, 0.3, 0.4))
    fields = line.split("\t")
    fields[3] = "https://www.flickr.com/photos/jeremyfrumkin/987654321/"  # PageURL on Flickr
    (ms / "MsCelebV1-Faces-Aligned.tsv").write_text(
        "\t".join(fields) + msceleb_line("m.0xyz", 1, "FaceId-0", PHOTO, (0.1, 0.2, 0.3, 0.4)))

    fs = root / "facescrub"
    fs.mkdir()
    (fs / "facescrub_actors.txt").write_text(
        "name\timage_id\tface_id\turl\tbbox\tsha256\n"
        "Aaron Eckhart\t1\t1\thttp://upload.example.com/images/Aaron_Eckhart.jpg\t165,133,307,275\t" + "a" * 64 + "\n"
        "Aaron Eckhart\t2\t2\thttp://www.example.com/Photo.JPG\t10,10,50,50\t" + "b" * 64 + "\n")
    pf = root / "pubfig"
    pf.mkdir()
    (pf / "dev_urls.txt").write_text(
        "# PubFig Dataset v1.2 - dev_urls.txt - http://www.cs.columbia.edu/CAVE/databases/pubfig/\n"
        "#\tperson\timagenum\turl\trect\tmd5sum\n"
        "Abhishek Bachan\t1\thttp://www.example.com/Photo.JPG\t126,46,238,158\t" + "c" * 32 + "\n"
        "Alex Rodriguez\t3\thttp://images.example.org/arod.jpg\t1,2,3,4\t" + "d" * 32 + "\n")

    laion = root / "laion_face"
    laion.mkdir()
    pq.write_table(pa.table({
        "SAMPLE_ID": pa.array([101, 102, 103], pa.int64()),
        "URL": ["https://live.staticflickr.com/4100/5234567890_abcdef1234_b.jpg",
                "http://www.example.com/Photo.JPG", "https://cdn.example.net/x.png"],
        "TEXT": ["a", "b", "c"], "HEIGHT": [500, 400, 300], "WIDTH": [500, 400, 300],
        "LICENSE": ["?", "https://creativecommons.org/licenses/by/4.0/", "?"],
        "NSFW": ["UNLIKELY"] * 3, "similarity": [0.3, 0.31, 0.32],
    }), laion / "laion_face_part_00000.parquet")
    return data


def test_url_normalisation_and_flickr_parsing():
    assert normalize_url("HTTPS://WWW.Example.COM:443/a/B.jpg/#x") == normalize_url("http://example.com/a/B.jpg")
    assert normalize_url("http://example.com/a/B.jpg") != normalize_url("http://example.com/a/b.jpg")  # path case kept
    assert flickr_user("https://www.flickr.com/photos/JeremyFrumkin/123/") == "jeremyfrumkin"
    assert flickr_user("https://example.com/photos/x/1") is None
    assert flickr_photo_id("https://www.flickr.com/photos/12345678@N00/5234567890/in/photostream") == "5234567890"
    assert flickr_photo_id("http://farm6.staticflickr.com/5100/5234567890_0a1b2c3d4e_z.jpg") == "5234567890"


def test_flickr_user_by_name_alias_nsid_and_profile_url(tmp_path):
    data = write_metadata(tmp_path)
    by_name = lookup(flickr_user="JEREMY FRUMKIN", paths=[tmp_path])
    assert set(by_name.columns) >= {"dataset", "image", "url", "author", "license"}
    assert list(by_name["image"]) == ["images1024x1024/00000/00000.png", "images1024x1024/00000/00002.png"]
    assert set(by_name["matched"]) == {"author"} and set(by_name["dataset"]) == {"FFHQ"}
    assert by_name.iloc[0]["license"] == data["0"]["metadata"]["license"]

    by_alias = lookup(flickr_user="jeremyfrumkin", paths=[tmp_path])
    got = {(r.dataset, r.image, r.matched) for r in by_alias.itertuples()}
    assert ("FFHQ", "images1024x1024/00000/00000.png", "url") in got  # photo_url .../photos/jeremyfrumkin/1/
    assert ("FFHQ", "images1024x1024/00000/00002.png", "url") in got
    assert ("MS-Celeb-1M", "m.0abc/3-FaceId-0.jpg", "page_url") in got
    assert len(got) == 3

    by_url = lookup(flickr_user="https://www.flickr.com/photos/jeremyfrumkin/", paths=[tmp_path])
    assert len(by_url) == 3
    by_nsid = lookup(flickr_user="12345678@N00", paths=[tmp_path / "ffhq" / "ffhq-dataset-v2.json"])
    assert list(by_nsid["image"]) == ["images1024x1024/00000/00001.png"]


def test_url_lookup_across_url_lists(tmp_path):
    write_metadata(tmp_path)
    hits = lookup(url="https://EXAMPLE.com/Photo.JPG/", paths=[tmp_path])
    got = sorted((r.dataset, r.image, r.identity) for r in hits.itertuples())
    assert got == [("FaceScrub", "Aaron Eckhart/2", "Aaron Eckhart"), ("LAION-Face", "102", None),
                   ("PubFig", "Abhishek Bachan/1", "Abhishek Bachan")]
    laion = hits[hits["dataset"] == "LAION-Face"].iloc[0]
    assert laion["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert lookup(url="https://example.com/photo.jpg", paths=[tmp_path]).empty  # paths are case-sensitive
    ms = lookup(url="http://images.example.com/0abc/3.jpg", paths=[tmp_path / "msceleb"])
    assert list(ms["image"]) == ["m.0abc/3-FaceId-0.jpg"] and ms.iloc[0]["identity"] == "m.0abc"


def test_flickr_photo_page_matches_static_image_url(tmp_path):
    write_metadata(tmp_path)
    hits = lookup(url="https://www.flickr.com/photos/whoever/5234567890/", paths=[tmp_path / "laion_face"])
    assert list(hits["image"]) == ["101"] and hits.iloc[0]["url"].startswith("https://live.staticflickr.com/")


def test_without_paths_the_data_home_is_searched(tmp_path):
    home = os.environ["EXPOSURE_HOME"]  # set per test by conftest
    write_metadata(tmp_path / "elsewhere")
    assert lookup(flickr_user="Jeremy Frumkin").empty
    write_metadata(Path(home) / "metadata")
    assert len(lookup(flickr_user="Jeremy Frumkin")) == 2
    assert len(lookup(flickr_user="Jeremy Frumkin", home=tmp_path / "elsewhere")) == 2
    out = records(lookup(url="http://images.example.org/arod.jpg"))
    assert out == [{"dataset": "PubFig", "image": "Alex Rodriguez/3", "url": "http://images.example.org/arod.jpg",
                    "author": None, "license": None, "identity": "Alex Rodriguez", "page_url": None,
                    "matched": "url", "file": out[0]["file"]}]
    json.dumps(out)


def test_bad_requests(tmp_path):
    with pytest.raises(ExposureError, match="exactly one"):
        lookup(paths=[tmp_path])
    with pytest.raises(ExposureError, match="exactly one"):
        lookup(flickr_user="a", url="b", paths=[tmp_path])
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ExposureError, match="not a source-metadata file"):
        lookup(url="http://x", paths=[tmp_path / "notes.txt"])
    with pytest.raises(ExposureError, match="no such"):
        lookup(url="http://x", paths=[tmp_path / "missing"])


def test_cli_lookup_json_and_no_match(tmp_path):
    from conftest import run_cli

    write_metadata(tmp_path)
    proc = run_cli("lookup", "--flickr-user", "jeremyfrumkin", "--in", str(tmp_path), "--json", check=True)
    found = json.loads(proc.stdout)
    assert len(found) == 3 and all({"dataset", "image", "url", "author", "license"} <= set(r) for r in found)
    assert {r["dataset"] for r in found} == {"FFHQ", "MS-Celeb-1M"}
    none = run_cli("lookup", "--url", "https://nowhere.example/none.jpg", "--in", str(tmp_path), check=True)
    assert none.stdout.startswith("no match in ")
    nothing = run_cli("lookup", "--url", "https://example.org/a.jpg")  # an empty data home: nothing to search
    assert nothing.returncode == 1 and "no dataset metadata to search" in nothing.stderr
    assert len(nothing.stderr.strip().splitlines()) == 1
