"""Tests for the dataset catalog: the TOML entries and the loader in exposure.datasets.catalog_table."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from exposure.datasets import catalog_table as ct

REPO = Path(__file__).resolve().parents[1]
URL = re.compile(r"^https?://\S+$")
DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@pytest.fixture(scope="module")
def records():
    return ct.catalog_records()


@pytest.fixture(scope="module")
def by_slug(records):
    return {r["slug"]: r for r in records}


def _entry_texts():
    root = resources.files("exposure.datasets").joinpath("entries")
    return {p.name: p.read_text(encoding="utf-8") for p in root.iterdir() if p.name.endswith(".toml")}


def _as_list(ref):
    return ref if isinstance(ref, list) else [ref]


def test_at_least_30_entries(records):
    assert len(records) >= 30
    assert len({r["slug"] for r in records}) == len(records)


def test_every_file_is_loaded_and_validates():
    texts = _entry_texts()
    assert len(texts) == len(ct.catalog_records())
    for filename, text in texts.items():
        data = ct.validate_entry(tomllib.loads(text), filename)
        assert filename == f"{data['slug']}.toml"
        assert set(ct.SCHEMA_KEYS) <= set(data)


def test_every_schema_key_is_written_in_every_file():
    # "every key present in every file": defaults may not hide a missing key.
    for filename, text in _entry_texts().items():
        data = tomllib.loads(text)
        missing = [k for k in (*ct.SCHEMA_KEYS, "files", "references") if k not in data]
        assert not missing, (filename, missing)


def test_every_fact_has_a_url_or_is_explicitly_unknown(records):
    for r in records:
        refs = r["references"]
        for key in ct.FACT_KEYS:
            assert key in refs, (r["slug"], key)
            urls = _as_list(refs[key])
            assert urls, (r["slug"], key)
            if urls == ["unknown"]:
                continue
            for u in urls:
                assert URL.match(u), (r["slug"], key, u)


def test_unknown_reference_only_for_unknown_facts(records):
    scalar_unknowns = ("year", "creator", "images", "identities", "license", "removal", "consent", "status", "format")
    for r in records:
        for key in scalar_unknowns:
            if r["references"][key] == "unknown":
                assert r[key] == "unknown", (r["slug"], key, r[key])
        if r["references"]["source"] == "unknown":
            assert r["source"] == ["unknown"], r["slug"]
        if r["references"]["per_image_source_metadata"] == "unknown":
            assert r["per_image_source_metadata"] == "unknown", r["slug"]


def test_most_facts_are_sourced(records):
    # A catalog of unknowns would be useless: the core numbers must mostly carry sources.
    sourced = sum(1 for r in records if r["references"]["images"] != "unknown")
    assert sourced >= len(records) - 2


def test_lfw_numbers_and_checksums(by_slug):
    lfw = by_slug["lfw"]
    assert lfw["images"] == 13233
    assert lfw["identities"] == 5749
    assert lfw["year"] == 2007
    assert lfw["source"] == ["news"]
    assert lfw["format"] == "folder-per-identity"
    files = {f["name"]: f for f in lfw["files"]}
    assert "lfw-deepfunneled.tgz" not in files, "no file list that cannot succeed: UMass no longer answers"
    # LFW is fetched from the figshare files scikit-learn uses, with the sha256 its _lfw.py publishes
    assert files["lfw-funneled.tgz"]["url"] == "https://ndownloader.figshare.com/files/5976015"
    assert files["lfw-funneled.tgz"]["checksum"] == (
        "sha256:b47c8422c8cded889dc5a13418c4bc2abbda121092b3533a83306f90d900100a")
    assert files["pairsDevTest.txt"]["checksum"] == (
        "sha256:7cb06600ea8b2814ac26e946201cdb304296262aad67d046a16a7ec85d0ff87c")
    assert ct.fetch_channel(lfw)["channel"] == "figshare"


def test_fetch_channels_are_validated(by_slug):
    data = copy.deepcopy(by_slug["vggface2"])
    assert data["fetch"]["channel"] == "hub" and data["fetch"]["withdrawn_mirror"] is True
    # pinned to the commit a stored Hub page shows, with that page as its source
    assert len(data["fetch"]["revision"]) == 40 and data["fetch"]["revision_source"].startswith("https://huggingface.co/")
    for change, message in (({"channel": "ftp"}, "channel"), ({"repo": "no-slash"}, "OWNER/NAME"),
                            ({"revision": "abc"}, "40-hex"), ({"revision": "a" * 40, "revision_source": ""},
                                                              "revision_source"),
                            ({"source": ""}, "source")):
        bad = copy.deepcopy(data)
        bad["fetch"].update(change)
        with pytest.raises(ValueError, match=message):
            ct.validate_entry(bad, "x.toml")
    bad = copy.deepcopy(by_slug["fairface"])
    bad["fetch"]["withdrawn_mirror"] = True
    with pytest.raises(ValueError, match="withdrawn_mirror"):
        ct.validate_entry(bad, "x.toml")


def test_ffhq_has_per_image_flickr_metadata(by_slug):
    ffhq = by_slug["ffhq"]
    assert ffhq["per_image_source_metadata"] is True
    assert {"photo_url", "author", "license"} <= set(ffhq["per_image_source_fields"])
    assert ffhq["format"] == "ffhq-json"
    assert ffhq["source"] == ["flickr"]
    assert ffhq["removal"] != "unknown"


def test_sets_without_source_metadata_say_so(by_slug):
    for slug in ("lfw", "celeba", "vggface2", "ms1mv2", "glint360k"):
        assert by_slug[slug]["per_image_source_metadata"] is False, slug
    for slug in ("ms-celeb-1m", "facescrub", "pubfig", "laion-face"):
        assert by_slug[slug]["per_image_source_metadata"] is True, slug
        assert "url" in " ".join(by_slug[slug]["per_image_source_fields"]).lower(), slug


def test_masked_and_asian_sets_are_tagged(records):
    masked = {r["slug"] for r in records if "masked" in r["tags"]}
    asian = {r["slug"] for r in records if "asian-faces" in r["tags"]}
    china = {r["slug"] for r in records if "china-origin" in r["tags"]}
    assert len(masked) >= 2 and {"rmfd", "mfr2"} <= masked
    assert len(asian) >= 3 and {"asian-celeb", "deepglint"} <= asian
    assert {"casia-webface", "webface260m"} <= china
    for r in records:
        if r["tags"]:
            assert "tags" in r["references"], r["slug"]


def test_chinese_and_asian_sets_are_present(by_slug):
    for slug in ("asian-celeb", "deepglint", "casia-webface", "casia-facev5", "webface260m", "glint360k", "cas-peal"):
        assert slug in by_slug, slug


def test_withdrawn_entries_have_a_date(records):
    withdrawn = [r for r in records if r["status"] == "withdrawn"]
    assert len(withdrawn) >= 4
    dated = []
    for r in withdrawn:
        assert r["withdrawn"], r["slug"]
        assert r["withdrawn"] == "unknown" or DATE.match(r["withdrawn"]), r["slug"]
        if r["withdrawn"] != "unknown":
            dated.append(r["slug"])
            assert URL.match(_as_list(r["references"]["withdrawn"])[0]), r["slug"]
    assert {"ms-celeb-1m", "dukemtmc", "vggface2", "ijb-c"} <= set(dated)
    for r in records:
        if r["status"] != "withdrawn":
            assert r["withdrawn"] == "", r["slug"]


def test_known_withdrawal_dates(by_slug):
    assert by_slug["ms-celeb-1m"]["withdrawn"] == "2019-06"
    assert by_slug["dukemtmc"]["withdrawn"] == "2019-04-25"
    assert by_slug["ijb-c"]["withdrawn"] == "2023-03-14"
    assert by_slug["ms-celeb-1m"]["still_circulating"] is True


def test_still_circulating_needs_a_reference(records):
    for r in records:
        if r["still_circulating"]:
            assert URL.match(_as_list(r["references"]["still_circulating"])[0]), r["slug"]


def test_checksums_are_well_formed_and_sourced(records):
    lengths = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
    n = 0
    for r in records:
        for f in r["files"]:
            if f["checksum"]:
                algo, _, digest = f["checksum"].partition(":")
                assert len(digest) == lengths[algo], (r["slug"], f["name"])
                assert URL.match(f["checksum_source"]), (r["slug"], f["name"])
                n += 1
            if f["url"]:
                assert URL.match(f["url"]), (r["slug"], f["name"])
    assert n >= 20


def test_enums_and_types(records):
    for r in records:
        assert set(r["source"]) <= ct.SOURCES
        assert r["consent"] in ct.CONSENT
        assert r["status"] in ct.STATUSES
        assert r["format"] in ct.FORMATS
        assert set(r["tags"]) <= ct.TAGS
        for key in ("year", "images", "identities"):
            assert r[key] == "unknown" or (isinstance(r[key], int) and not isinstance(r[key], bool))
        assert all(URL.match(u) for u in r["urls"])


def test_records_sorted_by_year_then_name(records):
    keys = [(r["year"] == "unknown", 0 if r["year"] == "unknown" else r["year"], r["name"].casefold()) for r in records]
    assert keys == sorted(keys)


def test_json_round_trip(records):
    text = json.dumps(records)
    assert json.loads(text) == records


def test_records_are_copies():
    first = ct.catalog_records()
    first[0]["name"] = "changed"
    first[0]["urls"].append("https://example.invalid/")
    assert ct.catalog_records()[0]["name"] != "changed"


def test_entry_lookup_by_alias_slug_and_name():
    assert ct.entry("Labeled Faces in the Wild")["slug"] == "lfw"
    assert ct.entry("lfw")["name"] == "LFW"
    assert ct.entry("ms-celeb-1m")["slug"] == "ms-celeb-1m"
    assert ct.entry("MS1M-ArcFace")["slug"] == "ms1mv2"
    assert ct.entry("faces_emore")["slug"] == "ms1mv2"
    assert ct.entry("flickr-faces-hq")["slug"] == "ffhq"
    assert ct.entry("  RMFRD ")["slug"] == "rmfd"
    assert ct.entry("webface42m")["slug"] == "webface260m"


def test_entry_unknown_name_suggests_close_matches():
    with pytest.raises(KeyError) as info:
        ct.entry("celba")
    assert "celeba" in str(info.value)
    with pytest.raises(KeyError):
        ct.entry("no such dataset at all")


def test_catalog_dataframe(records):
    df = ct.catalog()
    assert len(df) == len(records)
    for col in (
        "name",
        "year",
        "creator",
        "images",
        "identities",
        "source",
        "consent",
        "license",
        "status",
        "withdrawn",
        "urls",
        "format",
        "per_image_source_metadata",
        "references",
    ):
        assert col in df.columns
    lfw = df[df["slug"] == "lfw"].iloc[0]
    assert isinstance(lfw["urls"], list) and isinstance(lfw["source"], list)
    assert isinstance(lfw["references"], dict)
    assert lfw["images"] == 13233


def test_pandas_is_imported_lazily():
    code = (
        "import sys; import exposure.datasets.catalog_table as c; c.catalog_records(); print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


def test_format_table(records):
    text = ct.format_table()
    lines = text.splitlines()
    assert lines[0].split()[:7] == ["name", "year", "images", "identities", "source", "consent", "status"]
    assert len(lines) == len(records) + 4
    assert lines[0].split()[7] == "fetch"
    assert next(line for line in lines if line.startswith("LFW ")).rstrip().endswith("figshare")
    assert next(line for line in lines if line.startswith("VGGFace2")).rstrip().endswith("hub*")
    lfw_line = next(line for line in lines if line.startswith("LFW "))
    assert "13,233" in lfw_line and "5,749" in lfw_line and "2007" in lfw_line and "news" in lfw_line
    assert "withdrawn 2019-06" in next(line for line in lines if line.startswith("MS-Celeb-1M"))
    assert max(len(line) for line in lines) < 140
    # works on a filtered DataFrame too
    df = ct.catalog()
    small = ct.format_table(df[df["status"] == "withdrawn"])
    assert "MS-Celeb-1M" in small and "LFW " not in small


def _valid_entry():
    return copy.deepcopy(ct.entry("lfw"))


def test_validation_rejects_missing_key():
    data = _valid_entry()
    del data["consent"]
    with pytest.raises(ValueError, match=r"broken\.toml: missing key\(s\) consent"):
        ct.validate_entry(data, "broken.toml")


@pytest.mark.parametrize(
    ("key", "value", "pattern"),
    [
        ("images", "13233", "images"),
        ("year", True, "year"),
        ("still_circulating", "no", "still_circulating"),
        ("consent", "maybe", "consent"),
        ("status", "gone", "status"),
        ("format", "zip", "format"),
        ("source", ["newspaper"], "source"),
        ("tags", ["famous"], "tags"),
        ("urls", ["ftp://example.org/"], "urls"),
        ("slug", "LFW", "slug"),
        ("withdrawn", "2019-06", "withdrawn"),
        ("per_image_source_metadata", True, "per_image_source_fields"),
        ("approximate", ["year"], "approximate"),
    ],
)
def test_validation_rejects_bad_values(key, value, pattern):
    data = _valid_entry()
    data[key] = value
    with pytest.raises(ValueError, match=rf"^bad\.toml: .*{pattern}"):
        ct.validate_entry(data, "bad.toml")


def test_validation_rejects_withdrawn_without_date():
    data = _valid_entry()
    data["status"] = "withdrawn"
    data["withdrawn"] = ""
    with pytest.raises(ValueError, match="withdrawn"):
        ct.validate_entry(data, "x.toml")
    data["withdrawn"] = "June 2019"
    with pytest.raises(ValueError, match="YYYY"):
        ct.validate_entry(data, "x.toml")


def test_validation_rejects_unsourced_facts():
    data = _valid_entry()
    data["references"]["images"] = "unknown"
    with pytest.raises(ValueError, match="'images' = 13233 has no source"):
        ct.validate_entry(data, "x.toml")
    data = _valid_entry()
    data["references"]["year"] = "vis-www.cs.umass.edu/lfw"
    with pytest.raises(ValueError, match="non-URL"):
        ct.validate_entry(data, "x.toml")
    data = _valid_entry()
    del data["references"]["removal"]
    with pytest.raises(ValueError, match="missing key"):
        ct.validate_entry(data, "x.toml")


def test_validation_rejects_bad_checksums():
    data = _valid_entry()
    data["files"][0]["checksum"] = "md5:1234"
    with pytest.raises(ValueError, match="checksum"):
        ct.validate_entry(data, "x.toml")
    data = _valid_entry()
    data["files"][0]["checksum_source"] = ""
    with pytest.raises(ValueError, match="checksum_source"):
        ct.validate_entry(data, "x.toml")


@pytest.mark.parametrize("name", ["", "sub/dir.tgz", "two words.zip", ".hidden", "back\\slash.zip"])
def test_validation_rejects_bad_file_names(name):
    data = _valid_entry()
    data["files"][0]["name"] = name
    with pytest.raises(ValueError, match="file name"):
        ct.validate_entry(data, "x.toml")


def test_validation_rejects_duplicate_file_names():
    data = _valid_entry()
    data["files"].append(dict(data["files"][0]))
    with pytest.raises(ValueError, match="listed twice"):
        ct.validate_entry(data, "x.toml")


def test_file_names_are_plain_archive_names(records):
    for r in records:
        names = [f["name"] for f in r["files"]]
        assert len(names) == len(set(names)), r["slug"]
        for name in names:
            assert name and "/" not in name and " " not in name and not name.startswith("."), (r["slug"], name)


def test_downloadable_sets_have_direct_urls(by_slug):
    # The sets that `exposure fetch` can get straight from their publisher.
    for slug in ("lfw", "celeba", "ffhq", "wider-face", "digiface-1m", "imdb-wiki", "mfr2"):
        r = by_slug[slug]
        assert r["status"] == "available", slug
        assert r["files"] and all(URL.match(f["url"]) for f in r["files"]), slug


def test_validation_accepts_a_known_good_entry():
    data = _valid_entry()
    assert ct.validate_entry(data, "lfw.toml")["slug"] == "lfw"


def test_package_exposes_catalog_lazily():
    import exposure.datasets as ds

    assert ds.catalog_records() == ct.catalog_records()
    assert len(ds.catalog()) == len(ct.catalog_records())


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    out = subprocess.run(
        [ruff, "check", "exposure/datasets", "tests/test_catalog.py"], capture_output=True, text=True, cwd=REPO
    )
    assert out.returncode == 0, out.stdout + out.stderr
