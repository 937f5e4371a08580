"""Reading and writing hits. Elasticsearch errors become :mod:`hits.errors` exceptions here."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self, TypeVar

from elastic_transport import TlsError
from elasticsearch import ApiError, Elasticsearch, TransportError, helpers
from elasticsearch.helpers import BulkIndexError

from hits.connection import ElasticsearchAccess, connect
from hits.documents import Hit, HitDocument, _iso
from hits.errors import (
    BulkWriteFailed,
    DocumentFailure,
    HitStoreError,
    HitStoreUnauthorized,
    HitStoreUnavailable,
    redact,
)

T = TypeVar("T")

# Keeps first_seen and review_status; moves last_seen forward only (a replayed journal entry
# may be older than what a later crawl already wrote); refreshes content when it changed.
_UPSERT_SCRIPT = """
if (params.last_seen.compareTo(ctx._source.last_seen) > 0) {
  ctx._source.last_seen = params.last_seen;
  if (ctx._source.content_sha256 != params.content_sha256) {
    // Dismissed as a false positive, but the post has changed since: review it again.
    if (ctx._source.review_status == 'dismissed' && ctx._source.content_sha256 != null && ctx._source.content_sha256 != '') {
      ctx._source.review_status = 'new';
      ctx._source.reopened_at = params.last_seen;
      ctx._source.reopened_from_sha256 = ctx._source.content_sha256;
      ctx._source.reopen_recorded = false;
    }
    ctx._source.content_sha256 = params.content_sha256;
    ctx._source.title = params.title;
    ctx._source.excerpt = params.excerpt;
    ctx._source.matched_terms = params.matched_terms;
    ctx._source.score = params.score;
    ctx._source.evidence_warc = params.evidence_warc;
    ctx._source.evidence_record_id = params.evidence_record_id;
    ctx._source.evidence_sha256 = params.evidence_sha256;
    ctx._source.captured_at = params.captured_at;
    ctx._source.severity = params.severity;
  }
  if (ctx._source.thread == null) {
    ctx._source.thread = params.thread;
  }
  if (params.photo_distance != null && (ctx._source.photo_distance == null || params.photo_distance < ctx._source.photo_distance)) {
    ctx._source.image_url = params.image_url;
    ctx._source.photo_label = params.photo_label;
    ctx._source.photo_distance = params.photo_distance;
    ctx._source.photo_tier = params.photo_tier;
    ctx._source.severity = params.severity;
  }
  // A video hit seen again with more of its frames matching (or as the identical file) keeps
  // the better match.
  if (params.video_method != null && params.video_method != '' && (ctx._source.video_method == null || ctx._source.video_method == '' || (ctx._source.video_method != 'md5' && (params.video_method == 'md5' || params.video_frames_matched > ctx._source.video_frames_matched)))) {
    ctx._source.video_url = params.video_url;
    ctx._source.video_label = params.video_label;
    ctx._source.video_tier = params.video_tier;
    ctx._source.video_method = params.video_method;
    ctx._source.video_frames_matched = params.video_frames_matched;
    ctx._source.video_frames_compared = params.video_frames_compared;
    ctx._source.video_ranges = params.video_ranges;
    ctx._source.video_registered_ranges = params.video_registered_ranges;
    ctx._source.video_why = params.video_why;
    ctx._source.severity = params.severity;
  }
} else {
  ctx.op = 'noop';
}
"""
_UNAVAILABLE_STATUSES = {429, 502, 503, 504}
# Elasticsearch's index.max_result_window: from + size beyond it is refused.
RESULT_WINDOW = 10_000
# The queue's order, most severe then newest first; hit_id (unique) makes it total, so
# search_after never skips or repeats a hit.
QUEUE_SORT: list[dict[str, Any]] = [
    {"severity": {"order": "desc", "missing": "_last", "unmapped_type": "byte"}},
    {"first_seen": "desc"},
    {"hit_id": "asc"},
]
# The same order backwards, to read the last pages from the end.
_REVERSED_QUEUE_SORT: list[dict[str, Any]] = [
    {"severity": {"order": "asc", "missing": "_first", "unmapped_type": "byte"}},
    {"first_seen": "asc"},
    {"hit_id": "desc"},
]
_PIT_KEEP_ALIVE = "1m"


@dataclass(frozen=True)
class HitFilters:
    client_id: str = ""
    source_id: str = ""
    match_kind: str = ""
    tier: str = ""
    status: str = ""
    text: str = ""
    since: datetime | None = None
    # Exclusive: the queue passes the start of the day after its "until" day.
    until: datetime | None = None
    thread: str = ""
    severity: int | None = None


@dataclass(frozen=True)
class WeekCount:
    """Hits first seen in one week (Monday, UTC), per source."""

    week: datetime
    by_source: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_source.values())


@dataclass(frozen=True)
class HitPage:
    hits: list[Hit]
    total: int
    page: int
    per_page: int
    counts: dict[str, list[tuple[str, int]]]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class WriteResult:
    hit_id: str
    created: bool


def _guard(action: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except BulkIndexError as exc:
        # helpers.bulk raises this for per-document failures: which ones, and why, matter.
        raise BulkWriteFailed(
            action, [DocumentFailure.from_bulk_item(item) for item in exc.errors]
        ) from exc
    except ApiError as exc:
        if exc.meta.status in _UNAVAILABLE_STATUSES:
            raise HitStoreUnavailable(
                f"Elasticsearch is overloaded during {action}: {redact(str(exc))}"
            ) from exc
        # 401: who we are was refused; 403 security_exception: what we may do. (Other 403s,
        # such as an index made read-only by a full disk, are not about credentials.)
        if exc.meta.status == 401 or exc.error == "security_exception":
            raise HitStoreUnauthorized(
                f"Elasticsearch refused our credentials during {action} "
                f"({exc.meta.status} {redact(str(exc.message))}): check ELASTICSEARCH_API_KEY, or "
                "ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD, and that role's privileges"
            ) from exc
        raise HitStoreError(f"Elasticsearch refused {action}: {redact(str(exc))}") from exc
    except TlsError as exc:
        raise HitStoreUnavailable(
            f"the TLS connection to Elasticsearch failed during {action} ({_tls_reason(exc)}); "
            "if the cluster's certificate is signed by its own CA, set ELASTICSEARCH_CA_CERTS "
            "to that CA's PEM file (e.g. the node's config/certs/http_ca.crt)"
        ) from exc
    except TransportError as exc:
        raise HitStoreUnavailable(
            f"Elasticsearch is unreachable during {action} "
            f"({exc.__class__.__name__}: {redact(str(exc))}); "
            "check that it runs (scripts/elasticsearch.sh status) or ELASTICSEARCH_URL"
        ) from exc


def _tls_reason(exc: BaseException) -> str:
    """Why a TLS handshake failed, from the SSL error the client wraps (its own message
    loses it when the request is not retried)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {error.verify_message}"
        if isinstance(error, ssl.SSLError):
            return str(error.reason or error)
        pending.extend(e for e in getattr(error, "errors", ()) if isinstance(e, BaseException))
        pending.extend(e for e in (error.__cause__, error.__context__) if e is not None)
    return redact(str(exc))


def bulk_write(
    es: Elasticsearch,
    action: str,
    actions: list[dict[str, Any]],
    *,
    refresh: bool,
    chunk_size: int,
) -> list[WriteResult]:
    """Send ``actions`` in chunks, every chunk even when an earlier one had failures; what was
    written, or :class:`BulkWriteFailed` naming each document not written (and what was);
    ``action`` names the write in errors."""
    written: list[WriteResult] = []
    failures: list[DocumentFailure] = []

    def run() -> None:
        for ok, item in helpers.streaming_bulk(
            es,
            actions,
            raise_on_error=False,
            raise_on_exception=True,
            refresh="wait_for" if refresh else False,
            chunk_size=chunk_size,
        ):
            if ok:
                [outcome] = item.values()  # {op_type: {...}}
                written.append(WriteResult(outcome["_id"], outcome.get("result") == "created"))
            else:
                failures.append(DocumentFailure.from_bulk_item(item))

    _guard(action, run)
    if failures:
        raise BulkWriteFailed(action, failures, written=written)
    return written


# A total order of hits, for paging with search_after.
HIT_ORDER: list[dict[str, str]] = [{"first_seen": "asc"}, {"hit_id": "asc"}]


def scan_sources(
    es: Elasticsearch, action: str, *, size: int, **search: Any
) -> Iterator[dict[str, Any]]:
    """The ``_source`` of every document a search selects, page after page: ``search`` holds
    the search's arguments (index, query, a total ``sort``...), ``action`` names it in errors."""
    search_after: list[Any] | None = None
    while True:
        kwargs = {**search, "size": size}
        if search_after is not None:
            kwargs["search_after"] = search_after
        response = _guard(action, lambda kw=kwargs: es.search(**kw))  # type: ignore[misc]
        page = response["hits"]["hits"]
        for doc in page:
            yield doc["_source"]
        if len(page) < size:
            return
        search_after = page[-1]["sort"]


class HitStore:
    def __init__(
        self, es: ElasticsearchAccess | str, index_prefix: str, timeout_s: float = 10
    ) -> None:
        self._es = connect(es, timeout_s)
        self.url = es.url if isinstance(es, ElasticsearchAccess) else redact(es)
        self.index = f"{index_prefix}-hits"
        self._template = f"{index_prefix}-hits"

    def close(self) -> None:
        self._es.close()

    def ping(self) -> bool:
        try:
            return bool(self._es.ping())
        except TransportError:
            return False

    def ensure_index(self) -> None:
        """Install the index template and create the index; safe to call at every start."""

        def install() -> None:
            self._es.indices.put_index_template(
                name=self._template,
                index_patterns=[f"{self.index}*"],
                template={"settings": HitDocument.SETTINGS, "mappings": HitDocument.MAPPING},
                priority=200,
            )
            if not self._es.indices.exists(index=self.index):
                try:
                    self._es.indices.create(index=self.index)
                except ApiError as exc:
                    if exc.error != "resource_already_exists_exception":
                        raise
            else:
                # An index made by an older version gains the fields added since (additive only).
                self._es.indices.put_mapping(
                    index=self.index, properties=HitDocument.MAPPING["properties"]
                )

        _guard("index set-up", install)

    def refresh(self) -> None:
        """Make every hit written so far searchable (after writes made without waiting)."""
        _guard("refreshing hits", lambda: self._es.indices.refresh(index=self.index))

    def upsert(self, hits: Iterable[Hit], *, refresh: bool = True) -> list[WriteResult]:
        """Write hits in one bulk request. New ones are created, known ones have last_seen moved.

        Raises :class:`BulkWriteFailed` when some documents were not written (it says which,
        why, and what was written), :class:`HitStoreUnavailable` when Elasticsearch is out of
        reach. ``refresh`` waits until the hits are searchable."""
        actions = [self._action(hit) for hit in hits]
        if not actions:
            return []
        return bulk_write(
            self._es, "a bulk write of hits", actions, refresh=refresh, chunk_size=500
        )

    def _action(self, hit: Hit) -> dict[str, Any]:
        doc = HitDocument.from_domain(hit)
        return {
            "_op_type": "update",
            "_index": self.index,
            "_id": hit.hit_id,
            "retry_on_conflict": 3,
            "script": {
                "lang": "painless",
                "source": _UPSERT_SCRIPT,
                "params": {
                    k: doc[k]
                    for k in (
                        "last_seen",
                        "content_sha256",
                        "title",
                        "excerpt",
                        "matched_terms",
                        "score",
                        "image_url",
                        "photo_label",
                        "photo_distance",
                        "photo_tier",
                        "video_url",
                        "video_label",
                        "video_tier",
                        "video_method",
                        "video_frames_matched",
                        "video_frames_compared",
                        "video_ranges",
                        "video_registered_ranges",
                        "video_why",
                        "evidence_warc",
                        "evidence_record_id",
                        "evidence_sha256",
                        "captured_at",
                        "thread",
                        "severity",
                    )
                },
            },
            "upsert": doc,
        }

    def get(self, hit_id: str) -> Hit | None:
        def run() -> Hit | None:
            try:
                response = self._es.get(index=self.index, id=hit_id)
            except ApiError as exc:
                if exc.meta.status == 404:
                    return None
                raise
            return HitDocument.to_domain(response["_source"])

        return _guard("reading a hit", run)

    def count(self, client_id: str | None = None) -> int:
        query = {"term": {"client_id": client_id}} if client_id else {"match_all": {}}
        return int(
            _guard("counting hits", lambda: self._es.count(index=self.index, query=query))["count"]
        )

    def iter_unalerted(self) -> Iterator[Hit]:
        """Hits no alert was recorded for yet, oldest first."""
        search_after: list[Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "index": self.index,
                "query": {"bool": {"must_not": {"term": {"alerted": True}}}},
                "sort": [{"first_seen": "asc"}, {"hit_id": "asc"}],
                "size": 500,
            }
            if search_after is not None:
                kwargs["search_after"] = search_after
            response = _guard("listing new hits", lambda kw=kwargs: self._es.search(**kw))  # type: ignore[misc]
            page = response["hits"]["hits"]
            for doc in page:
                yield HitDocument.to_domain(doc["_source"])
            if len(page) < kwargs["size"]:
                return
            search_after = page[-1]["sort"]

    def mark_alerted(self, hit_ids: Iterable[str]) -> None:
        actions = [
            {"_op_type": "update", "_index": self.index, "_id": hit_id, "doc": {"alerted": True}}
            for hit_id in hit_ids
        ]
        if actions:
            _guard(
                "marking hits as alerted",
                lambda: helpers.bulk(self._es, actions, refresh="wait_for"),
            )

    def latest(self, client_id: str | None = None, size: int = 20) -> list[Hit]:
        query = {"term": {"client_id": client_id}} if client_id else {"match_all": {}}
        response = _guard(
            "listing hits",
            lambda: self._es.search(
                index=self.index, query=query, sort=[{"first_seen": "desc"}], size=size
            ),
        )
        return [HitDocument.to_domain(d["_source"]) for d in response["hits"]["hits"]]

    def delete_client(self, client_id: str, keep_hit_ids: Iterable[str] = ()) -> int:
        """Delete every hit of a client but those listed (under legal hold); returns the count."""
        query = self.client_query(client_id, keep_hit_ids)
        response = _guard(
            "erasing a client's hits",
            lambda: self._es.delete_by_query(
                index=self.index,
                query=query,
                refresh=True,
                conflicts="proceed",
                ignore_unavailable=True,
            ),
        )
        return int(response.get("deleted", 0))

    def scan(self, query: dict[str, Any], page_size: int = 1000) -> Iterator[Hit]:
        """Every hit the query selects, however many (search_after on a total order)."""
        for source in scan_sources(
            self._es, "listing hits", index=self.index, query=query, sort=HIT_ORDER,
            size=page_size, track_total_hits=False, ignore_unavailable=True,
        ):  # fmt: skip
            yield HitDocument.to_domain(source)

    def iter_of_client(self, client_id: str) -> Iterator[Hit]:
        """Every hit of a client, with no cap (erasure, access requests)."""
        return self.scan({"term": {"client_id": client_id}})

    @staticmethod
    def client_query(client_id: str, keep_hit_ids: Iterable[str] = ()) -> dict[str, Any]:
        """A client's hits, but those listed (under legal hold)."""
        query: dict[str, Any] = {"bool": {"filter": {"term": {"client_id": client_id}}}}
        keep = sorted(set(keep_hit_ids))
        if keep:
            query["bool"]["must_not"] = {"ids": {"values": keep}}
        return query

    def dismissed_before(self, older_than: datetime) -> list[Hit]:
        """Hits dismissed as false positives and last seen before ``older_than`` (retention)."""
        query = {
            "bool": {
                "filter": [
                    {"term": {"review_status": "dismissed"}},
                    {"range": {"last_seen": {"lt": _iso(older_than)}}},
                ]
            }
        }
        return list(self.scan(query))

    def delete_ids(self, hit_ids: Iterable[str]) -> int:
        """Delete these hits; returns how many were there."""
        actions = [
            {"_op_type": "delete", "_index": self.index, "_id": hit_id} for hit_id in hit_ids
        ]
        if not actions:
            return 0
        deleted = 0

        def run() -> None:
            nonlocal deleted
            for ok, item in helpers.streaming_bulk(
                self._es, actions, raise_on_error=False, refresh=True, chunk_size=1000
            ):
                outcome = item["delete"]
                if ok:
                    deleted += 1
                elif outcome.get("status") != 404:
                    raise BulkWriteFailed("deleting hits", [DocumentFailure.from_bulk_item(item)])

        _guard("deleting hits", run)
        return deleted

    def set_review_status(self, hit_ids: str | Iterable[str], status: str) -> None:
        ids = [hit_ids] if isinstance(hit_ids, str) else list(hit_ids)
        actions = [
            {"_op_type": "update", "_index": self.index, "_id": i, "doc": {"review_status": status}}
            for i in ids
        ]
        if actions:
            _guard(
                "updating hits' review status",
                lambda: helpers.bulk(self._es, actions, refresh="wait_for"),
            )

    def set_screenshot(self, hit_id: str, warc: str, record_id: str, sha256: str) -> None:
        _guard(
            "recording a screenshot",
            lambda: self._es.update(
                index=self.index,
                id=hit_id,
                doc={
                    "screenshot_warc": warc,
                    "screenshot_record_id": record_id,
                    "screenshot_sha256": sha256,
                },
                refresh="wait_for",
            ),
        )

    def reopened_unrecorded(self, limit: int = 1000) -> list[Hit]:
        """Dismissed hits the upsert re-opened because their content changed, not yet in the
        audit log."""
        response = _guard(
            "listing re-opened hits",
            lambda: self._es.search(
                index=self.index,
                query={"term": {"reopen_recorded": False}},
                sort=[{"reopened_at": "asc"}, {"hit_id": "asc"}],
                size=limit,
            ),
        )
        return [HitDocument.to_domain(d["_source"]) for d in response["hits"]["hits"]]

    def mark_reopen_recorded(self, hit_ids: Iterable[str]) -> None:
        actions = [
            {"_op_type": "update", "_index": self.index, "_id": i, "doc": {"reopen_recorded": True}}
            for i in hit_ids
        ]
        if actions:
            _guard(
                "recording re-opened hits",
                lambda: helpers.bulk(self._es, actions, refresh="wait_for"),
            )

    def ids_matching(self, filters: HitFilters, limit: int = 1000) -> list[str]:
        """The ids of every hit the filters select (bulk actions on a thread), up to ``limit``."""
        response = _guard(
            "selecting hits",
            lambda: self._es.search(
                index=self.index,
                query=self._query(filters),
                size=limit,
                source=False,
                sort=[{"first_seen": "asc"}],
            ),
        )
        return [str(h["_id"]) for h in response["hits"]["hits"]]

    def weekly_activity(self, client_id: str, weeks: int = 12) -> list[WeekCount]:
        """Hits per week and per source over the last ``weeks`` weeks, oldest first."""
        response = _guard(
            "counting a client's hits per week",
            lambda: self._es.search(
                index=self.index,
                size=0,
                query={
                    "bool": {
                        "filter": [
                            {"term": {"client_id": client_id}},
                            {"range": {"first_seen": {"gte": f"now-{weeks}w/w"}}},
                        ]
                    }
                },
                aggs={
                    "weeks": {
                        "date_histogram": {
                            "field": "first_seen",
                            "calendar_interval": "week",
                            "min_doc_count": 0,
                            "extended_bounds": {"min": f"now-{weeks - 1}w/w", "max": "now/w"},
                        },
                        "aggs": {"sources": {"terms": {"field": "source_id", "size": 20}}},
                    }
                },
            ),
        )
        return [
            WeekCount(
                week=datetime.fromisoformat(b["key_as_string"].replace("Z", "+00:00")),
                by_source={s["key"]: s["doc_count"] for s in b["sources"]["buckets"]},
            )
            for b in response["aggregations"]["weeks"]["buckets"]
        ]

    @staticmethod
    def _query(filters: HitFilters) -> dict[str, Any]:
        must: list[dict[str, Any]] = []
        for field_name, value in (
            ("client_id", filters.client_id),
            ("source_id", filters.source_id),
            ("match_kind", filters.match_kind),
            ("review_status", filters.status),
            ("thread", filters.thread),
        ):
            if value:
                must.append({"term": {field_name: value}})
        if filters.tier:
            # A photo's or a video's tier: both are "strong" or "candidate".
            must.append(
                {
                    "bool": {
                        "should": [
                            {"term": {"photo_tier": filters.tier}},
                            {"term": {"video_tier": filters.tier}},
                        ],
                        "minimum_should_match": 1,
                    }
                }
            )
        if filters.severity is not None:
            must.append({"term": {"severity": filters.severity}})
        if filters.since or filters.until:
            bounds = {}
            if filters.since:
                bounds["gte"] = _iso(filters.since)
            if filters.until:
                bounds["lt"] = _iso(filters.until)
            must.append({"range": {"first_seen": bounds}})
        query: dict[str, Any] = {"bool": {"filter": must}}
        if filters.text:
            query["bool"]["must"] = {
                "multi_match": {"query": filters.text, "fields": ["excerpt", "title"]}
            }
        return query

    def search(self, filters: HitFilters, page: int = 1, per_page: int = 25) -> HitPage:
        """The review queue: filtered, searched, most severe then newest first, with counts.

        Any page can be reached, however deep: past Elasticsearch's result window the pages
        before it are walked with ``search_after`` inside one point in time (sort values only),
        so no hit is ever out of reach.
        """
        query = self._query(filters)
        aggs = {
            name: {"terms": {"field": name, "size": 50}}
            for name in (
                "client_id",
                "source_id",
                "match_kind",
                "review_status",
                "photo_tier",
                "severity",
            )
        }
        offset = (page - 1) * per_page
        if offset + per_page <= RESULT_WINDOW:
            response = _guard(
                "searching the review queue",
                lambda: self._es.search(
                    index=self.index,
                    query=query,
                    sort=QUEUE_SORT,
                    from_=offset,
                    size=per_page,
                    aggs=aggs,
                    track_total_hits=True,
                ),
            )
        else:
            response = self._deep_page(query, aggs, offset, per_page)
        counts = {
            name: [(b["key"], b["doc_count"]) for b in agg["buckets"]]
            for name, agg in response.get("aggregations", {}).items()
        }
        return HitPage(
            hits=[HitDocument.to_domain(d["_source"]) for d in response["hits"]["hits"]],
            total=int(response["hits"]["total"]["value"]),
            page=page,
            per_page=per_page,
            counts=counts,
        )

    def _deep_page(
        self, query: dict[str, Any], aggs: dict[str, Any], offset: int, per_page: int
    ) -> Any:
        def run() -> Any:
            pit = self._es.open_point_in_time(index=self.index, keep_alive=_PIT_KEEP_ALIVE)["id"]
            try:
                # Totals and counts first (one cheap request), so the walk can start from the
                # nearer end: the last pages are read in reverse order from the end.
                summary = self._es.search(
                    pit={"id": pit, "keep_alive": _PIT_KEEP_ALIVE},
                    query=query,
                    size=0,
                    aggs=aggs,
                    track_total_hits=True,
                )
                pit = summary.get("pit_id", pit)
                total = int(summary["hits"]["total"]["value"])
                size = min(per_page, total - offset)
                if size <= 0:
                    return summary  # past the end: an empty page, with the counts
                from_end = total - offset - size
                if from_end < offset:
                    rows, pit = self._walk(pit, query, _REVERSED_QUEUE_SORT, from_end, size)
                    rows.reverse()
                else:
                    rows, pit = self._walk(pit, query, QUEUE_SORT, offset, size)
                summary["hits"]["hits"] = rows
                return summary
            finally:
                self._es.close_point_in_time(id=pit)

        return _guard("searching the review queue", run)

    def _walk(
        self, pit: str, query: dict[str, Any], sort: list[dict[str, Any]], skip: int, size: int
    ) -> tuple[list[Any], str]:
        """``size`` hits after the first ``skip`` in ``sort`` order, skipping with
        ``search_after`` (sort values only) ``RESULT_WINDOW`` at a time."""
        after: list[Any] | None = None
        while skip > 0:
            step = min(RESULT_WINDOW, skip)
            kwargs: dict[str, Any] = {
                "pit": {"id": pit, "keep_alive": _PIT_KEEP_ALIVE},
                "query": query,
                "sort": sort,
                "size": step,
                "source": False,
                "track_total_hits": False,
                "filter_path": ["hits.hits.sort", "pit_id"],
            }
            if after is not None:
                kwargs["search_after"] = after
            walked = self._es.search(**kwargs)
            pit = walked.get("pit_id", pit)
            rows = walked.get("hits", {}).get("hits", [])
            if not rows:
                return [], pit
            after = rows[-1]["sort"]
            skip -= len(rows)
        kwargs = {
            "pit": {"id": pit, "keep_alive": _PIT_KEEP_ALIVE},
            "query": query,
            "sort": sort,
            "size": size,
            "track_total_hits": False,
        }
        if after is not None:
            kwargs["search_after"] = after
        page = self._es.search(**kwargs)
        return list(page["hits"]["hits"]), page.get("pit_id", pit)

    def records_in_use(
        self, record_ids: Iterable[str], ignoring: dict[str, Any] | None = None
    ) -> set[str]:
        """Which of these evidence records (captures or screenshots) some hit still points to,
        not counting the hits the query ``ignoring`` selects (those about to be erased)."""
        ids = sorted(set(record_ids) - {""})
        used: set[str] = set()
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            query: dict[str, Any] = {
                "bool": {
                    "should": [
                        {"terms": {"evidence_record_id": chunk}},
                        {"terms": {"screenshot_record_id": chunk}},
                    ],
                    "minimum_should_match": 1,
                }
            }
            if ignoring:
                query["bool"]["must_not"] = ignoring
            for hit in self.scan(query):
                used |= {hit.evidence_record_id, hit.screenshot_record_id} & set(chunk)
        return used

    def of_client(self, client_id: str, size: int = 10000) -> list[Hit]:
        return self.latest(client_id=client_id, size=size)

    def delete_index(self) -> None:
        """Drop the index and its template (tests and erasure tooling)."""

        def run() -> None:
            self._es.indices.delete(index=self.index, ignore_unavailable=True)
            if self._es.indices.exists_index_template(name=self._template):
                self._es.indices.delete_index_template(name=self._template)

        _guard("deleting the hit index", run)


class FingerprintIndex:
    """An index of crawled media fingerprints (images, videos): one index per prefix, its
    mapping installed as a template and extended in place, never rebuilt."""

    SUFFIX: ClassVar[str]
    MAPPING: ClassVar[dict[str, Any]]

    def __init__(self, es: Elasticsearch, index_prefix: str) -> None:
        self._es = es
        self.index = f"{index_prefix}-{self.SUFFIX}"

    @classmethod
    def connect(
        cls, es: ElasticsearchAccess | str, index_prefix: str, timeout_s: float = 10
    ) -> Self:
        return cls(connect(es, timeout_s), index_prefix)

    def close(self) -> None:
        self._es.close()

    def ensure_index(self) -> None:
        def install() -> None:
            self._es.indices.put_index_template(
                name=self.index,
                index_patterns=[f"{self.index}*"],
                template={
                    "settings": {"number_of_shards": 1, "number_of_replicas": 0},
                    "mappings": self.MAPPING,
                },
                priority=200,
            )
            if not self._es.indices.exists(index=self.index):
                self._es.indices.create(index=self.index)
            else:
                # An index made by an earlier version gains the new fields; its documents stay
                # searchable by the fields they have.
                self._es.indices.put_mapping(
                    index=self.index, properties=self.MAPPING["properties"]
                )

        _guard(f"{self.SUFFIX} index set-up", install)
