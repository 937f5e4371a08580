"""`make bench` (images).

1. A crawl's image path at scale: decode, PDQ fingerprint, SIFT features, PDQ search then the
   local-feature search with RANSAC verification, against 100,000 registered photos, on one core
   (OpenCV and faiss held to one thread; CPU time of this process, since the machine is shared),
   beside the brute-force baseline (verifying the image against every registered photo in turn),
   measured on a sample in the same run and scaled to the same 100,000.
2. ``best_match`` against 1,000,000 registered PDQ hashes, and the same search done by a linear
   scan in the same run.

``--photos N`` registers N photos instead of 100,000 (quick runs).

Run it as ``make bench`` does, with one BLAS/OpenMP thread (as crawls run): otherwise idle BLAS
threads spin-waiting are counted in this process's CPU time (107 ms an image instead of 55).
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time

import cv2
import faiss
import numpy as np

from bench.eval_photos import PHOTOS
from bench.photo_transforms import families
from matching.features import (
    REGISTER_SIDE,
    REGISTERED_FEATURES,
    FeatureIndex,
    query_features,
    registration_features,
    verify,
)
from matching.images import decode, fingerprint, fingerprint_image, registration_hashes
from matching.photos import PhotoIndex, match_photo

REGISTERED_PHOTOS = 100_000
REGISTERED_HASHES = 1_000_000
# PDQ variants kept per registered photo (registration_hashes gives 20-28).
PDQ_VARIANTS = 24
BASELINE_SAMPLE = 2_000


def _pool(images: list, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Real SIFT descriptors of many photos, and how far a descriptor's nearest neighbour in
    *another* photo lies (median): synthetic photos are drawn around real descriptors at that
    distance, so they crowd the index as unrelated real photos would."""
    per_photo = [query_features(im).descriptors for im in images]
    pool = np.concatenate(per_photo).astype(np.float32)
    owner = np.concatenate([np.full(len(d), i) for i, d in enumerate(per_photo)])
    sample = rng.choice(len(pool), 1000, replace=False)
    q = pool[sample]
    d = (q * q).sum(1)[:, None] - 2 * q @ pool.T + (pool * pool).sum(1)[None, :]
    d[owner[sample][:, None] == owner[None, :]] = np.inf
    nn = float(np.median(np.sqrt(np.maximum(d.min(axis=1), 0))))
    return pool, nn


def _synthetic(
    index: FeatureIndex, count: int, pool: np.ndarray, spread: float, rng: np.random.Generator
) -> None:
    sigma = spread / np.sqrt(pool.shape[1])
    per = REGISTERED_FEATURES
    chunk = 10_000
    w, h = REGISTER_SIDE, REGISTER_SIDE * 3 // 4
    parts = []
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        src = pool[rng.integers(0, len(pool), n * per)]
        noise = rng.standard_normal(src.shape, dtype=np.float32) * np.float32(sigma)
        parts.append(np.clip(src + noise, 0, 255).astype(np.uint8))
    index.add_arrays(
        [f"synthetic-{i}" for i in range(count)],
        np.full(count, per, dtype=np.int64),
        rng.uniform((0, 0), (w, h), (count * per, 2)).astype(np.float32),
        np.concatenate(parts),
        np.tile(np.array([[w, h]], dtype=np.int32), (count, 1)),
    )


def crawl_at_scale(registered: int) -> None:
    cv2.setNumThreads(1)
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(2026)
    distinct = sorted((PHOTOS / "distinct").iterdir())
    fillers = [
        decode(p.read_bytes()) for p in (PHOTOS / "pdq-threatexchange" / "data").rglob("*.jpg")
    ]
    real = {p.name: decode(p.read_bytes()) for p in distinct}
    pool, spread = _pool([*real.values(), *fillers], rng)

    started = time.perf_counter()
    hashes, features = PhotoIndex(), FeatureIndex()
    for name, image in real.items():
        hashes.add(name, registration_hashes(image))
        features.add(name, registration_features(image))
    synthetic = registered - len(real)
    words = rng.integers(
        0,
        np.iinfo(np.uint64).max,
        size=(synthetic * PDQ_VARIANTS, 4),
        dtype=np.uint64,
        endpoint=True,
    )
    hashes.add_arrays(
        [f"synthetic-{i}" for i in range(synthetic)],
        np.repeat(np.arange(synthetic), PDQ_VARIANTS),
        words,
    )
    _synthetic(features, synthetic, pool, spread, rng)
    features.best_match(query_features(next(iter(real.values()))))  # builds the index
    built = time.perf_counter() - started
    print(
        f"registered: {len(features):,} photos ({len(real)} real, the rest drawn around "
        f"{len(pool):,} real SIFT descriptors at their median cross-photo distance {spread:.0f}); "
        f"{features.descriptors:,} descriptors, {len(hashes):,} PDQ hashes; built in {built:.0f} s; "
        f"local-feature index {features.nbytes / 2**30:.2f} GiB "
        f"(process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB)"
    )

    # Crawled images: each real photo altered by a drawn family, as JPEG/PNG bytes.
    draw = random.Random(2026)
    alterations = families(fillers)
    crawled = []
    for name, image in real.items():
        family = draw.choice(sorted(alterations))
        crawled.append((name, family, alterations[family](image, draw)))
    cpu = time.process_time()
    wall = time.perf_counter()
    found = 0
    by_stage: dict[str, int] = {}
    spent = dict.fromkeys(("decode", "pdq fingerprint", "sift", "search + verify"), 0.0)
    missed = []
    for name, family, data in crawled:
        t0 = time.process_time()
        image = decode(data)
        t1 = time.process_time()
        fp = fingerprint_image(image)
        t2 = time.process_time()
        local = query_features(image)
        t3 = time.process_time()
        match = match_photo(hashes, features, fp, local)
        t4 = time.process_time()
        for key, dt in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            spent[key] += dt
        if match.photo != name:
            missed.append(f"{name} ({family})")
        else:
            found += 1
            by_stage[match.stage] = by_stage.get(match.stage, 0) + 1
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    per_second = len(crawled) / cpu
    print(
        f"crawl images: {per_second:.1f} images/s on one core ({1000 * cpu / len(crawled):.0f} ms CPU "
        f"each; wall {len(crawled) / wall:.1f}/s on this shared machine) against {len(features):,} "
        f"registered photos; target >= 15/s; {found}/{len(crawled)} altered copies found "
        f"({', '.join(f'{k} {v}' for k, v in sorted(by_stage.items()))})"
    )
    print(
        "  CPU per image: "
        + ", ".join(f"{k} {1000 * v / len(crawled):.0f} ms" for k, v in spent.items())
        + (f"; missed: {', '.join(missed)}" if missed else "")
    )

    # Baseline: pairwise verification against each registered photo in turn.
    queries = [query_features(decode(data)) for _, _, data in crawled[:5]]
    sample = [features.features_of(int(i)) for i in rng.choice(len(features), BASELINE_SAMPLE)]
    cpu = time.process_time()
    for q in queries:
        for r in sample:
            verify(q, r)
    per_pair = (time.process_time() - cpu) / (len(queries) * len(sample))
    brute = per_pair * len(features)
    print(
        f"baseline brute force (pairwise ratio test + RANSAC against every photo): "
        f"{1000 * per_pair:.3f} ms per pair -> {brute:.1f} s per image at {len(features):,} photos "
        f"({1 / brute:.3f} images/s), {brute * per_second:.0f}x slower"
    )


def pdq_at_scale() -> None:
    photos = sorted(
        p for p in (PHOTOS / "distinct").iterdir() if p.suffix.lower() in {".jpg", ".jpeg"}
    )
    data = [p.read_bytes() for p in photos]
    sizes = [len(d) for d in data]
    started = time.perf_counter()
    rounds = 0
    while time.perf_counter() - started < 2.0:
        prints = [fingerprint(d) for d in data]
        rounds += 1
    per_second = rounds * len(data) / (time.perf_counter() - started)
    print(
        f"fingerprint: {per_second:.1f} JPEG photos/s ({len(data)} real photos, "
        f"median {statistics.median(sizes) / 1024:.0f} KB) — PDQ, pHash256, border trim, caption bands"
    )
    index = PhotoIndex()
    rng = np.random.default_rng(2026)
    # Random hashes stand in for a million registered variants (50,000 photos x 20).
    words = rng.integers(
        0, np.iinfo(np.uint64).max, size=(REGISTERED_HASHES, 4), dtype=np.uint64, endpoint=True
    )
    started = time.perf_counter()
    index.add_arrays(
        [f"p{i}" for i in range(REGISTERED_HASHES // 20)],
        np.repeat(np.arange(REGISTERED_HASHES // 20), 20),
        words,
    )
    print(f"index: {len(index):,} registered hashes built in {time.perf_counter() - started:.1f} s")
    for i, d in enumerate(data[:5]):
        index.add_photo(f"real{i}", d)
    index.best_match(prints[0])
    timings = []
    for fp in prints * 5:
        t = time.perf_counter()
        index.best_match(fp)
        timings.append(time.perf_counter() - t)
    ours = statistics.median(timings) * 1000  # wall time: the machine may be shared
    variants = statistics.mean(len(fp.pdq_variants) for fp in prints)
    q = np.array(prints[0].pdq.words(), dtype=np.uint64)
    t = time.perf_counter()
    for _ in range(5):
        np.bitwise_count(index._words ^ q).sum(axis=1).argmin()
    linear = (time.perf_counter() - t) / 5 * 1000 * variants
    print(
        f"best_match: {ours:.2f} ms median per query ({variants:.1f} hash variants per query; target < 5 ms)"
    )
    print(
        f"baseline linear scan (numpy, same variants): {linear:.1f} ms per query -> {linear / ours:.0f}x slower"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=REGISTERED_PHOTOS)
    args = parser.parse_args(argv)
    crawl_at_scale(args.photos)
    pdq_at_scale()
    return 0


if __name__ == "__main__":
    sys.exit(main())
