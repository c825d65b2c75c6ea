"""Datasets on the Hugging Face Hub: `hf:OWNER/NAME[@REVISION]` resolved to a commit, listed, downloaded, verified.

Downloads go through `huggingface_hub` (resumable, `HF_ENDPOINT` honoured), one file at a time into
a plain folder, and each file's sha256 is checked against the Hub's LFS sha256. A token is sent
only when `HF_TOKEN` is set: a gated or private repo answers 401/403, and the error says what to do.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from exposure.errors import ExposureError
from exposure.files import sha256_file
from exposure.i18n import _
from exposure.plain import count

PREFIX = "hf:"
DEFAULT_ENDPOINT = "https://huggingface.co"
_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
# the published layouts exposure reads, by file name: Parquet, WebDataset tars, RecordIO, image archives
DATA_SUFFIXES = (".parquet", ".tar", ".rec", ".idx", ".zip", ".tgz", ".tar.gz")
SIDE_FILES = ("property",)  # RecordIO's "classes,height,width"
CARD = "README.md"


class HubError(ExposureError):
    """The Hub (or the server at HF_ENDPOINT) refused or failed a request: says what to do."""


class HubChecksumError(HubError, ValueError):
    """A downloaded file's sha256 differs from the Hub's LFS sha256; the file was deleted."""


@dataclass(frozen=True)
class HubRef:
    """A dataset repo on the Hub and the revision asked for (a branch, tag or commit)."""

    repo: str
    revision: str = "main"

    def __str__(self) -> str:
        return f"{PREFIX}{self.repo}@{self.revision}"


@dataclass(frozen=True)
class HubFile:
    """One data file of a repo at a commit: its path in the repo, size and LFS sha256 (None if not LFS)."""

    path: str
    size: int
    sha256: str | None


def is_hub_ref(text: str) -> bool:
    """True for `hf:OWNER/NAME[@REVISION]`."""
    return str(text).startswith(PREFIX)


def parse_ref(text: str) -> HubRef:
    """`hf:OWNER/NAME[@REVISION]` as a HubRef; ExposureError saying the form when it is not one."""
    body = str(text)[len(PREFIX):] if is_hub_ref(text) else str(text)
    repo, _at, revision = body.partition("@")
    if not _REPO_RE.match(repo) or ".." in repo or (revision == "" and "@" in body):
        raise ExposureError(_("{text}: not a Hub dataset id; write hf:OWNER/NAME or hf:OWNER/NAME@REVISION").format(
            text=repr(text)))
    return HubRef(repo, revision or "main")


def endpoint() -> str:
    """The Hub's address: HF_ENDPOINT when set (a mirror, or a test server), read at each call."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def _token() -> str | bool:
    """HF_TOKEN when set; otherwise False, so that no stored login is sent to a public dataset."""
    return os.environ.get("HF_TOKEN") or False


def page_url(ref: HubRef, commit: str, path: str | None = None) -> str:
    """Where a person sees the dataset (or one of its files) at that commit, on the Hub's website."""
    base = f"{endpoint()}/datasets/{ref.repo}"
    return f"{base}/blob/{commit}/{path}" if path else f"{base}/tree/{commit}"


def _explain(ref: HubRef, e: Exception) -> HubError:
    """One clear error from huggingface_hub's HTTP errors: gated, not found, or unreachable."""
    response = getattr(e, "response", None)
    status = getattr(response, "status_code", None)
    where = _("{repo} at {endpoint}").format(repo=ref.repo, endpoint=endpoint())
    if status in (401, 403):
        has = _("the token in HF_TOKEN is not allowed") if os.environ.get("HF_TOKEN") else _("no token was sent")
        return HubError(_("{where}: the dataset is gated or private ({status}; {has}). Accept its terms at {page}, "
                          "then set HF_TOKEN to a read token and run again").format(
            where=where, status=status, has=has, page=f"{endpoint()}/datasets/{ref.repo}"))
    if status == 404:
        return HubError(_("{where}: no such dataset, revision or file (404); check the id and the revision").format(
            where=where))
    if status is None:  # no answer at all
        return HubError(_("{where}: the Hub cannot be reached ({reason}); check the internet connection, or "
                          "HF_ENDPOINT if you use a mirror").format(where=where, reason=' '.join(str(e).split())[:200]))
    return HubError(f"{where}: {type(e).__name__}: {' '.join(str(e).split())[:300]}")


def _hf():
    """huggingface_hub, with its telemetry off: exposure sends the Hub nothing but the downloads asked for."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    import huggingface_hub
    from huggingface_hub import constants

    constants.HF_HUB_DISABLE_TELEMETRY = True  # read at import: set again in case it was imported before
    return huggingface_hub


def _api():
    return _hf().HfApi(endpoint=endpoint(), token=_token())


def _hub_errors() -> tuple[type[BaseException], ...]:
    """What a Hub call raises: its HTTP errors, and its HTTP client's network errors (offline, host unknown,
    timeout), which huggingface_hub lets through unwrapped."""
    import importlib

    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    network: tuple[type[BaseException], ...] = ()
    for client in ("httpx2", "httpx"):  # huggingface_hub 2.x's client, 1.x's (older ones raise OSErrors)
        try:
            network = (importlib.import_module(client).HTTPError,)
            break
        except ImportError:
            continue
    return (HfHubHTTPError, EntryNotFoundError, OSError, *network)


def resolve(ref: HubRef) -> str:
    """The commit sha the revision points at now (a commit sha is returned as it is, after checking it exists)."""
    try:
        info = _api().dataset_info(ref.repo, revision=ref.revision)
    except _hub_errors() as e:
        raise _explain(ref, e) from None
    sha = getattr(info, "sha", None)
    if not sha or not _COMMIT_RE.match(sha):
        raise HubError(_("{repo}: the Hub gave no commit for revision {revision}").format(
            repo=ref.repo, revision=repr(ref.revision)))
    return sha


def is_data_file(path: str) -> bool:
    """A file holding images or labels in a layout exposure reads (not the card, scripts or hidden files)."""
    name = PurePosixPath(path).name
    return (not name.startswith(".") and (name.lower().endswith(DATA_SUFFIXES) or name in SIDE_FILES))


def safe_repo_path(path: str) -> str:
    """A repo file path usable below a local folder: relative, no '..', no backslash; else HubError."""
    p = PurePosixPath(path)
    if (not path or p.is_absolute() or "\\" in path or any(part in ("", ".", "..") for part in path.split("/"))
            or any(ord(c) < 32 for c in path)):
        raise HubError(_("refusing a file name the Hub listed: {path} (not a plain relative path)").format(
            path=repr(path)))
    return path


def list_files(ref: HubRef, commit: str, data_only: bool = True) -> list[HubFile]:
    """Every data file (or every file) of the repo at that commit, sorted by path, with its size and LFS sha256."""
    try:
        entries = list(_api().list_repo_tree(ref.repo, repo_type="dataset", revision=commit, recursive=True))
    except _hub_errors() as e:
        raise _explain(ref, e) from None
    found = []
    for e in entries:
        size = getattr(e, "size", None)
        if size is None or (data_only and not is_data_file(e.path)):  # folders have no size
            continue
        lfs = getattr(e, "lfs", None)
        found.append(HubFile(safe_repo_path(e.path), int(size), getattr(lfs, "sha256", None)))
    return sorted(found, key=lambda f: f.path)


def pinned_files(ref: HubRef, commit: str, pinned: list[dict]) -> list[HubFile]:
    """The files a catalog entry pins ([[fetch.files]]: path, sha256, source), as the Hub lists them at the
    commit; HubError when one is missing or its sha256 is not the one the catalog recorded (the mirror changed)."""
    listed = {f.path: f for f in list_files(ref, commit, data_only=False)}
    out = []
    for p in pinned:
        f = listed.get(p["path"])
        if f is None:
            raise HubError(_("{repo} at {commit}: the catalog lists {path}, which the Hub does not have; the mirror "
                             "changed since the catalog was written ({source})").format(
                repo=ref.repo, commit=commit[:12], path=p["path"], source=p["source"]))
        if p["sha256"] and f.sha256 != p["sha256"]:
            raise HubChecksumError(_("{repo} at {commit}: {path} has sha256 {got} on the Hub, but the catalog recorded "
                                     "{want} ({source}); nothing was downloaded").format(
                repo=ref.repo, commit=commit[:12], path=p["path"], got=f.sha256 or _("none"), want=p["sha256"],
                source=p["source"]))
        out.append(f)
    return out


def units(files: list[HubFile]) -> list[list[HubFile]]:
    """Files that must be on disk together to be read: a RecordIO .rec with its .idx (and `property`), else one file."""
    by_path = {f.path: f for f in files}
    grouped, used = [], set()
    for f in files:
        if f.path in used:
            continue
        group = [f]
        if f.path.endswith(".rec"):
            stem = f.path[: -len(".rec")]
            parent = str(PurePosixPath(f.path).parent)
            side = [by_path.get(stem + ".idx"), by_path.get("property" if parent == "." else f"{parent}/property")]
            group += [s for s in side if s is not None]
        elif f.path.endswith(".idx") and f.path[: -len(".idx")] + ".rec" in by_path:
            continue  # goes with its .rec
        elif PurePosixPath(f.path).name in SIDE_FILES:
            continue  # goes with the .rec beside it
        used.update(g.path for g in group)
        grouped.append(group)
    return grouped


def download(ref: HubRef, commit: str, f: HubFile, folder: Path, progress: bool = True) -> Path:
    """One file into folder/<repo path>, resumable, then verified against the Hub's sha256 (HubChecksumError)."""
    import contextlib

    hf = _hf()
    import huggingface_hub.utils as hf_utils

    safe_repo_path(f.path)
    folder.mkdir(parents=True, exist_ok=True)
    quiet = contextlib.nullcontext() if progress else hf_utils.disable_progress_bars()
    try:
        with quiet:
            local = Path(hf.hf_hub_download(
                ref.repo, f.path, repo_type="dataset", revision=commit, local_dir=folder,
                endpoint=endpoint(), token=_token(), cache_dir=folder / ".cache" / "blobs",
            ))
    except _hub_errors() as e:
        raise _explain(ref, e) from None
    verify(ref, f, local, folder)
    return local


def verify(ref: HubRef, f: HubFile, local: Path, folder: Path | None = None) -> None:
    """Check a downloaded file's size and sha256 against the listing; delete it and raise when they differ."""
    size = local.stat().st_size
    got = sha256_file(local) if f.sha256 else None
    if size != f.size or (f.sha256 and got != f.sha256):
        forget(local, f, folder)
        what = _("sha256 {got}, the Hub says {want}").format(got=got, want=f.sha256) if f.sha256 and got != f.sha256 \
            else _("{size} bytes, the Hub says {want}").format(size=count(size), want=count(f.size))
        raise HubChecksumError(_("{file}: the downloaded file does not match the Hub ({what}); it was deleted: run "
                                 "again to download it anew").format(file=f"{ref.repo}/{f.path}", what=what))


def forget(local: Path, f: HubFile | None = None, folder: Path | None = None) -> None:
    """Delete a downloaded file and what huggingface_hub kept about it (so it is fetched anew if asked again)."""
    local.unlink(missing_ok=True)
    if folder is not None and f is not None:
        meta = folder / ".cache" / "huggingface" / "download" / f"{f.path}.metadata"
        meta.unlink(missing_ok=True)


def remove_tree(folder: Path) -> None:
    """Delete a download folder entirely (the streamed index's staging area)."""
    shutil.rmtree(folder, ignore_errors=True)


def read_card(ref: HubRef, commit: str, folder: Path) -> str | None:
    """The dataset card (README.md) text at that commit, or None when the repo has none."""
    hf_hub_download = _hf().hf_hub_download
    try:
        path = hf_hub_download(ref.repo, CARD, repo_type="dataset", revision=commit, local_dir=folder,
                               endpoint=endpoint(), token=_token(), cache_dir=folder / ".cache" / "blobs")
    except _hub_errors() as e:
        if getattr(getattr(e, "response", None), "status_code", None) in (401, 403):
            raise _explain(ref, e) from None
        return None
    return Path(path).read_text(encoding="utf-8", errors="replace")


def human_bytes(n: float) -> str:
    """Bytes for people: 1.2 GB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def iter_units(ref: HubRef, commit: str) -> Iterator[list[HubFile]]:
    """The repo's files in the order a streamed index reads them, grouped as they must be on disk."""
    yield from units(list_files(ref, commit))


FETCHED = ".exposure-fetch.json"  # written last in a fetched repo's folder: "complete and verified"


def fetch_repo(ref: HubRef, home=None, progress: bool = True, pinned: list[dict] | None = None) -> Path:
    """Download and verify every data file (and the card) of a Hub dataset into the data home; returns the folder.

    The folder is `<data home>/hub/OWNER/NAME/<commit>`: the revision is pinned when the fetch starts,
    and a re-run after an interruption resumes the file it stopped in. `pinned`: a catalog entry's
    [[fetch.files]], then exactly those files are fetched, each checked against the catalog's sha256.
    """
    from exposure.home import data_home

    commit = resolve(ref)
    folder = data_home(home) / "hub" / ref.repo / commit
    if (folder / FETCHED).is_file():
        return folder
    files = pinned_files(ref, commit, pinned) if pinned else list_files(ref, commit)
    if not files:
        raise HubError(_("{repo} at {commit}: no data files exposure can read (Parquet, WebDataset .tar, "
                         "RecordIO .rec/.idx, image archives)").format(repo=ref.repo, commit=commit[:12]))
    total, done = sum(f.size for f in files), 0
    for i, f in enumerate(files, 1):
        download(ref, commit, f, folder, progress)
        done += f.size
        if progress:
            print(_("file {i}/{n} {file}: {done} of {total} verified").format(
                i=count(i), n=count(len(files)), file=f.path, done=human_bytes(done), total=human_bytes(total)),
                file=sys.stderr, flush=True)
    read_card(ref, commit, folder)
    record = {"repo": ref.repo, "revision": commit, "asked": ref.revision, "endpoint": endpoint(),
              "files": {f.path: {"size": f.size, "sha256": f.sha256} for f in files}}
    (folder / FETCHED).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return folder
