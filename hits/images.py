"""Fingerprints of every crawled image (never the image), for matching photos registered later.

One document per image on a page (the same image on two pages is two documents: two hits). It
holds the PDQ hashes of the image and of its parts (trimmed frame, caption bands, centre, the
photo-like regions of a screenshot or a collage: :func:`matching.images.crawled_variants`).

Multi-index hashing: each hash is cut into 16 chunks of 16 bits, stored as keywords (the chunks
of all the document's hashes in the same 16 fields) and as four 64-bit words per hash. A query
hash asks for each chunk's value and its 16 one-bit neighbours, and a script computes the exact
distance of the candidates only. Two hashes within distance d share at least 16 - d // 2 chunks
within one bit when d < 32, so within :data:`GUARANTEED_RADIUS` (29) they share two: requiring
two chunks (MIN_SHARED_CHUNKS) instead of one leaves ~500 times fewer random candidates to the
script (measured: see bench/bench_retro.py), which is what keeps a query fast now that an image
has up to 14 hashes.

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
from matching.images import Variant

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
# Hashes kept per crawled image (full, trimmed, two bands, centre and nine regions).
MAX_VARIANTS = 16
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
        found = self.variants or (Variant("full", self.pdq),)
        return found[:MAX_VARIANTS]


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
        },
    }

    @staticmethod
    def from_domain(image: CrawledImage) -> dict[str, Any]:
        variants = image.hashes
        chunks: list[list[str]] = [[] for _ in range(16)]
        words: dict[str, int] = {}
        for v, variant in enumerate(variants):
            for i, c in enumerate(variant.pdq.chunks16()):
                chunks[i].append(f"{c:04x}")
            for i, w in enumerate(variant.pdq.words()):
                words[_FIELDS[v][i]] = _signed(w)
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
            **{f"c{i}": sorted(set(values)) for i, values in enumerate(chunks)},
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
            variants=tuple(Variant(kind, pdq) for pdq, kind in _stored_hashes(source)),
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


def _chunk_clauses(query: PdqHash, min_shared: int) -> dict[str, Any]:
    """Documents sharing ``min_shared`` chunks, each within one bit, with ``query``."""
    should = []
    for i, value in enumerate(query.chunks16()):
        values = [value] + [value ^ (1 << b) for b in range(16)]
        should.append({"terms": {f"c{i}": [f"{v:04x}" for v in values]}})
    return {"bool": {"should": should, "minimum_should_match": min_shared}}


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
    ) -> list[SimilarImage]:
        """Crawled images within ``radius`` of any of ``hashes``, closest first, one per image.
        (``min_shared=1`` is the exhaustive lookup up to 31, for the benchmark's baseline.)"""
        if radius > MAX_RADIUS:
            raise ValueError(f"the chunk lookup finds distances up to {MAX_RADIUS} only")
        queries = list(dict.fromkeys(hashes))
        if not queries:
            return []
        # A few searches in one round trip: Elasticsearch runs them in parallel, and each
        # bundles several query hashes (one search per hash cost ~2.5 ms each in overhead).
        size = -(-len(queries) // SEARCHES_PER_LOOKUP)
        body: list[dict[str, Any]] = []
        for start in range(0, len(queries), size):
            body.append({"index": self.index, "ignore_unavailable": True})
            body.append(
                {
                    "query": _similar_query(queries[start : start + size], radius, min_shared),
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
            distance, pdq, kind = min(
                ((h - q, h, k) for h, k in _stored_hashes(source) for q in queries),
                key=lambda found: found[0],
            )
            if distance > radius:
                continue
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
