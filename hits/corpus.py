"""The corpus: every post a crawl read, kept so a name registered later is found in it.

One adapter for the ``<prefix>-corpus`` index: the record, its mapping, the conversions and
the queries. Elasticsearch errors become :mod:`hits.errors` exceptions here, as for hits.

Candidate search for names: ``words`` holds the post's text as ``matching.normalize.skeleton``
makes it (accents, case, look-alikes, leetspeak, separators undone) split on its spaces, and
``runs`` the spaced-out letter runs the skeleton joined. The matcher only ever matches whole
words of that text (or inside a run), so term queries on those words, with one edit of fuzziness
for typos and masked letters, return a superset of what the matcher will find: Elasticsearch
proposes, :mod:`matching` decides. Words with several masked letters ("H*l*ne", "L…vre") are
more than one edit away from the name: ``masked`` keeps their mask patterns as the matcher reads
them (``matching.normalize.masked_words``), and a regular expression per name word asks for the
patterns made only of that word's letters and masks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elasticsearch import helpers

from hits.connection import ElasticsearchAccess, connect
from hits.documents import Hit, HitDocument, ReviewStatus, _iso, _parse_time
from hits.errors import redact
from hits.journal import Journal
from hits.store import HIT_ORDER, _guard, bulk_write, scan_sources
from hits.urls import canonicalize
from matching.names import WatchEntry
from matching.normalize import masked_words, skeleton, skeleton_term

# Words of the corpus one edit away from a name's last word that a fuzzy query may expand to.
# Elasticsearch's default (50) could leave some out on a large corpus: a million real posts
# have at most a few dozen such words for a real surname, so 1024 is a wide margin.
FUZZY_EXPANSIONS = 1024
# Name words shorter than this are not looked up among masked words: a mask pattern of one or
# two letters fits far too many words, and the matcher needs MASKED_MIN_VISIBLE (2) letters
# shown in a masked word anyway.
MASKED_TOKEN_MIN = 3
# Posts read per page of a scan (candidates, retention): large pages, few round trips.
SCAN_PAGE = 2000


def corpus_id_for(canonical_url: str) -> str:
    return hashlib.sha256(canonical_url.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class CorpusPost:
    """One post (or page) as a crawl read it."""

    source_id: str
    url: str
    thread_url: str
    thread_title: str
    text: str
    author: str
    crawled_at: datetime
    posted_at: datetime | None = None
    # The account: a profile URL or the site's account id; the name alone when neither is known.
    author_ref: str = ""
    is_thread_start: bool = False
    language: str = ""
    image_urls: tuple[str, ...] = ()
    # Ids of the image fingerprints (hits.images) of those images, when they were fetched.
    image_ids: tuple[str, ...] = ()
    content_sha256: str = ""
    fetched_url: str = ""
    canonical_url: str = field(default="")

    def __post_init__(self) -> None:
        if not self.canonical_url:
            object.__setattr__(self, "canonical_url", canonicalize(self.url))
        if self.crawled_at.tzinfo is None:
            raise ValueError("corpus timestamps must be timezone-aware")

    @property
    def post_id(self) -> str:
        return corpus_id_for(self.canonical_url)

    @property
    def account(self) -> str:
        return self.author_ref or self.author

    @property
    def thread(self) -> str:
        return canonicalize(self.thread_url) if self.thread_url else self.canonical_url

    @property
    def match_text(self) -> str:
        """Exactly what crawl-time matching reads (crawlers.items.ForumPost.match_text)."""
        if self.is_thread_start and self.thread_title:
            return f"{self.thread_title}\n\n{self.text}"
        return self.text


def searchable_words(text: str) -> tuple[str, tuple[str, ...]]:
    """The skeleton's words (space-separated), then the parts of glued words, and the
    spaced-out runs the skeleton joined."""
    norm = skeleton(text)
    runs: list[str] = []
    if norm.joins:
        start = 0
        for word in norm.text.split(" "):
            end = start + len(word)
            if any(start < j < end for j in norm.joins):
                runs.append(word)
            start = end + 1
    parts = glued_parts(text)
    return (f"{norm.text} {' '.join(parts)}" if parts else norm.text), tuple(runs)


_RAW_WORD = re.compile(r"[^\W_]+")


def glued_parts(text: str) -> list[str]:
    """The parts of words glued at a change of case or between letters and digits, as the
    skeleton writes them: "#SoutienLopezEric" gives "soutien iopez eric", "h.guibert4"
    "guibert". The matcher reads names inside hashtags and handles at those boundaries; the
    skeleton alone turns the digits of "guibert4" into letters ("guiberta")."""
    parts: dict[str, None] = {}
    for m in _RAW_WORD.finditer(text):
        word = m.group()
        cuts = [
            i
            for i in range(1, len(word))
            if word[i - 1].isdigit() != word[i].isdigit()
            or (word[i - 1].islower() and word[i].isupper())
        ]
        if not cuts:
            continue
        for a, b in zip([0, *cuts], [*cuts, len(word)], strict=True):
            piece = word[a:b]
            if len(piece) >= 2 and not piece.isdigit():
                parts.update(dict.fromkeys(skeleton_term(piece).split()))
    return list(parts)


def glued_forms(tokens: Sequence[str]) -> list[str]:
    """The one-word forms of a name of several words: words glued in the order written or
    starting with any other word ("fournierzoe", "bessonteixeirajeanraymond"), every run of
    two or more of them ("vasseurroy"), and initials glued to the family words ("zfournier")."""
    n = len(tokens)
    forms: dict[str, None] = {}
    for k in range(n):
        order = [*tokens[k:], *tokens[:k]]
        for a in range(n):
            for b in range(a + 2, n + 1):
                forms["".join(order[a:b])] = None
    for k in range(1, n):
        given, family = tokens[:k], "".join(tokens[k:])
        for initials in (given[0][0], "".join(t[0] for t in given)):
            forms[initials + family] = None
    return list(forms)


def masked_patterns(text: str) -> tuple[str, ...]:
    """The mask patterns ("h*i*ne", "h+ne") of the words of ``text`` written with masks."""
    return tuple(
        dict.fromkeys(
            word.pattern
            for group in masked_words(text)
            for word in group
            if word.masked and word.visible >= 2
        )
    )


class CorpusDocument:
    """Adapter between :class:`CorpusPost` and the ``<prefix>-corpus`` index."""

    MAPPING: dict[str, Any] = {
        "dynamic": "strict",
        "properties": {
            "post_id": {"type": "keyword"},
            "source_id": {"type": "keyword"},
            "url": {"type": "keyword", "ignore_above": 4096},
            "canonical_url": {"type": "keyword", "ignore_above": 4096},
            "fetched_url": {"type": "keyword", "index": False, "doc_values": False},
            "thread": {"type": "keyword", "ignore_above": 4096},
            "thread_url": {"type": "keyword", "index": False, "doc_values": False},
            "thread_title": {"type": "text", "analyzer": "folded"},
            "is_thread_start": {"type": "boolean"},
            "author": {"type": "keyword", "ignore_above": 512},
            "author_ref": {"type": "keyword", "ignore_above": 2048},
            "account": {"type": "keyword", "ignore_above": 2048},
            "posted_at": {"type": "date"},
            "crawled_at": {"type": "date"},
            "language": {"type": "keyword"},
            # Full text for reviewers (a phrase, a URL written in a post).
            "text": {"type": "text", "analyzer": "folded"},
            # Name search: the matcher's skeleton of title + text, one term per word.
            "words": {"type": "text", "analyzer": "whitespace", "norms": False},
            "runs": {"type": "keyword", "ignore_above": 512},
            # Mask patterns of the words written with several masked letters ("h*i*ne").
            "masked": {"type": "keyword", "ignore_above": 256},
            "image_urls": {"type": "keyword", "ignore_above": 4096},
            "image_ids": {"type": "keyword"},
            "content_sha256": {"type": "keyword"},
        },
    }
    SETTINGS: dict[str, Any] = {
        "number_of_shards": 1,
        "number_of_replicas": 0,
        "analysis": {
            "analyzer": {
                "folded": {
                    "type": "custom",
                    "tokenizer": "standard",
                    "filter": ["lowercase", "asciifolding"],
                }
            }
        },
    }

    @staticmethod
    def from_domain(post: CorpusPost) -> dict[str, Any]:
        words, runs = searchable_words(post.match_text)
        return {
            "post_id": post.post_id,
            "source_id": post.source_id,
            "url": post.url,
            "canonical_url": post.canonical_url,
            "fetched_url": post.fetched_url,
            "thread": post.thread,
            "thread_url": post.thread_url,
            "thread_title": post.thread_title,
            "is_thread_start": post.is_thread_start,
            "author": post.author,
            "author_ref": post.author_ref,
            "account": post.account,
            "posted_at": _iso(post.posted_at) if post.posted_at else None,
            "crawled_at": _iso(post.crawled_at),
            "language": post.language,
            "text": post.text,
            "words": words,
            "runs": list(runs),
            "masked": list(masked_patterns(post.match_text)),
            "image_urls": list(post.image_urls),
            "image_ids": list(post.image_ids),
            "content_sha256": post.content_sha256,
        }

    @staticmethod
    def to_domain(source: dict[str, Any]) -> CorpusPost:
        crawled_at = _parse_time(source["crawled_at"])
        assert crawled_at is not None
        return CorpusPost(
            source_id=source["source_id"],
            url=source["url"],
            canonical_url=source["canonical_url"],
            fetched_url=source.get("fetched_url") or "",
            thread_url=source.get("thread_url") or "",
            thread_title=source.get("thread_title") or "",
            is_thread_start=bool(source.get("is_thread_start")),
            author=source.get("author") or "",
            author_ref=source.get("author_ref") or "",
            posted_at=_parse_time(source.get("posted_at")),
            crawled_at=crawled_at,
            language=source.get("language") or "",
            text=source.get("text") or "",
            image_urls=tuple(source.get("image_urls") or ()),
            image_ids=tuple(source.get("image_ids") or ()),
            content_sha256=source.get("content_sha256") or "",
        )


def candidate_query(entries: Sequence[WatchEntry]) -> dict[str, Any] | None:
    """A query whose results include every post the matcher can find these entries in.

    Derived from the matcher's rules (matching.names): every name form it matches contains
    the name's last word as written (exact, reordered, initials, a mask elsewhere, a typo
    anchored on it), or one of its other words as written with the last one at most one
    edit away (a typo or a mask in the last word); a joined form is one word; an alias is
    all its words, or them joined.
    """
    should: list[dict[str, Any]] = []

    def word(token: str) -> dict[str, Any]:
        return {"bool": {"should": [{"term": {"words": token}}, _in_run(token)]}}

    for entry in entries:
        for name in entry.names:
            tokens = skeleton_term(name).split()
            if not tokens:
                continue
            if len(tokens) < 2:
                should.append(word(tokens[0]))
                continue
            last = tokens[-1]
            should.append(word(last))
            should.extend(word(joined) for joined in glued_forms(tokens))
            # A typo or a mask in the last word: it is still one whole word, one edit away
            # (a spaced-out run is a word too), and another word of the name is as written.
            near_last = {
                "fuzzy": {
                    "words": {
                        "value": last,
                        "fuzziness": 1,
                        "transpositions": True,
                        "max_expansions": FUZZY_EXPANSIONS,
                    }
                }
            }
            anchors = [word(t) for t in tokens[:-1]]
            should.append({"bool": {"filter": [near_last, {"bool": {"should": anchors}}]}})
            # Several letters masked in any word of the name, one or both ("H*l*ne L*f*vre").
            should.extend(_masked_like(t) for t in tokens if len(t) >= MASKED_TOKEN_MIN)
        for alias in entry.aliases:
            tokens = skeleton_term(alias).split()
            if not tokens:
                continue
            should.append({"bool": {"filter": [word(t) for t in tokens]}})
            if len(tokens) > 1:
                should.append(word("".join(tokens)))
    if not should:
        return None
    return {"bool": {"should": should, "minimum_should_match": 1}}


def _masked_like(token: str) -> dict[str, Any]:
    """Mask patterns that may stand for ``token``: made of its letters, masks ("*") and runs
    ("+"), starting with its first letter or a mask, no longer than it plus a trailing dot's
    letter. A superset of what ``matching.names`` accepts (it checks every letter's place)."""
    letters = "".join(sorted(set(token)))
    allowed = "[" + "".join(_regexp_char(c) for c in letters) + "\\*\\+]"
    first = "[" + _regexp_char(token[0]) + "\\*\\+]"
    return {"regexp": {"masked": {"value": f"{first}{allowed}{{0,{len(token)}}}"}}}


def _regexp_char(char: str) -> str:
    return char if char.isalnum() and char.isascii() else "\\" + char


def _in_run(token: str) -> dict[str, Any]:
    return {"wildcard": {"runs": {"value": f"*{token}*"}}}


# Elasticsearch's index.max_result_window: the reviewers' search pages stop there.
SEARCH_WINDOW = 10_000
# Terms per terms query, under Elasticsearch's index.max_terms_count (65,536).
MAX_TERMS = 50_000
# Distinct URLs read per request when listing a client's hits.
URLS_PAGE = 5000
# Score of an exact author, account or URL match: BM25 scores of words in a text stay far below.
EXACT_BOOST = 100.0


def _published_between(since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """Posts published in [since, until), or read then when the site gives no date."""
    bounds: dict[str, str] = {}
    if since:
        bounds["gte"] = _iso(since)
    if until:
        bounds["lt"] = _iso(until)
    return {
        "bool": {
            "should": [
                {"range": {"posted_at": bounds}},
                {
                    "bool": {
                        "must_not": [{"exists": {"field": "posted_at"}}],
                        "filter": [{"range": {"crawled_at": bounds}}],
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    }


def _exact(query: dict[str, Any]) -> dict[str, Any]:
    """A match on who wrote a post or where it is: above any match in its words."""
    return {"constant_score": {"filter": query, "boost": EXACT_BOOST}}


@dataclass(frozen=True)
class CorpusFilters:
    """Reviewers' corpus search: the review queue's filters, over posts.

    ``client_id`` keeps the posts that client has a hit on. The dates bound when a post was
    published, or when it was read for a site that does not say; ``until`` is exclusive (the
    queue passes the start of the day after its "to" day).
    """

    text: str = ""
    source_id: str = ""
    client_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class CorpusPage:
    posts: list[CorpusPost]
    total: int
    page: int
    per_page: int
    counts: dict[str, list[tuple[str, int]]]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


class CorpusStore:
    def __init__(
        self, es: ElasticsearchAccess | str, index_prefix: str, timeout_s: float = 30
    ) -> None:
        self._es = connect(es, timeout_s)
        self.url = es.url if isinstance(es, ElasticsearchAccess) else redact(es)
        self.index = f"{index_prefix}-corpus"
        self._template = f"{index_prefix}-corpus"
        # Read for what the posts mean to clients (which hits they carry): hits.store's index.
        self.hits_index = f"{index_prefix}-hits"

    def close(self) -> None:
        self._es.close()

    def ensure_index(self) -> None:
        def install() -> None:
            self._es.indices.put_index_template(
                name=self._template,
                index_patterns=[f"{self.index}*"],
                template={
                    "settings": CorpusDocument.SETTINGS,
                    "mappings": CorpusDocument.MAPPING,
                },
                priority=200,
            )
            if not self._es.indices.exists(index=self.index):
                try:
                    self._es.indices.create(index=self.index)
                except Exception as exc:  # another process created it meanwhile
                    if "resource_already_exists_exception" not in str(exc):
                        raise
            else:
                # An index made before a field was added gains it (the mapping is strict).
                self._es.indices.put_mapping(
                    index=self.index, properties=CorpusDocument.MAPPING["properties"]
                )

        _guard("corpus index set-up", install)

    def index_posts(self, posts: Iterable[CorpusPost], *, refresh: bool = True) -> int:
        """Write posts in bulk (the latest reading of a URL wins); returns how many."""
        actions = [
            {"_index": self.index, "_id": p.post_id, "_source": CorpusDocument.from_domain(p)}
            for p in posts
        ]
        return self.index_documents(actions, refresh=refresh)

    def index_documents(self, actions: list[dict[str, Any]], *, refresh: bool = True) -> int:
        if not actions:
            return 0
        written = bulk_write(
            self._es, "a bulk write of corpus posts", actions, refresh=refresh, chunk_size=1000
        )
        return len(written)

    def refresh(self) -> None:
        _guard("refreshing the corpus", lambda: self._es.indices.refresh(index=self.index))

    def count(self, query: dict[str, Any] | None = None) -> int:
        return int(
            _guard(
                "counting corpus posts",
                lambda: self._es.count(index=self.index, query=query or {"match_all": {}}),
            )["count"]
        )

    def get(self, post_id: str) -> CorpusPost | None:
        found = self._search({"ids": {"values": [post_id]}}, size=1)
        return found[0] if found else None

    def by_url(self, url: str) -> CorpusPost | None:
        found = self._search({"term": {"canonical_url": canonicalize(url)}}, size=1)
        return found[0] if found else None

    def candidates(self, entries: Sequence[WatchEntry]) -> Iterator[CorpusPost]:
        """Every post that may name one of these entries (a superset: verify with matching)."""
        query = candidate_query(entries)
        if query is None:
            return
        yield from self._scan(query)

    def _scan(
        self, query: dict[str, Any], source_includes: list[str] | None = None
    ) -> Iterator[CorpusPost]:
        fields: dict[str, Any] = {"source_excludes": ["words", "runs", "masked"]}
        if source_includes:
            fields["source_includes"] = source_includes
        for source in scan_sources(
            self._es, "reading the corpus", index=self.index, query=query,
            sort=[{"post_id": "asc"}], size=SCAN_PAGE, **fields,
        ):  # fmt: skip
            yield CorpusDocument.to_domain(source)

    def _search(self, query: dict[str, Any], size: int = 100, **extra: Any) -> list[CorpusPost]:
        response = _guard(
            "searching the corpus",
            lambda: self._es.search(
                index=self.index,
                query=query,
                size=size,
                source_excludes=["words", "runs", "masked"],
                **extra,
            ),
        )
        return [CorpusDocument.to_domain(d["_source"]) for d in response["hits"]["hits"]]

    def _account_query(self, source_id: str, account: str, any_source: bool) -> dict[str, Any]:
        filters: list[dict[str, Any]] = [{"term": {"account": account}}]
        if not any_source:
            filters.append({"term": {"source_id": source_id}})
        return {"bool": {"filter": filters}}

    def by_account(
        self, source_id: str, account: str, limit: int = 1000, *, any_source: bool = False
    ) -> list[CorpusPost]:
        """The posts of one account (its profile URL or account id, see
        :attr:`CorpusPost.account`) on one source, or on every source with ``any_source`` (a
        profile URL names one account wherever it is read); newest first, at most ``limit``."""
        return self._search(
            self._account_query(source_id, account, any_source),
            size=limit,
            sort=[
                {"posted_at": {"order": "desc", "missing": "_last"}},
                {"crawled_at": "desc"},
                {"post_id": "asc"},
            ],
            ignore_unavailable=True,
        )

    def count_by_account(self, source_id: str, account: str, *, any_source: bool = False) -> int:
        query = self._account_query(source_id, account, any_source)
        response = _guard(
            "counting an account's posts",
            lambda: self._es.count(index=self.index, query=query, ignore_unavailable=True),
        )
        return int(response["count"])

    def accounts_named(self, source_id: str, author: str, limit: int = 20) -> list[str]:
        """The accounts that post on a source under this name (usually one)."""
        response = _guard(
            "looking up an author's accounts",
            lambda: self._es.search(
                index=self.index,
                size=0,
                query={
                    "bool": {
                        "filter": [
                            {"term": {"source_id": source_id}},
                            {"term": {"author": author}},
                        ]
                    }
                },
                aggs={"accounts": {"terms": {"field": "account", "size": limit}}},
                ignore_unavailable=True,
            ),
        )
        buckets = response.get("aggregations", {}).get("accounts", {}).get("buckets", [])
        return [str(b["key"]) for b in buckets]

    def in_threads(self, threads: Sequence[str], limit: int = 2000) -> list[CorpusPost]:
        if not threads:
            return []
        return self._search({"terms": {"thread": list(threads)}}, size=limit)

    def posts_at(self, canonical_urls: Iterable[str]) -> list[CorpusPost]:
        """The posts read at these (canonical) URLs, those still in the corpus."""
        urls = sorted(set(canonical_urls))
        posts: list[CorpusPost] = []
        for i in range(0, len(urls), SCAN_PAGE):
            chunk = urls[i : i + SCAN_PAGE]
            posts += self._search(
                {"terms": {"canonical_url": chunk}}, size=len(chunk), ignore_unavailable=True
            )
        return posts

    def mentions(
        self,
        *,
        canonical_urls: Iterable[str] = (),
        threads: Iterable[str] = (),
        client_ids: Iterable[str] = (),
        dismissed: bool = True,
    ) -> list[Hit]:
        """The hits (hits.store's index) on these posts, or in these threads, for these
        clients: who a post names or shows, and since when. ``dismissed=False`` leaves out the
        false positives (a post about someone else of the same name)."""
        urls = sorted(set(canonical_urls))
        filters: list[dict[str, Any]] = []
        if threads:
            filters.append({"terms": {"thread": sorted(set(threads))}})
        if client_ids:
            filters.append({"terms": {"client_id": sorted(set(client_ids))}})
        if not urls and not filters:
            return []
        must_not = [] if dismissed else [{"term": {"review_status": str(ReviewStatus.DISMISSED)}}]
        chunks = [urls[i : i + SCAN_PAGE] for i in range(0, len(urls), SCAN_PAGE)] or [[]]
        found: list[Hit] = []
        for chunk in chunks:
            chunk_filters = [*filters, {"terms": {"canonical_url": chunk}}] if chunk else filters
            found += self._hits({"bool": {"filter": chunk_filters, "must_not": must_not}})
        return found

    def _hits(self, query: dict[str, Any]) -> Iterator[Hit]:
        for source in scan_sources(
            self._es, "reading hits", index=self.hits_index, query=query, sort=HIT_ORDER,
            size=SCAN_PAGE, ignore_unavailable=True,
        ):  # fmt: skip
            yield HitDocument.to_domain(source)

    def urls_of_client(self, client_id: str) -> list[str]:
        """The canonical URL of every hit of a client (the corpus search's client filter)."""
        urls: list[str] = []
        after: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {
                "size": URLS_PAGE,
                "sources": [{"url": {"terms": {"field": "canonical_url"}}}],
            }
            if after is not None:
                composite["after"] = after
            response = _guard(
                "listing a client's hits",
                lambda c=composite: self._es.search(  # type: ignore[misc]
                    index=self.hits_index,
                    size=0,
                    query={"term": {"client_id": client_id}},
                    aggs={"urls": {"composite": c}},
                    ignore_unavailable=True,
                ),
            )
            agg = response.get("aggregations", {}).get("urls", {})
            buckets = agg.get("buckets", [])
            urls += [str(b["key"]["url"]) for b in buckets]
            after = agg.get("after_key")
            if not buckets or after is None:
                return urls

    def search(
        self,
        filters: CorpusFilters,
        urls: Sequence[str] | None = None,
        page: int = 1,
        per_page: int = 25,
    ) -> CorpusPage:
        """Reviewers' search: words or a phrase of the text or title (accents and case
        ignored), a pseudonym (an author's name, an account, or the name as the matcher would
        normalise it in the text) or a URL (of a post, a thread, a profile, or written in a
        post); best first, then newest. ``urls`` restricts it to those canonical URLs. Pages
        past Elasticsearch's result window are not served: the last one reachable is."""
        must: list[dict[str, Any]] = []
        filter_: list[dict[str, Any]] = []
        text = filters.text.strip()
        if text:
            should: list[dict[str, Any]] = [
                {"match_phrase": {"text": {"query": text, "boost": 3}}},
                {"match_phrase": {"thread_title": text}},
                {"match": {"text": {"query": text, "operator": "and"}}},
                # The account's own posts before those quoting its name; a post's own URL
                # before the posts that link to it.
                _exact({"term": {"author": {"value": text, "case_insensitive": True}}}),
                _exact({"term": {"account": text}}),
                _exact({"term": {"url": text}}),
            ]
            try:
                as_url = canonicalize(text)
            except ValueError:  # not a URL at all ("http://x:y"): searched as words only
                as_url = ""
            if as_url:
                should += [
                    _exact({"term": {"canonical_url": as_url}}),
                    {"term": {"thread": as_url}},
                    _exact({"term": {"account": as_url}}),
                ]
            normalised = skeleton_term(text)
            if normalised:
                should.append({"match_phrase": {"words": normalised}})
            must.append({"bool": {"should": should, "minimum_should_match": 1}})
        if filters.source_id:
            filter_.append({"term": {"source_id": filters.source_id}})
        if filters.client_id:
            of_client = self.urls_of_client(filters.client_id)
            urls = of_client if urls is None else sorted(set(urls) & set(of_client))
        if urls is not None:
            listed = sorted(set(urls))
            filter_.append(
                {
                    "bool": {
                        "should": [
                            {"terms": {"canonical_url": listed[i : i + MAX_TERMS]}}
                            for i in range(0, len(listed), MAX_TERMS)
                        ]
                        # No URL: nothing can match (an empty should would match everything).
                        or [{"terms": {"canonical_url": []}}],
                        "minimum_should_match": 1,
                    }
                }
            )
        if filters.since or filters.until:
            filter_.append(_published_between(filters.since, filters.until))
        page = max(1, min(page, SEARCH_WINDOW // per_page))
        response = _guard(
            "searching the corpus",
            lambda: self._es.search(
                index=self.index,
                query={"bool": {"must": must or [{"match_all": {}}], "filter": filter_}},
                sort=[
                    "_score",
                    {"posted_at": {"order": "desc", "missing": "_last"}},
                    {"crawled_at": "desc"},
                    {"post_id": "asc"},
                ],
                from_=(page - 1) * per_page,
                size=per_page,
                source_excludes=["words", "runs", "masked"],
                aggs={"source_id": {"terms": {"field": "source_id", "size": 50}}},
                track_total_hits=True,
                ignore_unavailable=True,
            ),
        )
        counts = {
            name: [(b["key"], b["doc_count"]) for b in agg["buckets"]]
            for name, agg in response.get("aggregations", {}).items()
        }
        return CorpusPage(
            posts=[CorpusDocument.to_domain(d["_source"]) for d in response["hits"]["hits"]],
            total=int(response["hits"]["total"]["value"]),
            page=page,
            per_page=per_page,
            counts=counts,
        )

    def older_than(self, moment: datetime) -> Iterator[tuple[str, str]]:
        """(post id, canonical URL) of every post last crawled before ``moment``."""
        search_after: list[Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "index": self.index,
                "query": {"range": {"crawled_at": {"lt": _iso(moment)}}},
                "sort": [{"post_id": "asc"}],
                "size": SCAN_PAGE,
                "source_includes": ["post_id", "canonical_url"],
            }
            if search_after is not None:
                kwargs["search_after"] = search_after
            response = _guard("listing old corpus posts", lambda kw=kwargs: self._es.search(**kw))  # type: ignore[misc]
            page = response["hits"]["hits"]
            for doc in page:
                yield doc["_source"]["post_id"], doc["_source"]["canonical_url"]
            if len(page) < SCAN_PAGE:
                return
            search_after = page[-1]["sort"]

    def delete(self, post_ids: Iterable[str]) -> int:
        ids = list(post_ids)
        if not ids:
            return 0
        actions = [{"_op_type": "delete", "_index": self.index, "_id": i} for i in ids]
        deleted, _errors = _guard(
            "deleting corpus posts",
            lambda: helpers.bulk(self._es, actions, refresh="wait_for", raise_on_error=False),
        )
        return int(deleted)

    def delete_urls(self, canonical_urls: Iterable[str]) -> int:
        return self.delete(corpus_id_for(u) for u in set(canonical_urls))

    def delete_index(self) -> None:
        def run() -> None:
            self._es.indices.delete(index=self.index, ignore_unavailable=True)
            if self._es.indices.exists_index_template(name=self._template):
                self._es.indices.delete_index_template(name=self._template)

        _guard("deleting the corpus index", run)


class CorpusJournal(Journal[CorpusPost]):
    """Corpus posts that could not reach Elasticsearch, replayed before the next write (the
    journal's file locking, replay and dead letters, with corpus documents). Posts are public
    content, about no client: erasure of a client's hits does not look here."""

    def encode(self, record: CorpusPost) -> dict[str, Any]:
        return CorpusDocument.from_domain(record)

    def decode(self, document: dict[str, Any]) -> CorpusPost:
        return CorpusDocument.to_domain(document)

    def doc_id(self, record: CorpusPost) -> str:
        return record.post_id


class CorpusRetention:
    """Which corpus posts a hit still relies on (posts behind a hit follow the hit)."""

    def __init__(self, store: CorpusStore, hits_index: str) -> None:
        self.store = store
        self.hits_index = hits_index

    def urls_with_hits(self, canonical_urls: Iterable[str], except_client: str = "") -> set[str]:
        urls = sorted(set(canonical_urls))
        found: set[str] = set()
        for i in range(0, len(urls), 1000):
            chunk = urls[i : i + 1000]
            query: dict[str, Any] = {"bool": {"filter": [{"terms": {"canonical_url": chunk}}]}}
            if except_client:
                query["bool"]["must_not"] = [{"term": {"client_id": except_client}}]
            size = len(chunk)
            response = _guard(
                "looking up hits of corpus posts",
                lambda q=query, n=size: self.store._es.search(  # type: ignore[misc]
                    index=self.hits_index,
                    query=q,
                    size=0,
                    aggs={"urls": {"terms": {"field": "canonical_url", "size": n}}},
                    ignore_unavailable=True,
                ),
            )
            found |= {
                b["key"]
                for b in response.get("aggregations", {}).get("urls", {}).get("buckets", [])
            }
        return found

    def purge(self, older_than: datetime) -> int:
        """Delete posts last crawled before ``older_than`` that no hit relies on."""
        deleted = 0
        batch: list[tuple[str, str]] = []
        for pair in self.store.older_than(older_than):
            batch.append(pair)
            if len(batch) >= SCAN_PAGE:
                deleted += self._purge_batch(batch)
                batch = []
        return deleted + self._purge_batch(batch)

    def _purge_batch(self, batch: list[tuple[str, str]]) -> int:
        if not batch:
            return 0
        kept = self.urls_with_hits(url for _, url in batch)
        return self.store.delete(post_id for post_id, url in batch if url not in kept)
