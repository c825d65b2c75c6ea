"""Same photo or same person? A perceptual hash of the aligned face chip, robust to re-encoding.

A scraped copy of a person's photo (cropped, resized, recompressed, mirrored, slightly colour
shifted) gives nearly the same aligned 150x150 chip, because alignment undoes the crop and scale.
The 64-bit DCT hash of that chip (pHash: low frequencies of the grey image, each bit above or
below their median) then differs in few bits, while another photo of the same person differs in
about half of them. Mirroring is handled by hashing the mirrored chip too.
"""

from __future__ import annotations

import functools

import numpy as np

HASH_SIZE = 8
SAMPLE = 32
# "Same photo": aligned chips within this many of 63 hash bits, and embeddings this close.
# Measured on LFW by tests/test_samephoto.py (copies vs other photos of the same person).
SAME_PHOTO_BITS = 10
SAME_PHOTO_DISTANCE = 0.35


@functools.cache
def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


def _grey_small(chip: np.ndarray) -> np.ndarray:
    from PIL import Image

    grey = Image.fromarray(np.asarray(chip, dtype=np.uint8)).convert("L")
    return np.asarray(grey.resize((SAMPLE, SAMPLE), Image.BILINEAR), dtype=np.float64)


def chip_hash(chip: np.ndarray) -> int:
    """The 64-bit perceptual hash of an aligned face chip, as a signed int64-safe Python int."""
    m = _dct_matrix(SAMPLE)
    low = (m @ _grey_small(chip) @ m.T)[:HASH_SIZE, :HASH_SIZE].reshape(-1)
    bits = low[1:] > np.median(low[1:])  # the DC term carries only brightness
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return value  # 63 bits: fits a signed int64 column


def chip_hashes(chip: np.ndarray) -> tuple[int, int]:
    """The hash of the chip and of its mirror image (a mirrored copy is still the same photo)."""
    chip = np.asarray(chip)
    return chip_hash(chip), chip_hash(chip[:, ::-1])


def hamming(a: int, b: int) -> int:
    return (int(a) ^ int(b)).bit_count()


def hash_distance(query_chip: np.ndarray, other_hash: int | None) -> int | None:
    """Bits that differ between a query chip (or its mirror) and a stored hash; None when unknown."""
    try:
        other = int(other_hash)  # None, NaN and pandas' NA (an index built before hashes) are unknown
    except (TypeError, ValueError):
        return None
    h, mirrored = chip_hashes(query_chip)
    return min(hamming(h, other), hamming(mirrored, other))


def is_copy(hash_a, hash_b, distance: float) -> bool:
    """Whether two faces are copies of one photo: hashes (stored ints) within SAME_PHOTO_BITS and
    embeddings within SAME_PHOTO_DISTANCE. Unknown hashes are not copies."""
    try:
        bits = hamming(int(hash_a), int(hash_b))
    except (TypeError, ValueError):
        return False
    return same_photo(bits, distance)


def same_photo(bits: int | None, distance: float) -> bool:
    """The same rule for a query chip's hash distance (hash_distance) and its embedding distance."""
    return bits is not None and bits <= SAME_PHOTO_BITS and distance <= SAME_PHOTO_DISTANCE
