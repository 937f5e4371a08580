"""The back-scan's second look: the images of the posts that name a client, fetched again and
matched against her registered photos with the crawl's whole matcher.

Retro-match compares a photo registered today with the PDQ hashes kept for every crawled image,
and PDQ does not survive a crop of more than a few percent a side (`make eval`: 17-24% of
cropped copies found retroactively). The posts that name her are where her photos are most
likely to be, and few: their images are fetched again (through the address guard, within a
budget) and compared with her photos' local features too, as a crawl would have done had she
been registered then. Images are held in memory only, as in a crawl."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from clients.services import WatchTarget
from config.sources import Source
from crawlers.fetch import Fetched, FetchPolicy, fetch
from crawlers.images import fetch_priority, image_hosts, image_match, index_photos
from crawlers.items import ForumPost, ImageMatch
from matching.features import FeatureIndex, query_features
from matching.images import decode, fingerprint_image
from matching.photos import PhotoIndex, match_photo

logger = logging.getLogger(__name__)

# Seconds one back-scan spends, in all, fetching images again: a client named in hundreds of
# old posts must not hold the monitor; what is left is for the next back-scan (a new photo or
# name queues one) and for the crawls.
IMAGE_BUDGET_S = 120.0
# Each image's own limit (connect, read and whole body).
IMAGE_DEADLINE_S = 20.0
# At most this many images per back-scan, and per post.
MAX_IMAGES = 300
MAX_IMAGES_PER_POST = 40
# As a crawl's limit for one image (crawlers.settings.BODYGUARD_MAX_IMAGE_BYTES).
MAX_IMAGE_BYTES = 10 * 1024 * 1024


@dataclass
class ImageCheck:
    fetched: int = 0
    matched: int = 0  # images that are one of her photos
    skipped: int = 0  # off the source's hosts, not an image, refused by the decoder
    over_budget: int = 0  # left for a later back-scan: the time or count budget was spent
    error: str = ""  # why none was checked (her photos' features could not be unsealed)


class ClientPhotos:
    """One client's registered photos (PDQ hashes and unsealed local features), in memory for
    one back-scan."""

    def __init__(self, target: WatchTarget) -> None:
        self.client = target.client_ref
        self.hashes = PhotoIndex()
        self.features = FeatureIndex()
        index_photos(target, self.hashes, self.features)  # a wrong key stops the scan here

    def __bool__(self) -> bool:
        return bool(len(self.hashes) or len(self.features))

    def match(self, data: bytes, url: str) -> ImageMatch | None:
        image = decode(data)
        fp = fingerprint_image(image)
        local = query_features(image) if len(self.features) else None
        del image
        found = match_photo(self.hashes, self.features, fp, local)
        if found.photo is None or found.tier is None:
            return None
        return image_match(self.client, found.photo, url, found)


def check_images(
    items: Iterable[ForumPost],
    photos: ClientPhotos,
    sources: dict[str, Source],
    until: float | None = None,
) -> ImageCheck:
    """Adds to each post's ``image_matches`` those of its images that are one of ``photos``,
    fetching until ``until`` (a ``time.monotonic()`` instant; IMAGE_BUDGET_S from now if None)."""
    check = ImageCheck()
    if not photos:
        return check
    ends = time.monotonic() + IMAGE_BUDGET_S if until is None else until
    seen: dict[str, ImageMatch | None] = {}
    for item in items:
        source = sources.get(item.source_id)
        allowed = image_hosts(source, item.url)
        urls = sorted(
            dict.fromkeys(item.image_urls), key=lambda u: fetch_priority(u, item.image_sizes.get(u))
        )[:MAX_IMAGES_PER_POST]
        for url in urls:
            if url in seen:
                match = seen[url]
            else:
                left = ends - time.monotonic()
                if (urlsplit(url).hostname or "") not in allowed:
                    check.skipped += 1
                    continue
                if left < 1 or check.fetched >= MAX_IMAGES:
                    check.over_budget += 1
                    continue
                match = seen[url] = _fetched_match(photos, source, url, left, check)
                check.matched += match is not None
            if match is not None:
                item.image_matches.append(match)
    return check


def _fetched_match(
    photos: ClientPhotos, source: Source | None, url: str, left: float, check: ImageCheck
) -> ImageMatch | None:
    limit = min(IMAGE_DEADLINE_S, left)
    policy = FetchPolicy.for_source(
        source, max_bytes=MAX_IMAGE_BYTES, accept="image/*", deadline_s=limit, timeout_s=limit
    )
    check.fetched += 1
    result = fetch(url, policy)
    if not (
        isinstance(result, Fetched)
        and result.status == 200
        and not result.truncated
        and result.header("Content-Type").lower().startswith("image/")
    ):
        check.skipped += 1
        logger.info(
            "back-scan: image %s not checked: %s", url, getattr(result, "reason", "not an image")
        )
        return None
    try:
        return photos.match(result.body, url)
    except ValueError as exc:
        check.skipped += 1
        logger.info("back-scan: image %s refused: %s", url, exc)
        return None
    except Exception:
        # Written by whoever posted it: whatever the decoders make of it, the back-scan (and
        # the alerts after it) goes on.
        check.skipped += 1
        logger.exception("back-scan: image %s could not be matched", url)
        return None
