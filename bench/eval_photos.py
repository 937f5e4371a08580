"""`make eval` (photos): recall per alteration family and false positives over every negative,
for our matcher (PDQ, then local features) and the single-pHash baseline, in one run.

Alterations are drawn at random from ranges (bench/photo_transforms.py) with a printed seed:
``python -m bench.eval_photos --seed N`` replays a run, ``--draws`` sets draws per family and
photo, ``--photos`` limits the distinct photos (for quick iterations).

Negatives: every query of a photo (its alterations and the photo itself) is also asked of an
index that does not hold that photo (the distinct photos are split in two halves, each query goes
to the other half's index), Meta's PDQ test photos are asked of the full index, and so are the
photos used to fill collages. Any match there is a false positive.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import imagehash
from PIL import Image

from bench.corpus import REALDATA
from bench.photo_transforms import TRANSFORMS, families
from matching.features import FeatureIndex, LocalFeatures, query_features, registration_features
from matching.hashes import PdqHash
from matching.images import Fingerprint, decode, fingerprint_image, registration_hashes
from matching.photos import PhotoIndex, PhotoMatch, match_photo


def _realdata() -> Path:
    # shared/ sits beside the checkout (/work/main) or beside the worktrees' folder (/work/wt/x).
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "realdata").is_dir():
            return parent / "shared" / "realdata"
    return REALDATA


PHOTOS = _realdata() / "photos"
# The baseline most tools use: one 64-bit pHash of the file as decoded, match at distance <= 10.
BASELINE_MAX_DISTANCE = 10
DEFAULT_SEED = 20260909
DEFAULT_DRAWS = 3


def _baseline_hash(image: Image.Image) -> imagehash.ImageHash:
    return imagehash.phash(image)


@dataclass
class Matchers:
    pdq: PhotoIndex
    features: FeatureIndex
    baseline: dict[str, imagehash.ImageHash]

    def add(self, label: str, image: Image.Image) -> None:
        if label not in _REGISTERED:
            _REGISTERED[label] = (
                registration_hashes(image),
                registration_features(image),
                _baseline_hash(image),
            )
        hashes, features, baseline = _REGISTERED[label]
        self.pdq.add(label, hashes)
        self.features.add(label, features)
        self.baseline[label] = baseline


# What registration keeps of each photo, computed once and shared by the indexes.
_REGISTERED: dict[str, tuple[list[PdqHash], LocalFeatures, imagehash.ImageHash]] = {}


def _matchers() -> Matchers:
    return Matchers(PhotoIndex(), FeatureIndex(), {})


@dataclass(frozen=True)
class Query:
    family: str
    expected: str | None  # None: must match nothing
    name: str
    fp: Fingerprint
    features: LocalFeatures
    baseline: imagehash.ImageHash


def _query(family: str, expected: str | None, name: str, data: bytes) -> Query:
    image = decode(data)
    return Query(
        family,
        expected,
        name,
        fingerprint_image(image),
        query_features(image),
        _baseline_hash(Image.open(io.BytesIO(data)).convert("RGB")),
    )


def _baseline_match(m: Matchers, q: Query) -> str | None:
    best = min(m.baseline.items(), key=lambda kv: kv[1] - q.baseline, default=None)
    if best is None or best[1] - q.baseline > BASELINE_MAX_DISTANCE:
        return None
    return best[0]


def _images(folder: Path) -> Iterable[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() != ".md")


def _same_pictures(photos: Path) -> Callable[[str, str], bool]:
    """Labels of the same picture: files of a near-duplicate set, joined with any other set or
    distinct photo holding the same bytes (grace_hopper holds both the portrait and the crop
    that hopper_formats saves in many formats)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    by_digest: dict[str, str] = {}
    for path in _images(photos / "distinct"):
        by_digest.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), path.name)
        root(path.name)
    for group in sorted(p for p in (photos / "near-duplicates").iterdir() if p.is_dir()):
        files = sorted(group.iterdir())
        label = f"{group.name}/{files[0].name}"
        for f in files:
            first = by_digest.setdefault(hashlib.sha256(f.read_bytes()).hexdigest(), label)
            parent[root(first)] = root(label)
    return lambda a, b: root(a) == root(b)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--draws", type=int, default=DEFAULT_DRAWS)
    parser.add_argument("--photos", type=int, default=0, help="use only the first N photos")
    parser.add_argument("--families", default="", help="comma-separated families only")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print(f"photo eval: seed {args.seed} (replay with --seed {args.seed}), {args.draws} draws")
    rng = random.Random(args.seed)

    distinct = sorted((PHOTOS / "distinct").iterdir())
    if args.photos:
        distinct = distinct[: args.photos]
    images = {p.name: decode(p.read_bytes()) for p in distinct}
    names = list(images)
    half = {name: i % 2 for i, name in enumerate(names)}
    full, halves = _matchers(), (_matchers(), _matchers())
    for name, image in images.items():
        full.add(name, image)
        halves[half[name]].add(name, image)
    # Near-duplicate sets made by others: the first file is registered, the others are queries,
    # each asked of an index of its set's first file and the distinct photos, less any photo
    # holding the same bytes as one of the set's files (else grace_hopper's crop would be found
    # as the identical file hopper_formats registers).
    near: list[tuple[str, str, bytes]] = []
    near_index: dict[str, Matchers] = {}
    for group in sorted(p for p in (PHOTOS / "near-duplicates").iterdir() if p.is_dir()):
        ref, *others = sorted(group.iterdir())
        label = f"{group.name}/{ref.name}"
        digests = {hashlib.sha256(f.read_bytes()).hexdigest() for f in (ref, *others)}
        own = near_index[label] = _matchers()
        own.add(label, decode(ref.read_bytes()))
        full.add(label, decode(ref.read_bytes()))
        for name, path in zip(names, distinct, strict=True):
            if hashlib.sha256(path.read_bytes()).hexdigest() not in digests:
                own.add(name, images[name])
        near.extend((f"near-dup:{group.name}", label, o.read_bytes()) for o in others)
    # Fillers for collages: real photos that are registered nowhere.
    pdq_set = PHOTOS / "pdq-threatexchange" / "data"
    fillers = [
        decode(p.read_bytes()) for p in _images(pdq_set / "reg-test-input" / "labelme-subset")
    ]
    drawn = families(fillers)
    if args.families:
        wanted = set(args.families.split(","))
        drawn = {k: v for k, v in drawn.items() if k in wanted}

    queries: list[Query] = []
    for name, image in images.items():
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        queries.append(_query("original", name, name, buffer.getvalue()))
        for transform, apply in TRANSFORMS.items():
            queries.append(_query(transform, name, name, apply(image)))
        for family, draw in drawn.items():
            for i in range(args.draws):
                queries.append(_query(family, name, f"{name} draw {i}", draw(image, rng)))
    queries.extend(_query(f, e, e, d) for f, e, d in near)
    same = _same_pictures(PHOTOS)
    negatives = [
        _query("negative:pdq-threatexchange", None, str(p.relative_to(pdq_set)), p.read_bytes())
        for p in _images(pdq_set)
    ]
    built = time.perf_counter()

    def ours(m: Matchers, q: Query) -> PhotoMatch:
        return match_photo(m.pdq, m.features, q.fp, q.features)

    found: dict[str, list[bool]] = defaultdict(list)
    by_stage: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    base: dict[str, list[bool]] = defaultdict(list)
    misses: list[str] = []
    false_ours: list[str] = []
    false_base: list[str] = []
    negatives_asked = 0
    for q in queries:
        if q.expected is None:
            continue
        match = ours(near_index.get(q.expected, full), q)
        ok = match.photo is not None and same(match.photo, q.expected)
        found[q.family].append(ok)
        if ok:
            by_stage[q.family][match.stage] += 1
        else:
            misses.append(f"  {q.family:28} {q.name}: {match.why or 'nothing'}")
            if match.photo is not None:
                false_ours.append(f"  {q.family} {q.name} -> {match.photo} ({match.why})")
        base_found = _baseline_match(near_index.get(q.expected, full), q)
        base[q.family].append(base_found is not None and same(base_found, q.expected))
        if q.expected in half:
            other = halves[1 - half[q.expected]]
            negatives_asked += 1
            wrong = ours(other, q)
            if wrong.photo is not None:
                false_ours.append(f"  {q.family} {q.name} -> {wrong.photo} ({wrong.why})")
            if _baseline_match(other, q) is not None:
                false_base.append(f"{q.family} {q.name}")
    for q in negatives:
        negatives_asked += 1
        wrong = ours(full, q)
        if wrong.photo is not None:
            false_ours.append(f"  {q.family} {q.name} -> {wrong.photo} ({wrong.why})")
        if _baseline_match(full, q) is not None:
            false_base.append(f"{q.family} {q.name}")
    negatives_asked += len(fillers)  # fillers are among the PDQ set negatives above

    print(f"{'family':34} {'n':>5} {'ours':>8} {'baseline':>9}   ours found by")
    total = hits = base_hits = 0
    for family, results in found.items():
        n = len(results)
        total, hits, base_hits = total + n, hits + sum(results), base_hits + sum(base[family])
        stages = ", ".join(f"{k} {v}" for k, v in sorted(by_stage[family].items()))
        print(
            f"{family:34} {n:>5} {100 * sum(results) / n:>7.1f}% "
            f"{100 * sum(base[family]) / n:>8.1f}%   {stages}"
        )
    print(
        f"{'all photo families':34} {total:>5} {100 * hits / total:>7.1f}% {100 * base_hits / total:>8.1f}%"
    )
    print(
        f"{'false positives (all negatives)':34} {negatives_asked:>5} {len(false_ours):>8} "
        f"{len(false_base):>9}"
    )
    for line in false_ours:
        print(line)
    print(f"missed by ours ({len(misses)}):")
    for line in misses:
        print(line)
    print(
        "ours: PDQ (registration variants, border/band query variants), then SIFT local features "
        "verified by RANSAC similarity; baseline: one 64-bit pHash, match if distance <= "
        f"{BASELINE_MAX_DISTANCE}"
    )
    print(
        f"{len(queries)} positive queries, {negatives_asked} negative queries; "
        f"prepared in {built - started:.0f} s, matched in {time.perf_counter() - built:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
