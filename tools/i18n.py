"""Refresh the translations in one go: extract every `_()`/`ngettext()` message of exposure/ into
exposure/locale/exposure.pot (Babel), merge it into each language's .po, and compile the .mo files.

    .venv/bin/python tools/i18n.py          # then translate the new or fuzzy entries of the .po and run it again

`--check` changes nothing and fails when a message lacks a translation or a .mo is out of date.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "exposure"
LOCALE = PACKAGE / "locale"
DOMAIN = "exposure"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
LANGUAGES = ["zh_CN"]


def extract() -> Catalog:
    """Every message marked in the package, with the files it appears in."""
    catalog = Catalog(project="exposure", version="0.1.0", copyright_holder="the exposure contributors", domain=DOMAIN,
                      charset="utf-8")
    for path, _line, message, comments, context in extract_from_dir(
            PACKAGE, method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)):
        catalog.add(message, None, [(str(Path("exposure") / path), 0)], auto_comments=comments, context=context)
    return catalog


def po_path(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def compiled(po: Path) -> bytes:
    """The .mo file a .po compiles to (fuzzy entries left out)."""
    with po.open("rb") as f:
        catalog = read_po(f, locale=po.parent.parent.name, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def _po_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, include_lineno=False, ignore_obsolete=True)
    return buf.getvalue()


def problems(template: Catalog, lang: str) -> list[str]:
    """Messages of the template without a finished translation in `lang`'s .po."""
    with po_path(lang).open("rb") as f:
        po = read_po(f, locale=lang, domain=DOMAIN)
    out = []
    for m in template:
        if not m.id:
            continue
        t = po.get(m.id, m.context)
        strings = t.string if t is not None and isinstance(t.string, tuple) else (t.string if t else "",)
        if t is None or t.fuzzy or not all(strings):
            out.append(f"{lang}: untranslated: {m.id!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--check", action="store_true", help="change nothing; fail on missing or stale translations")
    check = args.parse_args(argv).check
    template = extract()
    issues = []
    if not check:
        LOCALE.mkdir(parents=True, exist_ok=True)
        (LOCALE / f"{DOMAIN}.pot").write_bytes(_po_bytes(template))
    for lang in LANGUAGES:
        po = po_path(lang)
        if not check:
            if po.is_file():
                with po.open("rb") as f:
                    catalog = read_po(f, locale=lang, domain=DOMAIN)
            else:
                catalog = Catalog(locale=lang, domain=DOMAIN, project="exposure", charset="utf-8")
            catalog.update(template, no_fuzzy_matching=True)
            po.parent.mkdir(parents=True, exist_ok=True)
            po.write_bytes(_po_bytes(catalog))
            po.with_suffix(".mo").write_bytes(compiled(po))
        elif not po.with_suffix(".mo").is_file() or po.with_suffix(".mo").read_bytes() != compiled(po):
            issues.append(f"{lang}: {po.with_suffix('.mo')} is not the compiled {po.name}: run tools/i18n.py")
        issues += problems(template, lang)
    for line in issues:
        print(line, file=sys.stderr)
    return 1 if issues and check else 0


if __name__ == "__main__":
    sys.exit(main())
