"""The notebooks rendered for readers (`make docs`): a page per notebook, every figure it links to present."""

from __future__ import annotations

import re

import pytest
from conftest import REPO

DOCS = REPO / "docs" / "notebooks"
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_a_rendered_page(path):
    page = DOCS / f"{path.stem}.md"
    assert page.is_file(), f"{page} missing: run `make docs`"
    text = page.read_text(encoding="utf-8")
    assert "Traceback" not in text and "data:image/" not in text  # GitHub does not show inline images
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text) + re.findall(r"""<img[^>]*src=['"]([^'"]+)""", text):
        assert (page.parent / link).is_file(), f"{page.name} links to a missing {link}"


def test_the_pages_with_figures_have_them():
    pngs = {p.stem for p in NOTEBOOKS if list((DOCS / f"{p.stem}_files").glob("*.png"))}
    assert {"03_dataset_atlas", "04_how_face_matching_works"} <= pngs
