"""`make bench` (names): scanning speed on real forum text, ours vs a naive rapidfuzz baseline,
and vs the matcher before issue 9 (bench.eval_names.PREVIOUS_COMMIT) when git can show it."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from rapidfuzz import fuzz

from bench.corpus import forum_texts, generated_names
from bench.eval_names import _load_previous
from matching.names import NameMatcher, WatchEntry

CLIENT_COUNTS = (1, 100, 10_000)
# The baseline is too slow to run on everything at 10,000 clients: it is timed on this many
# posts and its throughput computed from that sample.
BASELINE_SAMPLE_POSTS = 40


def _timed(run: Callable[[], object], min_seconds: float = 1.0) -> float:
    """Seconds per call, repeating until ``min_seconds`` have passed."""
    calls, started = 0, time.perf_counter()
    while True:
        run()
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return elapsed / calls


def main() -> int:
    posts = forum_texts()
    size_mb = sum(len(p.encode("utf-8")) for p in posts) / 1e6
    sample = posts[:: max(1, len(posts) // BASELINE_SAMPLE_POSTS)][:BASELINE_SAMPLE_POSTS]
    sample_mb = sum(len(p.encode("utf-8")) for p in sample) / 1e6
    print(
        f"corpus: {len(posts)} real forum pages and posts, {size_mb:.2f} MB (baseline sample: {len(sample)} posts, {sample_mb:.3f} MB)"
    )
    previous = _load_previous()
    print(
        f"{'clients':>8} {'build s':>8} {'ours MB/s':>10} {'baseline MB/s':>14} {'ours/baseline':>14}"
        f" {'previous MB/s':>14} {'ours/previous':>14}"
    )
    speeds = {}
    for count in CLIENT_COUNTS:
        names = generated_names(count)
        entries = [
            WatchEntry(f"c{i}", names=(f"{f} {last}",), aliases=(f"{f[0]}{last}75".lower(),))
            for i, (f, last) in enumerate(names)
        ]
        started = time.perf_counter()
        matcher = NameMatcher(entries)
        build = time.perf_counter() - started

        def scan_all(matcher: NameMatcher = matcher) -> None:
            for post in posts:
                matcher.scan(post)

        ours = size_mb / _timed(scan_all)
        full_names = [f"{f} {last}" for f, last in names]

        def baseline(full_names: list[str] = full_names) -> None:
            for post in sample:
                for name in full_names:
                    fuzz.partial_ratio(name, post)

        base = sample_mb / _timed(baseline, min_seconds=0.5)
        speeds[count] = ours
        line = f"{count:>8} {build:>8.2f} {ours:>10.2f} {base:>14.4f} {ours / base:>13.0f}x"
        if previous is not None:
            old = previous.NameMatcher(
                [
                    previous.WatchEntry(e.client_id, names=e.names, aliases=e.aliases)
                    for e in entries
                ]
            )

            def scan_previous(old: object = old) -> None:
                for post in posts:
                    old.scan(post)  # type: ignore[attr-defined]

            before = size_mb / _timed(scan_previous)
            line += f" {before:>14.2f} {ours / before:>13.2f}x"
        print(line)
    print(f"slowdown from 1 to 10,000 clients: {speeds[1] / speeds[10_000]:.2f}x (target < 2x)")
    print(
        "baseline: rapidfuzz fuzz.partial_ratio of every client name over every post, as naive tools do"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
