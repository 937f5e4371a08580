from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from matching.names import Mention

# A primary language subtag (BCP 47 / ISO 639): two or three ASCII letters, nothing else.
_PRIMARY_LANGUAGE = re.compile(r"[A-Za-z]{2,3}")
# ISO 639 codes that name no language (undetermined, uncoded, multiple, no linguistic content).
_NOT_A_LANGUAGE = frozenset({"und", "mis", "mul", "zxx"})


def primary_language(declared: object) -> str:
    """The lowercase primary tag of a language a page or an API declares ("fr" from "fr-FR",
    "de" from "de_DE"); "" when there is none or it is not a language tag (a hostile page
    writes anything there)."""
    if not isinstance(declared, str):
        return ""
    primary = declared.strip().replace("_", "-").split("-", 1)[0]
    if not _PRIMARY_LANGUAGE.fullmatch(primary):
        return ""
    primary = primary.lower()
    return "" if primary in _NOT_A_LANGUAGE else primary


@dataclass(frozen=True)
class EvidenceRef:
    warc: str  # path relative to the evidence directory
    record_id: str
    payload_sha256: str
    captured_at: str


@dataclass(frozen=True)
class ImageMatch:
    """An image of the post that is a registered photo of a client."""

    client_id: str
    photo_label: str
    image_url: str
    distance: int | None  # PDQ distance; None when local features matched
    tier: str
    method: str = "pdq"  # "pdq" or "features"
    inliers: int | None = None  # local features: keypoints agreeing under one similarity
    why: str = ""

    @property
    def score(self) -> float:
        """1 for an identical image; PDQ by distance, local features by agreeing keypoints."""
        if self.distance is not None:
            return round(1 - self.distance / 64, 3)
        return round(min(1.0, 0.5 + (self.inliers or 0) / 200), 3)


@dataclass(frozen=True)
class VideoMatch:
    """A video of the post that is a registered video of a client (never the video itself)."""

    client_id: str
    video_label: str
    video_url: str
    method: str  # "md5" (the identical file) or "frames"
    tier: str
    frames_matched: int
    frames_compared: int
    # (start, end) seconds of the crawled clip that matched, and of the registered video.
    ranges: tuple[tuple[float, float], ...] = ()
    registered_ranges: tuple[tuple[float, float], ...] = ()
    why: str = ""
    score: float = 1.0


@dataclass
class ForumPost:
    """One post as published, with the watched names found in it (filled by a pipeline)."""

    source_id: str
    url: str
    thread_url: str
    thread_title: str
    text: str
    author: str
    posted_at: datetime | None
    image_urls: list[str] = field(default_factory=list)
    # Videos attached to the post (Telegram, fediverse media, <video> sources): kept for the
    # record and for video matching.
    video_urls: list[str] = field(default_factory=list)
    # A video file's MD5 (hex) as the site declares it (4chan's JSON): matched before any fetch.
    video_md5s: dict[str, str] = field(default_factory=dict)
    # Pixel area an image URL declares (width x height attributes or API fields), where known:
    # the image pipeline fetches the largest first when a post's byte budget runs short.
    image_sizes: dict[str, int] = field(default_factory=dict)
    # The author's account: a profile URL or the site's account id ("" when the page has none).
    author_ref: str = ""
    # Ids of the fingerprints (hits.images) of the images fetched from the post.
    image_ids: list[str] = field(default_factory=list)
    is_thread_start: bool = False
    # The language the source declares for the post (primary_language), never guessed.
    language: str = ""
    mentions: list[Mention] = field(default_factory=list)
    image_matches: list[ImageMatch] = field(default_factory=list)
    video_matches: list[VideoMatch] = field(default_factory=list)
    # The URL whose response the post was read from (set by a spider middleware), and where
    # that response was archived if the post is a hit.
    fetched_url: str = ""
    evidence: EvidenceRef | None = None

    @property
    def match_text(self) -> str:
        """The text names are looked for in: the title counts only on a thread's first post."""
        if self.is_thread_start and self.thread_title:
            return f"{self.thread_title}\n\n{self.text}"
        return self.text

    @property
    def content_sha256(self) -> str:
        return hashlib.sha256(self.match_text.encode("utf-8")).hexdigest()
