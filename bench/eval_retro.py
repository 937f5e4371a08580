"""`make eval` (retro-match): a photo registered today against images crawled before it.

Every distinct real photo is altered once per family with parameters drawn at random (the seed
is printed; EVAL_SEED=N replays a run), the copies and the negatives (Meta's PDQ test photos)
are "crawled in" (fingerprinted as the crawler does and indexed into a real Elasticsearch
index of their own), then each original is registered and looked up as registration does.
Printed per family: crawl-time matching (the same copy met by a crawl after registration),
retro-match as it was (the whole image's hash only) and retro-match now; then false positives.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.retro_transforms import families
from config.environment import load
from hits.images import CrawledImage, ImageStore
from matching.hashes import PdqHash
from matching.images import (
    PART_KINDS,
    CrawledPrint,
    crawled_fingerprint,
    decode,
    registration_hashes,
    retro_part_hashes,
    retro_query_hashes,
)
from matching.photos import CANDIDATE_MAX_DISTANCE, PhotoIndex, Tier, tier_for


def _realdata() -> Path:
    """shared/realdata beside the checkout (or a worktree's parent), or $BODYGUARD_REALDATA."""
    if os.environ.get("BODYGUARD_REALDATA"):
        return Path(os.environ["BODYGUARD_REALDATA"])
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "shared" / "realdata").is_dir():
            return parent / "shared" / "realdata"
    raise SystemExit("shared/realdata not found: set BODYGUARD_REALDATA to its path")


PHOTOS = _realdata() / "photos"
NEGATIVES = PHOTOS / "pdq-threatexchange" / "data"


@dataclass(frozen=True)
class Crawled:
    url: str
    family: str  # "negative" for Meta's photos
    original: str | None
    print: CrawledPrint


def _crawl_in(seed: int) -> list[Crawled]:
    rng = random.Random(seed)
    names = sorted(p.name for p in (PHOTOS / "distinct").iterdir())
    images = {n: decode((PHOTOS / "distinct" / n).read_bytes()) for n in names}
    # A collage's other tiles are Meta's photos, never registered: a registered photo found in
    # another photo's collage would be a true match, not a false positive.
    fillers = [decode(p.read_bytes()) for p in sorted(NEGATIVES.rglob("*.jpg"))]
    crawled = []
    for family, alter in families(fillers).items():
        for name in names:
            data = alter(images[name], rng)
            url = f"https://forum.example/img/{family}/{name}"
            crawled.append(Crawled(url, family, name, crawled_fingerprint(data)))
    for path in sorted(p for p in NEGATIVES.rglob("*") if p.is_file()):
        try:
            fp = crawled_fingerprint(path.read_bytes())
        except ValueError:
            continue
        crawled.append(Crawled(f"https://forum.example/meta/{path.name}", "negative", None, fp))
    return crawled


def main() -> int:
    seed = int(os.environ.get("EVAL_SEED") or random.SystemRandom().randrange(1_000_000))
    print(f"retro-match eval, seed {seed} (EVAL_SEED={seed} replays it)")
    started = time.perf_counter()
    crawled = _crawl_in(seed)
    names = sorted({c.original for c in crawled if c.original})
    registered = {n: decode((PHOTOS / "distinct" / n).read_bytes()) for n in names}
    hashes = {n: registration_hashes(im) for n, im in registered.items()}
    extra = {n: retro_query_hashes(im) for n, im in registered.items()}
    pieces = {n: retro_part_hashes(im) for n, im in registered.items()}
    print(
        f"{len(crawled)} crawled images ({sum(c.family == 'negative' for c in crawled)} of Meta's "
        f"PDQ set), {len(names)} registered photos, fingerprinted in {time.perf_counter() - started:.0f} s"
    )

    env = load()
    store = ImageStore.connect(env.elasticsearch_url, f"bodyguard-eval-{uuid.uuid4().hex[:8]}")
    now = datetime.now(UTC)
    try:
        store.ensure_index()
        store.add(
            [
                CrawledImage(
                    c.url,
                    f"https://forum.example/t/{i}",
                    "eval",
                    c.print.fingerprint.pdq,
                    c.print.fingerprint.quality,
                    now,
                    variants=c.print.variants,
                )
                for i, c in enumerate(crawled)
            ]
        )
        found: dict[str, dict[str, tuple[int, Tier]]] = {}
        timings = []
        for name in names:
            t = time.perf_counter()
            similar = store.similar([*hashes[name], *extra[name]], parts=pieces[name])
            timings.append(time.perf_counter() - t)
            found[name] = {}
            for s in similar:
                tier = tier_for(s.distance, s.quality)
                if tier is not None:
                    found[name][s.image_url] = (s.distance, tier)
    finally:
        store.delete_index()
        store.close()

    index = PhotoIndex()
    for name in names:
        index.add(name, hashes[name])

    def before(c: Crawled, name: str) -> int:
        whole = c.print.fingerprint.pdq
        return min(whole - h for h in hashes[name])

    crawl_time: dict[str, list[bool]] = defaultdict(list)
    old: dict[str, list[bool]] = defaultdict(list)
    now_: dict[str, list[bool]] = defaultdict(list)
    strong: dict[str, list[bool]] = defaultdict(list)
    variants: dict[str, list[int]] = defaultdict(list)
    kept: dict[str, list[int]] = defaultdict(list)
    for c in crawled:
        variants[c.family].append(sum(v.kind not in PART_KINDS for v in c.print.variants))
        kept[c.family].append(sum(v.kind in PART_KINDS for v in c.print.variants))
        if c.original is None:
            continue
        match = index.best_match(c.print.fingerprint)
        crawl_time[c.family].append(match.photo == c.original)
        old[c.family].append(
            tier_for(before(c, c.original), c.print.fingerprint.quality) is not None
        )
        hit = found[c.original].get(c.url)
        now_[c.family].append(hit is not None)
        strong[c.family].append(hit is not None and hit[1] == Tier.STRONG)

    print(
        f"{'family':16} {'n':>4} {'crawl-time':>11} {'retro before':>13} {'retro now':>10} "
        f"{'strong':>7}  hashes per image (+ pieces)"
    )
    for family in now_:
        n = len(now_[family])

        def pct(values: list[bool]) -> str:
            return f"{100 * sum(values) / len(values):.1f}%"

        print(
            f"{family:16} {n:>4} {pct(crawl_time[family]):>11} {pct(old[family]):>13} "
            f"{pct(now_[family]):>10} {pct(strong[family]):>7}  "
            f"{statistics.mean(variants[family]):.1f} (+{statistics.mean(kept[family]):.1f})"
        )
    total = [v for values in now_.values() for v in values]
    total_old = [v for values in old.values() for v in values]
    total_crawl = [v for values in crawl_time.values() for v in values]
    print(
        f"{'all families':16} {len(total):>4} {100 * sum(total_crawl) / len(total):>10.1f}% "
        f"{100 * sum(total_old) / len(total):>12.1f}% {100 * sum(total) / len(total):>9.1f}%"
    )

    # False positives: a registered photo matching a crawled image that is not a copy of it
    # (copies of the 45 other photos, and Meta's photos).
    pairs = false = 0
    nearest: list[int] = []
    for name in names:
        queries: list[PdqHash] = [*hashes[name], *extra[name]]
        for c in crawled:
            if c.original == name:
                continue
            pairs += 1
            false += c.url in found[name]
            # Each stored hash against the queries it is compared with (hits.images._closest).
            nearest.append(
                min(
                    v.pdq - q
                    for v in c.print.variants
                    for q in (pieces[name] if v.kind == "part" else queries)
                )
            )
    print(
        f"false positives: {false} of {pairs:,} (registered photo, other crawled image) pairs "
        f"({100 * false / pairs:.3f}%); nearest negative {min(nearest)}, median "
        f"{statistics.median(nearest):.0f} (match <= {CANDIDATE_MAX_DISTANCE})"
    )
    per_photo = statistics.median(timings) * 1000
    print(
        f"retro-match queries: {statistics.mean(len(hashes[n]) + len(extra[n]) for n in names):.0f} "
        f"hashes and {statistics.mean(len(pieces[n]) for n in names):.0f} pieces per photo, {per_photo:.0f} ms median per photo against {len(crawled)} images"
    )
    print(f"negatives: {sum(c.family == 'negative' for c in crawled)} images of {NEGATIVES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
