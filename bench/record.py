"""Write a benchmark's JSON result into BENCHMARKS.md, with when, where and with what it was measured."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


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


def record(name: str, result: dict, title: str, summary: str = "", table: str = "") -> dict:
    """Print the result as one JSON object and replace the section `name` of BENCHMARKS.md with it.

    With `table` (a readable Markdown table of it), the section shows the table and the raw JSON is
    kept beside it in bench/results/NAME.json instead.
    """
    result = {"benchmark": name, **result, "machine": machine()}
    text = json.dumps(result, indent=1)
    print(json.dumps(result))
    if table:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{name}.json").write_text(text + "\n")
        m = result["machine"]
        body = (f"{table.strip()}\n\nMeasured {m['date']} on {m['cpu']}, {m['cores']} cores, Python {m['python']}; "
                f"raw results: [`bench/results/{name}.json`](bench/results/{name}.json).")
    else:
        body = f"```json\n{text}\n```"
    block = f"<!-- bench:{name} -->\n## {title}\n\n{summary.strip()}\n\n{body}\n<!-- /bench:{name} -->"
    old = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n\nEvery number here is printed by a script in `bench/`, which rewrites its own section.\n"
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    new = pattern.sub(lambda _: block, old) if pattern.search(old) else old.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS.write_text(new)
    sys.stdout.flush()
    return result
