"""The catalog of public face datasets.

The facts live in data, not code: one TOML file per dataset under ``entries/`` in this package
(``exposure/datasets/entries/<slug>.toml``). This module finds them with ``importlib.resources``,
validates every entry against the schema below, and offers them as records, a DataFrame, a lookup
and a plain-text table.

Every fact key has a source in the entry's ``[references]`` table: an http(s) URL, a list of
them, or the string ``"unknown"`` -- and ``"unknown"`` is only accepted when the fact itself is
unknown. Nothing here is guessed; cells with no source say ``"unknown"``.
"""

from __future__ import annotations

import copy
import difflib
import functools
import re
import tomllib
from importlib import resources
from typing import Any

from exposure.plain import count

__all__ = [
    "CONSENT",
    "FACT_KEYS",
    "FORMATS",
    "SCHEMA_KEYS",
    "SOURCES",
    "STATUSES",
    "TAGS",
    "catalog",
    "catalog_records",
    "entry",
    "fetch_channel",
    "format_table",
    "validate_entry",
]

UNKNOWN = "unknown"

#: Where the photos came from. "web" means crawled from web pages (not via a search engine);
#: "web-search" means gathered through search-engine queries.
SOURCES = frozenset(
    {
        "news",
        "flickr",
        "web",
        "web-search",
        "social-media",
        "lab",
        "surveillance",
        "video",
        "synthetic",
        "other-dataset",
        UNKNOWN,
    }
)
CONSENT = frozenset({"none", "not-disclosed", "informed", "n/a", UNKNOWN})
STATUSES = frozenset({"available", "on-request", "withdrawn", "urls-only", UNKNOWN})
FORMATS = frozenset(
    {
        "folder-per-identity",
        "archive-of-folders",
        "celeba",
        "ffhq-json",
        "utkface",
        "mxnet-recordio",
        "msceleb-tsv",
        "webdataset",
        "parquet-images",
        "url-list",
        "other",
        UNKNOWN,
    }
)
#: "masked": faces wearing masks; "asian-faces": built from (or named for) East Asian faces;
#: "china-origin": built by an institution in China (including Hong Kong).
TAGS = frozenset({"masked", "asian-faces", "china-origin"})

#: Fact keys that must each carry a reference.
FACT_KEYS = (
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
    "files",
    "removal",
)

_STR = "str"
_STR_LIST = "list[str]"
_INT_OR_UNKNOWN = "int or 'unknown'"
_BOOL = "bool"
_BOOL_OR_UNKNOWN = "bool or 'unknown'"

#: Every key of an entry, in display order, with its type.
SCHEMA_KEYS: dict[str, str] = {
    "name": _STR,
    "slug": _STR,
    "aliases": _STR_LIST,
    "tags": _STR_LIST,
    "year": _INT_OR_UNKNOWN,
    "creator": _STR,
    "images": _INT_OR_UNKNOWN,
    "identities": _INT_OR_UNKNOWN,
    "approximate": _STR_LIST,
    "source": _STR_LIST,
    "source_detail": _STR,
    "consent": _STR,
    "consent_detail": _STR,
    "license": _STR,
    "status": _STR,
    "withdrawn": _STR,
    "still_circulating": _BOOL,
    "urls": _STR_LIST,
    "format": _STR,
    "layout": _STR,
    "per_image_source_metadata": _BOOL_OR_UNKNOWN,
    "per_image_source_fields": _STR_LIST,
    "removal": _STR,
    "maintainer_contact": _STR,
    "notes": _STR,
}
_FILE_KEYS = {"name": _STR, "url": _STR, "size": "int", "checksum": _STR, "checksum_source": _STR}
_OPTIONAL_KEYS = {"files", "references", "fetch"}

#: Where `exposure fetch` gets a dataset today: the Hugging Face Hub, figshare, another plain URL, or
#: nowhere (then `how` says how people get it).
CHANNELS = frozenset({"hub", "figshare", "url", "none"})
#: The optional [fetch] table: channel, Hub repo or URL, pinned revision (a commit sha with its
#: source, or "" = pinned at download time and recorded then), layout there, size in bytes (0 =
#: unknown), licence there, whether it is a mirror of a withdrawn set, and how to get it otherwise.
_FETCH_KEYS = {"channel": _STR, "repo": _STR, "url": _STR, "revision": _STR, "revision_source": _STR,
               "layout": _STR, "size": "int", "license": _STR, "withdrawn_mirror": _BOOL, "source": _STR,
               "how": _STR}
#: [[fetch.files]] of a Hub channel pinned to a commit: the data files a fetch downloads, each with the
#: LFS sha256 the Hub shows for it ("" for a small file outside LFS, fixed by the commit) and where it was seen.
_HUB_FILE_KEYS = {"path": _STR, "sha256": _STR, "size": "int", "source": _STR}
_HUB_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")

_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_DATE_RE = re.compile(r"^\d{4}(?:-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01]))?)?$")
_URL_RE = re.compile(r"^https?://\S+$")
_FILE_NAME_RE = re.compile(r"^[^/\\\s]+$")
_CHECKSUM_LEN = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
_CHECKSUM_RE = re.compile(r"^(md5|sha1|sha256|sha512):([0-9a-f]+)$")


def _fail(where: str, message: str) -> None:
    raise ValueError(f"{where}: {message}")


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and bool(_URL_RE.match(value))


def _check_type(where: str, key: str, value: Any, kind: str) -> None:
    ok = {
        _STR: isinstance(value, str),
        _STR_LIST: isinstance(value, list) and all(isinstance(v, str) for v in value),
        _INT_OR_UNKNOWN: (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or value == UNKNOWN,
        _BOOL: isinstance(value, bool),
        _BOOL_OR_UNKNOWN: isinstance(value, bool) or value == UNKNOWN,
        "int": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
    }[kind]
    if not ok:
        _fail(where, f"key {key!r} must be {kind}, got {value!r}")


def _fact_is_unknown(data: dict[str, Any], key: str) -> bool:
    """True when the fact carries no claim that would need a source."""
    value = data.get(key)
    if key == "withdrawn":
        return value in ("", UNKNOWN)
    if key in ("source",):
        return value == [UNKNOWN]
    if key in ("urls",):
        return value == []
    if key == "files":
        return all(not f["checksum"] and not f["url"] for f in value)
    return value == UNKNOWN


def _validate_files(where: str, files: Any) -> list[dict[str, Any]]:
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        _fail(where, "'files' must be an array of tables ([[files]])")
    for i, item in enumerate(files):
        here = f"{where}: files[{i}]"
        missing = [k for k in _FILE_KEYS if k not in item]
        if missing:
            _fail(here, f"missing key(s) {', '.join(missing)}")
        extra = sorted(set(item) - set(_FILE_KEYS))
        if extra:
            _fail(here, f"unexpected key(s) {', '.join(extra)}")
        for key, kind in _FILE_KEYS.items():
            _check_type(here, key, item[key], kind)
        name = item["name"]
        if not _FILE_NAME_RE.match(name) or name.startswith("."):
            _fail(here, f"'name' must be a plain archive file name (no folders, spaces or leading dot), got {name!r}")
        if item["url"] and not _is_url(item["url"]):
            _fail(here, f"'url' must be an http(s) URL or '', got {item['url']!r}")
        checksum = item["checksum"]
        if checksum:
            match = _CHECKSUM_RE.match(checksum)
            if not match or len(match.group(2)) != _CHECKSUM_LEN[match.group(1)]:
                _fail(here, f"'checksum' must be 'algo:hex' (md5/sha1/sha256/sha512), got {checksum!r}")
            if not _is_url(item["checksum_source"]):
                _fail(here, "a checksum needs a 'checksum_source' URL")
        elif item["checksum_source"] and not _is_url(item["checksum_source"]):
            _fail(here, "'checksum_source' must be an http(s) URL or ''")
    _once(where, "file name", [item["name"] for item in files])
    return files


def _once(where: str, what: str, values: list[str]) -> None:
    """Fail when a value is listed twice."""
    dupes = sorted({v for v in values if values.count(v) > 1})
    if dupes:
        _fail(where, f"{what}(s) listed twice: {', '.join(dupes)}")


def _validate_fetch(where: str, data: dict[str, Any]) -> dict[str, Any]:
    """The [fetch] table: a known channel, a Hub repo id or URL it needs, a sourced revision, a sourced mirror."""
    table = data["fetch"]
    here = f"{where}: [fetch]"
    if not isinstance(table, dict):
        _fail(where, "'fetch' must be a table ([fetch])")
    table = {"repo": "", "url": "", "revision": "", "revision_source": "", "layout": "", "size": 0,
             "license": "", "withdrawn_mirror": False, "source": "", "how": "", **table}
    extra = sorted(set(table) - set(_FETCH_KEYS) - {"files"})
    if extra:
        _fail(here, f"unexpected key(s) {', '.join(extra)}")
    for key, kind in _FETCH_KEYS.items():
        _check_type(here, key, table[key], kind)
    channel = table["channel"]
    if channel not in CHANNELS:
        _fail(here, f"'channel' must be one of {', '.join(sorted(CHANNELS))}, got {channel!r}")
    if channel == "hub" and not _HUB_REPO_RE.match(table["repo"]):
        _fail(here, f"a hub channel needs 'repo' = 'OWNER/NAME', got {table['repo']!r}")
    if channel in ("figshare", "url") and not _is_url(table["url"]):
        _fail(here, f"a {channel} channel needs an http(s) 'url'")
    if channel == "none" and not table["how"].strip():
        _fail(here, "channel 'none' needs 'how': how people get the dataset")
    if channel != "none" and not _is_url(table["source"]):
        _fail(here, "'source' must be the URL where the channel (repo or URL) was seen")
    if table["revision"]:
        if not re.fullmatch(r"[0-9a-f]{40}", table["revision"]):
            _fail(here, f"'revision' must be a 40-hex commit sha or '', got {table['revision']!r}")
        if not _is_url(table["revision_source"]):
            _fail(here, "a pinned 'revision' needs a 'revision_source' URL")
    if table["withdrawn_mirror"] and data["status"] != "withdrawn":
        _fail(here, "'withdrawn_mirror' is true but the dataset's status is not 'withdrawn'")
    if "files" in table:
        table["files"] = _validate_hub_files(here, table)
    return table


def _validate_hub_files(here: str, table: dict[str, Any]) -> list[dict[str, Any]]:
    """[[fetch.files]]: only for a Hub channel pinned to a commit; each path once, each sha256 sourced."""
    files = table["files"]
    if table["channel"] != "hub" or not table["revision"]:
        _fail(here, "'files' are listed only for a hub channel with a pinned 'revision'")
    if not isinstance(files, list) or not files:
        _fail(here, "'files' must be a non-empty array of tables ([[fetch.files]])")
    for i, item in enumerate(files):
        where = f"{here} files[{i}]"
        if not isinstance(item, dict) or set(item) != set(_HUB_FILE_KEYS):
            _fail(where, f"needs exactly the keys {', '.join(_HUB_FILE_KEYS)}")
        for key, kind in _HUB_FILE_KEYS.items():
            _check_type(where, key, item[key], kind)
        if item["sha256"] and not re.fullmatch(r"[0-9a-f]{64}", item["sha256"]):
            _fail(where, f"'sha256' must be 64 hex digits or '', got {item['sha256']!r}")
        if not _is_url(item["source"]):
            _fail(where, "'source' must be the URL of the page that shows the file")
    _once(here, "file path", [item["path"] for item in files])
    return files


def fetch_channel(record: dict[str, Any]) -> dict[str, Any]:
    """Where `exposure fetch` gets a dataset: its [fetch] table, else derived from its files (url or none)."""
    if isinstance(record.get("fetch"), dict):
        return dict(record["fetch"])
    files = record.get("files") or []
    if record["status"] == "available" and files and all(f["url"] for f in files):
        return {"channel": "url", "url": files[0]["url"], "revision": "", "withdrawn_mirror": False, "how": "",
                "size": sum(f["size"] for f in files)}
    return {"channel": "none", "how": "", "revision": "", "withdrawn_mirror": False, "size": 0}


def _fetch_cell(record: dict[str, Any]) -> str:
    """The table's `fetch` column: the channel, and what it takes (a mirror of a withdrawn set, an unpinned revision)."""
    ch = fetch_channel(record)
    if ch["channel"] == "none":
        return "-"
    text = ch["channel"]
    if ch.get("withdrawn_mirror"):
        text += "*"
    return text


def _validate_references(where: str, data: dict[str, Any]) -> None:
    refs = data["references"]
    if not isinstance(refs, dict):
        _fail(where, "'references' must be a table")
    required = list(FACT_KEYS)
    if data["tags"]:
        required.append("tags")
    if data["still_circulating"]:
        required.append("still_circulating")
    missing = [k for k in required if k not in refs]
    if missing:
        _fail(where, f"[references] is missing key(s) {', '.join(missing)}")
    for key, ref in refs.items():
        urls = ref if isinstance(ref, list) else [ref]
        if not urls or not all(isinstance(u, str) for u in urls):
            _fail(where, f"reference {key!r} must be a URL, a list of URLs or 'unknown'")
        if urls == [UNKNOWN]:
            if key in FACT_KEYS and not _fact_is_unknown(data, key):
                _fail(where, f"fact {key!r} = {data[key]!r} has no source (reference is 'unknown')")
            continue
        bad = [u for u in urls if not _is_url(u)]
        if bad:
            _fail(where, f"reference {key!r} has non-URL value(s) {bad!r}")


def validate_entry(data: dict[str, Any], where: str = "<entry>") -> dict[str, Any]:
    """Check one parsed entry against the schema; return it with defaults filled in.

    Raises ValueError whose message starts with ``where`` (normally the file name).
    """
    if not isinstance(data, dict):
        _fail(where, "an entry must be a TOML table")
    data = dict(data)
    data.setdefault("files", [])
    missing = [k for k in (*SCHEMA_KEYS, "references") if k not in data]
    if missing:
        _fail(where, f"missing key(s) {', '.join(missing)}")
    extra = sorted(set(data) - set(SCHEMA_KEYS) - _OPTIONAL_KEYS)
    if extra:
        _fail(where, f"unexpected key(s) {', '.join(extra)}")
    for key, kind in SCHEMA_KEYS.items():
        _check_type(where, key, data[key], kind)

    if not data["name"].strip():
        _fail(where, "'name' is empty")
    if not _SLUG_RE.match(data["slug"]):
        _fail(where, f"'slug' must be lowercase words joined by '-', got {data['slug']!r}")
    for key in ("year",):
        if data[key] != UNKNOWN and not 1960 <= data[key] <= 2100:
            _fail(where, f"'year' out of range: {data[key]!r}")
    if not data["source"]:
        _fail(where, "'source' must list at least one origin (or 'unknown')")
    for key, allowed, values in (
        ("source", SOURCES, data["source"]),
        ("tags", TAGS, data["tags"]),
        ("consent", CONSENT, [data["consent"]]),
        ("status", STATUSES, [data["status"]]),
        ("format", FORMATS, [data["format"]]),
    ):
        wrong = [v for v in values if v not in allowed]
        if wrong:
            _fail(where, f"{key!r} has value(s) {wrong!r}; allowed: {', '.join(sorted(allowed))}")
    rough = [k for k in data["approximate"] if k not in ("images", "identities")]
    if rough:
        _fail(where, f"'approximate' may only name 'images' or 'identities', got {rough!r}")
    rough = [k for k in data["approximate"] if data[k] == UNKNOWN]
    if rough:
        _fail(where, f"'approximate' names {rough!r}, which are 'unknown'")
    bad_urls = [u for u in data["urls"] if not _is_url(u)]
    if bad_urls:
        _fail(where, f"'urls' must be http(s) URLs, got {bad_urls!r}")

    withdrawn = data["withdrawn"]
    if data["status"] == "withdrawn":
        if not withdrawn:
            _fail(where, "status is 'withdrawn' but 'withdrawn' gives no date (use YYYY[-MM[-DD]] or 'unknown')")
        if withdrawn != UNKNOWN and not _DATE_RE.match(withdrawn):
            _fail(where, f"'withdrawn' must be YYYY[-MM[-DD]] or 'unknown', got {withdrawn!r}")
    elif withdrawn:
        _fail(where, f"'withdrawn' is {withdrawn!r} but status is {data['status']!r}")
    if data["per_image_source_metadata"] is True and not data["per_image_source_fields"]:
        _fail(where, "per_image_source_metadata is true but per_image_source_fields is empty")
    if data["per_image_source_metadata"] is not True and data["per_image_source_fields"]:
        _fail(where, "per_image_source_fields given but per_image_source_metadata is not true")

    data["files"] = _validate_files(where, data["files"])
    if "fetch" in data:
        data["fetch"] = _validate_fetch(where, data)
    _validate_references(where, data)
    return data


def _entry_files() -> list[tuple[str, str]]:
    root = resources.files("exposure.datasets").joinpath("entries")
    found = [
        (item.name, item.read_text(encoding="utf-8"))
        for item in root.iterdir()
        if item.name.endswith(".toml") and item.is_file()
    ]
    if not found:
        raise ValueError("no catalog entries found in exposure/datasets/entries/")
    return sorted(found)


def _sort_key(record: dict[str, Any]) -> tuple[int, int, str]:
    year = record["year"]
    return (year == UNKNOWN, 0 if year == UNKNOWN else year, record["name"].casefold())


def _normal(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.casefold())


@functools.lru_cache(maxsize=1)
def _load() -> tuple[tuple[dict[str, Any], ...], dict[str, int]]:
    records: list[dict[str, Any]] = []
    for filename, text in _entry_files():
        where = f"exposure/datasets/entries/{filename}"
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{where}: not valid TOML: {exc}") from exc
        record = validate_entry(data, where)
        if filename != f"{record['slug']}.toml":
            _fail(where, f"file name must be {record['slug']}.toml to match its slug")
        records.append(record)
    records.sort(key=_sort_key)

    index: dict[str, int] = {}
    owner: dict[str, str] = {}
    for i, record in enumerate(records):
        for label in (record["slug"], record["name"], *record["aliases"]):
            key = _normal(label)
            if not key:
                continue
            if key in index and index[key] != i:
                raise ValueError(
                    f"exposure/datasets/entries/{record['slug']}.toml: name or alias {label!r} "
                    f"also belongs to {owner[key]!r}"
                )
            index[key] = i
            owner[key] = record["slug"]
    return tuple(records), index


def catalog_records() -> list[dict[str, Any]]:
    """Every catalog entry as a validated, JSON-serialisable dict, sorted by year then name."""
    records, _ = _load()
    return copy.deepcopy(list(records))


def catalog():
    """The catalog as a pandas DataFrame, one row per dataset (list cells stay lists)."""
    import pandas as pd

    records = catalog_records()
    columns = [*SCHEMA_KEYS, "files", "references", "fetch"]
    return pd.DataFrame.from_records(records, columns=columns)


def entry(query: str) -> dict[str, Any]:
    """Look a dataset up by name, slug or alias (case- and punctuation-insensitive)."""
    records, index = _load()
    key = _normal(query)
    if key in index:
        return copy.deepcopy(records[index[key]])
    labels = {}
    for record in records:
        for label in (record["slug"], record["name"], *record["aliases"]):
            labels.setdefault(label.casefold(), record["slug"])
    close = difflib.get_close_matches(query.casefold(), list(labels), n=5, cutoff=0.5)
    suggestions = list(dict.fromkeys(labels[c] for c in close))
    hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
    raise KeyError(f"no dataset named {query!r} in the catalog{hint}")


def _cell(value: Any, approximate: bool = False) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return ("~" if approximate else "") + count(value)
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if value is None or value == UNKNOWN:
        return "?"
    return str(value)


def format_table(df=None, *, max_name: int = 32) -> str:
    """A compact plain-text table (name, year, images, identities, source, consent, status)."""
    import unicodedata

    from exposure.i18n import _

    rows = catalog_records() if df is None else df.to_dict("records")
    headers = ["name", "year", "images", "identities", "source", "consent", "status", "fetch"]
    labels = [_("name"), _("year"), _("images"), _("identities"), _("source"), _("consent"), _("status"), _("fetch")]

    def columns(text: str) -> int:  # terminal columns: Chinese characters take two
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    body = []
    for row in rows:
        name = str(row["name"])
        if len(name) > max_name:
            name = name[: max_name - 1] + "\u2026"
        status = _cell(row["status"])
        if row["status"] == "withdrawn" and row.get("withdrawn"):
            status = f"withdrawn {_cell(row['withdrawn'])}"
        rough = set(row.get("approximate") or ())
        body.append(
            [
                name,
                str(row["year"]) if row["year"] != UNKNOWN else "?",
                _cell(row["images"], "images" in rough),
                _cell(row["identities"], "identities" in rough),
                _cell(row["source"]),
                _cell(row["consent"]),
                status,
                _fetch_cell(row),
            ]
        )
    right = {"year", "images", "identities"}
    widths = [max([columns(h)] + [columns(r[i]) for r in body]) for i, h in enumerate(labels)]

    def line(cells: list[str]) -> str:
        out = [c.rjust(w - columns(c) + len(c)) if h in right else c.ljust(w - columns(c) + len(c))
               for h, c, w in zip(headers, cells, widths, strict=True)]
        return "  ".join(out).rstrip()

    lines = [line(labels), line(["-" * w for w in widths])]
    lines += [line(r) for r in body]
    lines.append(
        _("{n} datasets; ? = unknown, ~ = approximate. Counts are images or faces (see notes in --json).").format(
            n=count(len(body)))
    )
    lines.append(
        _("fetch: where `exposure fetch NAME` gets it (hub = Hugging Face Hub; * = a withdrawn set's mirror: "
          "needs --withdrawn-ok; - = nowhere).")
    )
    return "\n".join(lines)
