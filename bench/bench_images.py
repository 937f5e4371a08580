"""`make bench` (images): fingerprints per second on real photos; best_match against 1,000,000
registered hashes, and the same search done by a linear scan (the baseline) in the same run."""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from bench.corpus import REALDATA
from matching.images import fingerprint
from matching.photos import PhotoIndex

REGISTERED = 1_000_000


def main() -> int:
    photos = sorted(
        p
        for p in (REALDATA / "photos" / "distinct").iterdir()
        if p.suffix.lower() in {".jpg", ".jpeg"}
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
        0, np.iinfo(np.uint64).max, size=(REGISTERED, 4), dtype=np.uint64, endpoint=True
    )
    started = time.perf_counter()
    index.add_arrays(
        [f"p{i}" for i in range(REGISTERED // 20)],
        np.repeat(np.arange(REGISTERED // 20), 20),
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
    ours = statistics.median(timings) * 1000
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
