"""Privacy, proven: no network, nothing written by a check, `forget` erases the user, no pickle loading.

* `exposure check` and `exposure index` run in subprocesses with an audit hook installed before
  exposure is imported (PEP 578: it sees every socket the interpreter creates, connects or
  resolves, in forked workers too), and, where the kernel allows (root), inside a network
  namespace with no interface up (`unshare -n`), where any network use would fail.
* a check writes nothing: the same hook records every file opened for writing, and the data
  home, the working folder and the temp folder are compared before and after. A second run in a
  private mount namespace, with a fresh folder bound over /tmp, shows nothing lands in /tmp
  either. Only the ONNX model cache (`<data home>/models/*.onnx`) may appear.
* `exposure forget` removes the user folder of the data home, and a scan of the data home then
  finds no byte derived from the user's photos.
* no code in exposure/ loads pickles (pickle, joblib, pandas.read_pickle, numpy.load with
  allow_pickle=True, torch.load, marshal, dill, cloudpickle, shelve), checked on the syntax tree.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import MY_PHOTO, REPO, SAMPLE_DATASET

# Runs in the child: the hook is installed before exposure (or anything of it) is imported.
HOOKED_MAIN = r'''
import json, os, sys
LOG = sys.argv[1]
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
MUTATIONS = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink", "os.link", "os.truncate",
             "os.chmod", "os.utime", "shutil.copyfile", "shutil.move", "shutil.rmtree",
             "tempfile.mkstemp", "tempfile.mkdtemp"}

def record(entry):
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")

def hook(event, args):
    if event.startswith("socket."):
        entry = {"event": event, "pid": os.getpid()}
        try:
            if event == "socket.__new__":
                entry["family"] = int(args[1])
            elif event in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"):
                entry["family"] = int(args[0].family)
                entry["address"] = repr(args[1])
            else:
                entry["args"] = repr(args)[:300]
        except Exception as e:  # record what could not be decoded rather than lose the event
            entry["error"] = repr(e)
        record(entry)
    elif event == "open":
        path, mode, flags = args
        if path == LOG or isinstance(path, int):
            return
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            mode is None and isinstance(flags, int) and flags & WRITE_FLAGS)
        if writes:
            record({"event": "open-for-writing", "path": os.fsdecode(path), "pid": os.getpid()})
    elif event in MUTATIONS:
        paths = [os.fsdecode(a) for a in args if isinstance(a, (str, bytes, os.PathLike))]
        record({"event": event, "paths": paths, "pid": os.getpid()})

sys.addaudithook(hook)
from exposure.cli import main
sys.exit(main(sys.argv[2:]))
'''

INET = {int(socket.AF_INET), int(socket.AF_INET6)}
# Known, reported, not fixed here (exposure/encoders/onnx_resnet.py is not this file's to change):


def _hooked(log: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", HOOKED_MAIN, str(log), *args]


def _env(home: Path, **extra: str) -> dict:
    env = dict(os.environ, EXPOSURE_HOME=str(home), PYTHONDONTWRITEBYTECODE="1", **extra)
    env.pop("PYTHONSTARTUP", None)
    return env


def _events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _works(cmd: list[str]) -> str | None:
    """None when the command runs here; else why not (used as the skip reason)."""
    if shutil.which(cmd[0]) is None:
        return f"{cmd[0]} is not installed"
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return f"`{' '.join(cmd)}` is refused here ({proc.stderr.strip()[-200:] or proc.returncode})"
    return None


NO_NETNS = _works(["unshare", "-n", "true"])
NO_MOUNTNS = _works(["unshare", "-m", "--propagation", "private", "true"])


@pytest.fixture(scope="module")
def module_home(module_home):
    """The module's data home (conftest), already holding the ONNX model."""
    from exposure.encoders.onnx_resnet import model_file

    model_file()  # builds models/*.onnx in this home
    return module_home


# ---------------------------------------------------------------- no network


def _assert_offline(events: list[dict], what: str) -> None:
    inet = [e for e in events if e["event"].startswith("socket.") and e.get("family") in INET]
    lookups = [e for e in events if e["event"] in ("socket.getaddrinfo", "socket.gethostbyname",
                                                   "socket.gethostbyname_ex", "socket.gethostbyaddr",
                                                   "socket.getnameinfo")]
    assert not inet, f"{what} used an Internet socket: {inet}"
    assert not lookups, f"{what} looked up a host name: {lookups}"
    undecoded = [e for e in events if "error" in e]
    assert not undecoded, undecoded


def test_network_namespace_has_no_network():
    """Where the kernel lets us, the commands below run where any network use fails."""
    if NO_NETNS:
        pytest.skip(f"network namespace unavailable: {NO_NETNS}")
    probe = subprocess.run(["unshare", "-n", sys.executable, "-c",
                            "import socket; socket.create_connection(('192.0.2.1', 80), timeout=3)"],
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "Network is unreachable" in probe.stderr, probe.stderr


def test_check_and_index_open_no_internet_socket(sample_index, module_home, tmp_path):
    """Audit hook in the child (always) inside a network namespace without interfaces (where available)."""
    prefix = [] if NO_NETNS else ["unshare", "-n"]
    log = tmp_path / "audit.jsonl"
    report = tmp_path / "report.html"
    check = subprocess.run([*prefix, *_hooked(log, "check", str(MY_PHOTO), "--index", str(sample_index), "--json",
                                              "--report", str(report))],
                           capture_output=True, text=True, timeout=300, env=_env(module_home), cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)[0]["identity"] == "Eileen_Collins"
    assert report.stat().st_size > 10_000  # the report too is made offline (images inlined, nothing fetched)
    _assert_offline(_events(log), "exposure check")
    log.unlink(missing_ok=True)
    index = subprocess.run([*prefix, *_hooked(log, "index", str(SAMPLE_DATASET), "--out", str(tmp_path / "ix"),
                                              "--workers", "2", "--quiet")],
                           capture_output=True, text=True, timeout=300, env=_env(module_home), cwd=tmp_path)
    assert index.returncode == 0, index.stderr
    assert "4 images indexed, 3 faces" in index.stdout
    events = _events(log)
    _assert_offline(events, "exposure index")
    writers = {e["pid"] for e in events if e["event"] == "open-for-writing"}
    assert writers, "the hook logged nothing: it was not live"  # it sees the index's own shard writes


def test_audit_hook_sees_a_socket_when_one_is_made(tmp_path):
    """The hook is not blind: the same child script logs an Internet socket a command would open."""
    log = tmp_path / "audit.jsonl"
    script = HOOKED_MAIN.replace("from exposure.cli import main\nsys.exit(main(sys.argv[2:]))",
                                 "import socket\nsocket.socket(socket.AF_INET6).close()\nsocket.socket().close()")
    proc = subprocess.run([sys.executable, "-c", script, str(log)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(AssertionError, match="Internet socket"):
        _assert_offline(_events(log), "probe")


# ---------------------------------------------------------------- a check writes nothing


def _snapshot(root: Path, skip: set[Path] = frozenset()) -> dict[str, tuple]:
    """relative path -> (kind, size, mtime, sha256 of content) for everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p in skip:
                continue
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else None
            out[str(p.relative_to(root))] = ("dir" if p.is_dir() else "file", st.st_size if digest else 0,
                                            st.st_mtime_ns if digest else 0, digest)
    return out


def _only_the_model_cache_appeared(before: dict, after: dict, home_prefix: str) -> None:
    changed = {k for k in before if k in after and before[k] != after[k]}
    gone = set(before) - set(after)
    new = set(after) - set(before)
    model = re.compile(re.escape(home_prefix) + r"models(/[^/]+\.onnx)?")
    assert not changed, f"a check changed {sorted(changed)}"
    assert not gone, f"a check removed {sorted(gone)}"
    stray = sorted(k for k in new if not model.fullmatch(k))
    assert not stray, f"a check wrote {stray}"


def test_check_writes_nothing(sample_index, tmp_path):
    """Fresh data home, empty working and temp folders: after a check only the model cache is new."""
    home, cwd, tmp = tmp_path / "home", tmp_path / "cwd", tmp_path / "tmp"
    for d in (home, cwd, tmp):
        d.mkdir()
    index = shutil.copytree(sample_index, tmp_path / "index")
    log = tmp_path / "audit.jsonl"
    before = _snapshot(tmp_path)
    proc = subprocess.run(_hooked(log, "check", str(MY_PHOTO), "--index", str(index)), capture_output=True,
                          text=True, timeout=300, env=_env(home, TMPDIR=str(tmp)), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "Eileen_Collins" in proc.stdout
    writes = [e for e in _events(log) if not e["event"].startswith("socket.")]
    models = home / "models"

    def allowed(path: str) -> bool:  # the model cache, or making sure the (existing) data home exists
        return Path(path) == home or Path(path) == models or Path(path).parent == models

    stray = [e for e in writes if not all(allowed(p) for p in e.get("paths", [e.get("path", "")]))]
    assert not stray, f"a check wrote outside the model cache: {stray}"
    assert any(e.get("path", "").endswith(".tmp") for e in writes)  # the hook saw the model cache being written
    after = _snapshot(tmp_path, skip={log})
    _only_the_model_cache_appeared(before, after, "home/")


def test_check_writes_nothing_to_tmp(sample_index, tmp_path):
    """In a private mount namespace with a fresh folder bound over /tmp, a check (whose data home,
    working folder, index and photo all live in that /tmp) leaves it as it was, but for the model cache."""
    if NO_MOUNTNS:
        pytest.skip(f"mount namespace unavailable: {NO_MOUNTNS}")
    fake_tmp = tmp_path / "fake_tmp"
    for d in ("home", "cwd", "photos"):
        (fake_tmp / d).mkdir(parents=True)
    shutil.copytree(sample_index, fake_tmp / "index")
    shutil.copy(MY_PHOTO, fake_tmp / "photos" / "me.jpg")
    # A checkout (and its .venv) under /tmp would be hidden too: bind it back into place, through
    # a private tmpfs on /mnt that keeps the real /tmp reachable (mount points made beforehand).
    keep = [p.relative_to("/tmp") for p in {REPO.resolve(), Path(sys.prefix).resolve()} if Path("/tmp") in p.parents]
    keep = [k for k in keep if not any(o != k and o in k.parents for o in keep)]
    for k in keep:
        (fake_tmp / k).mkdir(parents=True)
    rebind = "".join(f' && mount --bind "/mnt/tmp/{k}" "/tmp/{k}"' for k in keep)
    script = ('mount -t tmpfs none /mnt && mkdir /mnt/tmp && mount --bind /tmp /mnt/tmp && ' if keep else "")
    script += f'mount --bind "$0" /tmp{rebind} && cd /tmp/cwd && exec "$@"'
    log = fake_tmp / "audit.jsonl"
    before = _snapshot(fake_tmp)
    cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(fake_tmp),
           *_hooked(Path("/tmp/audit.jsonl"), "check", "/tmp/photos/me.jpg", "--index", "/tmp/index")]
    env = _env(Path("/tmp/home"))
    env.pop("TMPDIR", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Eileen_Collins" in proc.stdout
    after = _snapshot(fake_tmp, skip={log})
    _only_the_model_cache_appeared(before, after, "home/")


# ---------------------------------------------------------------- forget


def _derived_markers(report: Path, embedding: np.ndarray) -> dict[str, bytes]:
    """Byte strings that only something made from the user's photo would contain."""
    photo = MY_PHOTO.read_bytes()
    markers = {
        "photo sha256": hashlib.sha256(photo).hexdigest().encode(),
        "photo bytes": photo[1000:1064],
        "photo base64": base64.b64encode(photo)[2000:2064],
        "embedding float32": embedding.astype(np.float32).tobytes()[:64],
        "embedding text": f"{float(embedding[0]):.6f}".encode(),
        "photo name": b"my_photo",
    }
    for i, blob in enumerate(re.findall(rb"base64,([A-Za-z0-9+/=]{200,})", report.read_bytes())):
        markers[f"inlined image {i}"] = blob[100:164]  # the face crops and photo the report inlines
    return markers


def test_forget_removes_everything_about_the_user(sample_index, tmp_path):
    import exposure
    from exposure.privacy import user_dir

    home = tmp_path / "home"
    keep = home / "indexes" / "sample"
    shutil.copytree(sample_index, keep)  # a dataset index: public data, kept
    result = exposure.check([MY_PHOTO], [keep])
    saved = user_dir(home, create=True) / "reports"
    saved.mkdir()
    report = exposure.write_report(result, saved / "report.html")  # as the notebook and the app save one
    (user_dir(home) / "request_letter.txt").write_text("Dear maintainer, my photo my_photo.jpg ...")
    np.save(user_dir(home) / "my_embedding.npy", result.queries[0].face.embedding)
    outside = tmp_path / "outside.txt"
    outside.write_text("not exposure's")
    (user_dir(home) / "link-out").symlink_to(outside)  # removed as a link, never followed
    markers = _derived_markers(Path(report), result.queries[0].face.embedding)
    assert any(m in Path(report).read_bytes() for k, m in markers.items() if k.startswith("inlined"))

    proc = subprocess.run([sys.executable, "-m", "exposure", "forget", "--home", str(home)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"removed \d+ item\(s\) exposure had stored about you\n", proc.stdout), proc.stdout
    assert not user_dir(home).exists() and not user_dir(home).is_symlink()
    assert outside.read_text() == "not exposure's"
    found = []
    for p in home.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            found += [(str(p.relative_to(home)), k) for k, m in markers.items() if m in data]
    assert not found, f"left in the data home after forget: {found}"
    assert (keep / "manifest.json").is_file()  # what is not about the user stays
    again = subprocess.run([sys.executable, "-m", "exposure", "forget", "--home", str(home)],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout.strip() == "exposure had stored nothing about you"


# ---------------------------------------------------------------- no pickle loading

UNSAFE_MODULES = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "marshal", "shelve", "torch"}
UNSAFE_CALLS = {
    ("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("_pickle", "load"), ("_pickle", "loads"),
    ("cPickle", "load"), ("cPickle", "loads"), ("dill", "load"), ("dill", "loads"), ("cloudpickle", "load"),
    ("cloudpickle", "loads"), ("joblib", "load"), ("marshal", "load"), ("marshal", "loads"), ("shelve", "open"),
    ("torch", "load"), ("pandas", "read_pickle"),
}


def unsafe_loads(source: str, filename: str = "<source>") -> list[str]:
    """Calls in Python source that load pickles (or marshal data): 'file:line: what'."""
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}  # local name -> dotted origin ("np" -> "numpy", "loads" -> "pickle.loads")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[(a.asname or a.name).split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"

    def dotted(expr) -> str | None:
        if isinstance(expr, ast.Name):
            return aliases.get(expr.id, expr.id)
        if isinstance(expr, ast.Attribute):
            base = dotted(expr.value)
            return f"{base}.{expr.attr}" if base else None
        return None

    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func) or ""
        parts = name.split(".")
        top, last = parts[0], parts[-1]
        why = None
        if (top, last) in UNSAFE_CALLS or last == "read_pickle":
            why = name
        elif top == "numpy" and last == "load":
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    why = f"{name}(allow_pickle=...)"
        elif name in ("__import__", "importlib.import_module") and node.args and isinstance(node.args[0], ast.Constant) \
                and str(node.args[0].value).split(".")[0] in UNSAFE_MODULES:
            why = f"{name}({node.args[0].value!r})"
        if why:
            found.append(f"{filename}:{node.lineno}: {why}")
    return found


def test_the_scanner_finds_pickle_loading_in_code_not_in_comments():
    code = '''
import pickle, marshal
import numpy as np
import pandas as pd
import joblib as jl
from pickle import loads as unpickle
import torch
# pickle.load(f) in a comment is fine, and so is "np.load(x, allow_pickle=True)" in a string
x = np.load("a.npy")
y = np.load("a.npy", allow_pickle=False)
a = pickle.load(f)
b = unpickle(data)
c = jl.load("m.joblib")
d = pd.read_pickle("df.pkl")
e = np.load("a.npy", allow_pickle=True)
f = torch.load("w.pt")
g = marshal.loads(data)
h = __import__("pickle")
'''
    found = unsafe_loads(code, "snippet.py")
    assert [int(f.split(":")[1]) for f in found] == list(range(11, 19)), found


def test_no_pickle_loading_anywhere_in_exposure():
    found = []
    for path in sorted((REPO / "exposure").rglob("*.py")):
        found += unsafe_loads(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    assert not found, "pickle-family loading in exposure/: " + "; ".join(found)
