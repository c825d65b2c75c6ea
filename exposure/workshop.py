"""Workshop mode: notebook 01's app as a web page (Voila), served on this computer only.

    python -m exposure.workshop            # then open http://127.0.0.1:8866

The page shows the cells of `notebooks/01_check_my_exposure.ipynb` tagged "workshop" (the
explanations and the app), without code. It listens on 127.0.0.1 only: other computers on the
network cannot reach it. Workshop mode blurs the faces of strangers by default.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from exposure.errors import ExposureError
from exposure.i18n import _, language
from exposure.widgets import WORKSHOP_ENV

HOST = "127.0.0.1"
NOTEBOOK = "01_check_my_exposure.ipynb"
TAG = "workshop"


def notebooks_dir() -> Path:
    """The notebooks folder of this source checkout."""
    here = Path(__file__).resolve().parent.parent / "notebooks"
    if not (here / NOTEBOOK).is_file():
        raise ExposureError(f"{here / NOTEBOOK} not found: workshop mode runs from a source checkout of exposure")
    return here


def workshop_notebook(out_dir: str | os.PathLike) -> Path:
    """Write the page's notebook (notebook 01's cells tagged "workshop") into out_dir; returns its path."""
    import nbformat

    nb = nbformat.read(notebooks_dir() / NOTEBOOK, as_version=4)
    nb.cells = [c for c in nb.cells if TAG in c.get("metadata", {}).get("tags", [])]
    if not any(c.cell_type == "code" for c in nb.cells):
        raise ExposureError(f"{NOTEBOOK} has no code cell tagged {TAG!r}")
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    out = Path(out_dir) / "check_my_exposure.ipynb"
    nbformat.write(nb, out)
    return out


def command(notebook: str | os.PathLike, port: int = 8866, open_browser: bool = False) -> list[str]:
    """The voila command line: localhost only, no code shown, no other port tried."""
    return [
        sys.executable, "-m", "voila", str(notebook),
        f"--port={int(port)}",
        f"--Voila.ip={HOST}",
        "--Voila.port_retries=0",
        f"--Voila.open_browser={open_browser}",
        "--strip_sources=True",
        "--show_tracebacks=False",
    ]


def serve(port: int = 8866, open_browser: bool = False) -> int:
    """Serve the app at http://127.0.0.1:<port> until interrupted (Ctrl+C); returns voila's exit code."""
    try:
        import voila  # noqa: F401
    except ImportError:
        raise ExposureError("workshop mode needs voila: pip install voila") from None
    env = dict(os.environ)
    env[WORKSHOP_ENV] = "1"
    env["EXPOSURE_LANG"] = language()  # the page opens in the language chosen (`exposure --lang zh workshop`)
    with tempfile.TemporaryDirectory(prefix="exposure-workshop-") as tmp:
        nb = workshop_notebook(tmp)
        print(_("exposure workshop: open {url} in a browser on this computer (Ctrl+C stops it)").format(
            url=f"http://{HOST}:{port}"))
        try:
            return subprocess.call(command(nb, port, open_browser), env=env, cwd=tmp)
        except KeyboardInterrupt:
            return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m exposure.workshop", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--open", action="store_true", help="open a browser window")
    args = p.parse_args(argv)
    try:
        return serve(args.port, args.open)
    except ExposureError as e:
        print(f"exposure workshop: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
