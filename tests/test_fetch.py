"""fetch(): checksum-verified, resumable downloads from a loopback HTTP server, and safe unpacking."""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import re
import socket
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from exposure.archives import UnsafeArchiveError
from exposure.datasets.download import ChecksumError, DownloadError, NotDownloadable, UnknownDataset, fetch

# exposure.datasets exposes the *function* `fetch` lazily; the module is reached by its full name.
fetch_module = importlib.import_module("exposure.datasets.download")


def _lfw_dir() -> Path:
    """The shared LFW copy: $EXPOSURE_LFW_DIR, else ../shared/data/lfw beside the repository."""
    env = os.environ.get("EXPOSURE_LFW_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared/data/lfw"


LFW = _lfw_dir()
TGZ = "lfw-deepfunneled.tgz"
PAIRS = ("pairsDevTrain.txt", "pairsDevTest.txt")
needs_lfw = pytest.mark.skipif(
    not (LFW / TGZ).is_file(), reason=f"LFW test data not found at {LFW} (set EXPOSURE_LFW_DIR to its folder)"
)


def _sha256sums() -> dict[str, str]:
    """file name -> 'sha256:hex' from the shared folder's SHA256SUMS."""
    sums = {}
    for line in (LFW / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name.lstrip("*")] = f"sha256:{digest}"
    return sums


# -- a loopback HTTP server with Range support, cut-offs and corruption ----------------------------


@dataclass
class Served:
    """What the test server serves and how it misbehaves; `log` records (path, Range header)."""

    files: dict[str, Path]
    log: list[tuple[str, str | None]] = field(default_factory=list)
    cut_after: dict[str, int] = field(default_factory=dict)  # name -> bytes sent before hanging up (once)
    corrupt: set[str] = field(default_factory=set)  # names served with flipped bytes
    ranges: bool = True  # honour Range requests
    url: str = ""


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to `served`."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            name = self.path.lstrip("/")
            served.log.append((name, self.headers.get("Range")))
            path = served.files.get(name)
            if path is None:
                self.send_error(404)
                return
            size = path.stat().st_size
            start = self._range_start(size)
            if start is None:
                return
            self._send_headers(size, start)
            self._send_body(name, path, start, size)

        def _range_start(self, size: int) -> int | None:
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if not (served.ranges and match):
                return 0
            start = int(match.group(1))
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return start

        def _send_headers(self, size: int, start: int) -> None:
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.send_header("Content-Length", str(size - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", '"v1"')
            self.end_headers()

        def _send_body(self, name: str, path: Path, start: int, size: int) -> None:
            limit = served.cut_after.pop(name, None)
            with open(path, "rb") as f:
                f.seek(start)
                pos = start
                while chunk := f.read(1 << 20):
                    if name in served.corrupt and pos <= size // 2 < pos + len(chunk):
                        i = size // 2 - pos
                        chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1 :]
                    if limit is not None and pos + len(chunk) > limit:
                        self.wfile.write(chunk[: max(limit - pos, 0)])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    self.wfile.write(chunk)
                    pos += len(chunk)

    return Handler


@pytest.fixture
def serve() -> Iterator:
    """Start a ThreadingHTTPServer on 127.0.0.1 for the given files; shut it down afterwards."""
    servers: list[ThreadingHTTPServer] = []

    def start(files: dict[str, Path]) -> Served:
        served = Served(files=files)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        served.url = f"http://127.0.0.1:{server.server_address[1]}/"
        return served

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def lfw_server(serve) -> Served:  # noqa: ANN001 - fixture factory
    """The shared LFW archive and pair lists, served on loopback."""
    return serve({name: LFW / name for name in (TGZ, *PAIRS)})


def _files_under(root: Path) -> list[str]:
    """Every file and folder below `root`, relative (empty when root is absent)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


# -- LFW end to end -----------------------------------------------------------------------------


@needs_lfw
@pytest.mark.lfw
def test_fetch_lfw_end_to_end_then_offline(lfw_server: Served, tmp_path: Path) -> None:
    home = tmp_path / "home"
    root = fetch("lfw-deepfunneled", base_url=lfw_server.url, home=home, known_hash=_sha256sums(), progress=False)
    assert root == home / "datasets" / "lfw-deepfunneled" / "lfw-deepfunneled"
    people = [p for p in root.iterdir() if p.is_dir()]
    assert len(people) == 5749
    assert sum(1 for _ in root.rglob("*.jpg")) == 13233
    for name in PAIRS:
        assert (root.parent / name).read_bytes() == (LFW / name).read_bytes()
    assert sorted(name for name, _ in lfw_server.log) == sorted([TGZ, *PAIRS])
    assert not [p for p in (home / "datasets").iterdir() if p.name.startswith(".")]

    lfw_server.log.clear()
    again = fetch("lfw-deepfunneled", base_url=lfw_server.url, home=home, known_hash=_sha256sums(), progress=False)
    assert again == root
    assert lfw_server.log == [], "a second fetch must not touch the network"


@needs_lfw
@pytest.mark.lfw
def test_corrupted_download_is_refused_and_nothing_is_kept(lfw_server: Served, tmp_path: Path) -> None:
    lfw_server.corrupt.add(TGZ)
    home = tmp_path / "home"
    with pytest.raises(ChecksumError) as caught:
        fetch("lfw-deepfunneled", base_url=lfw_server.url, home=home, known_hash=_sha256sums(), progress=False)
    message = str(caught.value)
    assert TGZ in message and "checksum mismatch" in message
    assert f"expected {_sha256sums()[TGZ]}" in message and "got sha256:" in message and "deleted" in message
    assert _files_under(home / "datasets") == []
    assert _files_under(home / "downloads") in ([], ["lfw-deepfunneled"]), "no partial or unverified file may remain"

    lfw_server.corrupt.clear()  # the mirror is fixed: a re-run starts from scratch and succeeds
    lfw_server.log.clear()
    fetch("lfw-deepfunneled", base_url=lfw_server.url, home=home, known_hash=_sha256sums(), progress=False, unpack=False)
    assert (TGZ, None) in lfw_server.log


@needs_lfw
@pytest.mark.lfw
def test_official_md5_mismatch_says_so_plainly(lfw_server: Served, tmp_path: Path) -> None:
    # The shared copy is re-packed: the published md5 cannot match, and the error must say why.
    home = tmp_path / "home"
    with pytest.raises(ChecksumError) as caught:
        fetch("lfw-deepfunneled", base_url=lfw_server.url, home=home, progress=False, unpack=False)
    message = str(caught.value)
    assert "expected md5:68331da3eb755a505a502b5aacb3c201 (the published checksum)" in message
    assert "got md5:" in message and "deleted" in message and "known_hash" in message
    assert _files_under(home / "downloads" / "lfw-deepfunneled") == []


@needs_lfw
@pytest.mark.lfw
def test_interrupted_transfer_resumes_with_range(lfw_server: Served, tmp_path: Path) -> None:
    size = (LFW / TGZ).stat().st_size
    lfw_server.cut_after[TGZ] = int(size * 0.3)
    home = tmp_path / "home"
    downloads = home / "downloads" / "lfw-deepfunneled"
    with pytest.raises(DownloadError, match="interrupted.*run the same command again"):
        fetch("lfw-deepfunneled", base_url=lfw_server.url, home=home, known_hash=_sha256sums(), progress=False, unpack=False)
    part = downloads / (TGZ + ".part")
    kept = part.stat().st_size
    assert 0 < kept <= int(size * 0.3)
    assert not (downloads / TGZ).exists(), "a partial transfer must never get the final name"
    assert not (home / "datasets").exists()

    lfw_server.log.clear()
    out = fetch("lfw-deepfunneled", base_url=lfw_server.url, home=home, known_hash=_sha256sums(), progress=False, unpack=False)
    assert out == downloads
    assert (TGZ, f"bytes={kept}-") in lfw_server.log, lfw_server.log
    assert "sha256:" + hashlib.sha256((downloads / TGZ).read_bytes()).hexdigest() == _sha256sums()[TGZ]
    assert sorted(p.name for p in downloads.iterdir()) == sorted([TGZ, *PAIRS])


# -- resume corner cases, on the small pair file ------------------------------------------------


@pytest.fixture
def small_dataset(tmp_path: Path, serve, monkeypatch: pytest.MonkeyPatch) -> Served:  # noqa: ANN001
    """A built-in dataset 'tiny' (a .tgz of two people and a text file) served on loopback."""
    src = tmp_path / "src"
    src.mkdir()
    tgz = src / "tiny.tgz"
    with tarfile.open(tgz, "w:gz") as tf:
        for i, person in enumerate(["Ada_Lovelace", "Alan_Turing"]):
            data = os.urandom(300_000 + i)
            info = tarfile.TarInfo(f"tiny/{person}/{person}_0001.jpg")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    (src / "notes.txt").write_text("hello\n")
    entry = {
        "name": "tiny",
        "status": "available",
        "files": [
            {"name": name, "url": "", "size": (src / name).stat().st_size, "checksum": _sha(src / name)}
            for name in ("tiny.tgz", "notes.txt")
        ],
    }
    monkeypatch.setitem(fetch_module.REGISTRY, "tiny", entry)
    return serve({"tiny.tgz": tgz, "notes.txt": src / "notes.txt"})


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_small_dataset_folder_and_marker(small_dataset: Served, tmp_path: Path) -> None:
    home = tmp_path / "home"
    root = fetch("tiny", base_url=small_dataset.url, home=home, progress=True)
    assert root == home / "datasets" / "tiny" / "tiny"
    assert sorted(p.name for p in root.iterdir()) == ["Ada_Lovelace", "Alan_Turing"]
    assert (root.parent / "notes.txt").read_text() == "hello\n"
    assert (root.parent / fetch_module.MARKER).is_file()


def test_server_without_range_support_restarts_cleanly(small_dataset: Served, tmp_path: Path) -> None:
    small_dataset.ranges = False
    small_dataset.cut_after["tiny.tgz"] = 100_000
    home = tmp_path / "home"
    with pytest.raises(DownloadError):
        fetch("tiny", base_url=small_dataset.url, home=home, progress=False)
    fetch("tiny", base_url=small_dataset.url, home=home, progress=False)
    assert [r for n, r in small_dataset.log if n == "tiny.tgz"][1].startswith("bytes=")  # asked; got 200


def test_corrupt_partial_file_fails_hash_then_restarts(small_dataset: Served, tmp_path: Path) -> None:
    small_dataset.cut_after["tiny.tgz"] = 100_000
    home = tmp_path / "home"
    with pytest.raises(DownloadError):
        fetch("tiny", base_url=small_dataset.url, home=home, progress=False)
    part = home / "downloads" / "tiny" / "tiny.tgz.part"
    with open(part, "r+b") as f:  # the partial file got damaged on disk
        f.write(b"garbage")
    with pytest.raises(ChecksumError, match="tiny.tgz"):
        fetch("tiny", base_url=small_dataset.url, home=home, progress=False)
    assert not part.exists() and _files_under(home / "datasets") == []
    fetch("tiny", base_url=small_dataset.url, home=home, progress=False)
    assert small_dataset.log[-2:] == [("tiny.tgz", None), ("notes.txt", None)]


def test_hostile_archive_with_valid_hash_leaves_nothing(serve, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    evil = tmp_path / "evil.tgz"
    with tarfile.open(evil, "w:gz") as tf:
        for name in ("good/a.jpg", "../../escaped.jpg"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tf.addfile(info, io.BytesIO(b"abc"))
    entry = {"name": "evil", "status": "available", "files": [{"name": "evil.tgz", "url": "", "checksum": _sha(evil)}]}
    monkeypatch.setitem(fetch_module.REGISTRY, "evil", entry)
    served = serve({"evil.tgz": evil})
    home = tmp_path / "home"
    before = _files_under(tmp_path)
    with pytest.raises(UnsafeArchiveError, match=r"\.\./\.\./escaped\.jpg"):
        fetch("evil", base_url=served.url, home=home, progress=False)
    assert _files_under(home / "datasets") == []
    new = set(_files_under(tmp_path)) - set(before)
    assert new == {"home", "home/downloads", "home/downloads/evil", "home/downloads/evil/evil.tgz", "home/datasets"}


# -- what cannot be downloaded ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "phrase"),
    [("withdrawn", "withdrawn"), ("on-request", "on request"), ("urls-only", "lists of image URLs")],
)
def test_not_downloadable_explains(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, status: str, phrase: str) -> None:
    entry = {
        "name": "Example-Faces",
        "status": status,
        "urls": ["https://example.org/faces"],
        "removal": {"date": "2019-06", "source": "https://example.org/news"},
        "notes": "Copies persist on torrent sites.",
        "files": [],
    }
    monkeypatch.setitem(fetch_module.REGISTRY, "example-faces", entry)
    with pytest.raises(NotDownloadable) as caught:
        fetch("Example-Faces", home=tmp_path)
    message = str(caught.value)
    assert phrase in message and "https://example.org/faces" in message and "2019-06" in message
    assert message.endswith("If you already have a copy, index it with: exposure index PATH")
    assert not (tmp_path / "downloads").exists()


def test_withdrawn_catalog_dataset_ms_celeb(tmp_path: Path) -> None:
    try:
        from exposure.datasets.catalog_table import entry

        entry("ms-celeb-1m")
    except Exception as exc:  # noqa: BLE001 - any failure means the catalog can't answer yet
        pytest.skip(f"catalog entry 'ms-celeb-1m' not available yet ({type(exc).__name__}: {exc})")
    with pytest.raises(NotDownloadable, match="exposure index PATH"):
        fetch("ms-celeb-1m", home=tmp_path)


def test_lfw_comes_from_figshare_with_scikit_learns_checksums() -> None:
    """`exposure fetch lfw` plans the figshare files scikit-learn fetches, each with its sha256 (no network)."""
    plan = {f.name: f for f in fetch_module._plan(fetch_module.dataset_entry("lfw"), None, None)}
    assert plan["lfw-funneled.tgz"].url == "https://ndownloader.figshare.com/files/5976015"
    assert plan["lfw-funneled.tgz"].known_hash == "sha256:b47c8422c8cded889dc5a13418c4bc2abbda121092b3533a83306f90d900100a"
    assert plan["pairs.txt"].url == "https://ndownloader.figshare.com/files/5976006"
    assert all(f.known_hash.startswith("sha256:") and "figshare" in f.url for f in plan.values())


def test_unknown_dataset_and_bad_overrides(tmp_path: Path) -> None:
    with pytest.raises(UnknownDataset):
        fetch("no-such-dataset-xyz", home=tmp_path)
    with pytest.raises(ValueError, match="not in"):
        fetch("lfw", home=tmp_path, known_hash={"typo.tgz": "sha256:" + "0" * 64})
    with pytest.raises(ValueError, match="checksum"):
        fetch("lfw-deepfunneled", home=tmp_path, known_hash={TGZ: "sha256:xyz"})


def test_complete_partial_file_is_verified_without_refetching(small_dataset: Served, tmp_path: Path) -> None:
    # Killed after the last byte but before verification: the server answers 416 to the Range.
    home = tmp_path / "home"
    folder = home / "downloads" / "tiny"
    folder.mkdir(parents=True)
    (folder / "tiny.tgz.part").write_bytes(small_dataset.files["tiny.tgz"].read_bytes())
    url = small_dataset.url + "tiny.tgz"
    (folder / "tiny.tgz.part.json").write_text(f'{{"url": "{url}", "validator": ""}}')
    fetch("tiny", base_url=small_dataset.url, home=home, progress=False)
    size = small_dataset.files["tiny.tgz"].stat().st_size
    assert small_dataset.log[0] == ("tiny.tgz", f"bytes={size}-")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "tiny.tgz"]


def test_unreachable_server_is_one_clear_error(small_dataset: Served, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=r"tiny\.tgz: could not download .*--base-url"):
        fetch("tiny", base_url=f"http://127.0.0.1:{port}", home=tmp_path / "home", progress=False)
    assert _files_under(tmp_path / "home" / "datasets") == []
