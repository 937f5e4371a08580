"""The hit record and its Elasticsearch document (mapping + conversions in one adapter)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any

from hits.urls import canonicalize, host_of


class MatchKind(StrEnum):
    NAME = "name"
    IMAGE = "image"
    VIDEO = "video"
    # A link the client sent us from her space: first in the review queue.
    REPORTED = "reported"


class ReviewStatus(StrEnum):
    NEW = "new"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    # Needs a senior decision or urgent action (threats, a minor, a sexual image).
    ESCALATED = "escalated"
    # The client's own account or a legitimate use: not harm, and not to be raised again.
    ALLOWLISTED = "allowlisted"


class Severity(IntEnum):
    """How sure and how serious a hit is; the review queue sorts on it, strongest first."""

    LOW = 1  # a name by initial or a misspelling: often someone else
    MEDIUM = 2  # a candidate photo or video match, or a name with one letter masked
    HIGH = 3  # the client's name or alias, as written or thinly disguised
    CRITICAL = 4  # one of the client's registered photos or videos, strong match


# Hits at or above this are "strong matches": clients who chose immediate alerts hear of them
# at once, the rest waits for the daily digest.
STRONG_SEVERITY = Severity.HIGH
# Name mentions scoring at least this (exact, alias, look-alikes, order swapped; see
# matching.names.RULE_SCORES) are HIGH; masked letters (0.9) MEDIUM; initials and typos LOW.
_NAME_HIGH_SCORE = 0.95
_NAME_MEDIUM_SCORE = 0.9


@dataclass(frozen=True)
class MatchedTerm:
    """One mention. ``start``/``end`` are character offsets into the hit's ``excerpt``."""

    term: str
    text: str
    rule: str
    start: int
    end: int
    score: float = 1.0


def hit_id_for(client_id: str, canonical_url: str, match_kind: str) -> str:
    key = f"{client_id}\x1f{canonical_url}\x1f{match_kind}".encode()
    return hashlib.sha256(key).hexdigest()[:40]


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("hit timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _ranges_out(ranges: tuple[tuple[float, float], ...]) -> list[dict[str, float]]:
    return [{"start": float(a), "end": float(b)} for a, b in ranges]


def _ranges_in(stored: Any) -> tuple[tuple[float, float], ...]:
    return tuple((float(r["start"]), float(r["end"])) for r in stored or ())


@dataclass(frozen=True)
class Hit:
    client_id: str
    source_id: str
    url: str
    match_kind: MatchKind
    matched_terms: tuple[MatchedTerm, ...]
    first_seen: datetime
    last_seen: datetime
    title: str = ""
    excerpt: str = ""
    author: str = ""
    posted_at: datetime | None = None
    score: float = 1.0
    content_sha256: str = ""
    review_status: ReviewStatus = ReviewStatus.NEW
    # Image hits: which image on the page, which registered photo it is, how close, how sure.
    image_url: str = ""
    photo_label: str = ""
    photo_distance: int | None = None
    photo_tier: str = ""
    # How the image matched ("pdq" or "features") and the reviewer's explanation of it.
    photo_method: str = ""
    photo_why: str = ""
    # Video hits: which video on the page, which registered video it is, how it matched ("md5"
    # or "frames"), how many of the clip's sampled frames agreed, and where: (start, end)
    # seconds of the crawled clip, and of the registered video. Never anything of the video.
    video_url: str = ""
    video_label: str = ""
    video_tier: str = ""
    video_method: str = ""
    video_frames_matched: int | None = None
    video_frames_compared: int | None = None
    video_ranges: tuple[tuple[float, float], ...] = ()
    video_registered_ranges: tuple[tuple[float, float], ...] = ()
    video_why: str = ""
    # Where the page as seen was archived (WARC file relative to the evidence store, record id).
    evidence_warc: str = ""
    evidence_record_id: str = ""
    evidence_sha256: str = ""
    captured_at: datetime | None = None
    # The thread or page the post belongs to: bulk review acts on every hit of one thread.
    thread_url: str = ""
    # A screenshot of the page (optional), archived in the evidence store like the capture.
    screenshot_warc: str = ""
    screenshot_record_id: str = ""
    screenshot_sha256: str = ""
    # A dismissed hit whose content changed since is back for review: when, and from what.
    reopened_at: datetime | None = None
    reopened_from_sha256: str = ""
    canonical_url: str = field(default="")

    def __post_init__(self) -> None:
        if not self.canonical_url:
            object.__setattr__(self, "canonical_url", canonicalize(self.url))

    @property
    def hit_id(self) -> str:
        return hit_id_for(self.client_id, self.canonical_url, self.match_kind)

    @property
    def host(self) -> str:
        return host_of(self.canonical_url)

    @property
    def thread(self) -> str:
        return (
            canonicalize(self.thread_url) if self.thread_url else self.canonical_url.split("#")[0]
        )

    @property
    def severity(self) -> Severity:
        if self.match_kind == MatchKind.REPORTED:
            return Severity.CRITICAL
        if self.match_kind == MatchKind.IMAGE:
            return Severity.CRITICAL if self.photo_tier == "strong" else Severity.MEDIUM
        if self.match_kind == MatchKind.VIDEO:
            return Severity.CRITICAL if self.video_tier == "strong" else Severity.MEDIUM
        best = max((t.score for t in self.matched_terms), default=self.score)
        if best >= _NAME_HIGH_SCORE:
            return Severity.HIGH
        return Severity.MEDIUM if best >= _NAME_MEDIUM_SCORE else Severity.LOW

    def seen_again(self, moment: datetime) -> Hit:
        return replace(self, last_seen=moment)


class HitDocument:
    """Adapter between :class:`Hit` and the ``<prefix>-hits`` index."""

    MAPPING: dict[str, Any] = {
        "dynamic": "strict",
        "properties": {
            "hit_id": {"type": "keyword"},
            "client_id": {"type": "keyword"},
            "source_id": {"type": "keyword"},
            "url": {"type": "keyword", "ignore_above": 4096},
            "canonical_url": {"type": "keyword", "ignore_above": 4096},
            "host": {"type": "keyword"},
            "title": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
            "excerpt": {"type": "text", "analyzer": "french"},
            "author": {"type": "keyword"},
            "posted_at": {"type": "date"},
            "matched_terms": {
                "type": "nested",
                "properties": {
                    "term": {"type": "keyword"},
                    "text": {"type": "keyword"},
                    "rule": {"type": "keyword"},
                    "start": {"type": "integer"},
                    "end": {"type": "integer"},
                    "score": {"type": "float"},
                },
            },
            "match_kind": {"type": "keyword"},
            "score": {"type": "float"},
            "first_seen": {"type": "date"},
            "last_seen": {"type": "date"},
            "content_sha256": {"type": "keyword"},
            "review_status": {"type": "keyword"},
            "image_url": {"type": "keyword", "ignore_above": 4096},
            "photo_label": {"type": "keyword"},
            "photo_distance": {"type": "short"},
            "photo_tier": {"type": "keyword"},
            "photo_method": {"type": "keyword"},
            "photo_why": {"type": "text", "index": False},
            "video_url": {"type": "keyword", "ignore_above": 4096},
            "video_label": {"type": "keyword"},
            "video_tier": {"type": "keyword"},
            "video_method": {"type": "keyword"},
            "video_frames_matched": {"type": "short"},
            "video_frames_compared": {"type": "short"},
            # [{"start": s, "end": e}, ...]: shown, never searched.
            "video_ranges": {"type": "object", "enabled": False},
            "video_registered_ranges": {"type": "object", "enabled": False},
            "video_why": {"type": "text", "index": False},
            "evidence_warc": {"type": "keyword"},
            "evidence_record_id": {"type": "keyword"},
            "evidence_sha256": {"type": "keyword"},
            "captured_at": {"type": "date"},
            "thread": {"type": "keyword", "ignore_above": 4096},
            "screenshot_warc": {"type": "keyword"},
            "screenshot_record_id": {"type": "keyword"},
            "screenshot_sha256": {"type": "keyword"},
            "severity": {"type": "byte"},
            # False until alerts/ has recorded an Alert for the hit; set on creation only.
            "alerted": {"type": "boolean"},
            # Set by the upsert when a dismissed hit's content changes (back to "new");
            # reopen_recorded is false until takedowns/ has written it to the audit log.
            "reopened_at": {"type": "date"},
            "reopened_from_sha256": {"type": "keyword"},
            "reopen_recorded": {"type": "boolean"},
        },
    }
    SETTINGS: dict[str, Any] = {"number_of_shards": 1, "number_of_replicas": 0}

    @staticmethod
    def from_domain(hit: Hit) -> dict[str, Any]:
        return {
            "hit_id": hit.hit_id,
            "client_id": hit.client_id,
            "source_id": hit.source_id,
            "url": hit.url,
            "canonical_url": hit.canonical_url,
            "host": hit.host,
            "title": hit.title,
            "excerpt": hit.excerpt,
            "author": hit.author,
            "posted_at": _iso(hit.posted_at) if hit.posted_at else None,
            "matched_terms": [asdict(t) for t in hit.matched_terms],
            "match_kind": str(hit.match_kind),
            "score": hit.score,
            "first_seen": _iso(hit.first_seen),
            "last_seen": _iso(hit.last_seen),
            "content_sha256": hit.content_sha256,
            "review_status": str(hit.review_status),
            "image_url": hit.image_url,
            "photo_label": hit.photo_label,
            "photo_distance": hit.photo_distance,
            "photo_tier": hit.photo_tier,
            "photo_method": hit.photo_method,
            "photo_why": hit.photo_why,
            "video_url": hit.video_url,
            "video_label": hit.video_label,
            "video_tier": hit.video_tier,
            "video_method": hit.video_method,
            "video_frames_matched": hit.video_frames_matched,
            "video_frames_compared": hit.video_frames_compared,
            "video_ranges": _ranges_out(hit.video_ranges),
            "video_registered_ranges": _ranges_out(hit.video_registered_ranges),
            "video_why": hit.video_why,
            "evidence_warc": hit.evidence_warc,
            "evidence_record_id": hit.evidence_record_id,
            "evidence_sha256": hit.evidence_sha256,
            "captured_at": _iso(hit.captured_at) if hit.captured_at else None,
            "thread": hit.thread,
            "severity": int(hit.severity),
            "screenshot_warc": hit.screenshot_warc,
            "screenshot_record_id": hit.screenshot_record_id,
            "screenshot_sha256": hit.screenshot_sha256,
            "alerted": False,
        }

    @staticmethod
    def to_domain(source: dict[str, Any]) -> Hit:
        first_seen = _parse_time(source["first_seen"])
        last_seen = _parse_time(source["last_seen"])
        assert first_seen is not None and last_seen is not None
        return Hit(
            client_id=source["client_id"],
            source_id=source["source_id"],
            url=source["url"],
            canonical_url=source["canonical_url"],
            match_kind=MatchKind(source["match_kind"]),
            matched_terms=tuple(MatchedTerm(**t) for t in source.get("matched_terms") or ()),
            first_seen=first_seen,
            last_seen=last_seen,
            title=source.get("title") or "",
            excerpt=source.get("excerpt") or "",
            author=source.get("author") or "",
            posted_at=_parse_time(source.get("posted_at")),
            score=float(source.get("score") or 0.0),
            content_sha256=source.get("content_sha256") or "",
            review_status=ReviewStatus(source.get("review_status") or ReviewStatus.NEW),
            image_url=source.get("image_url") or "",
            photo_label=source.get("photo_label") or "",
            photo_distance=source.get("photo_distance"),
            photo_tier=source.get("photo_tier") or "",
            photo_method=source.get("photo_method") or "",
            photo_why=source.get("photo_why") or "",
            video_url=source.get("video_url") or "",
            video_label=source.get("video_label") or "",
            video_tier=source.get("video_tier") or "",
            video_method=source.get("video_method") or "",
            video_frames_matched=source.get("video_frames_matched"),
            video_frames_compared=source.get("video_frames_compared"),
            video_ranges=_ranges_in(source.get("video_ranges")),
            video_registered_ranges=_ranges_in(source.get("video_registered_ranges")),
            video_why=source.get("video_why") or "",
            evidence_warc=source.get("evidence_warc") or "",
            evidence_record_id=source.get("evidence_record_id") or "",
            evidence_sha256=source.get("evidence_sha256") or "",
            captured_at=_parse_time(source.get("captured_at")),
            thread_url=source.get("thread") or "",
            screenshot_warc=source.get("screenshot_warc") or "",
            screenshot_record_id=source.get("screenshot_record_id") or "",
            screenshot_sha256=source.get("screenshot_sha256") or "",
            reopened_at=_parse_time(source.get("reopened_at")),
            reopened_from_sha256=source.get("reopened_from_sha256") or "",
        )
