"""What exposure keeps about you, how to erase it, and a letter to ask a dataset's maintainer to do the same.

exposure writes nothing about the person who uses it, except where they ask: the notebooks and the
app save reports (which contain their photos) under `<data home>/user/`. `forget()` removes that
folder. Indexes of public datasets and downloads are not about the user and are kept.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import textwrap
from pathlib import Path

from exposure.datasets import catalog_table
from exposure.home import data_home

USER_DIR = "user"


def user_dir(home: str | os.PathLike | None = None, create: bool = False) -> Path:
    """The one folder where exposure stores anything about the user (reports they chose to save)."""
    path = data_home(home) / USER_DIR
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def forget(home: str | os.PathLike | None = None) -> list[Path]:
    """Remove everything exposure stored about the user; returns the files and folders removed.

    Symbolic links are removed themselves, never followed.
    """
    root = data_home(home) / USER_DIR
    removed: list[Path] = []
    if root.is_symlink() or root.is_file():
        root.unlink()
        return [root]
    if not root.exists():
        return removed
    for dirpath, dirnames, filenames in os.walk(root, topdown=False, followlinks=False):
        for name in filenames:
            p = Path(dirpath) / name
            p.unlink()
            removed.append(p)
        for name in dirnames:
            p = Path(dirpath) / name
            if p.is_symlink():
                p.unlink()
            else:
                p.rmdir()
            removed.append(p)
    shutil.rmtree(root, ignore_errors=True)
    removed.append(root)
    return removed


# ---------------------------------------------------------------- the request letter

LAWS = {
    "GDPR": {
        "name": "the EU General Data Protection Regulation (GDPR)",
        "where": "the European Union, the EEA and the UK (UK GDPR)",
        "asks": [
            "Article 15 (right of access): confirm whether you process personal data about me, and give me a copy, "
            "including every image of me, any face data derived from it (landmarks, embeddings, labels), "
            "its source, and to whom you have given it.",
            "Article 17 (right to erasure): erase these images and all data derived from them. Face data used to "
            "identify a person is a special category of data (Article 9), and I have not consented.",
            "Article 21 (right to object): I object to any further processing of my personal data, including its "
            "distribution in any copy or derivative of the dataset.",
            "Article 19: tell every recipient of the dataset of this erasure.",
        ],
        "deadline": "Please answer within one month, as Article 12(3) requires.",
        "source": "https://eur-lex.europa.eu/eli/reg/2016/679/oj",
    },
    "PIPL": {
        "name": "the Personal Information Protection Law of the People's Republic of China (PIPL)",
        "where": "China, and handlers abroad that analyse people in China",
        "asks": [
            "Article 45: let me consult and copy the personal information you hold about me, including every "
            "image of me and any data derived from it.",
            "Article 47: delete this information. Biometric information is sensitive personal information "
            "(Article 28) and needs my separate consent (Article 29), which I did not give.",
            "Article 44 and Article 27: I refuse any further handling of my personal information, including "
            "information that was public.",
        ],
        "deadline": "Article 50 requires you to handle this request promptly and to give reasons if you refuse.",
        "source": "http://en.npc.gov.cn.cdurl.cn/2021-12/29/c_694559.htm",
    },
    "CCPA": {
        "name": "the California Consumer Privacy Act, as amended by the California Privacy Rights Act (CCPA/CPRA)",
        "where": "California residents, for businesses the Act covers",
        "asks": [
            "Section 1798.110 (right to know): disclose the personal information you have collected about me, "
            "its sources, and the third parties you disclosed it to.",
            "Section 1798.105 (right to delete): delete my personal information, including every image of me and "
            "any biometric information derived from it, and direct your service providers to do the same.",
            "Section 1798.121: limit any use of my sensitive personal information (biometric information used to "
            "identify me). Biometric information collected without my knowledge is not 'publicly available' "
            "under Section 1798.140.",
        ],
        "deadline": "Please answer within 45 days, as Section 1798.130 requires.",
        "source": "https://leginfo.legislature.ca.gov/faces/codes_displayText.xhtml?division=3.&part=4.&lawCode=CIV&title=1.81.5",
    },
    "BIPA": {
        "name": "the Illinois Biometric Information Privacy Act (BIPA, 740 ILCS 14)",
        "where": "people in Illinois, for private entities",
        "asks": [
            "Section 15(b): you may not collect or obtain my biometric identifiers (including a scan of face "
            "geometry) without first informing me in writing and receiving my written release. I gave none.",
            "Section 15(a): send me your written, public policy with the retention schedule and the guidelines "
            "for permanently destroying biometric identifiers and information.",
            "Destroy any biometric identifier or biometric information derived from images of me, and confirm in "
            "writing; Section 15(d) forbids disclosing it further without my consent.",
        ],
        "deadline": "Please confirm in writing within 30 days.",
        "source": "https://www.ilga.gov/legislation/ilcs/ilcs3.asp?ActID=3004&ChapterID=57",
    },
}


def _blank(value, placeholder: str) -> str:
    if value is None:
        return placeholder
    text = str(value).strip()
    return placeholder if not text or text.lower() == "unknown" else text


def _wrap(text: str, first: str = "", rest: str = "") -> list[str]:
    return textwrap.wrap(text, width=92, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False)


def catalog_entry(dataset: str) -> dict | None:
    """The catalog entry for a dataset name (or slug, or alias), or None when the catalog has none."""
    try:
        return catalog_table.entry(dataset)
    except (KeyError, ValueError):
        return None


def request_letter(
    row=None,
    *,
    dataset: str | None = None,
    image: str | None = None,
    identity: str | None = None,
    entry: dict | None = None,
    law: str = "GDPR",
    your_name: str = "[your name]",
    your_contact: str = "[your e-mail or postal address]",
    today: _dt.date | None = None,
) -> str:
    """A request to a dataset's maintainer to show and erase your data, filled in from a check result.

    `row` is one row of `CheckResult.results` (a dict or pandas Series); `dataset`, `image` and
    `identity` override it. The maintainer and the dataset's own removal route come from the
    catalog when it has the dataset (or from `entry`). Blanks are left in [brackets].
    """
    get = (lambda k: row.get(k) if row is not None else None)  # noqa: E731
    dataset = dataset or get("dataset")
    image = image or get("image")
    identity = identity or get("identity")
    if law not in LAWS:
        raise ValueError(f"law must be one of {', '.join(LAWS)}")
    info = entry if entry is not None else (catalog_entry(dataset) if dataset else None)
    rules = LAWS[law]
    name = _blank((info or {}).get("name") or dataset, "[dataset name]")
    maintainer = _blank((info or {}).get("creator"), "[maintainer]")
    contact = _blank((info or {}).get("maintainer_contact"), "[maintainer's contact: see the dataset's web page]")
    removal = _blank((info or {}).get("removal"), "")
    urls = (info or {}).get("urls") or []
    today = today or _dt.date.today()
    found = [f"  - file: {_blank(image, '[file name in the dataset]')}"]
    if identity:
        found.append(f"  - listed under the name: {identity}")
    if get("distance") is not None:
        found.append(
            f"  - found by comparing faces on my own computer with the exposure toolkit "
            f"(distance {float(get('distance')):.3f}, verdict: {get('verdict')})"
        )
    lines = [
        f"To: {maintainer}",
        f"Contact: {contact}",
        f"Date: {today.isoformat()}",
        f"Subject: Request about my images in {name}, under {law}",
        "",
        "Dear maintainer,",
        "",
        *_wrap(f"I believe that {name}{' (' + urls[0] + ')' if urls else ''} contains photos of me. "
               "I did not agree to their inclusion."),
        *found,
        "",
        *_wrap(f"Under {rules['name']}, I ask you:"),
        *[line for i, a in enumerate(rules["asks"], start=1) for line in _wrap(a, f"  {i}. ", "     ")],
        "",
        *_wrap(rules["deadline"]),
        *_wrap("To confirm that I am the person in the photo, I can send a recent photo or another proof of "
               "identity if you need it; please use it only to answer this request."),
        "",
        "Yours sincerely,",
        your_name,
        your_contact,
    ]
    if removal:
        lines += ["", *_wrap(f"(Note for the sender: this dataset's own removal route: {removal})")]
    lines += ["", f"(Law: {rules['source']})"]
    return "\n".join(lines)
