"""Fingerprints of every crawled image (never the image), for matching photos registered later.

Each PDQ hash is stored as 16 keyword chunks of 16 bits (multi-index hashing) and as four
64-bit words. Two hashes within distance 31 share at least one chunk within one bit, so a query
asks for each chunk's value and its 16 one-bit neighbours, and a script computes the exact
distance of those candidates only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch, helpers

from hits.documents import _iso, _parse_time
from hits.errors import HitStoreError
from hits.store import _guard
from matching.hashes import PdqHash

# Exact-distance radius the chunk lookup guarantees (16 chunks, one-bit neighbours).
MAX_RADIUS = 31
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

    @property
    def doc_id(self) -> str:
        return hashlib.sha256(f"{self.image_url}\x1f{self.pdq.hex()}".encode()).hexdigest()[:40]


@dataclass(frozen=True)
class SimilarImage:
    image_url: str
    page_url: str
    source_id: str
    pdq: PdqHash
    distance: int
    first_seen: datetime | None


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
            **{f"w{i}": {"type": "long"} for i in range(4)},
            **{f"c{i}": {"type": "keyword"} for i in range(16)},
        },
    }

    @staticmethod
    def from_domain(image: CrawledImage) -> dict[str, Any]:
        words = image.pdq.words()
        return {
            "image_url": image.image_url,
            "page_url": image.page_url,
            "source_id": image.source_id,
            "pdq": image.pdq.hex(),
            "quality": image.quality,
            "first_seen": _iso(image.seen_at),
            "last_seen": _iso(image.seen_at),
            **{f"w{i}": _signed(w) for i, w in enumerate(words)},
            **{f"c{i}": f"{c:04x}" for i, c in enumerate(image.pdq.chunks16())},
        }


_DISTANCE_SCRIPT = """
int d = 0;
d += Long.bitCount(doc['w0'].value ^ params.w0);
d += Long.bitCount(doc['w1'].value ^ params.w1);
d += Long.bitCount(doc['w2'].value ^ params.w2);
d += Long.bitCount(doc['w3'].value ^ params.w3);
return 256 - d;
"""


def _chunk_query(query: PdqHash, radius: int) -> dict[str, Any]:
    should = []
    for i, value in enumerate(query.chunks16()):
        values = [value] + [value ^ (1 << b) for b in range(16)]
        should.append({"terms": {f"c{i}": [f"{v:04x}" for v in values]}})
    words = query.words()
    return {
        "script_score": {
            # A filter, not a scored query: candidates only need finding, the script scores them.
            "query": {"bool": {"filter": {"bool": {"should": should, "minimum_should_match": 1}}}},
            "script": {
                "source": _DISTANCE_SCRIPT,
                "params": {f"w{i}": _signed(w) for i, w in enumerate(words)},
            },
            "min_score": 256 - radius,
        }
    }


class ImageStore:
    def __init__(self, es: Elasticsearch, index_prefix: str) -> None:
        self._es = es
        self.index = f"{index_prefix}-images"

    @classmethod
    def connect(cls, url: str, index_prefix: str, timeout_s: float = 10) -> ImageStore:
        return cls(
            Elasticsearch(url, request_timeout=timeout_s, max_retries=1, retry_on_timeout=False),
            index_prefix,
        )

    def close(self) -> None:
        self._es.close()

    def ensure_index(self) -> None:
        def install() -> None:
            self._es.indices.put_index_template(
                name=self.index,
                index_patterns=[f"{self.index}*"],
                template={
                    "settings": {"number_of_shards": 1, "number_of_replicas": 0},
                    "mappings": ImageDocument.MAPPING,
                },
                priority=200,
            )
            if not self._es.indices.exists(index=self.index):
                self._es.indices.create(index=self.index)

        _guard("image index set-up", install)

    def add(self, images: Sequence[CrawledImage], refresh: bool = True) -> int:
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
                    "doc": {"last_seen": doc["last_seen"]},
                    "upsert": doc,
                }
            )
        written, _ = _guard(
            "a bulk write of image fingerprints",
            lambda: helpers.bulk(
                self._es, actions, refresh="wait_for" if refresh else False, chunk_size=2000
            ),
        )
        return int(written)

    def similar(
        self, hashes: Iterable[PdqHash], radius: int = MAX_RADIUS, limit: int = 500
    ) -> list[SimilarImage]:
        """Crawled images within ``radius`` of any of ``hashes``, closest first, one per image."""
        if radius > MAX_RADIUS:
            raise ValueError(f"the chunk lookup finds distances up to {MAX_RADIUS} only")
        queries = list(dict.fromkeys(hashes))
        if not queries:
            return []
        body: list[dict[str, Any]] = []
        for q in queries:
            body.append({"index": self.index})
            body.append(
                {
                    "query": _chunk_query(q, radius),
                    "size": limit,
                    "track_total_hits": False,
                    "_source": ["image_url", "page_url", "source_id", "pdq", "first_seen"],
                }
            )
        response = _guard("searching similar images", lambda: self._es.msearch(searches=body))
        best: dict[str, SimilarImage] = {}
        for result in response["responses"]:
            if "error" in result:
                if result.get("status") == 404:
                    continue  # no image crawled yet: no index
                raise HitStoreError(f"Elasticsearch refused an image search: {result['error']}")
            for hit in result["hits"]["hits"]:
                source = hit["_source"]
                distance = 256 - round(hit["_score"])
                found = SimilarImage(
                    image_url=source["image_url"],
                    page_url=source["page_url"],
                    source_id=source["source_id"],
                    pdq=PdqHash.from_hex(source["pdq"]),
                    distance=distance,
                    first_seen=_parse_time(source.get("first_seen")),
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
