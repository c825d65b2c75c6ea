"""BENCHMARKS.md for readers: the summary table and plots drawn from bench/results/*.json (nothing is timed here)."""

from __future__ import annotations

import json
import re

import pytest
import record
import summary
from conftest import REPO


def test_plain_numbers():
    assert summary.pct(0.9862) == "98.6%" and summary.pct(1.0) == "100%" and summary.pct(0.05) == "5%"
    assert summary.one_in(0.006291652387119052) == "about 1 in 160" and summary.one_in(0.0) == "none"
    assert summary.one_in(3.97e-06) == "about 1 in 250,000"
    assert summary.duration(0.0231) == "23.1 ms" and summary.duration(1.79) == "1.8 s"
    assert summary.duration(127.3) == "2.1 min"


def test_every_figure_is_read_from_the_results():
    results = summary.load_results()
    assert {"accuracy", "calibration", "populations", "search_speed"} <= results.keys()
    table, notes = summary.summary_table(results)
    assert not [n for n in notes if "not found" in n], notes  # a figure's key renamed in its benchmark
    rows = table.splitlines()[2:]
    expected = sum(len(figures) for name, figures in summary.ROWS.items() if name in results)
    assert len(rows) == expected
    for row in rows:
        result = row.split("|")[2]
        assert not re.search(r"\de[-+]?\d", result), f"scientific notation for readers: {row}"
    assert "99.38%" in table and "fewer than 0.1 strangers per search" in table


def test_summary_sits_at_the_top_and_is_rewritten_in_place(tmp_path):
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Benchmarks\n\nintro\n\n<!-- bench:accuracy -->\n## Accuracy: LFW\n\ntext\n<!-- /bench:accuracy -->\n")
    results = {"accuracy": json.loads((REPO / "bench" / "results" / "accuracy.json").read_text())}
    summary.write_summary(results, page)
    once = page.read_text()
    assert once.index(summary.START) < once.index("<!-- bench:accuracy -->") and once.count(summary.START) == 1
    assert "[accuracy](#accuracy-lfw)" in once
    summary.write_summary(results, page)
    assert page.read_text() == once


def test_a_section_shows_a_table_before_its_json():
    result = json.loads((REPO / "bench" / "results" / "onnx_vs_dlib.json").read_text())
    block = record.section("onnx_vs_dlib", result, "ONNX against dlib", "what it does")
    assert block.index("| what is measured |") < block.index("```json") and "<details>" in block
    assert "bench/results/onnx_vs_dlib.json" in block
    with_table = record.section("onnx_vs_dlib", result, "ONNX against dlib", "what it does", table="| a |\n|---|")
    assert "```json" not in with_table and "| a |" in with_table


def test_plots_are_drawn(tmp_path):
    pytest.importorskip("matplotlib")
    results = summary.load_results()
    notes = summary.write_plots(results, tmp_path)
    for png, (name, _) in summary.PLOTTERS.items():
        if name in results:
            assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert any(png in n for n in notes)
