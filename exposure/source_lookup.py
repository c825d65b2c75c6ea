"""Lookup without a face: is my photo (by URL) or my Flickr account listed in a dataset's source metadata?

Some face datasets publish where each photo came from. This reads local copies of those files:

* FFHQ `ffhq-dataset-v2.json`: Flickr `photo_url`, `author`, `license` per image (NVlabs README).
* MS-Celeb-1M TSVs: aligned faces (MID, ImageSearchRank, ImageURL, PageURL, FaceID, FaceRectangle,
  FaceData) and full thumbnails (MID, Query/Name, ImageSearchRank, ImageURL, PageURL, ImageData).
* FaceScrub `facescrub_actors.txt` / `facescrub_actresses.txt`: tab-separated with a header line
  `name image_id face_id url bbox sha256`.
* PubFig `dev_urls.txt` / `eval_urls.txt`: `#` comment lines, then `person imagenum url rect md5sum`
  separated by tabs (v1.2).
* LAION-Face parquet (`laion_face_part_00000.parquet`: LAION-400M's SAMPLE_ID, URL, TEXT, HEIGHT,
  WIDTH, LICENSE, NSFW, similarity), and any parquet with a `URL`/`url` column (img2dataset's).

URLs are compared after normalising: scheme ignored (http = https), host lower-cased without `www.`,
no trailing slash, no fragment; path and query keep their case. Flickr photos also match by photo
id, whether the dataset has the photo page (`flickr.com/photos/<user>/<id>`) or the image file
(`live.staticflickr.com/<server>/<id>_<secret>.jpg`). A Flickr user matches FFHQ's `author` (the
display name, case-insensitive) or the `<user>` (alias or NSID) in any Flickr photo page URL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from exposure.datasets.formats.ffhq import _looks_like_ffhq_json, load_metadata
from exposure.errors import ExposureError
from exposure.home import data_home

COLUMNS = ["dataset", "image", "url", "author", "license", "identity", "page_url", "matched", "file"]
FACESCRUB_NAMES = ("facescrub_actors.txt", "facescrub_actresses.txt")
PUBFIG_NAMES = ("dev_urls.txt", "eval_urls.txt")
_FLICKR_PAGE = re.compile(r"^(?:m\.)?flickr\.com/photos/([^/?#]+)(?:/(\d+))?", re.IGNORECASE)
_FLICKR_STATIC = re.compile(r"^(?:farm\d+\.|live\.|c\d+\.)?static\.?flickr\.com/(?:\d+/)+(\d+)_[0-9a-f]+", re.IGNORECASE)
_MAX_DEPTH = 4


# ---------------------------------------------------------------- URLs and Flickr


def normalize_url(url: str) -> str:
    """A URL reduced to what identifies the resource: host (lower case, no www.), path without trailing /, query."""
    u = (url or "").strip()
    if not u:
        return ""
    if "://" not in u:
        u = "http://" + u.lstrip("/")
    try:
        parts = urlsplit(u)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return u.lower()
    if host.startswith("www."):
        host = host[4:]
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if port in (None, default) else f"{host}:{port}"
    path = parts.path.rstrip("/")
    return netloc + path + (f"?{parts.query}" if parts.query else "")


def flickr_user(url: str) -> str | None:
    """The user (alias or NSID) of a Flickr photo page URL, lower case, or None."""
    m = _FLICKR_PAGE.match(normalize_url(url))
    return m[1].lower() if m else None


def flickr_photo_id(url: str) -> str | None:
    """The Flickr photo id of a photo page or static image URL, or None."""
    n = normalize_url(url)
    m = _FLICKR_PAGE.match(n)
    if m and m[2]:
        return m[2]
    m = _FLICKR_STATIC.match(n)
    return m[1] if m else None


def _name_key(name: str) -> str:
    return " ".join((name or "").split()).casefold()


class Query:
    """What is looked for: a Flickr user, or a URL; `match` says which field matched, or None."""

    def __init__(self, flickr_user_name: str | None = None, url: str | None = None):
        if (flickr_user_name is None) == (url is None):
            raise ExposureError("look up either a Flickr user or a URL (exactly one of them)")
        self.user = self.author = self.url = self.photo_id = None
        if flickr_user_name is not None:
            given = flickr_user_name.strip()
            if not given:
                raise ExposureError("the Flickr user name is empty")
            from_url = flickr_user(given) if "flickr.com/" in given.lower() else None
            self.user = (from_url or given.strip("/").rsplit("/", 1)[-1]).lower()
            self.author = _name_key(given) if from_url is None else None
        else:
            self.url = normalize_url(url)
            if not self.url:
                raise ExposureError("the URL is empty")
            self.photo_id = flickr_photo_id(url)

    def match(self, url: str | None = None, page_url: str | None = None, author: str | None = None) -> str | None:
        if self.user is not None:
            if author and self.author and _name_key(author) == self.author:
                return "author"
            for field, u in (("url", url), ("page_url", page_url)):
                if u and flickr_user(u) == self.user:
                    return field
            return None
        for field, u in (("url", url), ("page_url", page_url)):
            if not u:
                continue
            if normalize_url(u) == self.url:
                return field
            if self.photo_id is not None and flickr_photo_id(u) == self.photo_id:
                return field
        return None

    def substrings(self) -> list[str]:
        """Text every matching URL contains (for filtering big tables before the exact check)."""
        if self.user is not None:  # (FFHQ's author is not filtered this way: its reader does not use this)
            return [f"/photos/{self.user}/"]
        if self.photo_id is not None:
            return [self.photo_id]
        tail = self.url.split("?", 1)[0].rsplit("/", 1)[-1]
        return [tail] if tail else []


# ---------------------------------------------------------------- readers of each metadata file


def _row(dataset, image, url, author, license_, identity, page_url, matched, file) -> dict:
    return dict(zip(COLUMNS, (dataset, image, url, author, license_, identity, page_url, matched, str(file)), strict=True))


def _ffhq(path: Path, q: Query) -> Iterator[dict]:
    data = load_metadata(path)
    for number in sorted(data, key=lambda k: (len(k), k)):
        entry = data[number]
        m = entry.get("metadata") or {}
        matched = q.match(url=m.get("photo_url"), author=m.get("author"))
        if matched:
            image = (entry.get("image") or {}).get("file_path") or number
            yield _row("FFHQ", image, m.get("photo_url"), m.get("author"), m.get("license"), None, None, matched, path)


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        yield from f


def _msceleb(path: Path, q: Query) -> Iterator[dict]:
    needles = [s.encode() for s in q.substrings()]
    for line in _lines(path):
        head = line[:4096]  # URLs sit before the base64 image data
        if needles and not any(n.lower() in head.lower() for n in needles):
            continue
        fields = line.rstrip(b"\r\n").split(b"\t", 6)
        if len(fields) == 7:  # aligned faces
            mid, rank, url, page, face_id = (v.decode("utf-8", "replace") for v in fields[:5])
            image = f"{mid}/{rank}-{face_id}.jpg"
        elif len(fields) == 6:  # full image thumbnails
            mid, _name, rank, url, page = (v.decode("utf-8", "replace") for v in fields[:5])
            image = f"{mid}/{rank}.jpg"
        else:
            continue
        matched = q.match(url=url, page_url=page)
        if matched:
            yield _row("MS-Celeb-1M", image, url, None, None, mid, page, matched, path)


def _facescrub(path: Path, q: Query) -> Iterator[dict]:
    import csv

    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        for rec in csv.DictReader(f, delimiter="\t"):
            matched = q.match(url=rec.get("url"))
            if matched:
                image = f"{rec.get('name')}/{rec.get('face_id')}"
                yield _row("FaceScrub", image, rec.get("url"), None, None, rec.get("name"), None, matched, path)


def _pubfig(path: Path, q: Query) -> Iterator[dict]:
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < 3:
                continue
            person, imagenum, url = fields[:3]
            matched = q.match(url=url)
            if matched:
                yield _row("PubFig", f"{person}/{imagenum}", url, None, None, person, None, matched, path)


def _parquet(path: Path, q: Query, dataset: str) -> Iterator[dict]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    url_col = "URL" if "URL" in names else "url"
    want = [c for c in (url_col, "SAMPLE_ID", "key", "LICENSE", "license", "TEXT", "caption") if c in names]
    needles = q.substrings()
    for batch in pf.iter_batches(columns=want, batch_size=65536):
        col = batch.column(url_col)
        if needles:
            mask = None
            for n in needles:
                m = pc.match_substring(col, n, ignore_case=True)
                mask = m if mask is None else pc.or_(mask, m)
            batch = batch.filter(pc.fill_null(mask, False))
            if batch.num_rows == 0:
                continue
        data = batch.to_pydict()
        for i, url in enumerate(data[url_col]):
            matched = q.match(url=url)
            if not matched:
                continue
            image = next((str(data[c][i]) for c in ("SAMPLE_ID", "key") if c in data and data[c][i] is not None), None)
            license_ = next((data[c][i] for c in ("LICENSE", "license") if c in data and data[c][i] not in (None, "?")), None)
            yield _row(dataset, image, url, None, license_, None, None, matched, path)


# ---------------------------------------------------------------- which file is which


def kind_of(path: Path) -> str | None:
    """'ffhq', 'msceleb', 'facescrub', 'pubfig' or 'parquet' for a metadata file exposure can read, else None."""
    name = path.name.lower()
    if name == "ffhq-dataset-v2.json":
        return "ffhq"
    if name.endswith(".json"):
        return "ffhq" if _looks_like_ffhq_json(path) else None
    if name in FACESCRUB_NAMES:
        return "facescrub"
    if name in PUBFIG_NAMES:
        return "pubfig"
    if name.endswith(".txt"):
        head = _head(path)
        if head.startswith(b"name\timage_id\tface_id\turl"):
            return "facescrub"
        if head.startswith(b"# PubFig"):
            return "pubfig"
        return None
    if name.endswith(".tsv"):
        fields = _head(path).split(b"\n", 1)[0].split(b"\t")
        return "msceleb" if len(fields) in (6, 7) and fields[0].startswith(b"m.") else None
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except Exception:  # noqa: BLE001 - not a parquet file we can read
            return None
        return "parquet" if ("URL" in names or "url" in names) else None
    return None


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(1 << 16)
    except OSError:
        return b""


def find_metadata(folder: Path) -> list[tuple[Path, str]]:
    """Every readable metadata file under a folder (a few levels deep), sorted, with its kind."""
    found = []
    root_depth = len(folder.parts)
    for dirpath, dirnames, filenames in os.walk(folder):
        depth = len(Path(dirpath).parts) - root_depth
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if depth < _MAX_DEPTH else []
        for fn in sorted(filenames):
            if fn.startswith(".") or not fn.lower().endswith((".json", ".txt", ".tsv", ".parquet")):
                continue
            if kind := kind_of(Path(dirpath, fn)):
                found.append((Path(dirpath, fn), kind))
    return found


def _dataset_of_parquet(path: Path) -> str:
    return "LAION-Face" if "laion" in str(path).lower() else path.parent.name or path.stem


READERS = {"ffhq": _ffhq, "msceleb": _msceleb, "facescrub": _facescrub, "pubfig": _pubfig,
           "parquet": lambda path, q: _parquet(path, q, _dataset_of_parquet(path))}


def lookup(flickr_user: str | None = None, url: str | None = None, paths=None, home=None):
    """Rows of every dataset image whose published source is the given Flickr user's or the given URL.

    `paths`: metadata files or folders holding them; default: everything found in the data home.
    Returns a pandas DataFrame with columns dataset, image, url, author, license, identity,
    page_url, matched (the field that matched), file (the metadata file); `.attrs["searched"]` lists
    the metadata files read.
    """
    import pandas as pd

    q = Query(flickr_user, url)
    if paths is None:
        paths = [data_home(home)]
    elif isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[tuple[Path, str]] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += find_metadata(p)
        elif p.is_file():
            if (kind := kind_of(p)) is None:
                raise ExposureError(
                    f"{p}: not a source-metadata file exposure can read (FFHQ JSON, MS-Celeb TSV, "
                    "FaceScrub or PubFig URL list, LAION-Face parquet)"
                )
            files.append((p, kind))
        else:
            raise ExposureError(f"{p}: no such file or folder")
    df = pd.DataFrame([row for path, kind in files for row in READERS[kind](path, q)], columns=COLUMNS, dtype=object)
    df.attrs["searched"] = [str(path) for path, _ in files]
    return df


def records(df) -> list[dict]:
    """The rows as JSON-ready dicts (missing values as None), for `exposure lookup --json`."""
    return [{k: (None if v is None or v != v else v) for k, v in row.items()} for row in df.to_dict(orient="records")]
