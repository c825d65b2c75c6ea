"""`fetch()`: download a still-published face dataset, verify its checksums, and unpack it safely.

Files go to `<data home>/downloads/<slug>/` through pooch (hash-checked before they get their final
name) with a resumable HTTP downloader of our own, then archives are unpacked with
`exposure.archives.extract` into `<data home>/datasets/<slug>/`, which appears only once complete.
A web page served instead of a file is never saved: Google Drive's virus-scan warning is followed,
its daily-quota page and any other page are explained in a DownloadError.
Withdrawn, on-request and URL-list-only datasets raise `NotDownloadable` explaining how to get them.
Nothing here touches the network except the explicit download.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from exposure.archives import ArchiveError, extract, is_archive_name
from exposure.datasets import hub
from exposure.datasets.catalog_table import entry
from exposure.errors import ExposureError
from exposure.home import data_home
from exposure.i18n import _
from exposure.plain import count

__all__ = [
    "ChecksumError",
    "DownloadError",
    "NotDownloadable",
    "REGISTRY",
    "ResumableHTTPDownloader",
    "UnknownDataset",
    "dataset_entry",
    "fetch",
]

MARKER = ".exposure-fetch.json"  # written last inside a dataset folder: "this fetch completed"

_LFW_OFFICIAL = "http://vis-www.cs.umass.edu/lfw/"
# Built-in registry (same schema as the catalog entries): datasets fetch() knows without the catalog.
# LFW comes from figshare: the copies scikit-learn fetches (sklearn/datasets/_lfw.py, RemoteFileMetadata:
# URLs and sha256 as published there); the UMass host has answered no requests since early 2025.
_SKLEARN_LFW = "https://github.com/scikit-learn/scikit-learn/blob/main/sklearn/datasets/_lfw.py"
REGISTRY: dict[str, dict[str, Any]] = {
    "lfw": {
        "name": "lfw",
        "status": "available",
        "urls": [_LFW_OFFICIAL, "https://figshare.com/articles/dataset/LFW/5976018"],
        "removal": "",
        "notes": (
            "Labeled Faces in the Wild, funneled images, plus the View 1 and View 2 pair lists, from the "
            "figshare copies scikit-learn uses (sha256 as in its sklearn/datasets/_lfw.py)."
        ),
        "root": "lfw_funneled",
        "files": [
            {
                "name": "lfw-funneled.tgz",
                "url": "https://ndownloader.figshare.com/files/5976015",
                "size": None,
                "checksum": "sha256:b47c8422c8cded889dc5a13418c4bc2abbda121092b3533a83306f90d900100a",
                "checksum_source": _SKLEARN_LFW,
            },
            {
                "name": "pairsDevTrain.txt",
                "url": "https://ndownloader.figshare.com/files/5976012",
                "size": 56_579,
                "checksum": "sha256:1d454dada7dfeca0e7eab6f65dc4e97a6312d44cf142207be28d688be92aabfa",
                "checksum_source": _SKLEARN_LFW,
            },
            {
                "name": "pairsDevTest.txt",
                "url": "https://ndownloader.figshare.com/files/5976009",
                "size": 26_002,
                "checksum": "sha256:7cb06600ea8b2814ac26e946201cdb304296262aad67d046a16a7ec85d0ff87c",
                "checksum_source": _SKLEARN_LFW,
            },
            {
                "name": "pairs.txt",
                "url": "https://ndownloader.figshare.com/files/5976006",
                "size": None,
                "checksum": "sha256:ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592",
                "checksum_source": _SKLEARN_LFW,
            },
        ],
    },
    "lfw-deepfunneled": {
        "name": "lfw-deepfunneled",
        "status": "available",
        "urls": [_LFW_OFFICIAL],
        "removal": "",
        "notes": (
            "Labeled Faces in the Wild, deep-funneled (aligned) images, plus the View 1 pair lists. "
            "Checksums are the official md5s (also in torchvision's lfw.py). The UMass host has answered no "
            "requests since early 2025 and figshare has no deep-funneled copy: use --base-url with a mirror "
            "(and known_hash if its copy is re-packed), or `exposure fetch lfw` (funneled, from figshare)."
        ),
        "root": "lfw-deepfunneled",
        "files": [
            {
                "name": "lfw-deepfunneled.tgz",
                "url": _LFW_OFFICIAL + "lfw-deepfunneled.tgz",
                "size": None,
                "checksum": "md5:68331da3eb755a505a502b5aacb3c201",
            },
            {
                "name": "pairsDevTrain.txt",
                "url": "https://ndownloader.figshare.com/files/5976012",
                "size": 56_579,
                "checksum": "md5:4f27cbf15b2da4a85c1907eb4181ad21",
            },
            {
                "name": "pairsDevTest.txt",
                "url": "https://ndownloader.figshare.com/files/5976009",
                "size": 26_002,
                "checksum": "md5:5132f7440eb68cf58910c8a45a2ac10b",
            },
        ],
    },
}
_ALIASES = {"lfw-deep-funneled": "lfw-deepfunneled", "lfw-funneled": "lfw"}


def index_hint() -> str:
    """The last line of every "cannot download" message, in the language in use."""
    return _("If you already have a copy, index it with: exposure index PATH")


class NotDownloadable(ExposureError):
    """A dataset exposure cannot download (withdrawn, on request, URL lists only): says how to get it."""


class UnknownDataset(ExposureError, LookupError):
    """No dataset of that name in the built-in registry or the catalog."""


class ChecksumError(ExposureError, ValueError):
    """A downloaded file's hash differs from the expected one; the file was deleted."""


class DownloadError(ExposureError, OSError):
    """A transfer failed or was cut short; the partial file is kept so a re-run resumes it."""


@dataclass(frozen=True)
class _File:
    """One file to download: its final name, where from, and the hash it must have."""

    name: str
    url: str
    known_hash: str | None
    hash_source: str  # "the published checksum" or "your known_hash": said in mismatch errors


# -- public entry point -------------------------------------------------------------------------


def fetch(
    name: str,
    *,
    base_url: str | None = None,
    home: str | os.PathLike | None = None,
    progress: bool = True,
    unpack: bool = True,
    known_hash: dict[str, str] | None = None,
    withdrawn_ok: bool = False,
) -> Path:
    """Download, verify and unpack dataset `name`; returns the folder to pass to `exposure index`.

    `hf:OWNER/NAME[@REV]`, or a catalog dataset whose channel is the Hub, is fetched with
    exposure.datasets.hub. A mirror of a withdrawn dataset needs `withdrawn_ok`.
    """
    if hub.is_hub_ref(name):
        return hub.fetch_repo(hub.parse_ref(name), home, progress)
    info = dataset_entry(name)
    channel = info.get("fetch") or {}
    if channel.get("channel") == "hub":
        _allow_mirror(info, withdrawn_ok, progress)
        return hub.fetch_repo(hub.HubRef(channel["repo"], channel.get("revision") or "main"), home, progress,
                              pinned=channel.get("files"))
    files = _plan(info, base_url, known_hash)
    slug = _slug(str(info.get("name") or name))
    root = data_home(home)
    target = root / "datasets" / slug
    if unpack and (target / MARKER).is_file():
        return _result_dir(target, info)
    downloads = root / "downloads" / slug
    paths = [_download(f, downloads, progress) for f in files]
    if not unpack:
        return downloads
    _assemble(paths, target, files, progress)
    return _result_dir(target, info)


def withdrawal_note(info: dict[str, Any]) -> str:
    """What a withdrawn dataset is and when and why its makers withdrew it, from its catalog entry."""
    when = info.get("withdrawn") or _("unknown")
    lines = [_("{name} was withdrawn by its makers ({when}).").format(name=info.get("name"), when=when)]
    for label, key in ((_("What it is"), "source_detail"), (_("Consent"), "consent_detail"),
                       (_("Why and since when"), "notes")):
        text = _as_text(info.get(key))
        if text:
            lines.append(_("{label}: {text}").format(label=label, text=text))
    return "\n".join(lines)


def _allow_mirror(info: dict[str, Any], withdrawn_ok: bool, progress: bool) -> None:
    """A mirror of a withdrawn set is fetched only when asked explicitly, after saying what it is and why it was withdrawn."""
    if info.get("status") != "withdrawn" and not (info.get("fetch") or {}).get("withdrawn_mirror"):
        return
    note = withdrawal_note(info)
    if not withdrawn_ok:
        raise NotDownloadable(note + "\n" + _("A copy still circulates on a mirror; to download it anyway, run again "
                                              "with --withdrawn-ok.") + " " + index_hint())
    if progress:
        print(note + "\n" + _("Fetching a third-party mirror, as asked (--withdrawn-ok)."), file=sys.stderr, flush=True)


def dataset_entry(name: str) -> dict[str, Any]:
    """The entry for `name`: the built-in registry first, else the catalog."""
    key = _ALIASES.get(_slug(name), _slug(name))
    if key in REGISTRY:
        return REGISTRY[key]
    try:
        return dict(entry(name))
    except (LookupError, ValueError) as exc:
        raise UnknownDataset(_("{name}: no such dataset in the catalog (see `exposure datasets`)").format(
            name=repr(name))) from exc


# -- what to download ---------------------------------------------------------------------------


def _slug(name: str) -> str:
    """A folder-safe, lower-case name: 'MS-Celeb-1M' -> 'ms-celeb-1m'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "dataset"


def _plan(info: dict[str, Any], base_url: str | None, overrides: dict[str, str] | None) -> list[_File]:
    """The files to fetch, with URLs (mirror applied) and hashes (overrides applied); or NotDownloadable."""
    _require_downloadable(info)
    files = list(info.get("files") or [])
    overrides = dict(overrides or {})
    unknown = set(overrides) - {f.get("name") for f in files}
    if unknown:
        raise ValueError(f"known_hash names files not in {info.get('name')!r}: {sorted(unknown)}")
    plan = []
    for f in files:
        fname = _safe_file_name(str(f.get("name") or ""), info)
        url = base_url.rstrip("/") + "/" + fname if base_url else str(f.get("url") or "")
        if not url:
            raise NotDownloadable(_("{name}: no download URL for {file}.").format(name=info.get("name"), file=fname)
                                  + " " + index_hint())
        given = overrides.get(fname)
        checksum = _normalise_hash(given if given is not None else str(f.get("checksum") or ""))
        plan.append(_File(fname, url, checksum, _("your known_hash") if given else _("the published checksum")))
    return plan


def _safe_file_name(fname: str, info: dict[str, Any]) -> str:
    """A catalog file name usable as a plain file name in our folders (no paths, no dot-names)."""
    if not fname or fname != Path(fname).name or fname.startswith("."):
        raise ValueError(f"{info.get('name')}: bad file name in catalog entry: {fname!r}")
    return fname


def _normalise_hash(checksum: str) -> str | None:
    """'md5:HEX' / 'sha256:HEX' / bare sha256 HEX -> pooch's 'alg:hex' form; '' -> None (unverified)."""
    checksum = checksum.strip().lower()
    if not checksum:
        return None
    alg, _colon, digest = checksum.rpartition(":")
    alg = alg or "sha256"
    lengths = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
    if alg not in lengths or not re.fullmatch(f"[0-9a-f]{{{lengths[alg]}}}", digest):
        raise ValueError(f"not a checksum pooch can verify: {checksum!r} (want e.g. 'sha256:<64 hex>')")
    return f"{alg}:{digest}"


def _status_text(status: str) -> str:
    """Why a dataset of this status cannot be downloaded, in the language in use."""
    return {
        "withdrawn": _("it was withdrawn by its publisher and is no longer distributed from an official source"),
        "on-request": _("it is distributed only on request (an application or licence agreement with its creators)"),
        "urls-only": _("it is published as lists of image URLs, not as image files: the photos stay on the original "
                       "sites"),
        "unknown": _("its availability is unknown"),
    }.get(status) or _("its status is {status}").format(status=repr(status))


def _require_downloadable(info: dict[str, Any]) -> None:
    """Raise NotDownloadable, explaining how the dataset is obtained, unless it has files to fetch."""
    status = str(info.get("status") or "unknown").strip().lower()
    if status == "available" and info.get("files"):
        return
    reason = _status_text(status)
    if status == "available":
        reason = _("the catalog lists no direct-download files for it")
    raise NotDownloadable(_not_downloadable_message(info, reason))


def _not_downloadable_message(info: dict[str, Any], reason: str) -> str:
    """The NotDownloadable text: why, where it is published, removal facts, notes, and the index hint."""
    lines = [_("{name} cannot be downloaded by exposure: {reason}.").format(
        name=info.get("name", _("this dataset")), reason=reason)]
    for label, key in ((_("Removal"), "removal"), (_("Official pages"), "urls"), (_("Notes"), "notes")):
        text = _as_text(info.get(key))
        if text:
            lines.append(_("{label}: {text}").format(label=label, text=text))
    how = _as_text((info.get("fetch") or {}).get("how"))
    if how:
        lines.append(_("How people get it: {how}").format(how=how))
    lines.append(index_hint())
    return "\n".join(lines)


def _as_text(value: Any) -> str:
    """A catalog field (string, list or table) as one line of text."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_as_text(v)}" for k, v in value.items() if _as_text(v))
    if isinstance(value, list | tuple):
        return ", ".join(_as_text(v) for v in value if _as_text(v))
    return "" if value is None else str(value).strip()


# -- downloading --------------------------------------------------------------------------------


def _download(f: _File, folder: Path, progress: bool) -> Path:
    """Fetch one file through pooch into `folder` (no network if it is already there and verified)."""
    import pooch

    folder.mkdir(parents=True, exist_ok=True)
    if f.known_hash is None:
        print(_("warning: {file} has no published checksum; it is downloaded unverified").format(file=f.name),
              file=sys.stderr)
    downloader = ResumableHTTPDownloader(folder / (f.name + ".part"), f, progress=progress)
    try:
        path = pooch.retrieve(f.url, known_hash=f.known_hash, fname=f.name, path=folder, downloader=downloader)
    except ChecksumError:
        raise
    except ValueError as exc:  # pooch's own hash check (a second line of defence)
        raise ChecksumError(_("{file} from {url}: {error}").format(file=f.name, url=f.url, error=exc)) from exc
    return Path(path)


class ResumableHTTPDownloader:
    """A pooch downloader that keeps `<name>.part` across failures and resumes it with HTTP Range.

    pooch hands every attempt a fresh temporary file and its HTTPDownloader always starts at byte 0,
    so an interrupted 100 GB transfer would restart from scratch. This one writes to a stable
    `.part` file, asks for `Range: bytes=N-` (with `If-Range` so a changed file restarts), checks
    the finished file's hash itself (deleting it on mismatch), and only then hands it to pooch, which
    verifies again and renames it into place. A `.part` file is never taken for a finished one.
    """

    def __init__(self, part: Path, file: _File, *, progress: bool = True, timeout: float = 60.0):
        self.part, self.file, self.progress, self.timeout = Path(part), file, progress, timeout
        self.meta = self.part.with_name(self.part.name + ".json")
        self.chunk_size = 1 << 20

    def __call__(self, url: str, output_file: str, pooch: Any = None, check_only: bool = False) -> bool | None:
        """Download (or finish downloading) `url`, verify it, and move it to pooch's `output_file`."""
        if check_only:
            return self._available(url)
        for _attempt in range(3):  # a refused Range or a changed remote file restarts from 0
            if self._transfer(url):
                break
        else:
            raise DownloadError(_("{file} from {url}: server refused every attempt to resume or restart").format(
                file=self.file.name, url=url))
        self._verify()
        os.replace(self.part, output_file)
        self.meta.unlink(missing_ok=True)
        return None

    def _available(self, url: str) -> bool:
        """pooch's availability check: a HEAD request."""
        import requests

        return requests.head(url, timeout=self.timeout, allow_redirects=True).status_code == 200

    def _transfer(self, url: str) -> bool:
        """One request: resume or restart the `.part` file; False when it must be retried from 0.

        A web page instead of the file is never written: Google Drive's virus-scan warning page is
        followed (a few times at most), any other page raises DownloadError. The `.part` file stays keyed
        to the catalog `url`, so a resume asks Drive again and sends its Range to the new download URL.
        """
        import requests

        offset = self._resume_offset(url)
        request_url = url
        for hop in range(_PAGE_HOPS + 1):
            try:
                resp = requests.get(request_url, headers=self._headers(offset), stream=True, timeout=self.timeout)
            except requests.RequestException as exc:
                raise DownloadError(self._unreachable(request_url, _reason(exc))) from exc
            with resp:
                if _is_web_page(resp, self.file.name):
                    request_url = self._follow_page(resp, last=hop == _PAGE_HOPS)
                    continue
                if resp.status_code == 416:
                    return self._handle_416(resp, offset)
                if resp.status_code >= 400:
                    raise DownloadError(self._unreachable(request_url, f"HTTP {resp.status_code} {resp.reason}"))
                resumed = resp.status_code == 206 and _content_range_start(resp) == offset
                if resp.status_code == 206 and not resumed:
                    self._discard()
                    return False
                self._write(resp, offset if resumed else 0, url)
            return True
        raise AssertionError("unreachable: the last page hop raises")

    def _follow_page(self, resp: Any, *, last: bool) -> str:
        """A web page came back instead of the file: the URL Google Drive's virus-scan warning form leads to.

        Drive answers scripted downloads of large files with a "Virus scan warning" page whose form
        (`id="download-form"`, method GET, hidden inputs id, export, confirm=t, uuid) fetches the file
        when submitted; it answers with a "Quota exceeded" page once a file was downloaded too often
        that day. The quota page, an error status, or any other page (or a form again on the `last`
        hop) raises DownloadError; nothing of the page is saved.
        """
        page = _Page.read(resp)
        kept = " " + _("The partial file was kept for a later resume.") if self.part.exists() else ""
        if page.is_drive_quota():
            raise DownloadError(_(
                "{file}: Google Drive did not send the file ({url}): it limits how many times a file can be "
                "downloaded per day, and that limit has been reached. Try again in 24 hours, or get the file from "
                "a mirror."
            ).format(file=self.file.name, url=resp.url) + kept + " " + index_hint())
        follow_up = page.form_url(resp.url)
        if resp.status_code < 400 and follow_up and not last:
            return follow_up
        if resp.status_code >= 400:
            raise DownloadError(self._unreachable(resp.url, f"HTTP {resp.status_code} {resp.reason}"))
        raise DownloadError(_(
            "{file}: {url} answered with a web page (title: {title}) instead of the file; the page was not saved."
        ).format(file=self.file.name, url=resp.url, title=page.short_title() or _("none")) + kept + " " + _(
            "Open the address in a web browser to see why, or use a mirror with base_url / --base-url."))

    def _resume_offset(self, url: str) -> int:
        """Bytes already in `.part` for this same URL (0 when there is none, or it came from elsewhere)."""
        if not self.part.exists():
            return 0
        if self._meta().get("url") != url:
            self._discard()
            return 0
        return self.part.stat().st_size

    def _headers(self, offset: int) -> dict[str, str]:
        """Request headers: raw bytes (no transfer gzip), and Range/If-Range when resuming."""
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            validator = self._meta().get("validator")
            if validator:
                headers["If-Range"] = validator
        return headers

    def _handle_416(self, resp: Any, offset: int) -> bool:
        """Range not satisfiable: the part is already complete (True) or unusable (restart, False)."""
        total = resp.headers.get("Content-Range", "").rpartition("/")[2]
        if total.isdigit() and int(total) == offset:
            return True
        self._discard()
        return False

    def _write(self, resp: Any, offset: int, url: str) -> None:
        """Stream the body into `.part` (appending at `offset`), with a progress bar; check its length."""
        from tqdm import tqdm

        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        self._save_meta(url, resp.headers.get("ETag") or resp.headers.get("Last-Modified") or "")
        total = None if expected is None else offset + expected
        received = 0
        bar = tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            desc=self.file.name,
            disable=not self.progress,
            file=sys.stderr,
        )
        with bar, open(self.part, "ab" if offset else "wb") as out:
            try:
                for chunk in resp.raw.stream(self.chunk_size, decode_content=False):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except Exception as exc:  # urllib3 errors: connection reset, incomplete read, timeout
                out.close()
                raise DownloadError(self._interrupted(url, _reason(exc), total)) from exc
        if expected is not None and received != expected:
            raise DownloadError(self._interrupted(url, _("connection closed early"), total))

    def _interrupted(self, url: str, exc: object, expected_total: int | None = None) -> str:
        """The message for a failed transfer: how much was kept and that re-running resumes it."""
        have = self.part.stat().st_size if self.part.exists() else 0
        got = (_("{have} of {total} bytes").format(have=count(have), total=count(expected_total))
               if expected_total is not None else _("{have} bytes").format(have=count(have)))
        return _(
            "{file}: download from {url} interrupted after {got} ({error}). "
            "The partial file {part} was kept; run the same command again to resume."
        ).format(file=self.file.name, url=url, got=got, error=exc, part=self.part.name)

    def _unreachable(self, url: str, reason: str) -> str:
        """The message for a request that got no file: why, and what to try."""
        kept = " " + _("The partial file was kept for a later resume.") if self.part.exists() else ""
        return (
            _("{file}: could not download from {url} ({reason}).").format(file=self.file.name, url=url, reason=reason)
            + kept + " " + _("Check the network, or use a mirror with base_url / --base-url (plus known_hash if its "
                             "copy is re-packed).")
        )

    def _verify(self) -> None:
        """Check the finished `.part` against the expected hash; delete it and say so on mismatch."""
        if self.file.known_hash is None:
            return
        import pooch

        alg, _colon, want = self.file.known_hash.partition(":")
        got = pooch.file_hash(str(self.part), alg=alg)
        if got.lower() == want:
            return
        self._discard()
        raise ChecksumError(_(
            "{file} from {url}: checksum mismatch: expected {want} ({source}), got {got}. The downloaded file was "
            "deleted. It was corrupted in transit, or the server holds a different copy; run again to retry, or, for "
            "a mirror you trust whose copy is re-packed, pass its checksum as known_hash={example}."
        ).format(file=self.file.name, url=self.file.url, want=f"{alg}:{want}", source=self.file.hash_source,
                 got=f"{alg}:{got}", example="{" + f"{self.file.name!r}: 'sha256:...'" + "}"))

    def _meta(self) -> dict[str, Any]:
        """The `.part.json` sidecar (URL and ETag/Last-Modified of the partial transfer), or {}."""
        try:
            return json.loads(self.meta.read_text())
        except (OSError, ValueError):
            return {}

    def _save_meta(self, url: str, validator: str) -> None:
        """Remember which URL and which version of it the `.part` file holds."""
        self.meta.write_text(json.dumps({"url": url, "validator": validator}))

    def _discard(self) -> None:
        """Delete the partial file and its sidecar: the next request starts from byte 0."""
        self.part.unlink(missing_ok=True)
        self.meta.unlink(missing_ok=True)


def _reason(exc: BaseException) -> str:
    """A network error as one short phrase (urllib3 nests the useful text in its first argument)."""
    first = exc.args[0] if exc.args else exc
    return str(first) if isinstance(first, str) else f"{type(exc).__name__}: {exc}"


# -- web pages served instead of files (Google Drive) --------------------------------------------

_PAGE_HOPS = 3  # warning pages followed for one file before giving up
_PAGE_BYTES = 1 << 20  # how much of a page is read to recognise it
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_QUOTA_PHRASES = ("quota exceeded", "too many users have viewed or downloaded this file recently")


def _is_web_page(resp: Any, file_name: str) -> bool:
    """Whether a response is an HTML page while a data file (not itself a .html file) is expected."""
    media = resp.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    return media in _HTML_TYPES and not file_name.lower().endswith((".html", ".htm"))


class _Page(HTMLParser):
    """What fetch needs from a page served instead of a file: its title, its text, and Drive's download form."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title, self.text = "", []
        self.action: str | None = None  # of the first <form id="download-form" method="get">
        self.inputs: list[tuple[str, str]] = []
        self._in: str | None = None  # "title" / "script" / "style" while inside one
        self._in_form = False

    @classmethod
    def read(cls, resp: Any) -> _Page:
        """Parse the first MB of a streamed response."""
        import requests

        data = b""
        try:
            for chunk in resp.iter_content(1 << 16):
                data += chunk
                if len(data) >= _PAGE_BYTES:
                    break
        except requests.RequestException:
            pass  # a page cut short is still recognised by what arrived
        try:
            text = data[:_PAGE_BYTES].decode(resp.encoding or "utf-8", errors="replace")
        except LookupError:
            text = data[:_PAGE_BYTES].decode("utf-8", errors="replace")
        page = cls()
        page.feed(text)
        page.close()
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("title", "script", "style"):
            self._in = tag
        elif tag == "form" and a.get("id") == "download-form" and self.action is None:
            if a.get("method", "get").lower() == "get":
                self.action, self._in_form = a.get("action", ""), True
        elif tag == "input" and self._in_form and a.get("name"):
            if a.get("type", "text").lower() in ("hidden", "text"):
                self.inputs.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None
        elif tag == "form":
            self._in_form = False

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in is None:
            self.text.append(data)

    def short_title(self) -> str:
        """The title on one line, at most about 100 characters."""
        title = " ".join(self.title.split())
        return title if len(title) <= 100 else title[:99] + "…"

    def is_drive_quota(self) -> bool:
        """Google Drive's "Quota exceeded / Too many users have viewed or downloaded this file" page."""
        words = " ".join((self.title + " " + " ".join(self.text)).split()).lower()
        return any(phrase in words for phrase in _QUOTA_PHRASES)

    def form_url(self, page_url: str) -> str | None:
        """The URL submitting the download form requests (its inputs as the query), or None without one."""
        if self.action is None:
            return None
        action = urljoin(page_url, self.action)
        parts = urlsplit(action)
        if parts.scheme not in ("http", "https"):
            return None
        return parts._replace(query=urlencode(self.inputs), fragment="").geturl()


def _content_range_start(resp: Any) -> int | None:
    """The first byte offset of a 206 response's `Content-Range: bytes START-END/TOTAL`."""
    match = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


# -- unpacking ----------------------------------------------------------------------------------


def _assemble(paths: list[Path], target: Path, files: list[_File], progress: bool) -> None:
    """Build the dataset folder in a hidden sibling (archives unpacked, other files linked) and rename it."""
    if target.exists():
        raise FileExistsError(_("{target}: exists but is not a completed fetch; remove it and run again").format(
            target=target))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        os.chmod(staging, 0o755)
        for path in paths:
            if is_archive_name(path.name):
                _unpack_into(path, staging, progress)
            else:
                _link_or_copy(path, staging / path.name)
        _write_marker(staging, files)
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / MARKER).is_file():  # else another fetch of the same dataset finished first
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _unpack_into(archive: Path, staging: Path, progress: bool) -> None:
    """Extract one archive safely and merge its top level into the staging folder."""
    if progress:
        print(_("Unpacking {archive} ...").format(archive=archive.name), file=sys.stderr)
    unpacked = extract(archive, staging / f".unpack-{archive.name}")
    for child in sorted(unpacked.iterdir()):
        if (staging / child.name).exists():
            raise ArchiveError(_("{archive}: {name} also comes from another file of this dataset").format(
                archive=archive, name=repr(child.name)))
        os.rename(child, staging / child.name)
    unpacked.rmdir()


def _link_or_copy(src: Path, dest: Path) -> None:
    """Hard-link a downloaded plain file into the dataset folder (no second copy), else copy it."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _write_marker(folder: Path, files: list[_File]) -> None:
    """Record what this completed fetch holds; its presence means 'done, no network needed'."""
    record = {"files": {f.name: f.known_hash for f in files}, "urls": {f.name: f.url for f in files}}
    (folder / MARKER).write_text(json.dumps(record, indent=2) + "\n")


def _result_dir(target: Path, info: dict[str, Any]) -> Path:
    """The folder to index: the entry's `root` inside the dataset, else its single top folder, else itself."""
    root = info.get("root")
    if root and (target / str(root)).is_dir():
        return target / str(root)
    folders = [p for p in target.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return folders[0] if len(folders) == 1 else target
