"""The reader's view of the benchmarks: a plain-words summary table atop BENCHMARKS.md, and plots in docs/bench/.

Everything is read from bench/results/*.json (each bench script writes its own through record.py,
which runs this after every write); run by hand with `python bench/summary.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BENCHMARKS = ROOT / "BENCHMARKS.md"
PLOTS = ROOT / "docs" / "bench"
START, END = "<!-- summary -->", "<!-- /summary -->"


# ---------------------------------------------------------------- plain numbers


def pct(x: float) -> str:
    """0.9862 -> '98.6%'; 1.0 -> '100%'."""
    return f"{x:.1%}".replace(".0%", "%")


def one_in(rate: float) -> str:
    """0.0063 -> 'about 1 in 160'."""
    if rate <= 0:
        return "none"
    n = 1 / rate
    digits = max(len(str(int(n))) - 2, 0)
    return f"about 1 in {round(n, -digits):,.0f}"


def duration(seconds: float) -> str:
    """0.0231 -> '23 ms'; 1.79 -> '1.8 s'; 127 -> '2.1 min'."""
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    return f"{seconds:.2g} s" if seconds < 60 else f"{seconds / 60:.1f} min"


# ---------------------------------------------------------------- one row per figure


def _size(r: dict, faces: int) -> dict:
    return next(s for s in r["sizes"] if s["faces"] == faces)


def _power(r: dict, faces: int, selfies: int, in_dataset: int, labelled: bool = True) -> dict:
    return next(c for c in r["cases"] if c["faces"] == faces and c["selfies"] == selfies
                and c["photos_in_dataset"] == in_dataset and c["labelled"] == labelled)


def _worst(sets: list[dict], key: str) -> dict:
    return max(sets, key=lambda s: s[key]["mean"])


def _published(r: dict) -> str:
    """dlib's published accuracy beside ours, and what averaging jittered copies of both photos gave here."""
    pub = r["published_dlib_lfw_accuracy"]
    jit = r.get("auto + 100 jittered copies, both photos (not shipped)")
    here = f"; here {pct(jit['devtest_accuracy'])}" if jit else ""
    return (f"{pub['one embedding per face']:.2%}: the model's published LFW accuracy with one embedding per face "
            f"({pub['100 jittered copies averaged']:.2%} averaging 100 jittered copies of each photo{here})")


Row = tuple[str, Callable[[dict], tuple[str, str]]]

# benchmark -> [(what it measures, in plain words; result -> (the number, its anchor or goal))]
ROWS: dict[str, list[Row]] = {
    "accuracy": [
        ("Pairs of photos correctly judged same person or not (LFW's test pairs, exposure's own pipeline)",
         lambda r: (pct(r["auto (hog, then cnn)"]["devtest_accuracy"]), _published(r))),
    ],
    "calibration": [
        ("Chance that a stranger's face lies within dlib's usual 0.6 of yours (one comparison)",
         lambda r: (one_in(r["fmr"]["0.60"]),
                    f"so a search of LFW's {r['images_used']:,} faces at 0.6 would find about "
                    f"{r['fmr']['0.60'] * r['images_used']:.0f} strangers: each search draws its own line")),
        ("Two photos of the same person within 0.6 of each other",
         lambda r: (pct(r["tmr"]["0.60"]), "the usual 0.6 line, measured on LFW")),
    ],
    "populations": [
        ("Test sets (UTKFace and LFW populations) where strangers called a match stay under the promise",
         lambda r: (f"{sum(s['strangers_by_face']['mean'] < r['promise'] for s in r['sets'])} of {len(r['sets'])}; "
                    f"worst {_worst(r['sets'], 'strangers_by_face')['strangers_by_face']['mean']:.2f} per search "
                    f"({_worst(r['sets'], 'strangers_by_face')['set']})",
                    f"promise: fewer than {r['promise']} strangers per search")),
        ("Test sets that name people where the answer (a match by face or by person) keeps the promise",
         lambda r: (f"{sum(s['strangers_any']['mean'] <= r['promise'] for s in r['sets'] if 'strangers_any' in s)} of "
                    f"{sum('strangers_any' in s for s in r['sets'])}; worst "
                    f"{max(s['strangers_any']['mean'] for s in r['sets'] if 'strangers_any' in s):.2f} per search",
                    "each way holds half the promise: fewer than 0.05 strangers per search")),
        ("The same, with the old rule (LFW's average rates for everyone): worst set",
         lambda r: (f"{_worst(r['sets'], 'strangers_by_face_old')['strangers_by_face_old']['mean']:.1f} strangers "
                    f"per search ({_worst(r['sets'], 'strangers_by_face_old')['set']})",
                    f"promise: fewer than {r['promise']}; why exposure counts each person's own strangers")),
    ],
    "power": [
        ("Found, when you are in a dataset of 13,233 named faces: 1 photo of you searched, 1 of you in it",
         lambda r: (pct(_power(r, 13233, 1, 1)["found"]),
                    f"nearest face alone: {pct(_power(r, 13233, 1, 1)['found_nearest_face_only'])}")),
        ("Found, 3 photos of you searched, 3 of you among 13,233 named faces",
         lambda r: (pct(_power(r, 13233, 3, 3)["found"]),
                    f"nearest face alone: {pct(_power(r, 13233, 3, 3)['found_nearest_face_only'])}")),
        ("Found, 3 photos of you searched, 3 of you among 10 million named faces (simulated from LFW)",
         lambda r: (pct(_power(r, 10_000_000, 3, 3)["found"]),
                    f"nearest face alone: {pct(_power(r, 10_000_000, 3, 3)['found_nearest_face_only'])}")),
        ("Found, 3 photos of you searched, 3 of you among 1 million faces that name no one (LFW's names removed, simulated)",
         lambda r: (pct(_power(r, 1_000_000, 3, 3, False)["found"]),
                    "if the dataset's repeated people were known: "
                    f"{pct(_power(r, 1_000_000, 3, 3, False)['found_if_repeats_known'])}")),
    ],
    "search_speed": [
        ("Time to search 1 million faces for yours",
         lambda r: (duration(_size(r, 1_000_000)["knn_float32"]["median_ms"] / 1000),
                    f"reading 1 million faces from memory takes {r['bandwidth_bound_1M']['by_sum']['float32_bound_ms']:.0f}"
                    " ms on this machine (goal: within 1.3 times that)")),
        ("Time to search 10 million faces",
         lambda r: (duration(_size(r, 10_000_000)["knn_float32"]["median_ms"] / 1000),
                    f"plain NumPy: {duration(_size(r, 1_000_000)['naive_numpy']['median_ms'] / 1000)} for 1 million")),
    ],
    "startup": [
        ("A first check of LFW in a new process, files not in memory",
         lambda r: (duration(r["first_check_lfw"]["new_process_cold_files"]["median_s"]),
                    f"goal: under {r['goals_s']['first_check_lfw_cold']:g} s")),
        ("`exposure --help` answers",
         lambda r: (duration(r["exposure_help"]["median_s"]), f"goal: under {r['goals_s']['exposure_help']:g} s")),
    ],
    "index_speed": [
        ("Indexing LFW (13,233 photos, one face each)",
         lambda r: (f"{r['exposure_index']['images_per_s']:.0f} photos a second ({duration(r['exposure_index']['seconds'])})",
                    f"face_recognition's command line: {r['face_recognition_cli']['images_per_s']:.0f} a second "
                    f"({r['speedup']:.1f} times slower)")),
    ],
    "index_build": [
        ("Indexing LFW looking for every face in every photo, 2 workers",
         lambda r: (f"{r['2 workers, full detection']['images_per_s']:.0f} photos a second",
                    f"on a Dask cluster: {r['Dask LocalCluster 2x1, full detection']['images_per_s']:.0f} a second")),
    ],
    "encoder_speed": [
        ("Faces turned into numbers a second (ONNX Runtime, 2 cores)",
         lambda r: (f"{r['onnx_faces_per_s']['2']:.0f}", f"dlib, the same network: {r['dlib_faces_per_s']['2']:.0f}")),
    ],
    "onnx_vs_dlib": [
        ("Verdicts that differ between the ONNX encoder and dlib's, all of LFW",
         lambda r: (f"{r['top5_verdicts_different']:,} of {r['top5_verdicts_compared']:,}", "goal: none")),
    ],
    "fusion": [
        ("Real photos of you missed, 3 photos of you averaged (at 1 stranger in 10,000)",
         lambda r: (pct(r["k3_centroid"]["fnmr_at_fmr_1e-04"]),
                    f"one photo of you: {pct(r['k1_centroid']['fnmr_at_fmr_1e-04'])}")),
    ],
    "identity_fusion": [
        ("Real matches missed when a dataset files 3 photos under your name, compared as one mean face",
         lambda r: (pct(r["searcher_3_identity_3"]["centroid_fnmr_at_fmr_1e-04"]),
                    f"its nearest photo alone: {pct(r['searcher_3_identity_3']['nearest_fnmr_at_fmr_1e-04'])}")),
    ],
    "large_photos": [
        ("Small faces (150 pixels) found in a 20-megapixel photo",
         lambda r: (f"{r['exposure']['faces_found']} of {r['faces_in_photo']} in {duration(r['exposure']['seconds'])}",
                    f"shrinking the photo first: {r['downscale_to_1024_then_hog_upsample_1']['faces_found']} of "
                    f"{r['faces_in_photo']}; full size: {duration(r['hog_upsample_1_on_full_photo']['seconds'])}")),
    ],
    "masked": [
        ("Photos of masked faces in which a face is found",
         lambda r: (f"{r['faces_found']['auto']} of {r['masked_images']}",
                    f"the fast detector alone: {r['faces_found']['hog']}")),
    ],
    "hub_index": [
        ("Indexing a Hub dataset of 112x112 aligned crops (all LFW), downloaded shard by shard",
         lambda r: (f"{r['faces_per_s']:.0f} faces a second", "goal: 150 a second on 2 cores")),
    ],
    "fast_path": [
        ("People found on 112x112 aligned crops (nearest face is theirs), fast path instead of full detection",
         lambda r: (pct(r["paths"]["B"]["rank1"]),
                    f"full detection: {pct(r['paths']['A']['rank1'])}; on the crops both embed: "
                    f"{pct(r['restricted']['B']['rank1'])} against {pct(r['restricted']['A']['rank1'])}")),
    ],
}


def figures_table(name: str, result: dict) -> str:
    """A benchmark's own figures as a small Markdown table (for its section), or "" when it has none."""
    rows = []
    for what, read in ROWS.get(name, []):
        try:
            number, anchor = read(result)
        except (KeyError, StopIteration, TypeError, ValueError, ZeroDivisionError):
            continue
        rows.append(f"| {what} | **{number}** | {anchor} |")
    return "| what is measured | result | compared with |\n|---|---|---|\n" + "\n".join(rows) if rows else ""


def load_results(folder: Path = RESULTS) -> dict[str, dict]:
    """Every benchmark's raw result, by name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def _titles(text: str) -> dict[str, str]:
    """Each section's heading, by benchmark name."""
    return dict(re.findall(r"<!-- bench:(\w+) -->\n## (.+)", text))


def _anchor(title: str) -> str:
    """GitHub's link to a heading: lower case, punctuation dropped, spaces as hyphens."""
    return "#" + re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def summary_table(results: dict[str, dict], titles: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """The Markdown summary table, and a note for each figure that could not be read."""
    titles = titles or {}
    rows, notes = [], []
    for name, figures in ROWS.items():
        if name not in results:
            notes.append(f"{name}: no bench/results/{name}.json yet")
            continue
        r = results[name]
        m = r.get("machine", {})
        where = f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores"
        for what, read in figures:
            try:
                number, anchor = read(r)
            except (KeyError, StopIteration, TypeError, ValueError, ZeroDivisionError) as e:
                notes.append(f"{name}: {what!r} not found in its result ({type(e).__name__}: {e})")
                continue
            link = f"[{name}]({_anchor(titles[name])})" if name in titles else name
            rows.append(f"| {what} | **{number}** | {anchor} | {m.get('date', '?')} | {where} | {link} |")
    head = ("| what is measured | result | compared with | measured | machine | details |\n"
            "|---|---|---|---|---|---|")
    return head + "\n" + "\n".join(rows), notes


def write_summary(results: dict[str, dict] | None = None, path: Path = BENCHMARKS) -> list[str]:
    """Put the summary table (and the plots' links) at the top of BENCHMARKS.md; returns the notes."""
    results = load_results() if results is None else results
    text = path.read_text()
    table, notes = summary_table(results, _titles(text))
    plots = "".join(f"\n![{alt}](docs/bench/{png})" for png, alt in PLOT_FILES.items() if (PLOTS / png).is_file())
    block = (f"{START}\n## In short\n\nOne line per figure, in plain words; each section below gives the details, and "
             f"`bench/results/` the raw numbers. Generated by `bench/summary.py`.\n\n{table}\n{plots}\n{END}")
    if START in text:
        text = re.sub(rf"{re.escape(START)}.*?{re.escape(END)}", lambda _: block, text, count=1, flags=re.S)
    else:
        first = text.find("<!-- bench:")
        text = text.rstrip() + "\n\n" + block + "\n" if first < 0 else text[:first] + block + "\n\n" + text[first:]
    path.write_text(text)
    return notes


# ---------------------------------------------------------------- plots


PLOT_FILES = {
    "search_speed.png": "search time against the number of faces",
    "populations.png": "strangers within each distance, by population",
    "power.png": "how often a person in the dataset is found, against dataset size",
}


def _figure(width: float = 7.0, height: float = 4.2):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots()


def plot_search_speed(r: dict):
    """Search time against faces searched, log-log: exposure's search in float32 and float16, and plain NumPy."""
    from exposure.figures.style import OKABE_ITO

    fig, ax = _figure()
    for key, label, colour, marker in [("knn_float32", "exposure (float32 store)", OKABE_ITO["blue"], "o"),
                                       ("knn_float16", "exposure (float16 store)", OKABE_ITO["sky"], "s"),
                                       ("naive_numpy", "plain NumPy", OKABE_ITO["vermillion"], "^")]:
        pts = [(s["faces"], s[key]["median_ms"]) for s in r["sizes"] if s.get(key)]
        ax.plot(*zip(*pts, strict=True), marker=marker, color=colour, label=label)
    bound = r["bandwidth_bound_1M"]["by_sum"]["float32_bound_ms"]
    ax.plot([1_000_000], [bound], marker="_", markersize=22, color="black", linestyle="none",
            label="reading 1 million faces from memory")
    ax.set(xscale="log", yscale="log", xlabel="faces searched", ylabel="time for one search (ms)",
           title="Search time grows with the number of faces")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return fig


def plot_populations(r: dict):
    """The share of pairs of different people within each distance, one line per population (log scale)."""
    from exposure.figures.style import OKABE_ITO

    fig, ax = _figure()
    colours = [OKABE_ITO[c] for c in ("vermillion", "blue", "green", "orange", "purple", "black")]
    markers = "os^DvP"
    for (name, curve), colour, marker in zip(r["fmr_by_population"].items(), colours, markers, strict=False):
        xs = [float(d) for d in curve]
        ax.plot(xs, list(curve.values()), marker=marker, color=colour, label=name)
    ax.set(yscale="log", xlabel="distance between two faces (lower = more alike)",
           ylabel="share of pairs of strangers this close", title="How close strangers come depends on who you are")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_power(r: dict):
    """How often a person who is in the dataset is found, against its size (labelled datasets)."""
    from exposure.figures.style import OKABE_ITO

    fig, ax = _figure(7.0, 5.0)
    colours = {1: OKABE_ITO["vermillion"], 3: OKABE_ITO["blue"], 5: OKABE_ITO["green"]}
    styles = {1: ":", 3: "--", 10: "-"}
    for in_dataset in sorted({c["photos_in_dataset"] for c in r["cases"]}):
        for selfies in sorted({c["selfies"] for c in r["cases"]}):
            pts = sorted((c["faces"], c["found"]) for c in r["cases"] if c["labelled"]
                         and c["selfies"] == selfies and c["photos_in_dataset"] == in_dataset)
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", color=colours.get(selfies, "grey"),
                        linestyle=styles.get(in_dataset, "-"),
                        label=f"{selfies} photo{'s' * (selfies > 1)} of you; {in_dataset} of you in it")
    ax.set(xscale="log", ylim=(0, 1.02), xlabel="faces in the dataset", ylabel="share of people found",
           title="Found when you are there: more photos help, bigger datasets hide you")
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.grid(True, which="major", alpha=0.3)
    fig.legend(loc="outside lower center", ncol=3, fontsize="x-small")
    return fig


PLOTTERS = {"search_speed.png": ("search_speed", plot_search_speed),
            "populations.png": ("populations", plot_populations),
            "power.png": ("power", plot_power)}


def write_plots(results: dict[str, dict] | None = None, folder: Path = PLOTS) -> list[str]:
    """Draw each plot whose benchmark has a result into `folder`; returns a note for each one skipped."""
    results = load_results() if results is None else results
    folder.mkdir(parents=True, exist_ok=True)
    notes = []
    for png, (name, plot) in PLOTTERS.items():
        if name not in results:
            notes.append(f"{png} not drawn: no bench/results/{name}.json yet")
            continue
        fig = plot(results[name])
        fig.savefig(folder / png, dpi=100, metadata={"Software": None})
    return notes


def main() -> int:
    results = load_results()
    notes = write_plots(results) + write_summary(results)
    for note in notes:
        print(f"note: {note}")
    print(f"summary written to {BENCHMARKS}, plots to {PLOTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
