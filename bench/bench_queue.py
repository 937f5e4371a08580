"""`make bench` (queue): time to show review-queue pages of an index of 30,000 hits (BENCH_HITS):
the first page and the last page inside Elasticsearch's 10,000-result window (from/size),
against the first page past it and the last page (search_after inside a point in time)."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from hits.documents import Hit, MatchedTerm, MatchKind
from hits.store import HitFilters, HitStore

HITS = int(os.environ.get("BENCH_HITS", "30000"))
PER_PAGE = 25
RUNS = 5


def _hit(i: int) -> Hit:
    seen = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i)
    return Hit(
        client_id="bench", source_id="forum", url=f"https://forum.example/t/{i}",
        match_kind=MatchKind.NAME,
        matched_terms=(MatchedTerm("Jeanne Dupont", "Jeanne Dupont", "exact", 0, 13),),
        first_seen=seen, last_seen=seen, excerpt="Jeanne Dupont",
    )  # fmt: skip


def _hits(n: int) -> list[Hit]:
    return [_hit(i) for i in range(n)]


def _median_ms(store: HitStore, page: int) -> float:
    times = []
    for _ in range(RUNS):
        began = time.perf_counter()
        store.search(HitFilters(), page=page, per_page=PER_PAGE)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    url = os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    store = HitStore(url, f"bodyguard-bench-{uuid.uuid4().hex[:8]}", timeout_s=60)
    try:
        store.ensure_index()
        store.upsert(_hits(HITS))
        last = -(-HITS // PER_PAGE)
        window_last = 10_000 // PER_PAGE
        first_ms = _median_ms(store, 1)
        print(f"queue: {HITS} hits, {PER_PAGE} per page, median of {RUNS}")
        for label, page in (
            ("first page", 1),
            (f"page {window_last} (last inside the window)", window_last),
            (f"page {window_last + 1} (first past the window)", window_last + 1),
            (f"page {last} (last)", last),
        ):
            ms = first_ms if page == 1 else _median_ms(store, page)
            print(f"  {label:<40} {ms:8.1f} ms  x{ms / first_ms:5.1f} the first page")
    finally:
        store.delete_index()
        store.close()


if __name__ == "__main__":
    main()
