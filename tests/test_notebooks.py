"""Every notebook runs top to bottom, headless, on the sample data, without an error."""

from __future__ import annotations

import shutil

import pytest
from conftest import REPO

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_the_five_notebooks_exist():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    """Outputs could hold someone's photos: notebooks are committed clean."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: clear outputs before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, sample_index, tmp_path):
    from exposure.home import data_home

    # the kernel inherits EXPOSURE_HOME (a fresh temporary data home) from the test's environment
    shutil.copytree(sample_index, data_home() / "indexes" / "sample_faces")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    rich = [o for o in shown if o.output_type in ("display_data", "execute_result")
            and {"image/png", "text/html", "application/vnd.jupyter.widget-view+json"} & set(o.get("data", {}))]
    assert rich, f"{path.name} showed no figure, table or app"
    stderr = "".join(o.get("text", "") for o in shown if o.output_type == "stream" and o.name == "stderr")
    assert "Traceback" not in stderr and "Error" not in stderr, f"{path.name} printed an error: {stderr[-2000:]}"
    assert not (data_home() / "user").exists(), f"{path.name} left data about the user behind"


@pytest.mark.parametrize("name", ["01_check_my_exposure", "05_what_you_can_do"])
def test_notebook_runs_in_chinese(name, sample_index, monkeypatch):
    """With EXPOSURE_LANG=zh the notebook's own outputs (results, letter, messages) are in Chinese."""
    import re

    from exposure.home import data_home

    shutil.copytree(sample_index, data_home() / "indexes" / "sample_faces")
    monkeypatch.setenv("EXPOSURE_LANG", "zh")  # the kernel inherits it
    path = REPO / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") + o.get("data", {}).get("text/html", "")
                   for o in shown)
    assert "Traceback" not in text
    chinese = re.findall(r"[\u4e00-\u9fff]", text)
    assert len(chinese) > 20, f"{name}: its outputs are not in Chinese: {text[:1000]}"
    if name.startswith("05"):
        assert "个人信息保护负责人" in text and "第四十七条" in text  # the PIPL letter, in Chinese
    assert not (data_home() / "user").exists()
