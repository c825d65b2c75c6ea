"""A Hugging Face dataset card's class names: `dataset_info.features[*].dtype.class_label.names` in README.md's YAML.

Parquet files written by `datasets` carry ClassLabel names in their schema metadata, but files
written otherwise (and WebDataset `.cls` numbers) have only integers: the card names them.
"""

from __future__ import annotations

import os
from pathlib import Path

CARD_NAME = "README.md"


def front_matter(text: str) -> dict:
    """The YAML block between the first two `---` lines of a card, parsed ({} when absent or invalid)."""
    import yaml

    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        return {}
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _names(spec) -> list[str] | None:
    """ClassLabel names from a feature's dtype: {class_label: {names: {0: a, 1: b}}} or a list."""
    if not isinstance(spec, dict):
        return None
    label = spec.get("class_label")
    if not isinstance(label, dict):
        return None
    names = label.get("names")
    if isinstance(names, dict):
        try:
            ordered = sorted((int(k), str(v)) for k, v in names.items())
        except (TypeError, ValueError):
            return None
        if [k for k, _ in ordered] != list(range(len(ordered))):
            return None
        return [v for _, v in ordered]
    if isinstance(names, list):
        return [str(v) for v in names]
    return None


def class_names(text: str) -> dict[str, list[str]]:
    """Column name -> ClassLabel names, from every config's `dataset_info.features` in a card."""
    meta = front_matter(text)
    infos = meta.get("dataset_info")
    infos = infos if isinstance(infos, list) else [infos]
    found: dict[str, list[str]] = {}
    for info in infos:
        features = info.get("features") if isinstance(info, dict) else None
        for feature in features if isinstance(features, list) else []:
            if isinstance(feature, dict) and isinstance(feature.get("name"), str):
                names = _names(feature.get("dtype"))
                if names:
                    found.setdefault(feature["name"], names)
    return found


def card_names_near(path: str | os.PathLike) -> dict[str, list[str]]:
    """Class names from a README.md in the dataset folder (or beside a single file), {} when there is none."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    card = folder / CARD_NAME
    if not card.is_file():
        return {}
    try:
        return class_names(card.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return {}
