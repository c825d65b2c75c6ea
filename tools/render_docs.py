"""Run the notebooks headless on the bundled sample data and write them, figures included, to docs/notebooks/.

Someone browsing the repository then sees each notebook's prose, code and figures without running
anything: docs/notebooks/<name>.md, its images as PNG files in <name>_files/. `make docs` runs this.

    python tools/render_docs.py [--lang en|zh] [NOTEBOOK ...]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
OUT = REPO / "docs" / "notebooks"
WIDGET = "application/vnd.jupyter.widget-view+json"
CONTROL_NOTE = ("*Here the notebook shows an interactive control{shown}. It needs a running notebook: open this one in "
                "Jupyter (notebook 01's app also runs as a web page with `make workshop`).*")
_DATA_IMG = re.compile(r"""src=(['"])data:image/(png|jpeg|gif);base64,([A-Za-z0-9+/=\s]+)\1""")


def sample_home(home: Path) -> None:
    """Index the bundled sample dataset into a fresh data home, as `make demo` does."""
    from exposure.build import build_index
    from exposure.home import sample_data_dir

    build_index(sample_data_dir() / "dataset", home / "indexes" / "sample_faces", name="sample_faces",
                workers=1, progress=False)


CELL_TIMEOUT = 300  # seconds: every cell takes far less on the sample data; more means a stuck kernel


def execute(path: Path, attempts: int = 2):
    """The notebook, run top to bottom in a fresh kernel (errors stop the rendering, naming the cell).

    A kernel that stops answering (a cell past CELL_TIMEOUT, or a dead kernel) is replaced and the notebook
    run again, once.
    """
    import nbclient
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    for attempt in range(1, attempts + 1):
        nb = nbformat.read(path, as_version=4)
        client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, startup_timeout=120, kernel_name="python3",
                                         allow_errors=False, resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
            return nb
        except (CellTimeoutError, DeadKernelError) as e:
            if attempt == attempts:
                raise
            print(f"(the kernel stopped answering: {type(e).__name__}; running {path.name} again)", end=" ", flush=True)
    raise AssertionError("unreachable")


def _files_for_inline_images(html: str, folder: Path, prefix: str) -> str:
    """Images inlined as data: URIs (which GitHub does not show) written as files, linked by relative path."""
    def save(m: re.Match) -> str:
        data = base64.b64decode(re.sub(r"\s", "", m.group(3)))
        name = f"{prefix}_{hashlib.sha1(data).hexdigest()[:10]}.{'jpg' if m.group(2) == 'jpeg' else m.group(2)}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        return f"src={m.group(1)}{folder.name}/{name}{m.group(1)}"

    return _DATA_IMG.sub(save, html)


_DISPLAY_ONLY = {"HBoxModel", "VBoxModel", "BoxModel", "HTMLModel", "LabelModel", "FloatProgressModel",
                 "IntProgressModel", "OutputModel"}


def _models(state: dict, model_id: str, seen: set | None = None) -> list[dict]:
    """A widget and everything inside it, in display order."""
    seen = set() if seen is None else seen
    if model_id in seen or model_id not in state:
        return []
    seen.add(model_id)
    found = [state[model_id]]
    for child in state[model_id]["state"].get("children", []):
        found += _models(state, str(child).removeprefix("IPY_MODEL_"), seen)
    return found


def _widget_outputs(state: dict, model_id: str, seen: set | None = None) -> list:
    """What the Output widgets inside a widget showed when the notebook ran (its starting state)."""
    seen = set() if seen is None else seen
    if model_id in seen or model_id not in state:
        return []
    seen.add(model_id)
    model = state[model_id]
    found = list(model["state"].get("outputs", [])) if model.get("model_name") == "OutputModel" else []
    for child in model["state"].get("children", []):
        found += _widget_outputs(state, str(child).removeprefix("IPY_MODEL_"), seen)
    return found


def for_readers(nb, folder: Path, stem: str):
    """Outputs a Markdown page can show: widgets become what they first showed and a note, HTML images files."""
    import nbformat

    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.outputs:
            data = out.get("data", {})
            if WIDGET in data:
                models = _models(state, data[WIDGET]["model_id"])
                if models and all(m.get("model_name") in _DISPLAY_ONLY for m in models):  # a progress bar
                    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", str(m["state"].get("value", "")))).strip()
                                    for m in models if m.get("model_name") in ("HTMLModel", "LabelModel"))
                    outputs.append(nbformat.v4.new_output("stream", name="stdout", text=text.strip() + "\n"))
                    continue
                shown = [nbformat.from_dict(o) for o in _widget_outputs(state, data[WIDGET]["model_id"])]
                note = CONTROL_NOTE.format(shown=", here as it first appears" if shown else "")
                outputs += [*shown, nbformat.v4.new_output("display_data", data={"text/markdown": note})]
                continue
            if "text/html" in data:
                data["text/html"] = _files_for_inline_images(data["text/html"], folder, f"{stem}_html")
            outputs.append(out)
        cell.outputs = outputs
    return nb


def render(path: Path, out: Path) -> Path:
    """Run one notebook and write it as Markdown with its figures beside it; returns the page."""
    from nbconvert import MarkdownExporter

    stem = path.stem
    folder = out / f"{stem}_files"
    for old in folder.glob("*") if folder.is_dir() else []:
        old.unlink()
    nb = for_readers(execute(path), folder, stem)
    body, resources = MarkdownExporter().from_notebook_node(
        nb, resources={"unique_key": stem, "output_files_dir": folder.name})
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in resources.get("outputs", {}).items():
        (out / name).write_bytes(data)
    source = os.path.relpath(path, out)
    page = out / f"{stem}.md"
    page.write_text(f"<!-- Written by tools/render_docs.py from {source}: edit the notebook, then run `make docs`. -->\n"
                    f"*Rendered from [{path.name}]({source}) on the bundled sample data; run `make docs` to redraw.*\n\n"
                    + body.strip() + "\n", encoding="utf-8")
    return page


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    args.add_argument("--lang", default="en", help="the language the notebooks are run in (default en)")
    opts = args.parse_args(argv)
    paths = [p.resolve() for p in opts.notebooks] or sorted(NOTEBOOKS.glob("*.ipynb"))
    out = OUT if opts.lang == "en" else OUT / opts.lang
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="exposure-docs-") as home:
        os.environ.update(EXPOSURE_HOME=home, EXPOSURE_LANG=opts.lang, MPLBACKEND="Agg")  # the kernels inherit these
        sample_home(Path(home))
        for path in paths:
            print(f"{path.name} ...", end=" ", flush=True)
            print(render(path, out).relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
