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
from exposure.i18n import language

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
    law: str | None = None,
    your_name: str | None = None,
    your_contact: str | None = None,
    today: _dt.date | None = None,
) -> str:
    """A request to a dataset's maintainer to show and erase your data, filled in from a check result.

    `row` is one row of `CheckResult.results` (a dict or pandas Series); `dataset`, `image` and
    `identity` override it. The maintainer and the dataset's own removal route come from the
    catalog when it has the dataset (or from `entry`). Blanks are left in [brackets]. `law`
    defaults to GDPR, or to PIPL when the language in use is Chinese; a PIPL letter is then written
    in Chinese, as a Chinese personal information handler expects it.
    """
    get = (lambda k: row.get(k) if row is not None else None)  # noqa: E731
    dataset = dataset or get("dataset")
    image = image or get("image")
    identity = identity or get("identity")
    zh = language() == "zh"
    law = law or ("PIPL" if zh else "GDPR")
    if law not in LAWS:
        raise ValueError(f"law must be one of {', '.join(LAWS)}")
    info = entry if entry is not None else (catalog_entry(dataset) if dataset else None)
    if law == "PIPL" and zh:
        return _pipl_letter(info, dataset, image, identity, get("distance"), get("verdict"),
                            your_name or "[您的姓名]", your_contact or "[您的电子邮箱或通信地址]", today or _dt.date.today())
    your_name = your_name or "[your name]"
    your_contact = your_contact or "[your e-mail or postal address]"
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


PIPL_NAME = "《中华人民共和国个人信息保护法》"


def _pipl_letter(info: dict | None, dataset, image, identity, distance, verdict, your_name: str, your_contact: str,
                 today: _dt.date) -> str:
    """The PIPL request in Chinese: to the handler's person in charge of personal information protection,
    citing the articles that give each right asked for (44, 45, 47, 48, 50; 28 and 29 on biometrics)."""
    from exposure.verdicts import shown

    name = _blank((info or {}).get("name") or dataset, "[数据集名称]")
    handler = _blank((info or {}).get("creator"), "[个人信息处理者名称]")
    contact = _blank((info or {}).get("maintainer_contact"), "[联系方式：见数据集网页]")
    removal = _blank((info or {}).get("removal"), "")
    urls = (info or {}).get("urls") or []
    found = [f"  - 文件：{_blank(image, '[数据集中的文件名]')}"]
    if identity:
        found.append(f"  - 所在名字：{identity}")
    if distance is not None:
        found.append(f"  - 我在自己的电脑上用 exposure 工具比对人脸后找到（距离 {float(distance):.3f}，"
                     f"结论：{shown(str(verdict))}）")
    asks = [
        "第四十四条：我对自己个人信息的处理享有知情权、决定权。我拒绝你们继续处理我的个人信息，"
        "包括继续分发含有我照片的数据集及其副本。",
        "第四十五条：请让我查阅、复制你们持有的我的个人信息，包括每一张我的照片、由照片得出的数据"
        "（人脸特征点、特征向量、标签），以及照片的来源和你们提供给了谁。",
        "第四十七条：请删除这些个人信息。人脸是生物识别信息，属于敏感个人信息（第二十八条），"
        "处理它需要我的单独同意（第二十九条）。我从未同意。",
        "第四十八条：请向我解释说明你们处理这些个人信息的规则。",
    ]
    lines = [
        f"致：{handler}",
        "    个人信息保护负责人",
        f"联系方式：{contact}",
        f"日期：{today.year}年{today.month}月{today.day}日",
        f"事由：请求查阅、复制并删除 {name} 中我的个人信息",
        "",
        "您好！",
        "",
        f"我认为 {name}{'（' + urls[0] + '）' if urls else ''} 里有我的照片。我没有同意把它们收进去。",
        *found,
        "",
        f"依据{PIPL_NAME}，我请求：",
        *[f"  {i}. {a}" for i, a in enumerate(asks, start=1)],
        "",
        "第五十条要求你们建立便捷的申请受理和处理机制。请及时答复；如果拒绝，请说明理由。"
        "你们拒绝的，我可以依法向人民法院提起诉讼。",
        "如需确认照片中的人是我，我可以提供近照或其他身份证明。请只把它用于答复本请求。",
        "",
        "此致",
        "敬礼！",
        "",
        your_name,
        your_contact,
    ]
    if removal:
        lines += ["", f"（发信人备注：该数据集自己的删除途径：{removal}）"]
    lines += ["", f"（法律依据：{PIPL_NAME}，2021年11月1日起施行；官方英文译本：{LAWS['PIPL']['source']}）"]
    return "\n".join(lines)
