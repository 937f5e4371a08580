"""`make bench` (retro-match): one photo registered today against 1,000,000 crawled images in
Elasticsearch, each known by several hashes as the crawler stores them; baselines measured in
the same run on the same index: the one-chunk lookup (exhaustive to 31, what retro-match did
before) and a brute-force script scan of every document.

BENCH_IMAGES sets the number of crawled images (default 1,000,000), BENCH_VARIANTS the hashes
per image (default 5: the mean `make eval` measures on ordinary photos is 4.3-5.0), BENCH_PARTS
its pieces (default 9: `make eval` measures 8.7-9.0, at most 9; the index keeps up to 16);
BENCH_KEEP=1 keeps the index for the next run (which then skips indexing).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from elasticsearch import helpers

from config.environment import load
from hits.images import _FIELDS, CrawledImage, ImageDocument, ImageStore, _signed
from matching.hashes import PdqHash
from matching.images import (
    Variant,
    crawled_fingerprint,
    decode,
    registration_hashes,
    retro_part_hashes,
    retro_query_hashes,
)

ROOT = Path(__file__).resolve().parent.parent
IMAGES = int(os.environ.get("BENCH_IMAGES", "1000000"))
VARIANTS = int(os.environ.get("BENCH_VARIANTS", "5"))
PARTS = int(os.environ.get("BENCH_PARTS", "9"))
ROUNDS = 10


def _hash(words: Any) -> PdqHash:
    return PdqHash(b"".join(int(w).to_bytes(8, "big") for w in words))


def _documents(index: str) -> Iterator[dict[str, Any]]:
    """Random hashes, encoded as the crawler's images are (ImageDocument)."""
    rng = np.random.default_rng(7)
    top = np.iinfo(np.uint64).max
    seen = datetime(2026, 1, 1, tzinfo=UTC)
    for start in range(0, IMAGES, 10000):
        count = min(10000, IMAGES - start)
        block = rng.integers(0, top, size=(count, VARIANTS, 4), dtype=np.uint64, endpoint=True)
        part_block = rng.integers(0, top, size=(count, PARTS, 4), dtype=np.uint64, endpoint=True)
        for i in range(count):
            hashes = [_hash(words) for words in block[i]]
            variants = [Variant("full" if v == 0 else "region", h) for v, h in enumerate(hashes)]
            variants += [Variant("part", _hash(words)) for words in part_block[i]]
            image = CrawledImage(
                f"https://img.example/{start + i}.jpg",
                f"https://forum.example/t/{start + i}",
                "bench",
                hashes[0],
                100,
                seen,
                variants=tuple(variants),
            )
            yield {
                "_index": index,
                "_id": str(start + i),
                "_source": ImageDocument.from_domain(image),
            }


def _median_ms(run: Any) -> float:
    run()  # warm caches
    timings = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        run()
        timings.append(time.perf_counter() - t)
    return statistics.median(timings) * 1000


def main() -> int:
    store = ImageStore.connect(load().elasticsearch_url, "bodyguard-bench-retro", timeout_s=300)
    es = store._es
    keep = os.environ.get("BENCH_KEEP") == "1"
    kept = (
        es.indices.exists(index=store.index)
        and es.count(index=store.index)["count"] == IMAGES + 1
        # An index made before pieces (or with another number of them) is rebuilt.
        and es.count(index=store.index, query={"term": {"part_count": PARTS}})["count"]
        >= (IMAGES if PARTS else 0)
        and es.count(index=store.index, query={"term": {"variant_count": VARIANTS}})["count"]
        >= IMAGES
    )
    if not (keep and kept):
        store.delete_index()
    store.ensure_index()
    try:
        es.indices.put_settings(index=store.index, settings={"refresh_interval": "-1"})
        started = time.perf_counter()
        if not (keep and kept):
            for _ok, _ in helpers.parallel_bulk(
                es, _documents(store.index), thread_count=2, chunk_size=2000, queue_size=4
            ):
                pass
        photo = (ROOT / "tests" / "data" / "photos" / "opencv_baboon.jpg").read_bytes()
        # The photo itself, crawled before it is registered: the search must find it.
        crawled = crawled_fingerprint(photo)
        store.add(
            [
                CrawledImage(
                    "https://img.example/baboon.jpg",
                    "https://forum.example/t/baboon",
                    "bench",
                    crawled.fingerprint.pdq,
                    crawled.fingerprint.quality,
                    datetime.now(UTC),
                    variants=crawled.variants,
                )
            ],
            refresh=False,
        )
        es.indices.put_settings(index=store.index, settings={"refresh_interval": "1s"})
        es.indices.refresh(index=store.index)
        es.indices.forcemerge(index=store.index, max_num_segments=1)
        indexed = time.perf_counter() - started
        count = es.count(index=store.index)["count"]
        image = decode(photo)
        queries = [*registration_hashes(image), *retro_query_hashes(image)]
        pieces = retro_part_hashes(image)

        found = store.similar(queries, parts=pieces)
        assert any(f.image_url.endswith("baboon.jpg") and f.distance == 0 for f in found), found
        ours = _median_ms(lambda: store.similar(queries, parts=pieces))
        without = _median_ms(lambda: store.similar(queries))
        one_chunk = _median_ms(lambda: store.similar(queries, min_shared=1, parts=pieces))

        script = {
            "source": "int n = (int) doc['variant_count'].value; int best = 256;"
            " for (int v = 0; v < n; ++v) { List f = params.fields[v];"
            " int d = Long.bitCount(doc[f[0]].value ^ params.a) + Long.bitCount(doc[f[1]].value ^ params.b)"
            " + Long.bitCount(doc[f[2]].value ^ params.c) + Long.bitCount(doc[f[3]].value ^ params.d);"
            " if (d < best) { best = d; } } return 256 - best;",
            "params": {"fields": _FIELDS}
            | dict(zip("abcd", [_signed(w) for w in queries[0].words()], strict=True)),
        }
        t = time.perf_counter()
        es.search(
            index=store.index,
            query={
                "script_score": {"query": {"match_all": {}}, "script": script, "min_score": 225}
            },
            size=10,
        )
        brute_one = (time.perf_counter() - t) * 1000
        print(
            f"retro-match: {count:,} crawled images in Elasticsearch, {VARIANTS} hashes each "
            f"({count * VARIANTS:,} hashes) and {PARTS} pieces, indexed in {indexed:.0f} s"
        )
        print(
            f"  one photo ({len(queries)} query hashes, {len(pieces)} pieces), two-chunk "
            f"multi-index lookup: {ours:.1f} ms median (target < 100 ms); without the pieces "
            f"{without:.1f} ms"
        )
        print(
            f"  baseline, one-chunk lookup (retro-match before, exhaustive to 31): {one_chunk:.1f} ms "
            f"-> {one_chunk / ours:.1f}x slower"
        )
        print(
            f"  baseline, brute-force script scan, ONE query hash: {brute_one:.0f} ms -> "
            f"x{len(queries)} = {brute_one * len(queries):.0f} ms, "
            f"{brute_one * len(queries) / ours:.0f}x slower"
        )
    finally:
        if not keep:
            store.delete_index()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
