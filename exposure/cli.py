"""The `exposure` command: index datasets, check photos, browse and fetch the catalog.

Heavy modules are imported inside each command, so `exposure --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="exposure",
        description="Find out, on your own computer, whether your face is in public face datasets.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("check", help="search indexes for the person in your photos")
    c.add_argument("photos", nargs="+", metavar="PHOTO", help="photos of one person (you)")
    c.add_argument("--index", action="append", required=True, metavar="INDEX_DIR", help="an index folder (repeatable)")
    c.add_argument("--top", type=int, default=5, metavar="K", help="nearest faces to show per index (default 5)")
    c.add_argument("--face", type=int, metavar="N", help="use face N of each photo (1 = largest; default: the largest)")
    c.add_argument("--detector", choices=["auto", "hog", "cnn"], default="auto",
                   help="face detector (auto: HOG, then the slower CNN if HOG finds no face)")
    c.add_argument("--encoder", choices=["onnx", "dlib"], help="run the face model in ONNX Runtime (default) or dlib")
    c.add_argument("--report", metavar="PATH", help="write a self-contained HTML report here")
    c.add_argument("--json", action="store_true", help="print the results as JSON")

    i = sub.add_parser("index", help="embed every face of a dataset folder into an index")
    i.add_argument("dataset", metavar="DATASET_DIR")
    i.add_argument("--out", required=True, metavar="INDEX_DIR")
    i.add_argument("--name", help="dataset name (default: the folder's name)")
    i.add_argument("--format", help="the dataset's published layout (default: detected from the path)")
    i.add_argument("--detector", choices=["hog", "auto", "cnn"], default="hog",
                   help="face detector (auto: HOG, then the slower CNN on images where HOG finds none)")
    i.add_argument("--encoder", choices=["onnx", "dlib"], help="run the face model in ONNX Runtime (default) or dlib")
    i.add_argument("--workers", type=int, metavar="N", help="processes to use (default: all cores)")
    i.add_argument("--aligned", choices=["auto", "yes", "no"], default="auto",
                   help="aligned face crops (LFW, 112x112 sets): skip detection and use the known face box "
                        "(auto: when a probe of the dataset finds all images aligned)")
    i.add_argument("--store", choices=["float32", "float16"], default="float32",
                   help="embedding matrix on disk: float16 halves it, changing distances by at most ~1e-4")
    i.add_argument("--dask", action="store_true", help="embed on a local Dask cluster")
    i.add_argument("--scheduler", metavar="ADDRESS", help="embed on the Dask cluster at this scheduler address")
    i.add_argument("--shard-size", type=int, default=256, metavar="N",
                   help="images per committed shard: a killed build loses at most this much work (default 256)")
    i.add_argument("--quiet", action="store_true", help="no progress bar")

    d = sub.add_parser("datasets", help="list the public face datasets exposure knows about")
    d.add_argument("--json", action="store_true", help="print the catalog as JSON")

    lk = sub.add_parser("lookup", help="find a Flickr user's photos or a URL in datasets' source metadata (no face needed)")
    g = lk.add_mutually_exclusive_group(required=True)
    g.add_argument("--flickr-user", metavar="NAME")
    g.add_argument("--url")
    lk.add_argument("--in", dest="paths", action="append", metavar="PATH",
                    help="a metadata file or dataset folder (repeatable; default: everything in the data home)")
    lk.add_argument("--home", metavar="DIR", help="data home (default: $EXPOSURE_HOME or your cache folder)")
    lk.add_argument("--json", action="store_true")

    fg = sub.add_parser("forget", help="delete everything exposure stored about you (saved reports)")
    fg.add_argument("--home", metavar="DIR", help="data home (default: $EXPOSURE_HOME or your cache folder)")

    w = sub.add_parser("workshop", help="serve the check-my-exposure app on this computer only (Voila on 127.0.0.1)")
    w.add_argument("--port", type=int, default=8866)
    w.add_argument("--open", action="store_true", help="open a browser window")

    f = sub.add_parser("fetch", help="download a dataset that is still published (checksum-verified)")
    f.add_argument("name")
    f.add_argument("--base-url", metavar="URL", help="download from this mirror instead")
    f.add_argument("--home", metavar="DIR", help="data home (default: $EXPOSURE_HOME or your cache folder)")
    return p


def _check(args) -> int:
    from exposure.checker import check

    result = check(args.photos, args.index, top=args.top, face=args.face,
                   detector=args.detector, encoder=args.encoder, overlap=True)
    if args.json:
        print(json.dumps(result.to_records(), indent=1, ensure_ascii=False))
    else:
        _print_table(result)
    for s in result.skipped:
        print(f"note: {s}", file=sys.stderr)
    if args.report:
        from exposure.report import write_report

        path = write_report(result, args.report)
        print(f"report written to {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _chance(x: float) -> str:
    return "unknown" if x != x else f"{x:.2g}"


def _print_table(result) -> None:
    from exposure.verdicts import LIKELY, lines

    for q in result.queries:
        print(f"photo {q.name}: face {q.chosen + 1} of {q.faces_found}, {q.face.quality.width_px} px wide")
        for w in q.warnings():
            print(f"  warning: {w}")
    for ix in result.indexes:
        rows = result.results[result.results["index"] == str(ix.path)]
        n = int(rows["is_match"].sum())
        print(f"\n{ix.name}: {ix.n_faces:,} faces searched; "
              + (f"{n} match{'es' if n > 1 else ''} (you)" if n else "no face close enough to be you"))
        strangers = result.strangers[str(ix.path)]
        print("  " + (f"{ix.n_faces:,} faces are too few to tell how close strangers come: only a copy of your own "
                      "photo is called you"
                      if strangers.too_small else
                      f"match line {max(lines(strangers)[LIKELY], 0):.3f}, counted from how close this dataset's "
                      "own faces come to you"))
        print(f"  {'#':>2}  {'distance':>8}  {'verdict':<13} {'expected by chance':>18}  identity / image")
        for _, r in rows.iterrows():
            who = r["identity"] if r["identity"] is not None else "-"
            print(f"  {r['rank']:>2}  {r['distance']:>8.3f}  {r['verdict']:<13} {_chance(r['expected_chance_matches']):>18}"
                  f"  {who} / {r['image']}")
        people = result.identities[result.identities["index"] == str(ix.path)]
        if len(people):
            m = int(people["is_match"].sum())
            print(f"  by person ({int(people['identities_searched'].iloc[0]):,} named people, each judged by the "
                  f"mean face of up to 5 of their photos): " + (f"{m} match{'es' if m > 1 else ''}" if m else "no match"))
            for _, r in people.iterrows():
                print(f"  {r['rank']:>2}  {r['distance']:>8.3f}  {r['verdict']:<13} {_chance(r['expected_chance_matches']):>18}"
                      f"  {r['identity']} ({r['photos']} photo{'s' if r['photos'] > 1 else ''})")
        print("  " + result.power(str(ix.path)).sentence())


def _index(args) -> int:
    from exposure.build import build_index

    m = build_index(args.dataset, args.out, name=args.name, format=args.format, detector=args.detector,
                    encoder=args.encoder, workers=args.workers, scheduler=args.scheduler, dask=args.dask,
                    aligned={"auto": None, "yes": True, "no": False}[args.aligned], store=args.store,
                    shard_images=args.shard_size, progress=not args.quiet)
    c = m["counts"]
    print(f"{m['dataset']}: {c['images_done']:,} images indexed, {c['faces']:,} faces, "
          f"{c['images_without_face']:,} without a face, {c['failed']:,} unreadable -> {args.out}")
    for f in m["failed"][:10]:
        print(f"  unreadable: {f['path']}: {f['reason']}")
    if len(m["failed"]) > 10:
        print(f"  ... and {len(m['failed']) - 10} more (see {args.out}/manifest.json)")
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

    path = fetch(args.name, base_url=args.base_url, home=args.home)
    print(f"{args.name} is ready in {path}\nindex it with: exposure index {path} --out INDEX_DIR")
    return 0


def _lookup(args) -> int:
    from exposure.errors import ExposureError
    from exposure.source_lookup import lookup, records

    df = lookup(flickr_user=args.flickr_user, url=args.url, paths=args.paths, home=args.home)
    if not df.attrs["searched"]:
        raise ExposureError("no dataset metadata to search (FFHQ JSON, MS-Celeb TSV, FaceScrub or PubFig lists, "
                            "LAION-Face parquet): give one with --in PATH, or put it in the data home")
    if args.json:
        print(json.dumps(records(df), ensure_ascii=False, indent=1))
    elif len(df):
        print(df[["dataset", "image", "url", "author", "license"]].to_string(index=False))
    else:
        print(f"no match in {len(df.attrs['searched'])} metadata files")
    return 0


def _forget(args) -> int:
    from exposure.privacy import forget

    removed = forget(args.home)
    print(f"removed {len(removed)} item(s) exposure had stored about you" if removed
          else "exposure had stored nothing about you")
    return 0


def _workshop(args) -> int:
    from exposure.workshop import serve

    return serve(args.port, args.open)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from exposure.errors import ExposureError

    command = {"check": _check, "index": _index, "datasets": _datasets, "fetch": _fetch, "lookup": _lookup,
               "forget": _forget, "workshop": _workshop}[args.command]
    try:
        return command(args)
    except KeyboardInterrupt:
        print("exposure: stopped (work already saved is kept; run the same command to continue)", file=sys.stderr)
        return 130
    except (ExposureError, ValueError, OSError) as e:
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"exposure: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
