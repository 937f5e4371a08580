"""Local features (SIFT) of a photo and their geometric verification: the stage that does not
depend on the picture's frame (crops, small rotations, screenshots, collages, captions, stickers).

A photo is known by a few hundred SIFT keypoints (position + 128-byte descriptor). A crawled
image matches a registered photo when enough of its keypoints agree with the photo's under one
similarity transform (RANSAC), at a plausible scale, spread over a fair share of the photo.

Nothing is written anywhere here; :func:`seal` and :func:`unseal` encrypt a photo's features for
storage (AES-256-GCM), because keypoints with positions can be inverted into a rough picture.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

import cv2
import faiss
import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from PIL import Image

# -- extraction ---------------------------------------------------------------------------------

# Registered photos are analysed at this longest side; crawled images too. OpenCV's SIFT doubles
# its input before building the pyramid, so 320 px are searched at 640 px: keypoints as fine as
# a 640 px analysis for a quarter of the time (115 ms -> 40 ms a photo, measured).
REGISTER_SIDE = 320
QUERY_SIDE = 320
# Keypoints kept per registered photo (the strongest by SIFT response). Fewer keypoints means
# less to protect and less memory; see the measured figures in docs/adr/0010.
REGISTERED_FEATURES = 96
# Of which this many come from the photo seen at SMALL_REGISTER_SIDE (see registration_features).
SMALL_REGISTERED_FEATURES = 40
SMALL_REGISTER_SIDE = 128
# Keypoints extracted from a crawled image: more than registered, because the photo may be one
# tile of a collage or a part of a screenshot.
QUERY_FEATURES = 700
# Crawled images larger than LARGE_QUERY pixels a side are analysed at LARGE_QUERY_SIDE with more
# keypoints: a 3x3 collage tile seen at 320 px is ~100 px, too small for SIFT (collage recall
# 56% -> see docs/adr/0010 for the figure with this setting).
LARGE_QUERY = 700
LARGE_QUERY_SIDE = 512
LARGE_QUERY_FEATURES = 1200

_VERSION = 1
_HEADER = struct.Struct(">4sBHHH")  # magic, version, width, height, count
_MAGIC = b"BGLF"
DESCRIPTOR_SIZE = 128


@dataclass(frozen=True, eq=False)
class LocalFeatures:
    """Keypoint positions (pixels of the analysed image) and their SIFT descriptors."""

    KIND: ClassVar[str] = "sift"
    points: npt.NDArray[np.float32]  # (n, 2)
    descriptors: npt.NDArray[np.uint8]  # (n, 128)
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.points.ndim != 2 or self.points.shape[1] != 2:
            raise ValueError(f"keypoint positions must be (n, 2), got {self.points.shape}")
        if self.descriptors.shape != (len(self.points), DESCRIPTOR_SIZE):
            raise ValueError(
                f"descriptors must be ({len(self.points)}, {DESCRIPTOR_SIZE}), got {self.descriptors.shape}"
            )
        if not (0 < self.width < 65536 and 0 < self.height < 65536):
            raise ValueError(f"image size {self.width}x{self.height} is out of range")

    def __len__(self) -> int:
        return len(self.points)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LocalFeatures)
            and (self.width, self.height) == (other.width, other.height)
            and np.array_equal(self.points, other.points)
            and np.array_equal(self.descriptors, other.descriptors)
        )

    def __hash__(self) -> int:
        return hash((self.width, self.height, self.descriptors.tobytes()))

    def to_bytes(self) -> bytes:
        header = _HEADER.pack(_MAGIC, _VERSION, self.width, self.height, len(self))
        return (
            header
            + self.points.astype(">f4").tobytes()
            + self.descriptors.astype(np.uint8).tobytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> LocalFeatures:
        if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) < _HEADER.size:
            raise ValueError("local features: too short to hold a header")
        magic, version, width, height, count = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError("local features: not a Bodyguard feature record (bad magic)")
        if version != _VERSION:
            raise ValueError(f"local features: unknown version {version} (expected {_VERSION})")
        expected = _HEADER.size + count * (8 + DESCRIPTOR_SIZE)
        if len(data) != expected:
            raise ValueError(
                f"local features: {len(data)} bytes for {count} keypoints, expected {expected}"
            )
        offset = _HEADER.size
        points = np.frombuffer(data, ">f4", count * 2, offset).astype(np.float32).reshape(-1, 2)
        offset += count * 8
        descriptors = np.frombuffer(data, np.uint8, count * DESCRIPTOR_SIZE, offset).reshape(
            -1, DESCRIPTOR_SIZE
        )
        return cls(points, descriptors.copy(), width, height)


_SIFT: cv2.SIFT | None = None


def _sift() -> cv2.SIFT:
    global _SIFT
    if _SIFT is None:
        _SIFT = cv2.SIFT.create()
    return _SIFT


def extract(image: Image.Image, limit: int, side: int) -> LocalFeatures:
    """The ``limit`` strongest SIFT keypoints of ``image`` seen at ``side`` pixels at most."""
    grey = image.convert("L")
    scale = min(1.0, side / max(grey.size))
    if scale < 1.0:
        grey = grey.resize(
            (max(1, round(grey.width * scale)), max(1, round(grey.height * scale))),
            Image.Resampling.BILINEAR,
        )
    pixels = np.asarray(grey)
    keypoints, descriptors = _sift().detectAndCompute(pixels, None)
    if descriptors is None or not keypoints:
        return LocalFeatures(
            np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8), grey.width, grey.height
        )
    order = np.argsort([-k.response for k in keypoints], kind="stable")[:limit]
    points = np.array([keypoints[i].pt for i in order], dtype=np.float32).reshape(-1, 2)
    # SIFT descriptors are integers in 0-255 stored as floats: uint8 loses nothing.
    desc = np.clip(descriptors[order], 0, 255).astype(np.uint8)
    return LocalFeatures(points, desc, grey.width, grey.height)


def registration_features(image: Image.Image) -> LocalFeatures:
    """Keypoints at two scales: the strongest at REGISTER_SIDE are mostly fine details that
    vanish when the photo is shrunk into a collage tile or a thumbnail, so the photo is also
    analysed at SMALL_REGISTER_SIDE (positions brought back to the REGISTER_SIDE frame)."""
    large = extract(image, REGISTERED_FEATURES - SMALL_REGISTERED_FEATURES, REGISTER_SIDE)
    small = extract(image, SMALL_REGISTERED_FEATURES, SMALL_REGISTER_SIDE)
    ratio = large.width / small.width
    return LocalFeatures(
        np.concatenate([large.points, small.points * ratio]).astype(np.float32),
        np.concatenate([large.descriptors, small.descriptors]),
        large.width,
        large.height,
    )


def query_features(image: Image.Image) -> LocalFeatures:
    if max(image.size) > LARGE_QUERY:
        # A large image may hold the photo as a small part (collage tile, screenshot).
        return extract(image, LARGE_QUERY_FEATURES, LARGE_QUERY_SIDE)
    return extract(image, QUERY_FEATURES, QUERY_SIDE)


# -- encryption at rest -------------------------------------------------------------------------

KEY_BYTES = 32
_NONCE = 12
_SEALED_MAGIC = b"BGS1"
_AAD = b"bodyguard local features v1"


class FeatureKeyError(ValueError):
    """Sealed features cannot be opened: wrong key, or the record was altered."""


def _aead(key: bytes) -> AESGCM:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise FeatureKeyError(f"the features key must be {KEY_BYTES} bytes")
    return AESGCM(key)


def seal(features: LocalFeatures, key: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return _SEALED_MAGIC + nonce + _aead(key).encrypt(nonce, features.to_bytes(), _AAD)


def unseal(blob: bytes, key: bytes) -> LocalFeatures:
    blob = bytes(blob)
    if not blob.startswith(_SEALED_MAGIC) or len(blob) < len(_SEALED_MAGIC) + _NONCE + 16:
        raise FeatureKeyError("not sealed local features (bad header)")
    nonce = blob[len(_SEALED_MAGIC) : len(_SEALED_MAGIC) + _NONCE]
    try:
        plain = _aead(key).decrypt(nonce, blob[len(_SEALED_MAGIC) + _NONCE :], _AAD)
    except InvalidTag:
        raise FeatureKeyError(
            "registered photo features cannot be decrypted: BODYGUARD_FEATURES_KEY is not the key they were sealed with (or the record was altered)"
        ) from None
    return LocalFeatures.from_bytes(plain)


# Several named feature records in one sealed blob (a registered video's keyframes): a count,
# then per record its name and its to_bytes(), each length-prefixed; sealed like one photo's, under
# its own associated data so that neither kind of blob opens as the other.
_SEALED_MANY_MAGIC = b"BGM1"
_AAD_MANY = b"bodyguard local features list v1"
_COUNT = struct.Struct(">I")
_NAME = struct.Struct(">H")


def seal_many(records: list[tuple[str, LocalFeatures]], key: bytes) -> bytes:
    parts = [_COUNT.pack(len(records))]
    for name, features in records:
        raw_name, raw = name.encode("utf-8"), features.to_bytes()
        parts += [_NAME.pack(len(raw_name)), raw_name, _COUNT.pack(len(raw)), raw]
    nonce = os.urandom(_NONCE)
    return _SEALED_MANY_MAGIC + nonce + _aead(key).encrypt(nonce, b"".join(parts), _AAD_MANY)


def unseal_many(blob: bytes, key: bytes) -> list[tuple[str, LocalFeatures]]:
    blob = bytes(blob)
    head = len(_SEALED_MANY_MAGIC) + _NONCE
    if not blob.startswith(_SEALED_MANY_MAGIC) or len(blob) < head + 16:
        raise FeatureKeyError("not a sealed list of local features (bad header)")
    try:
        plain = _aead(key).decrypt(blob[len(_SEALED_MANY_MAGIC) : head], blob[head:], _AAD_MANY)
    except InvalidTag:
        raise FeatureKeyError(
            "registered video features cannot be decrypted: BODYGUARD_FEATURES_KEY is not the key they were sealed with (or the record was altered)"
        ) from None
    (count,) = _COUNT.unpack_from(plain)
    offset, records = _COUNT.size, []
    for _ in range(count):
        (name_len,) = _NAME.unpack_from(plain, offset)
        offset += _NAME.size
        name = plain[offset : offset + name_len].decode("utf-8")
        offset += name_len
        (size,) = _COUNT.unpack_from(plain, offset)
        offset += _COUNT.size
        records.append((name, LocalFeatures.from_bytes(plain[offset : offset + size])))
        offset += size
    if offset != len(plain):
        raise ValueError("sealed list of local features: trailing bytes")
    return records


# -- matching -----------------------------------------------------------------------------------

# Thresholds measured by `make eval` (shared/realdata/photos: 46 distinct photos, 8 drawn
# alteration families x 3 draws, near-duplicates made by others; negatives: every alteration
# queried against an index that does not hold its photo, Meta's PDQ test photos, all distinct
# photos against each other). Figures are in docs/adr/0010-local-features.md.
#
# Only the strongest query descriptors are looked up in the index (search time grows with
# them: 700 -> 19 ms, 300 -> 8 ms against 20,000 photos); verification uses all of them.
SEARCHED_FEATURES = 500
# ...chosen evenly over a grid of this many cells a side (see _spread).
SPREAD_GRID = 6
# Neighbours looked up per query descriptor in the index of all registered descriptors.
NEIGHBOURS = 5
# Lowe's ratio (squared distances compare with RATIO**2). 0.8 is Lowe's own figure.
RATIO = 0.8
# Photos verified per query, by number of query descriptors voting for them.
SHORTLIST = 5
# A photo needs this many votes before it is worth a RANSAC.
MIN_VOTES = 3
# RANSAC reprojection tolerance, pixels of the analysed query image.
RANSAC_PX = 6.0
# Inliers of the similarity: different photos reach at most 7 (measured), copies 12 and more.
MIN_INLIERS = 12
STRONG_INLIERS = 25
# Scale of the registered photo inside the query: a collage tile of a 9-tile grid is about 1/3,
# an upscaled thumbnail about 3; beyond these a similarity is a coincidence.
MIN_SCALE, MAX_SCALE = 0.12, 6.0
# Share of the registered photo's area that the inliers' convex hull must cover: chance
# alignments cluster in a small patch (different photos measured below 0.05).
MIN_COVERAGE = 0.08
# Indexes up to this many descriptors are searched exactly. Larger ones go through faiss: PCA to
# PCA_DIMS, an inverted multi-index of 2 x 2**IMI_BITS centroids (cheap to train and to fill,
# unlike one k-means of as many lists), 8-bit codes, NPROBE cells visited per descriptor. 2x8 bits with 8-16 cells searches 300
# descriptors in 3.5 ms against 1,000,000 (2x10: 6.7 ms, builds 5 times slower); found rates at
# 100,000 photos are printed by `make bench`.
EXACT_MAX = 400_000
PCA_DIMS = 32
IMI_BITS = 8
NPROBE = 12
TRAIN_SAMPLE = 300_000
_ADD_CHUNK = 500_000


class FeatureTier(StrEnum):
    STRONG = "strong"
    CANDIDATE = "candidate"


@dataclass(frozen=True)
class FeatureMatch:
    photo: str | None
    inliers: int = 0
    coverage: float = 0.0
    scale: float = 0.0
    tier: FeatureTier | None = None


NO_FEATURE_MATCH = FeatureMatch(None)


@dataclass(frozen=True)
class Verification:
    inliers: int
    coverage: float
    scale: float

    @property
    def tier(self) -> FeatureTier | None:
        if (
            self.inliers < MIN_INLIERS
            or self.coverage < MIN_COVERAGE
            or not MIN_SCALE <= self.scale <= MAX_SCALE
        ):
            return None
        return FeatureTier.STRONG if self.inliers >= STRONG_INLIERS else FeatureTier.CANDIDATE


_NO_VERIFICATION = Verification(0, 0.0, 0.0)


def verify(query: LocalFeatures, registered: LocalFeatures) -> Verification:
    """Correspondences by Lowe's ratio test, then RANSAC on a similarity (rotation, uniform
    scale, translation): how many keypoints agree, at which scale, over which share of the photo."""
    if len(query) < 2 or len(registered) < MIN_INLIERS:
        return _NO_VERIFICATION
    q = query.descriptors.astype(np.float32)
    r = registered.descriptors.astype(np.float32)
    # Squared distances query x registered; the two nearest registered per query descriptor.
    d = (q * q).sum(1)[:, None] - 2 * q @ r.T + (r * r).sum(1)[None, :]
    two = np.argpartition(d, 1, axis=1)[:, :2]
    d2 = np.take_along_axis(d, two, axis=1)
    swap = d2[:, 0] > d2[:, 1]
    best = np.where(swap, two[:, 1], two[:, 0])
    first = np.minimum(d2[:, 0], d2[:, 1])
    second = np.maximum(d2[:, 0], d2[:, 1])
    keep = first < (RATIO**2) * second
    if keep.sum() < MIN_INLIERS:
        return _NO_VERIFICATION
    # One registered keypoint answers at most one query keypoint (the closest).
    qi = np.nonzero(keep)[0]
    ri = best[keep]
    order = np.argsort(first[keep])
    _, unique = np.unique(ri[order], return_index=True)
    qi, ri = qi[order][unique], ri[order][unique]
    if len(qi) < MIN_INLIERS:
        return _NO_VERIFICATION
    src = registered.points[ri]
    dst = query.points[qi]
    matrix, mask = cv2.estimateAffinePartial2D(
        src,
        dst,
        method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_PX,
        maxIters=1000,
        confidence=0.995,
    )
    if matrix is None or mask is None:
        return _NO_VERIFICATION
    inlier = mask.reshape(-1).astype(bool)
    count = int(inlier.sum())
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    # The analysed sizes differ (REGISTER_SIDE vs QUERY_SIDE): scale relative to the photos.
    if count < 3:
        return Verification(count, 0.0, scale)
    hull = cv2.convexHull(src[inlier].reshape(-1, 1, 2))
    coverage = float(cv2.contourArea(hull)) / float(registered.width * registered.height)
    return Verification(count, coverage, scale)


def _spread(query: LocalFeatures, limit: int) -> npt.NDArray[np.intp]:
    """The strongest ``limit`` keypoints, taken evenly from a SPREAD_GRID x SPREAD_GRID grid:
    when the photo is one tile of a collage, the strongest keypoints of the whole image may all
    lie in the other tiles (the photo's own tile then gets no votes)."""
    if len(query) <= limit:
        return np.arange(len(query))
    cell_x = np.minimum(
        (query.points[:, 0] * SPREAD_GRID / query.width).astype(int), SPREAD_GRID - 1
    )
    cell_y = np.minimum(
        (query.points[:, 1] * SPREAD_GRID / query.height).astype(int), SPREAD_GRID - 1
    )
    cell = cell_y * SPREAD_GRID + cell_x
    # Keypoints are sorted by response: rank each within its cell, then take low ranks first.
    rank = np.zeros(len(query), dtype=np.int64)
    seen: dict[int, int] = {}
    for i, c in enumerate(cell.tolist()):
        rank[i] = seen.get(c, 0)
        seen[c] = rank[i] + 1
    return np.sort(np.lexsort((np.arange(len(query)), rank))[:limit])


class FeatureIndex:
    """The local features of every registered photo, searchable by descriptor.

    Descriptors are kept once, as uint8, in one array (with their positions and the photo each
    belongs to); the search index over them is rebuilt on the first query after an addition.
    """

    def __init__(self) -> None:
        self._labels: list[str] = []
        self._pending: list[LocalFeatures] = []
        self._descriptors = np.zeros((0, DESCRIPTOR_SIZE), np.uint8)
        self._points = np.zeros((0, 2), np.float32)
        self._starts = np.zeros(1, np.int64)  # photo i owns rows starts[i]:starts[i+1]
        self._sizes = np.zeros((0, 2), np.int32)
        self._row_photo = np.zeros(0, np.int32)
        self._index: faiss.Index | None = None

    def __len__(self) -> int:
        return len(self._labels)

    @property
    def descriptors(self) -> int:
        return len(self._descriptors) + sum(len(f) for f in self._pending)

    @property
    def nbytes(self) -> int:
        """Memory held for the registered photos (arrays and search index)."""
        arrays = (
            self._descriptors.nbytes
            + self._points.nbytes
            + self._row_photo.nbytes
            + self._starts.nbytes
        )
        if isinstance(self._index, faiss.IndexPreTransform):
            ivf = faiss.extract_index_ivf(self._index)
            arrays += ivf.ntotal * (ivf.code_size + 8)
        elif self._index is not None:
            arrays += self._index.ntotal * DESCRIPTOR_SIZE * 4
        return arrays

    def add(self, label: str, features: LocalFeatures) -> None:
        self._labels.append(label)
        self._pending.append(features)
        self._index = None

    def add_arrays(
        self,
        labels: list[str],
        counts: npt.NDArray[np.int64],
        points: npt.NDArray[np.float32],
        descriptors: npt.NDArray[np.uint8],
        sizes: npt.NDArray[np.int32],
    ) -> None:
        """Bulk registration (benchmarks, loading from storage): photo i owns ``counts[i]`` rows."""
        self._flush()
        self._append(labels, counts, points, descriptors, sizes)

    def _append(
        self,
        labels: list[str],
        counts: npt.NDArray[np.int64],
        points: npt.NDArray[np.float32],
        descriptors: npt.NDArray[np.uint8],
        sizes: npt.NDArray[np.int32],
    ) -> None:
        first = len(self._labels)
        self._labels.extend(labels)
        base = self._starts[-1]
        self._starts = np.concatenate([self._starts, base + np.cumsum(counts)])
        photo_ids = np.repeat(np.arange(first, first + len(counts), dtype=np.int32), counts)
        self._row_photo = np.concatenate([self._row_photo, photo_ids])
        self._descriptors = np.concatenate([self._descriptors, descriptors.astype(np.uint8)])
        self._points = np.concatenate([self._points, points.astype(np.float32)])
        self._sizes = np.concatenate([self._sizes, sizes.astype(np.int32).reshape(-1, 2)])
        self._index = None

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        labels = self._labels[len(self._labels) - len(pending) :]
        del self._labels[len(self._labels) - len(pending) :]
        self._append(
            labels,
            np.array([len(f) for f in pending], dtype=np.int64),
            np.concatenate([f.points for f in pending]),
            np.concatenate([f.descriptors for f in pending]),
            np.array([(f.width, f.height) for f in pending], dtype=np.int32),
        )

    def features_of(self, photo: int) -> LocalFeatures:
        self._flush()
        a, b = int(self._starts[photo]), int(self._starts[photo + 1])
        w, h = (int(v) for v in self._sizes[photo])
        return LocalFeatures(self._points[a:b], self._descriptors[a:b], w, h)

    def _build(self) -> faiss.Index:
        self._flush()
        if self._index is not None:
            return self._index
        n = len(self._descriptors)
        index: faiss.Index
        if n <= EXACT_MAX:
            index = faiss.IndexFlatL2(DESCRIPTOR_SIZE)
        else:
            index = faiss.index_factory(DESCRIPTOR_SIZE, f"PCA{PCA_DIMS},IMI2x{IMI_BITS},SQ8")
            rng = np.random.default_rng(0)
            sample = self._descriptors[rng.choice(n, min(n, TRAIN_SAMPLE), replace=False)]
            index.train(sample.astype(np.float32))
            faiss.extract_index_ivf(index).nprobe = NPROBE
        for lo in range(0, n, _ADD_CHUNK):
            index.add(self._descriptors[lo : lo + _ADD_CHUNK].astype(np.float32))
        self._index = index
        return index

    def best_match(self, query: LocalFeatures) -> FeatureMatch:
        index = self._build()
        if not self._labels or len(query) < MIN_INLIERS:
            return NO_FEATURE_MATCH
        k = min(NEIGHBOURS, index.ntotal)
        chosen = _spread(query, SEARCHED_FEATURES)
        searched = query.descriptors[chosen].astype(np.float32)
        distances, rows = index.search(searched, k)
        photos = np.where(rows >= 0, self._row_photo[np.maximum(rows, 0)], -1)
        # Lowe's ratio against the farthest of the k neighbours: a descriptor seen in a photo
        # lies far closer than the crowd. Every photo within that ratio gets the vote, so the
        # same picture registered twice (two clients, or twice by mistake) matches both.
        # (A ratio against the nearest neighbour of *another* photo silenced every duplicate:
        # 45 of 1,717 positives lost in `make eval`.)
        close = (rows >= 0) & (distances < (RATIO**2) * distances[:, -1:])
        pairs = np.unique(
            np.stack([np.nonzero(close)[0], photos[close]], axis=1), axis=0
        )  # one vote per (query descriptor, photo)
        votes = (
            np.bincount(pairs[:, 1], minlength=len(self._labels))
            if len(pairs)
            else np.zeros(len(self._labels), dtype=np.int64)
        )
        shortlist = [int(p) for p in np.argsort(-votes)[:SHORTLIST] if votes[p] >= MIN_VOTES]
        best = NO_FEATURE_MATCH
        for photo in shortlist:
            v = verify(query, self.features_of(photo))
            tier = v.tier
            if tier is not None and v.inliers > best.inliers:
                best = FeatureMatch(self._labels[photo], v.inliers, v.coverage, v.scale, tier)
        return best
