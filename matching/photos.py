"""Registered client photos and the search for the closest one.

The index keeps PDQ hashes only. Search uses multi-index hashing: a 256-bit hash cut into 16
chunks of 16 bits; two hashes within distance 31 share at least one chunk within one bit
(pigeonhole: 16 chunks of 2 or more differing bits make 32), so looking up each chunk and its
16 one-bit neighbours finds every hash within :data:`CANDIDATE_MAX_DISTANCE` without scanning
the index. (Two-bit neighbours would reach 47 but cost ten times more: 9 ms instead of 0.9 ms
per query variant against 1,000,000 hashes, measured here.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from matching.features import FeatureIndex, FeatureTier, LocalFeatures
from matching.hashes import PdqHash
from matching.images import Fingerprint, decode, registration_hashes

# Thresholds on the PDQ distance to the closest registration variant, measured by `make eval` on
# shared/realdata/photos (46 distinct photos, 18 transforms, 1,035 pairs of different photos):
# every positive of the targeted transforms lies within 26 (recall 100%), and no pair of
# different photos comes closer than 90 (median 108): 0 false positives in 1,035 at either
# tier. STRONG keeps the bulk of positives (median distance 0-10 per transform) with room to
# spare; CANDIDATE (up to Meta's recommended PDQ threshold, 31, which is also the search radius)
# catches heavier alterations (resize to 25%, letterbox: up to 26) for a reviewer to confirm.
STRONG_MAX_DISTANCE = 24
CANDIDATE_MAX_DISTANCE = 31  # the multi-index search radius: cannot be raised above 31
# PDQ's quality score below which a hash says little (flat or tiny images); Meta's
# recommendation is to disregard hashes under 50.
MIN_QUALITY = 50

_CHUNKS = 16
_NEIGHBOURS = np.array([0] + [1 << b for b in range(16)], dtype=np.uint16)


class Tier(StrEnum):
    STRONG = "strong"
    CANDIDATE = "candidate"


class Stage(StrEnum):
    PDQ = "pdq"
    FEATURES = "features"


@dataclass(frozen=True)
class PhotoMatch:
    photo: str | None
    distance: int | None
    tier: Tier | None
    stage: Stage = Stage.PDQ
    # Local-feature evidence: keypoints that agree under one similarity, and the share of the
    # registered photo they span.
    inliers: int | None = None
    coverage: float | None = None

    @property
    def why(self) -> str:
        """How it matched, for reviewers: never anything of the image itself."""
        if self.photo is None:
            return ""
        if self.stage is Stage.FEATURES:
            return (
                f"local features: {self.inliers} keypoints agree under one similarity, "
                f"spanning {100 * (self.coverage or 0):.0f}% of the photo"
            )
        return f"PDQ distance {self.distance}"


NO_MATCH = PhotoMatch(None, None, None)


def match_photo(
    hashes: PhotoIndex,
    features: FeatureIndex | None,
    fp: Fingerprint,
    query: LocalFeatures | None,
) -> PhotoMatch:
    """PDQ first (the hash the field exchanges), then local features for what PDQ misses."""
    match = hashes.best_match(fp)
    if match.photo is not None or features is None or query is None:
        return match
    found = features.best_match(query)
    if found.photo is None or found.tier is None:
        return NO_MATCH
    tier = Tier.STRONG if found.tier is FeatureTier.STRONG else Tier.CANDIDATE
    return PhotoMatch(found.photo, None, tier, Stage.FEATURES, found.inliers, found.coverage)


def tier_for(distance: int, quality: int = 100) -> Tier | None:
    if distance <= STRONG_MAX_DISTANCE and quality >= MIN_QUALITY:
        return Tier.STRONG
    if distance <= CANDIDATE_MAX_DISTANCE:
        return Tier.CANDIDATE
    return None


class PhotoIndex:
    """Every registered hash of every client photo, labelled by photo."""

    def __init__(self) -> None:
        self._labels: list[str] = []
        self._pending: list[tuple[int, PdqHash]] = []
        self._rows_photo = np.zeros(0, dtype=np.int32)
        self._words = np.zeros((0, 4), dtype=np.uint64)
        self._order = np.zeros((_CHUNKS, 0), dtype=np.int32)
        self._sorted = np.zeros((_CHUNKS, 0), dtype=np.uint16)

    def __len__(self) -> int:
        return len(self._rows_photo) + len(self._pending)

    @property
    def photos(self) -> list[str]:
        return list(self._labels)

    def add(self, label: str, hashes: Iterable[PdqHash]) -> None:
        index = len(self._labels)
        self._labels.append(label)
        self._pending.extend((index, h) for h in hashes)

    def add_photo(self, label: str, data: bytes) -> None:
        """Register a photo from its bytes; only hashes are kept."""
        self.add(label, registration_hashes(decode(data)))

    def add_arrays(self, labels: list[str], rows_photo: np.ndarray, words: np.ndarray) -> None:
        """Bulk registration (benchmarks, loading from storage): ``words`` is (N, 4) uint64."""
        self._build()
        offset = len(self._labels)
        self._labels.extend(labels)
        self._rows_photo = np.concatenate([self._rows_photo, rows_photo.astype(np.int32) + offset])
        self._words = np.concatenate([self._words, words.astype(np.uint64)])
        self._reindex()

    def _build(self) -> None:
        if not self._pending:
            return
        rows = np.array([p for p, _ in self._pending], dtype=np.int32)
        words = np.array([h.words() for _, h in self._pending], dtype=np.uint64).reshape(-1, 4)
        self._pending = []
        self._rows_photo = np.concatenate([self._rows_photo, rows])
        self._words = np.concatenate([self._words, words])
        self._reindex()

    def _reindex(self) -> None:
        self._order, self._sorted = chunk_index(self._words)

    def best_match(self, query: Fingerprint | PdqHash) -> PhotoMatch:
        self._build()
        if not len(self._rows_photo):
            return NO_MATCH
        if isinstance(query, Fingerprint):
            variants, quality = query.pdq_variants, query.quality
        else:
            variants, quality = (query,), 100
        best: tuple[int, int] | None = None
        for variant in variants:
            found = self._closest(variant)
            if found is not None and (best is None or found[0] < best[0]):
                best = found
        if best is None:
            return NO_MATCH
        distance, row = best
        tier = tier_for(distance, quality)
        if tier is None:
            return NO_MATCH
        return PhotoMatch(self._labels[int(self._rows_photo[row])], distance, tier)

    def _closest(self, query: PdqHash) -> tuple[int, int] | None:
        rows, distances = rows_near(
            self._order, self._sorted, self._words, query, CANDIDATE_MAX_DISTANCE
        )
        if not len(rows):
            return None
        i = int(np.argmin(distances))
        return int(distances[i]), int(rows[i])


def chunk_index(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The multi-index of (N, 4) uint64 hashes: per 16-bit chunk, the rows in chunk order and
    the sorted chunk values."""
    # Chunk c is bits [16c, 16c+16) counted from the most significant bit, as chunks16().
    shifts = np.array([48, 32, 16, 0], dtype=np.uint64)
    chunks = ((words[:, :, None] >> shifts[None, None, :]) & np.uint64(0xFFFF)).astype(np.uint16)
    chunks = chunks.reshape(len(words), _CHUNKS)
    order = np.argsort(chunks, axis=0, kind="stable").T.astype(np.int32)
    return order, np.take_along_axis(chunks.T, order, axis=1)


def rows_near(
    order: np.ndarray, sorted_chunks: np.ndarray, words: np.ndarray, query: PdqHash, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every row within ``radius`` (at most 31: see the module docstring) of ``query``, once
    each, with its distance."""
    candidates = []
    for c, value in enumerate(query.chunks16()):
        probes = np.uint16(value) ^ _NEIGHBOURS
        lo = np.searchsorted(sorted_chunks[c], probes, side="left")
        hi = np.searchsorted(sorted_chunks[c], probes, side="right")
        lengths = hi - lo
        total = int(lengths.sum())
        if total:
            # All positions lo[i]..hi[i) at once, without a Python loop over the ranges.
            starts = np.repeat(lo - np.cumsum(lengths) + lengths, lengths)
            candidates.append(order[c, starts + np.arange(total)])
    if not candidates:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    rows = np.unique(np.concatenate(candidates))
    q = np.array(query.words(), dtype=np.uint64)
    distances = np.bitwise_count(words[rows] ^ q).sum(axis=1)
    keep = distances <= radius
    return rows[keep], distances[keep]
