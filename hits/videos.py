"""Fingerprints of every crawled video (never the video), for matching videos registered later.

Layout: one document per *sampled frame* of a crawled video, in ``<prefix>-videos``. A frame
document holds the frame's PDQ hash and its variant (the picture without static edges), with
the same multi-index scheme as crawled images (:mod:`hits.images`): 16 chunk keywords
``c0..c15`` (the chunks of the document's hashes) and four 64-bit words per hash (``w0..w3``,
then ``v{v}w0..v{v}w3``), so one lookup asks for each query hash's chunks within one bit and a
script computes exact distances of the candidates only. Every frame document also carries its
video's id, MD5, URLs and size, so an MD5 lookup is one term query and a video's frames are
one term query on ``video_id``. A video known by its MD5 only (declared by the site and not
fetched) is one document with no hash.

Why a document per frame rather than a document per video: a video has 30 to 600 sampled
frames, each with up to two hashes. In one document they would be arrays, and Elasticsearch
keeps numeric arrays as sorted sets in doc values, so the script could no longer tell which
four words make one hash (and reading 2,400 words from ``_source`` per candidate is slow).
The chunk filter would also lose its selectivity: sixteen fields each holding the chunks of
hundreds of hashes make "two chunks within one bit" true of almost any query. Per frame, the
filter and the distance script are exactly those measured for images (ADR 0011), and the
lookup answers "which crawled videos have a frame within 31 of one of these hashes" as a terms
aggregation on ``video_id``. The cost is the video's metadata repeated on each of its frame
documents (a few hundred bytes) and up to 600 documents per video, written in one bulk request.

Retro-matching (:func:`retro_match_video`) then loads every frame of those candidate videos
and aligns them with :class:`matching.videos.VideoIndex` exactly as a crawl does, so a video
registered today is found among videos crawled before by the same rule (MD5 first, then
enough frames at one time offset).

While Elasticsearch is down or asks to retry, crawled videos wait in :class:`VideoJournal`
(one JSON line per video, with its frame hashes) and are written by the next crawl; videos
it refuses go to the dead letters (about no client: a crawled video is nobody's data).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hits.documents import Hit, MatchKind, _iso, _parse_time
from hits.errors import BulkWriteFailed, DocumentFailure, HitStoreError
from hits.images import _FIELDS, _SEEN_SCRIPT, _signed, _similar_query
from hits.journal import Journal
from hits.store import FingerprintIndex, HitStore, WriteResult, _guard, bulk_write, scan_sources
from matching.hashes import PdqHash
from matching.photos import MIN_QUALITY
from matching.videos import (
    FRAME_MAX_DISTANCE,
    FrameHash,
    VideoFingerprint,
    VideoIndex,
    VideoMatch,
    VideoMethod,
)

# Hashes kept per sampled frame of a crawled video: the frame, and the picture without its
# static edges (matching.videos.fingerprint_video); room for two more.
MAX_FRAME_HASHES = 4
# Chunks a candidate frame must share (within one bit) with a query hash: as for images
# (hits.images.MIN_SHARED_CHUNKS, ADR 0011), every frame within 29 is found, 30-31 nearly all.
MIN_SHARED_CHUNKS = 2
# Query hashes per search: each asks 16 chunk clauses, and Elasticsearch refuses a search
# with more clauses than its heap allows (8,192 at a 512 MB heap): 64 hashes are 1,024.
HASHES_PER_SEARCH = 64
# Searches sent in one msearch round trip.
SEARCHES_PER_REQUEST = 8
# Crawled videos a retro lookup aligns at most (those with the most frames near the query's);
# each costs the reading of its frames. Beyond it the lookup says it was cut short.
MAX_RETRO_CANDIDATES = 1000
# Candidate videos whose frames are read per request.
CANDIDATES_PER_READ = 50
# Frame number of the document of a video known by its MD5 only.
MD5_ONLY_FRAME = -1


@dataclass(frozen=True)
class CrawledVideo:
    video_url: str
    page_url: str
    source_id: str
    md5: str
    seen_at: datetime
    duration: float = 0.0
    width: int = 0
    height: int = 0
    # The sampled frames' hashes in time order, and their variants (matching.videos).
    frames: tuple[FrameHash, ...] = ()
    variants: tuple[FrameHash, ...] = ()

    @property
    def doc_id(self) -> str:
        key = f"{self.page_url}\x1f{self.video_url}\x1f{self.md5.lower()}"
        return hashlib.sha256(key.encode()).hexdigest()[:40]

    @property
    def md5_only(self) -> bool:
        """Known by the MD5 the site declares, not fetched: no frame."""
        return not self.frames

    def fingerprint(self) -> VideoFingerprint:
        return VideoFingerprint(
            self.md5, self.duration, self.width, self.height, self.frames, self.variants
        )

    @classmethod
    def of(
        cls,
        fingerprint: VideoFingerprint,
        video_url: str,
        page_url: str,
        source_id: str,
        seen_at: datetime,
    ) -> CrawledVideo:
        return cls(
            video_url,
            page_url,
            source_id,
            fingerprint.md5,
            seen_at,
            fingerprint.duration,
            fingerprint.width,
            fingerprint.height,
            _stored(fingerprint.frames),
            _stored(fingerprint.variants),
        )


def _stored(hashes: Iterable[FrameHash]) -> tuple[FrameHash, ...]:
    """As stored and read back: times to the millisecond."""
    return tuple(FrameHash.from_row(h.to_row()) for h in hashes)


def _frame_groups(video: CrawledVideo) -> list[tuple[FrameHash, list[FrameHash]]]:
    """Each sampled frame with its hashes (the frame's first), in time order."""
    variants: dict[float, list[FrameHash]] = defaultdict(list)
    for variant in video.variants:
        variants[round(variant.at, 3)].append(variant)
    return [(f, [f, *variants.get(round(f.at, 3), [])][:MAX_FRAME_HASHES]) for f in video.frames]


def _rows(hashes: Iterable[FrameHash]) -> list[list[object]]:
    return [h.to_row() for h in hashes]


class VideoDocument:
    """Adapter between :class:`CrawledVideo` and its frame documents in ``<prefix>-videos``."""

    MAPPING: dict[str, Any] = {
        "dynamic": "strict",
        "properties": {
            "video_id": {"type": "keyword"},
            "video_url": {"type": "keyword", "ignore_above": 4096},
            "page_url": {"type": "keyword", "ignore_above": 4096},
            "source_id": {"type": "keyword"},
            "md5": {"type": "keyword"},
            "duration": {"type": "float", "index": False},
            "width": {"type": "integer", "index": False},
            "height": {"type": "integer", "index": False},
            "frame_count": {"type": "short"},
            # The sampled frame's number in the video (-1: a video known by its MD5 only) and
            # its time, in seconds from the start.
            "frame": {"type": "short"},
            "at": {"type": "float"},
            "first_seen": {"type": "date"},
            "last_seen": {"type": "date"},
            # Every hash of the frame (the frame's own first) with its PDQ quality, as stored;
            # the searchable ones (quality >= 50) also as words and chunks: their count is
            # variant_count (the name the distance script of hits.images reads).
            "pdqs": {"type": "keyword", "index": False, "doc_values": False},
            "qualities": {"type": "short", "index": False, "doc_values": False},
            "variant_count": {"type": "byte"},
            **{f"w{i}": {"type": "long"} for i in range(4)},
            **{
                f"v{v}w{i}": {"type": "long", "index": False}
                for v in range(1, MAX_FRAME_HASHES)
                for i in range(4)
            },
            **{f"c{i}": {"type": "keyword"} for i in range(16)},
        },
    }

    @staticmethod
    def documents(video: CrawledVideo) -> list[tuple[str, dict[str, Any]]]:
        """(document id, document) of each sampled frame; one hash-less document for a
        video known by its MD5 only."""
        seen = _iso(video.seen_at)
        common = {
            "video_id": video.doc_id,
            "video_url": video.video_url,
            "page_url": video.page_url,
            "source_id": video.source_id,
            "md5": video.md5.lower(),
            "duration": round(video.duration, 3),
            "width": video.width,
            "height": video.height,
            "frame_count": len(video.frames),
            "first_seen": seen,
            "last_seen": seen,
        }
        if video.md5_only:
            doc = {**common, "frame": MD5_ONLY_FRAME, "at": 0.0, "variant_count": 0}
            return [(f"{video.doc_id}-md5", doc)]
        docs = []
        for n, (frame, hashes) in enumerate(_frame_groups(video)):
            searchable = [h for h in hashes if h.quality >= MIN_QUALITY]
            chunks: list[set[str]] = [set() for _ in range(16)]
            words: dict[str, int] = {}
            for v, h in enumerate(searchable):
                for i, c in enumerate(h.pdq.chunks16()):
                    chunks[i].add(f"{c:04x}")
                for i, w in enumerate(h.pdq.words()):
                    words[_FIELDS[v][i]] = _signed(w)
            doc = {
                **common,
                "frame": n,
                "at": round(frame.at, 3),
                "pdqs": [h.pdq.hex() for h in hashes],
                "qualities": [h.quality for h in hashes],
                "variant_count": len(searchable),
                **words,
                **{f"c{i}": sorted(values) for i, values in enumerate(chunks) if values},
            }
            docs.append((f"{video.doc_id}-{n:04d}", doc))
        return docs

    @staticmethod
    def from_documents(sources: Sequence[dict[str, Any]]) -> CrawledVideo:
        """The video back from its documents (any order; the MD5-only one adds nothing)."""
        if not sources:
            raise ValueError("a video without documents")
        first = sources[0]
        frames: list[FrameHash] = []
        variants: list[FrameHash] = []
        seen = [t for s in sources for t in (_parse_time(s.get("first_seen")),) if t is not None]
        for source in sorted(sources, key=lambda s: int(s.get("frame", MD5_ONLY_FRAME))):
            if int(source.get("frame", MD5_ONLY_FRAME)) == MD5_ONLY_FRAME:
                continue
            at = float(source["at"])
            hashes = [
                FrameHash(at, PdqHash.from_hex(pdq), int(q))
                for pdq, q in zip(
                    source.get("pdqs") or (), source.get("qualities") or (), strict=True
                )
            ]
            if hashes:
                frames.append(hashes[0])
                variants.extend(hashes[1:])
        return CrawledVideo(
            video_url=first["video_url"],
            page_url=first["page_url"],
            source_id=first["source_id"],
            md5=first.get("md5") or "",
            seen_at=min(seen) if seen else datetime.now(UTC),
            duration=float(first.get("duration") or 0.0),
            width=int(first.get("width") or 0),
            height=int(first.get("height") or 0),
            frames=tuple(frames),
            variants=tuple(variants),
        )

    @staticmethod
    def to_record(video: CrawledVideo) -> dict[str, Any]:
        """The video as one JSON object (journal lines, dead letters)."""
        return {
            "video_url": video.video_url,
            "page_url": video.page_url,
            "source_id": video.source_id,
            "md5": video.md5,
            "seen_at": _iso(video.seen_at),
            "duration": video.duration,
            "width": video.width,
            "height": video.height,
            "frames": _rows(video.frames),
            "variants": _rows(video.variants),
        }

    @staticmethod
    def from_record(record: dict[str, Any]) -> CrawledVideo:
        seen = _parse_time(record["seen_at"])
        if seen is None:
            raise ValueError("a video record without a date")
        return CrawledVideo(
            video_url=record["video_url"],
            page_url=record["page_url"],
            source_id=record["source_id"],
            md5=record.get("md5") or "",
            seen_at=seen,
            duration=float(record.get("duration") or 0.0),
            width=int(record.get("width") or 0),
            height=int(record.get("height") or 0),
            frames=tuple(FrameHash.from_row(r) for r in record.get("frames") or ()),
            variants=tuple(FrameHash.from_row(r) for r in record.get("variants") or ()),
        )


def _video_of(doc_id: str) -> str:
    return doc_id.split("-", 1)[0]


_READ_SOURCE = [
    "video_id",
    "video_url",
    "page_url",
    "source_id",
    "md5",
    "duration",
    "width",
    "height",
    "frame",
    "at",
    "first_seen",
    "pdqs",
    "qualities",
]


@dataclass(frozen=True)
class Candidates:
    """Crawled videos worth aligning with a registered one, and whether the lookup was cut
    at MAX_RETRO_CANDIDATES."""

    video_ids: tuple[str, ...]
    truncated: bool = False


class VideoStore(FingerprintIndex):
    SUFFIX = "videos"
    MAPPING = VideoDocument.MAPPING

    def refresh(self) -> None:
        _guard("refreshing crawled videos", lambda: self._es.indices.refresh(index=self.index))

    def add(self, videos: Sequence[CrawledVideo], refresh: bool = True) -> int:
        """Write the videos' frame documents in one bulk request; returns how many videos were
        written whole.

        Raises :class:`BulkWriteFailed` naming each *video* some document of which was not
        written (refused if any of its documents was refused, else to retry), with the videos
        written whole; :class:`~hits.errors.HitStoreUnavailable` when Elasticsearch is out of
        reach."""
        if not videos:
            return 0
        actions = []
        for video in videos:
            for doc_id, doc in VideoDocument.documents(video):
                actions.append(
                    {
                        "_op_type": "update",
                        "_index": self.index,
                        "_id": doc_id,
                        "retry_on_conflict": 3,
                        "script": {
                            "lang": "painless",
                            "source": _SEEN_SCRIPT,
                            "params": {"seen": doc["last_seen"]},
                        },
                        "upsert": doc,
                    }
                )
        try:
            written = bulk_write(
                self._es,
                "a bulk write of video fingerprints",
                actions,
                refresh=refresh,
                chunk_size=2000,
            )
        except BulkWriteFailed as exc:
            raise self._per_video(videos, exc) from exc
        return len({_video_of(w.hit_id) for w in written})

    @staticmethod
    def _per_video(videos: Sequence[CrawledVideo], exc: BulkWriteFailed) -> BulkWriteFailed:
        failed: dict[str, DocumentFailure] = {}
        for failure in exc.failures:
            video = _video_of(failure.doc_id)
            known = failed.get(video)
            # One refused document makes the video refused: replaying it would fail again.
            if known is None or (known.retryable and not failure.retryable):
                failed[video] = DocumentFailure(
                    video, failure.status, failure.error_type, failure.reason
                )
        created = {_video_of(w.hit_id) for w in exc.written if w.created}
        whole = [
            WriteResult(v.doc_id, v.doc_id in created) for v in videos if v.doc_id not in failed
        ]
        return BulkWriteFailed(exc.action, list(failed.values()), written=whole)

    def candidates(
        self, md5: str, hashes: Iterable[FrameHash], limit: int = MAX_RETRO_CANDIDATES
    ) -> Candidates:
        """Crawled videos with the same MD5, or with a sampled frame within
        FRAME_MAX_DISTANCE of one of ``hashes`` (those of quality >= 50)."""
        queries = list(dict.fromkeys(h.pdq for h in hashes if h.quality >= MIN_QUALITY))
        aggs = {"videos": {"terms": {"field": "video_id", "size": limit}}}
        searches: list[dict[str, Any]] = []
        if md5:
            searches.append({"size": 0, "query": {"term": {"md5": md5.lower()}}, "aggs": aggs})
        for start in range(0, len(queries), HASHES_PER_SEARCH):
            batch = queries[start : start + HASHES_PER_SEARCH]
            searches.append(
                {
                    "size": 0,
                    "query": _similar_query(batch, FRAME_MAX_DISTANCE, MIN_SHARED_CHUNKS),
                    "aggs": aggs,
                }
            )
        counts: dict[str, int] = defaultdict(int)
        truncated = False
        for start in range(0, len(searches), SEARCHES_PER_REQUEST):
            body: list[dict[str, Any]] = []
            for search in searches[start : start + SEARCHES_PER_REQUEST]:
                body.append({"index": self.index, "ignore_unavailable": True})
                body.append({**search, "track_total_hits": False})
            response = self._msearch(body)
            for result in response["responses"]:
                if "error" in result:
                    if result.get("status") == 404:
                        continue  # no video crawled yet: no index
                    raise HitStoreError(f"Elasticsearch refused a video search: {result['error']}")
                agg = result.get("aggregations", {}).get("videos", {})
                truncated |= bool(agg.get("sum_other_doc_count"))
                for bucket in agg.get("buckets", []):
                    counts[bucket["key"]] += int(bucket["doc_count"])
        ranked = sorted(counts, key=lambda v: (-counts[v], v))
        return Candidates(tuple(ranked[:limit]), truncated or len(ranked) > limit)

    def _msearch(self, body: list[dict[str, Any]]) -> Any:
        return _guard("searching crawled videos", lambda: self._es.msearch(searches=body))

    def videos(self, video_ids: Iterable[str]) -> list[CrawledVideo]:
        """The crawled videos with these ids, each with every stored frame."""
        ids = sorted(set(video_ids))
        found: list[CrawledVideo] = []
        for start in range(0, len(ids), CANDIDATES_PER_READ):
            chunk = ids[start : start + CANDIDATES_PER_READ]
            by_video: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for source in scan_sources(
                self._es,
                "reading crawled videos",
                size=2000,
                index=self.index,
                query={"terms": {"video_id": chunk}},
                sort=[{"video_id": "asc"}, {"frame": "asc"}],
                source=_READ_SOURCE,
                ignore_unavailable=True,
                track_total_hits=False,
            ):
                by_video[source["video_id"]].append(source)
            found += [VideoDocument.from_documents(by_video[v]) for v in chunk if by_video[v]]
        return found

    def count_videos(self) -> int:
        """How many crawled videos are indexed (not frames)."""
        response = _guard(
            "counting crawled videos",
            lambda: self._es.search(
                index=self.index,
                size=0,
                aggs={"videos": {"cardinality": {"field": "video_id"}}},
                ignore_unavailable=True,
            ),
        )
        return int(response.get("aggregations", {}).get("videos", {}).get("value", 0))

    def delete_index(self) -> None:
        def run() -> None:
            self._es.indices.delete(index=self.index, ignore_unavailable=True)
            if self._es.indices.exists_index_template(name=self.index):
                self._es.indices.delete_index_template(name=self.index)

        _guard("deleting the video index", run)


class VideoJournal(Journal[CrawledVideo]):
    """Crawled videos that could not reach Elasticsearch, ``<journal dir>/<prefix>-videos.jsonl``
    (one line per video, its frame hashes included), written by the next crawl before its own;
    about no client, so erasure has nothing here."""

    def encode(self, record: CrawledVideo) -> dict[str, Any]:
        return VideoDocument.to_record(record)

    def decode(self, document: dict[str, Any]) -> CrawledVideo:
        return VideoDocument.from_record(document)

    def doc_id(self, record: CrawledVideo) -> str:
        return record.doc_id


@dataclass(frozen=True)
class VideoRetroMatch:
    hits_created: int
    videos_matched: int
    # Crawled videos aligned with the registered one, and whether more were left out.
    candidates: int = 0
    truncated: bool = False


def match_ranges(match: VideoMatch, video: CrawledVideo) -> tuple[tuple[float, float], ...]:
    """The crawled clip's ranges as reviewers see them: none for a file known by its MD5 only
    (its length is unknown; the whole file is identical)."""
    if match.method is VideoMethod.MD5 and video.md5_only:
        return ()
    return match.ranges


def match_why(match: VideoMatch, md5_only: bool) -> str:
    """How it matched, for reviewers (never anything of the video)."""
    if match.method is VideoMethod.MD5 and md5_only:
        return "identical file (MD5 declared by the site; the video was not fetched)"
    return match.why


def _better(a: VideoMatch, b: VideoMatch) -> bool:
    """``a`` is a better match than ``b``: the identical file first, then more frames."""
    rank_a = (a.method is VideoMethod.MD5, a.frames_matched)
    rank_b = (b.method is VideoMethod.MD5, b.frames_matched)
    return rank_a > rank_b


def video_score(match: VideoMatch) -> float:
    """1 for the identical file; else the share of the clip's usable frames that matched."""
    if match.method is VideoMethod.MD5:
        return 1.0
    return round(match.frames_matched / max(match.frames_compared, 1), 3)


def retro_match_video(
    videos: VideoStore,
    hits: HitStore,
    client_id: str,
    label: str,
    md5: str,
    hashes: Iterable[FrameHash],
) -> VideoRetroMatch:
    """A video registered now (its MD5 and its frame hashes, variants included) against every
    video crawled before: candidates by MD5 and by frames from the index, then aligned as a
    crawl would (:class:`matching.videos.VideoIndex`); a hit per page that shows a match."""
    hashes = tuple(hashes)
    index = VideoIndex()
    index.add(label, md5, hashes)
    found = videos.candidates(md5, hashes)
    best: dict[str, tuple[VideoMatch, CrawledVideo]] = {}
    for video in videos.videos(found.video_ids):
        match = index.match(video.fingerprint())
        if match.video is None or match.tier is None:
            continue
        known = best.get(video.page_url)
        if known is None or _better(match, known[0]):
            best[video.page_url] = (match, video)
    now = datetime.now(UTC)
    new_hits = [_retro_hit(client_id, label, match, video, now) for match, video in best.values()]
    results = hits.upsert(new_hits)
    return VideoRetroMatch(
        hits_created=sum(r.created for r in results),
        videos_matched=len(new_hits),
        candidates=len(found.video_ids),
        truncated=found.truncated,
    )


def _retro_hit(
    client_id: str, label: str, match: VideoMatch, video: CrawledVideo, now: datetime
) -> Hit:
    ranges = match_ranges(match, video)
    return Hit(
        client_id=client_id,
        source_id=video.source_id,
        url=video.page_url,
        match_kind=MatchKind.VIDEO,
        matched_terms=(),
        first_seen=now,
        last_seen=now,
        score=video_score(match),
        video_url=video.video_url,
        video_label=label,
        video_tier=str(match.tier),
        video_method=str(match.method),
        video_frames_matched=match.frames_matched,
        video_frames_compared=match.frames_compared,
        video_ranges=ranges,
        video_registered_ranges=match.registered_ranges if ranges else (),
        video_why=match_why(match, video.md5_only),
    )
