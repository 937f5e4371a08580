"""Fingerprints of every crawled image (never the image), for matching photos registered later.

One document per image on a page (the same image on two pages is two documents: two hits). It
holds the PDQ hashes of the image and of its parts (trimmed frame, caption bands, centre, the
photo-like regions of a screenshot or a collage, a collage's grid cells, the photo inside an
app's frame: :func:`matching.images.crawled_variants`), and of its pieces (ADR 0024).

Multi-index hashing: each hash is cut into 16 chunks of 16 bits, stored as keywords (the chunks
of all the document's hashes in the same 16 fields) and as four 64-bit words per hash. A query
hash asks for each chunk's value and its 16 one-bit neighbours, and a script computes the exact
distance of the candidates only. Two hashes within distance d share at least 16 - d // 2 chunks
within one bit when d < 32, so within :data:`GUARANTEED_RADIUS` (29) they share two: requiring
two chunks (MIN_SHARED_CHUNKS) instead of one leaves ~500 times fewer random candidates to the
script (measured: see bench/bench_retro.py), which is what keeps a query fast now that an image
has up to 28 hashes (5 on average). Its up to 9 pieces are chunked apart (p0..p15) and looked
up by exact chunks with the registered photo's pieces only: see PART_MIN_SHARED.

While Elasticsearch is down or asks to retry, fingerprints wait in :class:`ImageJournal` (the
hit journal's machinery) and are written by the next crawl; documents it refuses go to the
dead letters (with no client: a crawled image is nobody's data).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hits.documents import _iso, _parse_time
from hits.errors import HitStoreError
from hits.journal import Journal
from hits.store import FingerprintIndex, _guard, bulk_write
from matching.hashes import PdqHash
from matching.images import PART_KINDS, Variant

# Largest distance a search returns: the candidate tier's bound (matching/photos.py).
MAX_RADIUS = 31
# Chunks a candidate must share (within one bit) with the query. With two, every hash within
# GUARANTEED_RADIUS is found; at 30 and 31 a hash is missed only if its differing bits fall two
# in each of 15 chunks: none of 200,000 random placements at 30 or at 31 did (simulated, ADR 0011).
MIN_SHARED_CHUNKS = 2
GUARANTEED_RADIUS = 29
# Searches one lookup is split into (run in parallel by Elasticsearch): with 54 query hashes
# against 100,000 images on 2 busy cores, 4 searches took 112 ms, one search 209 ms, one search
# per hash 146 ms.
SEARCHES_PER_LOOKUP = 4
# Hashes kept per crawled image (full, trimmed, two bands, centre, nine regions and the 13
# cells of a square collage's 2x2 and 3x3 grids: matching.images.collage_tiles).
MAX_VARIANTS = 28
# Pieces kept per crawled image (matching.images.crawled_parts: 9 at most).
MAX_PARTS = 16
# Pieces (kind "part") are looked up in their own chunk fields p0..p15, by exact chunks only,
# and only with the registered photo's pieces (matching.images.retro_part_hashes): 9 query
# hashes of 16 terms, against 272 terms for each of the 39 whole-photo hashes in c0..c15, so
# they add ~2 ms to a lookup against 1,000,000 images (ADR 0024). PART_MIN_SHARED exact chunks
# are certain within PART_GUARANTEED_RADIUS and likely beyond (the bits that differ fall in few
# chunks); 2 and 3 found the same copies in `make eval` (seed 762125).
PART_MIN_SHARED = 2
PART_GUARANTEED_RADIUS = 14
# `make eval` (46 real photos, seeds 762125 and 11, pixels only) found stickered copies by their
# pieces at a median distance of 2, 80% of them within 16 and 83-85% within 24; the nearest
# negative piece was 82.
PART_MAX_DISTANCE = 24
_SIGNED = 1 << 63


def _signed(word: int) -> int:
    # Elasticsearch longs are signed; store the 64 bits as they are.
    return word - (1 << 64) if word >= _SIGNED else word


@dataclass(frozen=True)
class CrawledImage:
    image_url: str
    page_url: str
    source_id: str
    pdq: PdqHash
    quality: int
    seen_at: datetime
    # Every hash the image is known by, the whole image first; () means the whole image only.
    variants: tuple[Variant, ...] = ()

    @property
    def doc_id(self) -> str:
        key = f"{self.page_url}\x1f{self.image_url}\x1f{self.pdq.hex()}"
        return hashlib.sha256(key.encode()).hexdigest()[:40]

    @property
    def hashes(self) -> tuple[Variant, ...]:
        """The hashes looked up with one-bit neighbours (c0..c15), the whole image first."""
        found = tuple(v for v in self.variants if v.kind not in PART_KINDS)
        return (found or (Variant("full", self.pdq),))[:MAX_VARIANTS]

    @property
    def parts(self) -> tuple[Variant, ...]:
        """Pieces, looked up by exact chunks (p0..p15)."""
        return tuple(v for v in self.variants if v.kind in PART_KINDS)[:MAX_PARTS]


@dataclass(frozen=True)
class SimilarImage:
    image_url: str
    page_url: str
    source_id: str
    pdq: PdqHash  # the hash that matched: of the whole image, or of the part ``variant`` names
    distance: int
    first_seen: datetime | None
    quality: int = 100
    variant: str = "full"


# Document fields of hash v's four words (documents written before variants have v = 0 only).
_FIELDS = [[f"w{i}" if v == 0 else f"v{v}w{i}" for i in range(4)] for v in range(MAX_VARIANTS)]
# And of piece v's.
_PART_FIELDS = [[f"pv{v}w{i}" for i in range(4)] for v in range(MAX_PARTS)]


def _encoded(
    variants: Sequence[Variant], fields: Sequence[Sequence[str]]
) -> tuple[list[list[str]], dict[str, int]]:
    """Each hash's four words into its own fields, and the sixteen 16-bit chunks of all of
    them (sorted, once each) for the exact-chunk lookup."""
    chunks: list[set[str]] = [set() for _ in range(16)]
    words: dict[str, int] = {}
    for v, variant in enumerate(variants):
        for i, c in enumerate(variant.pdq.chunks16()):
            chunks[i].add(f"{c:04x}")
        for i, w in enumerate(variant.pdq.words()):
            words[fields[v][i]] = _signed(w)
    return [sorted(values) for values in chunks], words


class ImageDocument:
    MAPPING: dict[str, Any] = {
        "dynamic": "strict",
        "properties": {
            "image_url": {"type": "keyword", "ignore_above": 4096},
            "page_url": {"type": "keyword", "ignore_above": 4096},
            "source_id": {"type": "keyword"},
            "pdq": {"type": "keyword", "index": False},
            "quality": {"type": "short"},
            "first_seen": {"type": "date"},
            "last_seen": {"type": "date"},
            # The whole image's words are w0..w3 (as before variants existed), hash v's are
            # v{v}w0..v{v}w3 (doc values only: the script reads them, nothing searches them);
            # its kind is kinds[v].
            "variant_count": {"type": "byte"},
            "kinds": {"type": "keyword", "index": False, "doc_values": False},
            **{f"w{i}": {"type": "long"} for i in range(4)},
            **{
                f"v{v}w{i}": {"type": "long", "index": False}
                for v in range(1, MAX_VARIANTS)
                for i in range(4)
            },
            **{f"c{i}": {"type": "keyword"} for i in range(16)},
            # Pieces (absent from documents written before them): piece v's words are
            # pv{v}w0..3 (doc values, for the script), its kind part_kinds[v]; p0..p15 hold
            # their chunks for the exact lookup.
            "part_count": {"type": "byte"},
            "part_kinds": {"type": "keyword", "index": False, "doc_values": False},
            **{f: {"type": "long", "index": False} for fields in _PART_FIELDS for f in fields},
            **{f"p{i}": {"type": "keyword"} for i in range(16)},
        },
    }

    @staticmethod
    def from_domain(image: CrawledImage) -> dict[str, Any]:
        variants = image.hashes
        chunks, words = _encoded(variants, _FIELDS)
        parts = image.parts
        part_chunks, part_words = _encoded(parts, _PART_FIELDS)
        return {
            "image_url": image.image_url,
            "page_url": image.page_url,
            "source_id": image.source_id,
            "pdq": image.pdq.hex(),
            "quality": image.quality,
            "first_seen": _iso(image.seen_at),
            "last_seen": _iso(image.seen_at),
            "variant_count": len(variants),
            "kinds": [v.kind for v in variants],
            **words,
            **{f"c{i}": values for i, values in enumerate(chunks)},
            **(
                {
                    "part_count": len(parts),
                    "part_kinds": [p.kind for p in parts],
                    **part_words,
                    **{f"p{i}": values for i, values in enumerate(part_chunks)},
                }
                if parts
                else {}
            ),
        }

    @staticmethod
    def to_domain(source: dict[str, Any]) -> CrawledImage:
        seen = _parse_time(source.get("last_seen") or source["first_seen"])
        if seen is None:
            raise ValueError("an image document without a date")
        return CrawledImage(
            image_url=source["image_url"],
            page_url=source["page_url"],
            source_id=source["source_id"],
            pdq=PdqHash.from_hex(source["pdq"]),
            quality=int(source["quality"]),
            seen_at=seen,
            variants=tuple(
                Variant(kind, pdq) for pdq, kind in [*_stored_hashes(source), *_part_hashes(source)]
            ),
        )


# The smallest distance between any query hash and any of the document's hashes. Query words
# come flattened in params.q (four per hash); hash v of the document is in fields[v].
_DISTANCE_SCRIPT = """
int n = doc['variant_count'].size() == 0 ? 1 : (int) doc['variant_count'].value;
List q = params.q;
int m = q.size();
int best = 256;
for (int v = 0; v < n; ++v) {
  List f = params.fields[v];
  long a = doc[f[0]].value; long b = doc[f[1]].value;
  long c = doc[f[2]].value; long e = doc[f[3]].value;
  for (int i = 0; i < m; i += 4) {
    int d = Long.bitCount(a ^ (long) q[i]) + Long.bitCount(b ^ (long) q[i + 1])
          + Long.bitCount(c ^ (long) q[i + 2]) + Long.bitCount(e ^ (long) q[i + 3]);
    if (d < best) { best = d; }
  }
}
return 256 - best;
"""

# The same for pieces; only candidates within params.bound count, so a pair is dropped as soon
# as one or two of its words differ by more (most random pairs do, at the first word).
_PART_DISTANCE_SCRIPT = """
int n = doc['part_count'].size() == 0 ? 0 : (int) doc['part_count'].value;
n = (int) Math.min(n, params.fields.size());
List q = params.q;
int m = q.size();
long[] qa = new long[m];
for (int i = 0; i < m; ++i) { qa[i] = (long) q[i]; }
int bound = params.bound;
int best = 256;
for (int v = 0; v < n; ++v) {
  List f = params.fields[v];
  long a = doc[f[0]].value; long b = doc[f[1]].value;
  long c = doc[f[2]].value; long e = doc[f[3]].value;
  for (int i = 0; i < m; i += 4) {
    int d = Long.bitCount(a ^ qa[i]);
    if (d > bound) { continue; }
    d += Long.bitCount(b ^ qa[i + 1]);
    if (d > bound) { continue; }
    d += Long.bitCount(c ^ qa[i + 2]) + Long.bitCount(e ^ qa[i + 3]);
    if (d < best) { best = d; }
  }
}
return 256 - best;
"""


def _chunk_clauses(query: PdqHash, min_shared: int) -> dict[str, Any]:
    """Documents sharing ``min_shared`` chunks, each within one bit, with ``query``."""
    should = []
    for i, value in enumerate(query.chunks16()):
        values = [value] + [value ^ (1 << b) for b in range(16)]
        should.append({"terms": {f"c{i}": [f"{v:04x}" for v in values]}})
    return {"bool": {"should": should, "minimum_should_match": min_shared}}


def _part_query(queries: Sequence[PdqHash], radius: int) -> dict[str, Any]:
    """Documents with a piece sharing PART_MIN_SHARED exact chunks with one of ``queries`` and
    within ``radius`` of it. (The chunks of a document's 9 pieces share fields: 9 query hashes
    draw ~20 random candidates from 1,000,000 images, which the script leaves out.)"""
    chunks = {
        "bool": {
            "should": [
                {
                    "bool": {
                        "should": [
                            {"term": {f"p{i}": f"{c:04x}"}} for i, c in enumerate(q.chunks16())
                        ],
                        "minimum_should_match": PART_MIN_SHARED,
                    }
                }
                for q in queries
            ],
            "minimum_should_match": 1,
        }
    }
    return {
        "script_score": {
            "query": {"bool": {"filter": chunks}},
            "script": {
                "source": _PART_DISTANCE_SCRIPT,
                "params": {
                    "fields": _PART_FIELDS,
                    "bound": radius,
                    "q": [_signed(w) for q in queries for w in q.words()],
                },
            },
            "min_score": 256 - radius,
        }
    }


def _similar_query(queries: Sequence[PdqHash], radius: int, min_shared: int) -> dict[str, Any]:
    """One search for all query hashes: one Elasticsearch round trip, one pass of the script
    over the union of candidates (a search per hash cost 2-3 ms each in overhead alone)."""
    return {
        "script_score": {
            # A filter, not a scored query: candidates only need finding, the script scores them.
            "query": {
                "bool": {
                    "filter": {
                        "bool": {
                            "should": [_chunk_clauses(q, min_shared) for q in queries],
                            "minimum_should_match": 1,
                        }
                    }
                }
            },
            "script": {
                "source": _DISTANCE_SCRIPT,
                "params": {
                    "fields": _FIELDS,
                    "q": [_signed(w) for q in queries for w in q.words()],
                },
            },
            "min_score": 256 - radius,
        }
    }


_SIMILAR_SOURCE = [
    "image_url",
    "page_url",
    "source_id",
    "quality",
    "first_seen",
    "variant_count",
    "kinds",
    *(field for fields in _FIELDS for field in fields),
    "part_count",
    "part_kinds",
    *(field for fields in _PART_FIELDS for field in fields),
]


# A fingerprint written again (seen again, or replayed from the journal after a later crawl wrote
# it) widens its first_seen..last_seen span, never narrows it; unchanged, nothing is rewritten.
# Dates are _iso strings (UTC, fixed width): they compare as strings.
_SEEN_SCRIPT = """
boolean changed = false;
if (ctx._source.last_seen == null || ctx._source.last_seen.compareTo(params.seen) < 0) {
  ctx._source.last_seen = params.seen; changed = true;
}
if (ctx._source.first_seen == null || ctx._source.first_seen.compareTo(params.seen) > 0) {
  ctx._source.first_seen = params.seen; changed = true;
}
if (!changed) { ctx.op = 'noop'; }
"""


def _stored_hashes(source: dict[str, Any]) -> list[tuple[PdqHash, str]]:
    count = int(source.get("variant_count") or 1)
    kinds = source.get("kinds") or ["full"]
    found = []
    for v in range(min(count, MAX_VARIANTS)):
        words = [int(source[f]) & 0xFFFFFFFFFFFFFFFF for f in _FIELDS[v]]
        value = b"".join(w.to_bytes(8, "big") for w in words)
        found.append((PdqHash(value), kinds[v] if v < len(kinds) else "full"))
    return found


def _part_hashes(source: dict[str, Any]) -> list[tuple[PdqHash, str]]:
    kinds = source.get("part_kinds") or []
    found = []
    for v in range(min(int(source.get("part_count") or 0), MAX_PARTS)):
        words = [int(source[f]) & 0xFFFFFFFFFFFFFFFF for f in _PART_FIELDS[v]]
        value = b"".join(w.to_bytes(8, "big") for w in words)
        found.append((PdqHash(value), kinds[v] if v < len(kinds) else "part"))
    return found


def _closest(
    source: dict[str, Any],
    queries: Sequence[PdqHash],
    parts: Sequence[PdqHash],
    radius: int,
) -> tuple[int, PdqHash, str] | None:
    """The closest pair of (query, stored hash) that counts, or None: the whole image and its
    regions against ``queries`` within ``radius`` (as before pieces existed), its pieces
    against ``parts`` within PART_MAX_DISTANCE."""
    found = [(h - q, h, k) for h, k in _stored_hashes(source) for q in queries if h - q <= radius]
    bound = min(PART_MAX_DISTANCE, radius)
    found += [(h - q, h, k) for h, k in _part_hashes(source) for q in parts if h - q <= bound]
    return min(found, key=lambda f: f[0]) if found else None


class ImageStore(FingerprintIndex):
    SUFFIX = "images"
    MAPPING = ImageDocument.MAPPING

    def add(self, images: Sequence[CrawledImage], refresh: bool = True) -> int:
        """Write fingerprints in one bulk request; returns how many were written.

        Raises :class:`BulkWriteFailed` when some were not (which, why, and what was written:
        every chunk is sent even when an earlier one had failures),
        :class:`~hits.errors.HitStoreUnavailable` when Elasticsearch is out of reach."""
        if not images:
            return 0
        actions = []
        for image in images:
            doc = ImageDocument.from_domain(image)
            actions.append(
                {
                    "_op_type": "update",
                    "_index": self.index,
                    "_id": image.doc_id,
                    # Two crawls writing the same image at once: not a failure.
                    "retry_on_conflict": 3,
                    "script": {
                        "lang": "painless",
                        "source": _SEEN_SCRIPT,
                        "params": {"seen": doc["last_seen"]},
                    },
                    "upsert": doc,
                }
            )
        written = bulk_write(
            self._es,
            "a bulk write of image fingerprints",
            actions,
            refresh=refresh,
            chunk_size=2000,
        )
        return len(written)

    def similar(
        self,
        hashes: Iterable[PdqHash],
        radius: int = MAX_RADIUS,
        limit: int = 500,
        min_shared: int = MIN_SHARED_CHUNKS,
        parts: Iterable[PdqHash] = (),
    ) -> list[SimilarImage]:
        """Crawled images within ``radius`` of any of ``hashes``, closest first, one per image.
        ``parts`` are the registered photo's pieces (matching.images.retro_part_hashes), looked
        up among crawled images' pieces only. (``min_shared=1`` is the exhaustive lookup up to
        31, for the benchmark's baseline.)"""
        if radius > MAX_RADIUS:
            raise ValueError(f"the chunk lookup finds distances up to {MAX_RADIUS} only")
        queries = list(dict.fromkeys(hashes))
        pieces = list(dict.fromkeys(parts))
        if not queries and not pieces:
            return []
        # A few searches in one round trip: Elasticsearch runs them in parallel, and each
        # bundles several query hashes (one search per hash cost ~2.5 ms each in overhead).
        size = max(1, -(-len(queries) // SEARCHES_PER_LOOKUP))
        body: list[dict[str, Any]] = []
        searches = [
            _similar_query(queries[start : start + size], radius, min_shared)
            for start in range(0, len(queries), size)
        ]
        if pieces:
            # Pieces, by exact chunks (documents without them have none): a clause of the first
            # search rather than a fifth one (Elasticsearch runs 4 at once on 2 cores).
            parts_query = _part_query(pieces, min(radius, PART_MAX_DISTANCE))
            searches[:1] = [
                {"bool": {"should": [searches[0], parts_query]}} if searches else parts_query
            ]
        for query in searches:
            body.append({"index": self.index, "ignore_unavailable": True})
            body.append(
                {
                    "query": query,
                    "size": limit,
                    "track_total_hits": False,
                    "_source": _SIMILAR_SOURCE,
                }
            )
        response = _guard("searching similar images", lambda: self._es.msearch(searches=body))
        hits = []
        for result in response["responses"]:
            if "error" in result:
                if result.get("status") == 404:
                    continue  # no image crawled yet: no index
                raise HitStoreError(f"Elasticsearch refused an image search: {result['error']}")
            hits.extend(result["hits"]["hits"])
        best: dict[str, SimilarImage] = {}
        for hit in hits:
            source = hit["_source"]
            # Which of the document's hashes matched, and how closely: recomputed here (the
            # script only scores) from the few documents that came back.
            closest = _closest(source, queries, pieces, radius)
            if closest is None:
                continue
            distance, pdq, kind = closest
            found = SimilarImage(
                image_url=source["image_url"],
                page_url=source["page_url"],
                source_id=source["source_id"],
                pdq=pdq,
                distance=distance,
                first_seen=_parse_time(source.get("first_seen")),
                quality=int(source.get("quality", 100)),
                variant=kind,
            )
            key = f"{found.page_url}\x1f{found.image_url}"
            if key not in best or found.distance < best[key].distance:
                best[key] = found
        return sorted(best.values(), key=lambda s: (s.distance, s.page_url))

    def delete_index(self) -> None:
        def run() -> None:
            self._es.indices.delete(index=self.index, ignore_unavailable=True)
            if self._es.indices.exists_index_template(name=self.index):
                self._es.indices.delete_index_template(name=self.index)

        _guard("deleting the image index", run)


class ImageJournal(Journal[CrawledImage]):
    """Fingerprints that could not reach Elasticsearch, ``<journal dir>/<prefix>-images.jsonl``,
    written by the next crawl before its own; about no client, so erasure has nothing here."""

    def encode(self, record: CrawledImage) -> dict[str, Any]:
        return ImageDocument.from_domain(record)

    def decode(self, document: dict[str, Any]) -> CrawledImage:
        return ImageDocument.to_domain(document)

    def doc_id(self, record: CrawledImage) -> str:
        return record.doc_id
