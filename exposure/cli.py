"""The `exposure` command: index datasets, check photos, browse and fetch the catalog.

Heavy modules are imported inside each command, so `exposure --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from exposure.i18n import _, language, ngettext, set_language
from exposure.plain import count


class _Help(argparse.HelpFormatter):
    """argparse's own words in `--help` (usage, section titles) in the language in use."""

    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, _("usage: ") if prefix is None else prefix)

    def start_section(self, heading):
        titles = {"positional arguments": _("positional arguments"), "options": _("options")}
        super().start_section(titles.get(heading, heading))

    def _split_lines(self, text, width):
        """Lines of at most `width` terminal columns; Chinese characters take two and may end a line anywhere."""
        import re

        if text.isascii():
            return super()._split_lines(text, width)
        lines, line = [], ""
        for token in re.findall(r"[^\x00-\x7f]|[\x21-\x7e]+| +", " ".join(text.split())):  # no line starts with "）"
            if line.strip() and _width(line + token.rstrip()) > width and token not in "，。；：、）」":
                lines.append(line.rstrip())
                line = ""
            line += token if line or not token.isspace() else ""
        return [*lines, line.rstrip()] if line.strip() else lines


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose `-h` line and headings follow the language in use (its subcommands' too)."""

    def __init__(self, *args, add_help: bool = True, **kwargs):
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, add_help=False, **kwargs)
        if add_help:
            self.add_argument("-h", "--help", action="help", help=_("show this help message and exit"))


def _asked_language(argv: list[str]) -> str | None:
    """The last `--lang` on the command line, read before the parser is built so that `--help` follows it."""
    asked = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and i + 1 < len(argv):
            asked = argv[i + 1]
        elif arg.startswith("--lang="):
            asked = arg.partition("=")[2]
    return asked


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="exposure",
        description=_("Find out, on your own computer, whether your face is in public face datasets."),
    )
    p.add_argument("--lang", choices=["en", "zh"], help=_("language of what is printed and written: en (English) or zh "
                                                         "(简体中文); default: $EXPOSURE_LANG, else the system locale"))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("check", help=_("search indexes for the person in your photos"))
    c.add_argument("photos", nargs="+", metavar="PHOTO", help=_("photos of one person (you)"))
    c.add_argument("--index", action="append", required=True, metavar="INDEX_DIR", help=_("an index folder (repeatable)"))
    c.add_argument("--top", type=int, default=5, metavar="K", help=_("nearest faces to show per index (default 5)"))
    c.add_argument("--face", type=int, metavar="N", help=_("use face N of each photo (1 = largest; default: the largest)"))
    c.add_argument("--detector", choices=["auto", "hog", "cnn"], default="auto",
                   help=_("face detector (auto: HOG, then the slower CNN if HOG finds no face)"))
    c.add_argument("--encoder", choices=["onnx", "dlib"], help=_("run the face model in ONNX Runtime (default) or dlib"))
    c.add_argument("--report", metavar="PATH", help=_("write the report here: a self-contained HTML file, or a PDF when PATH ends in .pdf"))
    c.add_argument("--json", action="store_true", help=_("print the results as JSON"))

    i = sub.add_parser("index", help=_("embed every face of a dataset folder into an index"))
    i.add_argument("dataset", metavar="DATASET_DIR",
                   help=_("a dataset folder or file, or hf:OWNER/NAME[@REVISION] to stream a Hugging Face Hub dataset"))
    i.add_argument("--out", required=True, metavar="INDEX_DIR")
    i.add_argument("--name", help=_("dataset name (default: the folder's name)"))
    i.add_argument("--format", help=_("the dataset's published layout (default: detected from the path)"))
    i.add_argument("--detector", choices=["hog", "auto", "cnn"], default="hog",
                   help=_("face detector (auto: HOG, then the slower CNN on images where HOG finds none)"))
    i.add_argument("--encoder", choices=["onnx", "dlib"], help=_("run the face model in ONNX Runtime (default) or dlib"))
    i.add_argument("--workers", type=int, metavar="N", help=_("processes to use (default: all cores)"))
    i.add_argument("--aligned", choices=["auto", "yes", "no"], default="auto",
                   help=_("aligned face crops (LFW, 112x112 sets): skip detection and use the known face box "
                        "(auto: when a probe of the dataset finds all images aligned)"))
    i.add_argument("--store", choices=["float32", "float16"], default="float32",
                   help=_("embedding matrix on disk: float16 halves it, changing distances by at most ~1e-4"))
    i.add_argument("--dask", action="store_true", help=_("embed on a local Dask cluster"))
    i.add_argument("--scheduler", metavar="ADDRESS", help=_("embed on the Dask cluster at this scheduler address"))
    i.add_argument("--shard-size", type=int, default=256, metavar="N",
                   help=_("images per committed shard: a killed build loses at most this much work (default 256)"))
    i.add_argument("--quiet", action="store_true", help=_("no progress bar"))
    i.add_argument("--keep", action="store_true",
                   help=_("hf: datasets: keep the downloaded files (default: each is deleted once indexed)"))

    d = sub.add_parser("datasets", help=_("list the public face datasets exposure knows about"))
    d.add_argument("--json", action="store_true", help=_("print the catalog as JSON"))

    lk = sub.add_parser("lookup", help=_("find a Flickr user's photos or a URL in datasets' source metadata (no face needed)"))
    g = lk.add_mutually_exclusive_group(required=True)
    g.add_argument("--flickr-user", metavar="NAME")
    g.add_argument("--url")
    lk.add_argument("--in", dest="paths", action="append", metavar="PATH",
                    help=_("a metadata file or dataset folder (repeatable; default: everything in the data home)"))
    lk.add_argument("--home", metavar="DIR", help=_("data home (default: $EXPOSURE_HOME or your cache folder)"))
    lk.add_argument("--json", action="store_true")

    fg = sub.add_parser("forget", help=_("delete everything exposure stored about you (saved reports)"))
    fg.add_argument("--home", metavar="DIR", help=_("data home (default: $EXPOSURE_HOME or your cache folder)"))

    w = sub.add_parser("workshop", help=_("serve the check-my-exposure app on this computer only (Voila on 127.0.0.1)"))
    w.add_argument("--port", type=int, default=8866)
    w.add_argument("--open", action="store_true", help=_("open a browser window"))

    f = sub.add_parser("fetch", help=_("download a dataset that is still published (checksum-verified)"))
    f.add_argument("name", help=_("a catalog name, or hf:OWNER/NAME[@REVISION] for any Hugging Face Hub dataset"))
    f.add_argument("--base-url", metavar="URL", help=_("download from this mirror instead"))
    f.add_argument("--withdrawn-ok", action="store_true",
                   help=_("fetch a mirror of a dataset its makers withdrew (what it is and why is printed first)"))
    f.add_argument("--home", metavar="DIR", help=_("data home (default: $EXPOSURE_HOME or your cache folder)"))
    for command in sub.choices.values():  # `exposure check ... --lang zh` works as well as `exposure --lang zh check ...`
        command.add_argument("--lang", choices=["en", "zh"], default=argparse.SUPPRESS,
                             help=_("language: en (English) or zh (简体中文)"))
    return p


def _check(args) -> int:
    from exposure.checker import check

    chosen = language()
    if args.json:
        set_language("en")  # the JSON output is the same whatever the language (its explanations included)
    try:
        result = check(args.photos, args.index, top=args.top, face=args.face,
                       detector=args.detector, encoder=args.encoder, overlap=True)
    finally:
        set_language(chosen)
    path = None
    if args.report:  # first: a reader of the output that goes away (`| head`) must not cost the report
        from exposure.pdf import write_pdf_report
        from exposure.report import write_report

        write = write_pdf_report if args.report.lower().endswith(".pdf") else write_report
        path = write(result, args.report)
    if args.json:
        print(json.dumps(result.to_records(), indent=1, ensure_ascii=False))
    else:
        _print_table(result)
    for s in result.skipped:
        print(_("note: {what}").format(what=s), file=sys.stderr)
    if path is not None:
        print(_("report written to {path}").format(path=path), file=sys.stderr if args.json else sys.stdout)
    return 0


def _width(text: str) -> int:
    """Columns a text takes in a terminal: Chinese characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    """`text` padded with spaces to `width` terminal columns (on the left when `right`)."""
    space = " " * max(width - _width(text), 0)
    return space + text if right else text + space


def _print_row(row: tuple, widths: list[int]) -> None:
    """One line of the results table: rank, distance, verdict, expected by chance, who."""
    rank, distance, verdict, expected, who = row
    print(f"  {rank:>2}  {_pad(distance, widths[0], True)}  {_pad(verdict, widths[1])} "
          f"{_pad(expected, widths[2], True)}  {who}")


def _print_table(result) -> None:
    from exposure.answer import dataset_answer
    from exposure.plain import chance, count
    from exposure.verdicts import LIKELY, lines, shown

    for ix in result.indexes:  # the answer first, then the evidence
        print(dataset_answer(result, ix))
    print()
    for q in result.queries:
        print(_("photo {name}: face {chosen} of {found}, {px} px wide").format(
            name=q.name, chosen=q.chosen + 1, found=q.faces_found, px=q.face.quality.width_px))
        for w in q.warnings():
            print("  " + _("warning: {what}").format(what=w))
    for ix in result.indexes:
        rows = result.results[result.results["index"] == str(ix.path)]
        n = int(rows["is_match"].sum())
        print("\n" + _("{dataset}: {faces} faces searched; ").format(dataset=ix.name, faces=count(ix.n_faces))
              + (ngettext("{n} match (you)", "{n} matches (you)", n).format(n=n) if n
                 else _("no face close enough to be you")))
        strangers = result.strangers[str(ix.path)]
        print("  " + (_("{faces} faces are too few to tell how close strangers come: only a copy of your own "
                        "photo is called you").format(faces=count(ix.n_faces))
                      if strangers.too_small else
                      _("match line {line}, counted from how close this dataset's own faces come to you").format(
                          line=f"{max(lines(strangers)[LIKELY], 0):.3f}")))
        people = result.identities[result.identities["index"] == str(ix.path)]
        faces = [(r["rank"], f"{r['distance']:.3f}", shown(r["verdict"]), chance(r["expected_chance_matches"]),
                  f"{r['identity'] if r['identity'] is not None else '-'} / {r['image']}") for _n, r in rows.iterrows()]
        named = [(r["rank"], f"{r['distance']:.3f}", shown(r["verdict"]), chance(r["expected_chance_matches"]),
                  ngettext("{identity} ({n} photo)", "{identity} ({n} photos)", int(r["photos"])).format(
                      identity=r["identity"], n=r["photos"])) for _n, r in people.iterrows()]
        head = ("#", _("distance"), _("verdict"), _("expected by chance"), _("identity / image"))
        widths = [max([w, *(_width(str(t[i])) for t in [head, *faces, *named])]) for i, w in ((1, 8), (2, 13), (3, 18))]
        for row in [head, *faces]:
            _print_row(row, widths)
        if len(people):
            m = int(people["is_match"].sum())
            print("  " + _("by person ({people} named people, each judged by the mean face of up to 5 of their "
                           "photos): ").format(people=count(people["identities_searched"].iloc[0]))
                  + (ngettext("{n} match", "{n} matches", m).format(n=m) if m else _("no match")))
            for row in named:
                _print_row(row, widths)
        print("  " + result.power(str(ix.path)).sentence())


def _index(args) -> int:
    from exposure.build import build_index

    options = dict(name=args.name, detector=args.detector, encoder=args.encoder, workers=args.workers,
                   scheduler=args.scheduler, dask=args.dask, aligned={"auto": None, "yes": True, "no": False}[args.aligned],
                   store=args.store, shard_images=args.shard_size, progress=not args.quiet)
    if args.dataset.startswith("hf:"):
        from exposure.stream import index_hub

        m = index_hub(args.dataset, args.out, keep=args.keep, **options)
    else:
        m = build_index(args.dataset, args.out, format=args.format, **options)
    c = m["counts"]
    print(_("{dataset}: {done} images indexed, {faces} faces, {without} without a face, {failed} unreadable -> {out}")
          .format(dataset=m["dataset"], done=count(c["images_done"]), faces=count(c["faces"]),
                  without=count(c["images_without_face"]), failed=count(c["failed"]), out=args.out))
    for f in m["failed"][:10]:
        print("  " + _("unreadable: {path}: {reason}").format(path=f["path"], reason=f["reason"]))
    if len(m["failed"]) > 10:
        print("  " + _("... and {n} more (see {manifest})").format(n=count(len(m["failed"]) - 10),
                                                                  manifest=f"{args.out}/manifest.json"))
    return 0


def _datasets(args) -> int:
    from exposure.datasets import catalog_table

    if args.json:
        print(json.dumps(catalog_table.catalog_records(), indent=1, ensure_ascii=False))
    else:
        print(catalog_table.format_table())
    return 0


def _fetch(args) -> int:
    from exposure.datasets.download import fetch

    path = fetch(args.name, base_url=args.base_url, home=args.home, withdrawn_ok=args.withdrawn_ok)
    print(_("{name} is ready in {path}\nindex it with: exposure index {path} --out INDEX_DIR").format(name=args.name, path=path))
    return 0


def _lookup(args) -> int:
    from exposure.errors import ExposureError
    from exposure.source_lookup import lookup, records

    df = lookup(flickr_user=args.flickr_user, url=args.url, paths=args.paths, home=args.home)
    if not df.attrs["searched"]:
        raise ExposureError(_("no dataset metadata to search (FFHQ JSON, MS-Celeb TSV, FaceScrub or PubFig lists, "
                              "LAION-Face parquet): give one with --in PATH, or put it in the data home"))
    if args.json:
        print(json.dumps(records(df), ensure_ascii=False, indent=1))
    elif len(df):
        print(df[["dataset", "image", "url", "author", "license"]].to_string(index=False))
    else:
        print(_("no match in {n} metadata files").format(n=count(len(df.attrs["searched"]))))
    return 0


def _forget(args) -> int:
    from exposure.privacy import forget

    removed = forget(args.home)
    print(_("removed {n} item(s) exposure had stored about you").format(n=count(len(removed))) if removed
          else _("exposure had stored nothing about you"))
    return 0


def _workshop(args) -> int:
    from exposure.workshop import serve

    return serve(args.port, args.open)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if (asked := _asked_language(argv)) in ("en", "zh"):
        set_language(asked)  # before the parser is built: its help texts are translated as they are added
    args = _parser().parse_args(argv)
    from exposure.errors import ExposureError

    if getattr(args, "lang", None):
        set_language(args.lang)  # before anything is printed

    command = {"check": _check, "index": _index, "datasets": _datasets, "fetch": _fetch, "lookup": _lookup,
               "forget": _forget, "workshop": _workshop}[args.command]
    try:
        code = command(args)
        sys.stdout.flush()  # here, so that a reader gone away is met inside this try
        return code
    except BrokenPipeError:  # the reader went away (`| head`): nothing left to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(_("exposure: stopped (work already saved is kept; run the same command to continue)"), file=sys.stderr)
        return 130
    except (ExposureError, ValueError, OSError) as e:
        message = (e.shown() if isinstance(e, ExposureError) else " ".join(str(e).split())) or type(e).__name__
        print(_("exposure: error: {message}").format(message=message), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
