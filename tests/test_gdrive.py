"""fetch() and Google Drive: the virus-scan warning page is followed, the quota page and any other web page
served instead of a file are refused with a clear DownloadError, and nothing of a page is ever saved.

A loopback server plays Drive: `/uc?id=ID` answers small files with a redirect to `/download?id=ID&export=download`
and large ones with a "Virus scan warning" page whose form (action: its own `/download`) carries id, export,
confirm=t and a fresh uuid; `/download` serves the bytes (with Range) only for that uuid, else the page again.
The dataset is a zip of three small JPEGs made with PIL at test time.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import socket
import threading
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest
from PIL import Image

from exposure.datasets.download import DownloadError, fetch

fetch_module = importlib.import_module("exposure.datasets.download")

ZIP_ID = "1zYxWvUtSrQpOnMlKjIhGfEdCbA0123456"
TXT_ID = "1aBcDeFgHiJkLmNoPqRsTuVwXyZ6543210"
JPEGS = ("000001.jpg", "000002.jpg", "000003.jpg")

WARNING_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title>
<meta http-equiv="content-type" content="text/html; charset=utf-8"/>
<style nonce="x">.uc-main{{padding-top:50px;text-align:center}}</style></head>
<body><div class="uc-main"><div id="uc-text"><p class="uc-warning-caption">Google Drive can&#39;t scan this file
for viruses.</p><p class="uc-warning-subcaption"><span class="uc-name-size"><a href="/open?id={id}">{name}</a>
({size}K)</span> is too large for Google to scan for viruses. Would you still like to download this file?</p>
<form id="download-form" action="{base}download" method="get"><input type="submit" id="uc-download-link"
class="goog-inline-block jfk-button jfk-button-action" value="Download anyway"/><input type="hidden" name="id"
value="{id}"><input type="hidden" name="export" value="download"><input type="hidden" name="confirm" value="t">
<input type="hidden" name="uuid" value="{uuid}"></form></div></div><div class="uc-footer">
<hr class="uc-footer-divider"></div></body></html>"""

QUOTA_PAGE = """<!DOCTYPE html><html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"/>
<title>Google Drive - Quota exceeded</title></head><body><div class="uc-main"><div id="uc-text">
<p class="uc-error-caption">Sorry, you can&#39;t view or download this file at this time.</p>
<p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently. Please try accessing
the file again later. If the file you are trying to access is particularly large or is shared with many people,
it may take up to 24 hours to be able to view or download the file.</p></div></div></body></html>"""

LOGIN_PAGE = """<!DOCTYPE html><html><head><title>Google Drive: Sign-in</title></head>
<body><p>Sign in to continue to Google Drive</p><form action="/signin" method="post">
<input type="email" name="identifier"></form></body></html>"""

PORTAL_PAGE = """<html><head><title>  Welcome to Hotel Wi-Fi
  - please accept the terms  </title></head><body>Click to connect.</body></html>"""


@dataclass
class Drive:
    """What the fake Drive serves and how; `log` records (path, query, Range header) of every request."""

    files: dict[str, bytes]
    pages: dict[str, str] = field(default_factory=dict)  # other paths answered with an HTML page (status 200)
    mode: str = "drive"  # "drive"; "quota" / "login": that page for every id; "forgetful": every uuid is wrong
    quota_status: int = 200
    warn_above: int = 10_000  # larger files get the virus-scan warning
    uuids: list[str] = field(default_factory=list)  # handed out, in order
    cut_after: dict[str, int] = field(default_factory=dict)  # id -> bytes sent before hanging up (once)
    log: list[tuple[str, dict[str, str], str | None]] = field(default_factory=list)
    url: str = ""


def _handler(drive: Drive) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            drive.log.append((parts.path, query, self.headers.get("Range")))
            if parts.path.lstrip("/") in drive.pages:
                self._page(200, drive.pages[parts.path.lstrip("/")])
                return
            file_id = query.get("id", "")
            data = drive.files.get(file_id)
            if data is None or parts.path not in ("/uc", "/download"):
                self.send_error(404)
            elif drive.mode == "quota":
                self._page(drive.quota_status, QUOTA_PAGE)
            elif drive.mode == "login":
                self._page(200, LOGIN_PAGE)
            elif len(data) <= drive.warn_above:  # small files: straight to the bytes
                if parts.path == "/uc":
                    self._redirect(f"{drive.url}download?id={file_id}&export=download")
                else:
                    self._file(file_id, data)
            elif parts.path == "/download" and self._confirmed(query):
                self._file(file_id, data)
            else:
                self._warning(file_id, data)

        def _confirmed(self, query: dict[str, str]) -> bool:
            return (drive.mode != "forgetful" and query.get("export") == "download" and query.get("confirm") == "t"
                    and query.get("uuid") in drive.uuids)

        def _redirect(self, location: str) -> None:
            self.send_response(303)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _page(self, status: int, html: str) -> None:
            body = html.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _warning(self, file_id: str, data: bytes) -> None:
            drive.uuids.append(str(uuid.uuid4()))
            self._page(200, WARNING_PAGE.format(id=file_id, name="faces.zip", size=len(data) // 1024,
                                                base=drive.url, uuid=drive.uuids[-1]))

        def _file(self, file_id: str, data: bytes) -> None:
            rng = self.headers.get("Range") or ""
            start = int(rng[6:-1]) if rng.startswith("bytes=") and rng.endswith("-") else 0
            if start >= len(data) > 0:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206 if start else 200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Disposition", 'attachment; filename="faces.zip"')
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", '"drive-v1"')
            self.end_headers()
            limit = drive.cut_after.pop(file_id, None)
            if limit is not None and limit < len(data):
                self.wfile.write(data[start:limit])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(data[start:])

    return Handler


def _faces_zip() -> tuple[bytes, dict[str, bytes]]:
    """A zip of three noise JPEGs under faces/, and the JPEG bytes by name."""
    rng = np.random.default_rng(14)
    jpegs = {}
    for name in JPEGS:
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
        jpegs[name] = buf.getvalue()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in jpegs.items():
            zf.writestr(f"faces/{name}", data)
    return buf.getvalue(), jpegs


def _md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()  # noqa: S324 - as the catalog's torchvision md5s


@pytest.fixture
def drive(monkeypatch: pytest.MonkeyPatch) -> Iterator[Drive]:
    """The fake Drive on 127.0.0.1 and a built-in dataset 'drive-tiny' whose files point at it like CelebA's."""
    zip_bytes, _jpegs = _faces_zip()
    identities = b"".join(f"{name} {i + 1}\n".encode() for i, name in enumerate(JPEGS))
    served = Drive(files={ZIP_ID: zip_bytes, TXT_ID: identities})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}/"
    entry = {
        "name": "drive-tiny",
        "status": "available",
        "root": "faces",
        "files": [
            {"name": "faces.zip", "url": f"{served.url}uc?id={ZIP_ID}", "checksum": _md5(zip_bytes)},
            {"name": "identity.txt", "url": f"{served.url}uc?id={TXT_ID}", "checksum": _md5(identities)},
        ],
    }
    monkeypatch.setitem(fetch_module.REGISTRY, "drive-tiny", entry)
    yield served
    server.shutdown()
    server.server_close()


def _files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def _requests_for(drive: Drive, file_id: str) -> list[tuple[str, dict[str, str], str | None]]:
    return [r for r in drive.log if r[1].get("id") == file_id]


def test_fetch_follows_the_virus_scan_warning(drive: Drive, tmp_path: Path) -> None:
    home = tmp_path / "home"
    root = fetch("drive-tiny", home=home, progress=False)
    assert root == home / "datasets" / "drive-tiny" / "faces"
    _zip, jpegs = _faces_zip()
    assert {p.name: p.read_bytes() for p in root.iterdir()} == jpegs
    downloads = home / "downloads" / "drive-tiny"
    assert _files_under(downloads) == ["faces.zip", "identity.txt"]  # no page, no .part left
    assert (downloads / "faces.zip").read_bytes() == drive.files[ZIP_ID]
    (uc, _q, _r), (download, query, _r2) = _requests_for(drive, ZIP_ID)
    assert (uc, download) == ("/uc", "/download")
    assert query == {"id": ZIP_ID, "export": "download", "confirm": "t", "uuid": drive.uuids[0]}
    assert [path for path, _q, _r in _requests_for(drive, TXT_ID)] == ["/uc", "/download"]  # small: no warning


@pytest.mark.parametrize("status", [200, 403])
def test_quota_page_is_a_clear_error_and_nothing_is_kept(drive: Drive, tmp_path: Path, status: int) -> None:
    drive.mode, drive.quota_status = "quota", status
    home = tmp_path / "home"
    with pytest.raises(DownloadError) as caught:
        fetch("drive-tiny", home=home, progress=False)
    message = str(caught.value)
    for words in ("faces.zip", "Google Drive", "per day", "Try again in 24 hours", "mirror", "exposure index PATH"):
        assert words in message, message
    assert "web page" not in message and "HTTP" not in message
    assert _files_under(home / "datasets") == []
    assert _files_under(home / "downloads") == ["drive-tiny"], "no page may be saved as (part of) the file"


def test_interrupted_transfer_after_the_warning_resumes_with_range(drive: Drive, tmp_path: Path) -> None:
    size = len(drive.files[ZIP_ID])
    drive.cut_after[ZIP_ID] = size * 3 // 10
    home = tmp_path / "home"
    downloads = home / "downloads" / "drive-tiny"
    with pytest.raises(DownloadError, match="interrupted.*run the same command again"):
        fetch("drive-tiny", home=home, progress=False)
    part = downloads / "faces.zip.part"
    kept = part.stat().st_size
    assert 0 < kept <= size * 3 // 10

    drive.mode = "quota"  # Drive's quota runs out meanwhile: the partial file survives, and the message says so
    with pytest.raises(DownloadError, match="24 hours") as caught:
        fetch("drive-tiny", home=home, progress=False)
    assert "partial file was kept" in str(caught.value)
    assert part.stat().st_size == kept

    drive.mode = "drive"
    drive.log.clear()
    root = fetch("drive-tiny", home=home, progress=False)
    (uc, _q, uc_range), (download, query, download_range) = _requests_for(drive, ZIP_ID)
    assert (uc, download) == ("/uc", "/download")
    assert download_range == f"bytes={kept}-" and query["uuid"] == drive.uuids[-1] != drive.uuids[0]
    assert (downloads / "faces.zip").read_bytes() == drive.files[ZIP_ID]
    assert sorted(p.name for p in root.iterdir()) == list(JPEGS)


def test_unexpected_drive_page_is_refused(drive: Drive, tmp_path: Path) -> None:
    drive.mode = "login"
    home = tmp_path / "home"
    with pytest.raises(DownloadError) as caught:
        fetch("drive-tiny", home=home, progress=False)
    message = str(caught.value)
    assert "faces.zip" in message and "web page (title: Google Drive: Sign-in) instead of the file" in message
    assert "not saved" in message and "--base-url" in message
    assert _files_under(home / "downloads") == ["drive-tiny"] and _files_under(home / "datasets") == []


def test_any_html_page_instead_of_an_unverified_file_is_refused(
    drive: Drive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No checksum to catch it: without the check, a captive portal's page would be kept as notes.txt.
    drive.pages["notes.txt"] = PORTAL_PAGE
    entry = {"name": "plain-tiny", "status": "available",
             "files": [{"name": "notes.txt", "url": drive.url + "notes.txt", "checksum": ""}]}
    monkeypatch.setitem(fetch_module.REGISTRY, "plain-tiny", entry)
    home = tmp_path / "home"
    with pytest.raises(DownloadError, match=r"notes\.txt: .* answered with a web page \(title: Welcome to Hotel "
                                            r"Wi-Fi - please accept the terms\) instead of the file"):
        fetch("plain-tiny", home=home, progress=False)
    assert _files_under(home / "downloads") == ["plain-tiny"] and _files_under(home / "datasets") == []


def test_a_warning_page_that_keeps_coming_back_is_given_up(drive: Drive, tmp_path: Path) -> None:
    drive.mode = "forgetful"  # every uuid is refused: the warning page comes back each time
    home = tmp_path / "home"
    with pytest.raises(DownloadError, match=r"faces\.zip: .*web page \(title: Google Drive - Virus scan warning\)"):
        fetch("drive-tiny", home=home, progress=False)
    assert len(_requests_for(drive, ZIP_ID)) == fetch_module._PAGE_HOPS + 1
    assert _files_under(home / "downloads") == ["drive-tiny"]
