"""``python -m matching photos match REGISTERED_DIR CANDIDATE...``: one JSON object per candidate."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from matching.features import FeatureIndex, query_features, registration_features
from matching.images import decode, fingerprint_image, registration_hashes
from matching.photos import PhotoIndex, match_photo


def _files(paths: Sequence[str | Path]) -> Iterator[Path]:
    for name in paths:
        path = Path(name)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def match_photos(registered: Path, candidates: Sequence[str], out: TextIO) -> int:
    if not registered.is_dir():
        print(f"error: {registered} is not a directory of registered photos", file=sys.stderr)
        return 2
    index, features = PhotoIndex(), FeatureIndex()
    for path in _files([registered]):
        try:
            image = decode(path.read_bytes())
            index.add(str(path), registration_hashes(image))
            features.add(str(path), registration_features(image))
        except (OSError, ValueError) as exc:
            print(f"warning: registered photo {path} skipped: {exc}", file=sys.stderr)
    status = 0
    for path in _files(candidates):
        try:
            image = decode(path.read_bytes())
            match = match_photo(index, features, fingerprint_image(image), query_features(image))
        except (OSError, ValueError) as exc:
            print(json.dumps({"candidate": str(path), "error": str(exc)}), file=out)
            status = 1
            continue
        record = {
            "candidate": str(path),
            "match": match.photo,
            "distance": match.distance,
            "tier": str(match.tier) if match.tier else None,
            "method": str(match.stage) if match.photo else None,
            "why": match.why or None,
        }
        print(json.dumps(record), file=out)
    return status
