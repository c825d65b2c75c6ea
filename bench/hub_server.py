"""A loopback HTTP server laid out like the Hugging Face Hub, for tests and benchmarks (never the network).

It answers what huggingface_hub asks for a dataset repo: `GET /api/datasets/{repo}/revision/{rev}`
(the commit sha), `GET /api/datasets/{repo}/tree/{rev}[/{path}]` (paginated with a `Link` header,
LFS sha256 in `lfs.oid`), and `HEAD`/`GET /datasets/{repo}/resolve/{rev}/{file}`: LFS files answer
302 with `X-Repo-Commit`, `X-Linked-Etag` (the sha256), `X-Linked-Size` and a `Location` on another
host name (the "CDN", `localhost` instead of `127.0.0.1`), which serves the bytes with Range support.
Small files (README.md) are answered directly with a git-blob ETag. A gated repo answers 401 unless
the request carries `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlparse

LFS_SUFFIXES = (".parquet", ".tar", ".rec", ".idx", ".zip", ".tgz", ".gz", ".jpg", ".png")


@dataclass
class Repo:
    """A dataset repo at one commit: file path -> bytes; `main` points at the commit."""

    files: dict[str, bytes]
    commit: str = ""
    gated_token: str | None = None  # when set, requests need this bearer token
    corrupt: set[str] = field(default_factory=set)  # files whose served bytes differ from their listed sha256
    cut_after: dict[str, int] = field(default_factory=dict)  # file -> bytes served before the connection drops (once)

    def __post_init__(self):
        if not self.commit:
            h = hashlib.sha1()
            for p in sorted(self.files):
                h.update(p.encode() + hashlib.sha256(self.files[p]).digest())
            self.commit = h.hexdigest()


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(path: str) -> bool:
    return path.lower().endswith(LFS_SUFFIXES)


class HubServer:
    """Serves `repos` (repo id -> Repo) on 127.0.0.1 in a thread; `requests` lists (method, path) seen."""

    def __init__(self, repos: dict[str, Repo], page_size: int = 2):
        self.repos = repos
        self.page_size = page_size
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.cdn = f"http://localhost:{self.port}"  # another host name: huggingface_hub does not follow it on HEAD
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fetched(self, path_part: str) -> int:
        """How many GETs of the CDN asked for a file whose repo path contains path_part."""
        return sum(1 for m, p, _ in self.requests if m == "GET" and p.startswith("/cdn/") and path_part in unquote(p))

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: bytes = b"", headers: dict | None = None, head: bool = False):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, str(v))
                if "Content-Length" not in (headers or {}):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head and body and self.command != "HEAD":  # a HEAD answer never has a body
                    self.wfile.write(body)

            def _json(self, obj, headers: dict | None = None):
                self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})

            def _repo(self, repo_id: str, rev: str) -> Repo | None:
                repo = server.repos.get(repo_id)
                if repo is None or rev not in ("main", repo.commit):
                    self._send(404, b'{"error":"Repository or revision not found"}',
                               {"X-Error-Code": "RevisionNotFound" if repo else "RepoNotFound",
                                "Content-Type": "application/json"})
                    return None
                if repo.gated_token and self.headers.get("Authorization") != f"Bearer {repo.gated_token}":
                    self._send(401, b'{"error":"Access to this dataset is restricted"}',
                               {"X-Error-Code": "GatedRepo", "Content-Type": "application/json",
                                "X-Error-Message": "Access to this dataset is restricted"})
                    return None
                return repo

            def do_HEAD(self):
                self._route(head=True)

            def do_GET(self):
                self._route(head=False)

            def _route(self, head: bool):
                url = urlparse(self.path)
                with server.lock:
                    server.requests.append((self.command, url.path, self.headers.get("Range")))
                path = unquote(url.path)
                m = re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/revision/([^/]+)", path)
                if m:
                    repo = self._repo(m.group(1), m.group(2))
                    if repo:
                        self._json({"id": m.group(1), "sha": repo.commit, "private": False,
                                    "gated": "auto" if repo.gated_token else False,
                                    "siblings": [{"rfilename": p} for p in sorted(repo.files)]})
                    return
                m = re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/tree/([^/]+)(/.*)?", path)
                if m:
                    repo = self._repo(m.group(1), m.group(2))
                    if repo:
                        self._tree(repo, m.group(1), m.group(2), (m.group(3) or "").strip("/"), url.query)
                    return
                m = re.fullmatch(r"/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
                if m:
                    repo = self._repo(m.group(1), m.group(2))
                    if repo:
                        self._resolve(repo, m.group(1), m.group(3), head)
                    return
                m = re.fullmatch(r"/cdn/([^/]+/[^/]+)/([0-9a-f]{40})/(.+)", path)
                if m and m.group(1) in server.repos:
                    self._cdn(server.repos[m.group(1)], m.group(3), head)
                    return
                self._send(404, b"not found")

            def _tree(self, repo: Repo, repo_id: str, rev: str, prefix: str, query: str):
                q = parse_qs(query)
                recursive = q.get("recursive", ["False"])[0].lower() == "true"
                entries, folders = [], set()
                for p in sorted(repo.files):
                    if prefix and not p.startswith(prefix + "/"):
                        continue
                    rest = p[len(prefix) + 1:] if prefix else p
                    if not recursive and "/" in rest:
                        folders.add((prefix + "/" if prefix else "") + rest.split("/")[0])
                        continue
                    data = repo.files[p]
                    e = {"type": "file", "oid": git_blob_sha(data), "size": len(data), "path": p}
                    if is_lfs(p):
                        e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
                    entries.append(e)
                if recursive:
                    for p in repo.files:
                        parts = p.split("/")[:-1]
                        for k in range(1, len(parts) + 1):
                            folders.add("/".join(parts[:k]))
                entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": f} for f in sorted(folders)]
                entries.sort(key=lambda e: e["path"])
                start = int(q.get("cursor", ["0"])[0])
                page = entries[start:start + server.page_size]
                headers = {}
                if start + server.page_size < len(entries):
                    nxt = (f"{server.url}/api/datasets/{repo_id}/tree/{rev}" + (f"/{quote(prefix)}" if prefix else "")
                           + f"?recursive={recursive}&expand=False&cursor={start + server.page_size}")
                    headers["Link"] = f'<{nxt}>; rel="next"'
                self._json(page, headers)

            def _resolve(self, repo: Repo, repo_id: str, file: str, head: bool):
                data = repo.files.get(file)
                if data is None:
                    self._send(404, b"Entry not found", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit})
                    return
                if is_lfs(file):
                    sha = hashlib.sha256(data).hexdigest()
                    self._send(302, b"", {
                        "Location": f"{server.cdn}/cdn/{repo_id}/{repo.commit}/{quote(file)}",
                        "X-Repo-Commit": repo.commit, "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": len(data),
                        "ETag": f'"{git_blob_sha(data)}"'}, head=head)
                    return
                self._send(200, data, {"X-Repo-Commit": repo.commit, "ETag": f'"{git_blob_sha(data)}"',
                                       "Content-Type": "application/octet-stream"}, head=head)

            def _cdn(self, repo: Repo, file: str, head: bool):
                data = repo.files.get(file)
                if data is None:
                    self._send(404, b"no such object")
                    return
                if file in repo.corrupt:
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])
                start = 0
                rng = self.headers.get("Range")
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
                headers = {"Accept-Ranges": "bytes", "ETag": f'"{hashlib.md5(data).hexdigest()}"',
                           "Content-Type": "application/octet-stream"}
                if m:
                    start = int(m.group(1))
                    end = int(m.group(2)) if m.group(2) else len(data) - 1
                    body = data[start:end + 1]
                    headers["Content-Range"] = f"bytes {start}-{start + len(body) - 1}/{len(data)}"
                    code = 206
                else:
                    body, code = data, 200
                cut = repo.cut_after.pop(file, None)
                if cut is not None and not head:  # a transfer cut short: headers promise it all, the bytes stop
                    headers["Content-Length"] = str(len(body))
                    self.send_response(code)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self._send(code, body, headers, head=head)

        return Handler
