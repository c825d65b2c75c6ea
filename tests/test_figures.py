"""Every figure renders to a non-blank PNG, on the sample data and the catalog."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import MY_PHOTO, SAMPLE_DATASET

matplotlib = pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def result(sample_index):
    from exposure.checker import check

    return check([MY_PHOTO], [sample_index])


def _assert_png_not_blank(fig, path: Path) -> None:
    from PIL import Image

    fig.savefig(path, dpi=72)
    pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    assert pixels.size > 10_000, path
    assert pixels.std() > 12, f"{path.name}: looks blank (pixel std {pixels.std():.1f})"
    assert (pixels < 200).mean() > 0.01, f"{path.name}: almost nothing drawn"


def _out(tmp_path: Path) -> Path:
    # EXPOSURE_FIGURES_DIR keeps the PNGs for a person to look at
    keep = os.environ.get("EXPOSURE_FIGURES_DIR")
    out = Path(keep) if keep else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_result_figures(result, tmp_path):
    from exposure import figures

    ix = result.indexes[0]
    out = _out(tmp_path)
    made = {
        "distance_histogram": figures.distance_histogram(result, ix),
        "distance_histogram_line": figures.distance_histogram(result, ix.name, threshold=0.4),
        "dataset_summary": figures.dataset_summary(result),
        "face_map": figures.face_map(result, ix),
    }
    for name, fig in made.items():
        _assert_png_not_blank(fig, out / f"{name}.png")


def test_matching_figures(result, tmp_path):
    from exposure import figures

    out = _out(tmp_path)
    q = result.queries[0]
    made = {
        "threshold_tradeoff": figures.threshold_tradeoff(0.5, faces_searched=13233),
        "lookalike_growth": figures.lookalike_growth(0.6, {"LFW": 13233, "MegaFace": 4_753_320}),
        "face_steps": figures.face_steps(q.photo, q.face),
        "embedding_bars": figures.embedding_bars(q.face, {"other": -q.face.embedding}),
        "population_curves": figures.population_curves(),
    }
    for name, fig in made.items():
        _assert_png_not_blank(fig, out / f"{name}.png")


def test_histogram_of_a_big_dataset_keeps_its_size(result, tmp_path):
    """More than 200 faces: a log scale, where the markers of the nearest faces once stretched the saved
    (tight) figure to 160,000 pixels, blank but for the histogram."""
    import dataclasses

    from PIL import Image

    from exposure import figures

    big = dataclasses.replace(result, all_distances={k: np.linspace(0.2, 1.1, 5000) for k in result.all_distances})
    figures.distance_histogram(big).savefig(tmp_path / "big.png", dpi=90, bbox_inches="tight")
    width, height = Image.open(tmp_path / "big.png").size
    assert width < 1000 and height < 600, (width, height)


def test_population_table_reads_the_shipped_curves():
    from exposure import figures

    table = figures.population_table()
    assert {"UTKFace Asian", "UTKFace White", "LFW (named, mostly white)"} <= set(table.index)
    assert table.loc["UTKFace Asian", "within 0.50"] == "1 in 23"  # strangers packed ~170 times closer than on LFW


def test_atlas_figures(tmp_path):
    from exposure import figures
    from exposure.datasets import catalog

    cat = catalog()
    out = _out(tmp_path)
    for fn in figures.ATLAS_FIGURES:
        _assert_png_not_blank(fn(cat), out / f"{fn.__name__}.png")


def test_person_distances_cover_every_face(result):
    from exposure import figures

    ix = result.indexes[0]
    d = figures.person_distances(result, ix)
    assert d.shape == (ix.n_faces,)
    assert d.min() == pytest.approx(result.results["distance"].min(), abs=1e-3)


def test_face_map_with_one_identity_and_unnamed_faces(tmp_path):
    """Degenerate maps (one person; faces without names) still draw."""
    import shutil

    from exposure import figures
    from exposure.build import build_index
    from exposure.checker import check

    flat = tmp_path / "flat"
    flat.mkdir()
    for p in SAMPLE_DATASET.rglob("*.jpg"):
        shutil.copy(p, flat / p.name)
    build_index(flat, tmp_path / "ix", name="flat", workers=1, progress=False)
    res = check([MY_PHOTO], [tmp_path / "ix"])
    names, means, counts = figures.people_points(res.indexes[0])
    assert len(names) == res.indexes[0].n_faces  # no names: one point per face
    _assert_png_not_blank(figures.face_map(res), tmp_path / "map.png")


def test_licence_kind():
    from exposure.figures import licence_kind

    assert licence_kind("Non-commercial research purposes only") == "research / non-commercial only"
    assert licence_kind("CC BY 4.0") == "Creative Commons"
    assert licence_kind("unknown") == "unknown"
