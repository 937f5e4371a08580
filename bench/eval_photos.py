"""`make eval` (photos): recall per transform and false positives, ours vs the common baseline."""

from __future__ import annotations

import hashlib
import io
import itertools
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import imagehash
from PIL import Image

from bench.photo_transforms import TRANSFORMS
from matching.images import decode, fingerprint, registration_hashes
from matching.photos import CANDIDATE_MAX_DISTANCE, STRONG_MAX_DISTANCE, PhotoIndex, Tier

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "photos"
# The baseline most tools use: one 64-bit pHash of the file as decoded, match at distance <= 10.
BASELINE_MAX_DISTANCE = 10


def _baseline_hash(data: bytes) -> imagehash.ImageHash:
    return imagehash.phash(Image.open(io.BytesIO(data)).convert("RGB"))


def main(photos: Path = PHOTOS) -> int:
    distinct = sorted((photos / "distinct").iterdir())
    originals = {p.name: p.read_bytes() for p in distinct}
    images = {name: decode(data) for name, data in originals.items()}
    index = PhotoIndex()
    registered_hashes = {}
    for name, image in images.items():
        registered_hashes[name] = registration_hashes(image)
        index.add(name, registered_hashes[name])
    baseline = {name: _baseline_hash(data) for name, data in originals.items()}

    # Positives: transforms of each distinct photo, then near-duplicate sets made by others.
    cases: list[tuple[str, str, bytes, dict[str, imagehash.ImageHash]]] = []
    for (name, image), (transform, apply) in itertools.product(images.items(), TRANSFORMS.items()):
        cases.append((transform, name, apply(image), baseline))
    extra_refs: dict[str, bytes] = {}
    near = photos / "near-duplicates"
    for group in sorted(p for p in near.iterdir() if p.is_dir()):
        files = sorted(group.iterdir())
        ref, others = files[0], files[1:]
        group_index_hashes = registration_hashes(decode(ref.read_bytes()))
        index.add(f"{group.name}/{ref.name}", group_index_hashes)
        extra_refs[f"{group.name}/{ref.name}"] = ref.read_bytes()
        baseline[f"{group.name}/{ref.name}"] = _baseline_hash(ref.read_bytes())
        for other in others:
            cases.append(
                (f"near-dup:{group.name}", f"{group.name}/{ref.name}", other.read_bytes(), baseline)
            )
    # A near-duplicate reference may also be one of the distinct photos (same bytes): either
    # label names the right photo.
    digest_of = {name: hashlib.sha256(data).hexdigest() for name, data in originals.items()}
    for label, data in extra_refs.items():
        digest_of[label] = hashlib.sha256(data).hexdigest()

    def same_photo(found: str | None, expected: str) -> bool:
        return found is not None and (
            found == expected or digest_of.get(found) == digest_of.get(expected)
        )

    ours: dict[str, list[bool]] = defaultdict(list)
    strong: dict[str, list[bool]] = defaultdict(list)
    base: dict[str, list[bool]] = defaultdict(list)
    distances: dict[str, list[int]] = defaultdict(list)
    for transform, expected, data, bl in cases:
        match = index.best_match(fingerprint(data))
        ours[transform].append(same_photo(match.photo, expected))
        strong[transform].append(same_photo(match.photo, expected) and match.tier == Tier.STRONG)
        if same_photo(match.photo, expected) and match.distance is not None:
            distances[transform].append(match.distance)
        base[transform].append(_baseline_hash(data) - bl[expected] <= BASELINE_MAX_DISTANCE)

    # Negatives: every pair of different distinct photos, both directions for our matcher
    # (photo A posted, photo B registered) with all registration variants of B.
    names = list(images)
    false_ours = false_base = 0
    pairs = 0
    nearest_negative = []
    fps = {n: fingerprint(originals[n]) for n in names}
    for a, b in itertools.combinations(names, 2):
        pairs += 1
        d = min(
            min(v - h for v in fps[a].pdq_variants for h in registered_hashes[b]),
            min(v - h for v in fps[b].pdq_variants for h in registered_hashes[a]),
        )
        nearest_negative.append(d)
        false_ours += d <= CANDIDATE_MAX_DISTANCE
        false_base += baseline[a] - baseline[b] <= BASELINE_MAX_DISTANCE

    print(
        f"{'transform':34} {'n':>4} {'ours':>8} {'strong':>8} {'baseline':>9}  ours: median / max distance"
    )
    for transform in ours:
        n = len(ours[transform])
        r_ours = 100 * sum(ours[transform]) / n
        r_base = 100 * sum(base[transform]) / n
        r_strong = 100 * sum(strong[transform]) / n
        dist = distances[transform]
        spread = f"{statistics.median(dist):.0f} / {max(dist)}" if dist else "-"
        print(f"{transform:34} {n:>4} {r_ours:>7.1f}% {r_strong:>7.1f}% {r_base:>8.1f}%  {spread}")
    print(
        f"{'false positives (distinct pairs)':34} {pairs:>4} {100 * false_ours / pairs:>7.2f}% {'':>8} "
        f"{100 * false_base / pairs:>8.2f}%  nearest negative: {min(nearest_negative)}, "
        f"median {statistics.median(nearest_negative):.0f}"
    )
    print(
        "ours: PDQ, 28 registration variants, border and caption-band query variants; match = "
        f"strong (<= {STRONG_MAX_DISTANCE}) or candidate (<= {CANDIDATE_MAX_DISTANCE})"
    )
    print(f"baseline: one 64-bit pHash, match if distance <= {BASELINE_MAX_DISTANCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
