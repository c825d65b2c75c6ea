"""Write a benchmark's JSON result into BENCHMARKS.md, with when, where and with what it was measured."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def arguments(doc: str, searches: int) -> argparse.Namespace:
    """The command line of a bench that counts searches: --json and --searches."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print only the JSON (it is always printed, on one line)")
    ap.add_argument("--searches", type=int, default=searches, help="searchers per honesty case")
    return ap.parse_args()


def machine() -> dict:
    """Date, CPU, cores and library versions, to go beside every number."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in ("dlib-bin", "numpy", "pillow", "pyarrow"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return {
        "date": _dt.date.today().isoformat(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
    }


RESULTS = BENCHMARKS.parent / "bench" / "results"


def section(name: str, result: dict, title: str, summary: str = "", table: str = "") -> str:
    """A benchmark's section of BENCHMARKS.md: what it does, a readable table, when and where, the raw JSON.

    Without `table`, the table is the benchmark's figures from bench/summary.py and the JSON follows it,
    folded; with one, the JSON is only in bench/results/NAME.json.
    """
    m = result["machine"]
    measured = (f"Measured {m['date']} on {m['cpu']}, {m['cores']} cores, Python {m['python']}; "
                f"raw results: [`bench/results/{name}.json`](bench/results/{name}.json).")
    if table:
        body = f"{table.strip()}\n\n{measured}"
    else:
        from summary import figures_table

        quick = figures_table(name, result)
        body = ((f"{quick}\n\n" if quick else "") + f"{measured}\n\n<details><summary>All the numbers (JSON)"
                f"</summary>\n\n```json\n{json.dumps(result, indent=1)}\n```\n\n</details>")
    return f"<!-- bench:{name} -->\n## {title}\n\n{summary.strip()}\n\n{body}\n<!-- /bench:{name} -->"


def write_section(name: str, block: str) -> None:
    """Replace the section `name` of BENCHMARKS.md with `block` (or add it at the end)."""
    old = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n\nEvery number here is printed by a script in `bench/`, which rewrites its own section.\n"
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    new = pattern.sub(lambda _: block, old) if pattern.search(old) else old.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS.write_text(new)


def record(name: str, result: dict, title: str, summary: str = "", table: str = "") -> dict:
    """Print the result as one JSON object, keep it in bench/results/NAME.json, and rewrite its section.

    With `table` (a readable Markdown table of it), the section shows that table; the summary table at
    the top of BENCHMARKS.md and the plots in docs/bench/ are then redrawn from bench/results/.
    """
    import summary as reader_summary

    result = {"benchmark": name, **result, "machine": machine()}
    text = json.dumps(result, indent=1)
    print(json.dumps(result))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(text + "\n")
    write_section(name, section(name, result, title, summary, table))
    reader_summary.main()
    sys.stdout.flush()
    return result


def run_watched(cmd: list[str], env: dict | None = None, every: float = 0.5, watch=None) -> tuple[float, int]:
    """Run a command to its end: (seconds, peak resident memory of it and its children in bytes); `watch()`
    is called at every sample (to follow disk use, say). Raises with its stderr when it fails."""
    import subprocess
    import time

    import psutil

    t = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True)))
        except psutil.Error:
            pass
        if watch is not None:
            watch()
        time.sleep(every)
    seconds = time.perf_counter() - t
    assert proc.returncode == 0, proc.stderr.read().decode()
    return seconds, peak
