"""Retro-match: a photo registered today against every image crawled before."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from hits.documents import Hit, MatchKind
from hits.images import ImageStore
from hits.store import HitStore
from matching.hashes import PdqHash
from matching.photos import tier_for


@dataclass(frozen=True)
class RetroMatch:
    hits_created: int
    images_matched: int


def retro_match(
    images: ImageStore,
    hits: HitStore,
    client_id: str,
    label: str,
    hashes: Sequence[PdqHash],
    parts: Sequence[PdqHash] = (),
) -> RetroMatch:
    """``parts``: the photo's pieces (matching.images.retro_part_hashes), compared with the same
    pieces of crawled images only (a stickered copy keeps most of them)."""
    similar = images.similar(hashes, parts=parts)
    now = datetime.now(UTC)
    found = []
    for image in similar:
        # As at crawl time: a close hash of a flat or tiny image (low PDQ quality) is only a
        # candidate for a reviewer, never a strong match.
        tier = tier_for(image.distance, image.quality)
        if tier is None:
            continue
        found.append(
            Hit(
                client_id=client_id,
                source_id=image.source_id,
                url=image.page_url,
                match_kind=MatchKind.IMAGE,
                matched_terms=(),
                first_seen=now,
                last_seen=now,
                title="",
                excerpt="",
                score=round(1 - image.distance / 64, 3),
                image_url=image.image_url,
                photo_label=label,
                photo_distance=image.distance,
                photo_tier=str(tier),
            )
        )
    results = hits.upsert(found)
    return RetroMatch(hits_created=sum(r.created for r in results), images_matched=len(found))
