"""Investigating (issue 10): an account's page and a full-text search of the corpus.

The corpus (hits.corpus) holds every post the crawls read; the hits index says which of them
name or show a client. An account's page puts the two together: what the account posted,
thread by thread, which clients it named and when, and who else posts about those clients in
the same threads. Reviewers only, as the queue; every page viewed and every search is in the
audit log. Texts are shown escaped; images never.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from hits.corpus import SEARCH_WINDOW, CorpusFilters, CorpusPost, CorpusStore
from hits.documents import Hit, ReviewStatus
from takedowns.services import audit
from takedowns.views import (
    PER_PAGE,
    _hit,
    _page_number,
    _paris_day,
    _start_of,
    reviewer_required,
    who,
)

# Characters of a post shown around what matters in it (the name found, the words searched).
EXCERPT_CHARS = 360
# An account's newest posts shown on its page (the count says when there are more).
AUTHOR_POSTS = 1000
# Longest search text understood (a pasted post is cut here, not refused).
MAX_QUERY = 500
# The audit log's target column holds 200 characters.
_TARGET_MAX = 200


def corpus_store() -> CorpusStore:
    return CorpusStore(
        settings.BODYGUARD_ELASTICSEARCH_URL,
        settings.BODYGUARD_INDEX_PREFIX,
        timeout_s=settings.BODYGUARD_ES_TIMEOUT_S,
    )


@dataclass(frozen=True)
class Account:
    """Who posted: an account id on one source, or a profile URL (one account wherever it is
    read, so its posts are gathered from every source)."""

    source_id: str
    account: str

    @property
    def is_profile_url(self) -> bool:
        parts = urlsplit(self.account)
        return parts.scheme in ("http", "https") and bool(parts.netloc)

    @property
    def page_url(self) -> str:
        query = urlencode({"source": self.source_id, "account": self.account})
        return f"{reverse('takedowns:author')}?{query}"

    def audit_target(self) -> str:
        target = f"author:{self.source_id}:{self.account}"
        if len(target) <= _TARGET_MAX:
            return target
        digest = hashlib.sha256(self.account.encode()).hexdigest()[:16]
        return f"author:{self.source_id}:sha256:{digest}"[:_TARGET_MAX]


# -- excerpts -----------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case without accents, one character for each character of ``text`` (so offsets
    found in it are offsets in the text)."""
    out = []
    for char in text:
        base = [c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)]
        out.append((base[0] if base else char).lower()[:1] or char)
    return "".join(out)


def _spans(folded: str, needles: Sequence[str]) -> list[tuple[int, int]]:
    """Every occurrence of each needle, earlier needles first, never overlapping."""
    spans: list[tuple[int, int]] = []
    for needle in dict.fromkeys(_fold(n.strip()) for n in needles if n and n.strip()):
        at = folded.find(needle)
        while at >= 0:
            end = at + len(needle)
            if not any(lo < end and at < hi for lo, hi in spans):
                spans.append((at, end))
            at = folded.find(needle, end)
    return spans


def excerpt(
    text: str, needles: Sequence[str], fallback: Sequence[str] = (), width: int = EXCERPT_CHARS
) -> SafeString:
    """A piece of ``text`` around the first of ``needles`` found (accents and case ignored),
    or of ``fallback`` when none is, each occurrence marked, everything else escaped."""
    folded = _fold(text)
    spans = _spans(folded, needles) or _spans(folded, fallback)
    start = max(0, spans[0][0] - width // 3) if spans else 0
    if start:
        # Start on a word, not inside one.
        space = text.rfind(" ", max(0, start - 20), start)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + width)
    out: list[str] = ["… " if start else ""]
    at = start
    for lo, hi in sorted(spans):
        if lo < at or hi > end:
            continue
        out.append(escape(text[at:lo]))
        out.append(f"<mark>{escape(text[lo:hi])}</mark>")
        at = hi
    out.append(escape(text[at:end]))
    out.append(" …" if end < len(text) else "")
    return mark_safe("".join(out))


def _search_words(text: str) -> tuple[str, list[str]]:
    """The search as a phrase, and its words (marked when the phrase is not in a post)."""
    phrase = text.strip().strip("\"'“”«» ")
    words = [w.strip("\"'“”«».,;:!?()") for w in phrase.split()]
    return phrase, [w for w in words if len(w) >= 3]


def _term_texts(mentions: Sequence[Hit]) -> list[str]:
    return [t.text for h in mentions for t in h.matched_terms]


def _when(post: CorpusPost) -> datetime:
    return post.posted_at or post.crawled_at


@dataclass(frozen=True)
class Mention:
    """A hit on a post as listed under it: the client, each form of the name found once."""

    hit: Hit

    @property
    def terms(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys((t.text, t.rule) for t in self.hit.matched_terms))


def _mentions(hits: Iterable[Hit]) -> list[Mention]:
    return [Mention(h) for h in sorted(hits, key=lambda h: (h.client_id, h.first_seen))]


# -- the account page ---------------------------------------------------------------------------


@dataclass
class PostRow:
    post: CorpusPost
    mentions: list[Mention]
    excerpt: SafeString

    @property
    def when(self) -> datetime:
        return _when(self.post)

    @property
    def images(self) -> int:
        return len(self.post.image_urls)


@dataclass
class ThreadGroup:
    thread: str
    title: str
    url: str
    rows: list[PostRow] = field(default_factory=list)

    @property
    def clients(self) -> list[str]:
        return sorted(
            {
                m.hit.client_id
                for r in self.rows
                for m in r.mentions
                if m.hit.review_status != ReviewStatus.DISMISSED
            }
        )

    @property
    def last(self) -> datetime:
        return max(r.when for r in self.rows)


@dataclass
class SourceGroup:
    source_id: str
    threads: list[ThreadGroup]

    @property
    def count(self) -> int:
        return sum(len(t.rows) for t in self.threads)


@dataclass
class ClientNamed:
    """One client an account names: in how many posts, first and last time (posts' dates)."""

    client_id: str
    posts: int
    first: datetime
    last: datetime
    photo: bool


@dataclass
class CoPoster:
    """Another account posting about the same clients in the same threads."""

    account: Account
    names: list[str]
    clients: list[str]
    threads: list[str]
    posts: int
    last: datetime | None


def _on(mentions: Iterable[Hit]) -> dict[str, list[Hit]]:
    by_url: dict[str, list[Hit]] = {}
    for hit in mentions:
        by_url.setdefault(hit.canonical_url, []).append(hit)
    return by_url


def group_posts(posts: Sequence[CorpusPost], mentions: Sequence[Hit]) -> list[SourceGroup]:
    """Posts by source, then thread (the most recently active first), each thread in the
    order it was written, with the hits on each post."""
    on = _on(mentions)
    sources: dict[str, dict[str, ThreadGroup]] = {}
    for post in sorted(posts, key=lambda p: (_when(p), p.post_id)):
        threads = sources.setdefault(post.source_id, {})
        group = threads.get(post.thread)
        if group is None:
            group = threads[post.thread] = ThreadGroup(
                post.thread, post.thread_title, post.thread_url or post.thread
            )
        group.title = group.title or post.thread_title
        hits = on.get(post.canonical_url, [])
        group.rows.append(PostRow(post, _mentions(hits), excerpt(post.text, _term_texts(hits))))
    groups = [
        SourceGroup(source_id, sorted(threads.values(), key=lambda t: t.last, reverse=True))
        for source_id, threads in sources.items()
    ]
    return sorted(groups, key=lambda g: (-g.count, g.source_id))


def clients_named(posts: Sequence[CorpusPost], mentions: Sequence[Hit]) -> list[ClientNamed]:
    """Which clients the posts name or show (false positives left out), and when."""
    when = {p.canonical_url: _when(p) for p in posts}
    seen: dict[str, list[Hit]] = {}
    for hit in mentions:
        if hit.review_status != ReviewStatus.DISMISSED and hit.canonical_url in when:
            seen.setdefault(hit.client_id, []).append(hit)
    named = []
    for client_id, hits in seen.items():
        dates = [when[h.canonical_url] for h in hits]
        named.append(
            ClientNamed(
                client_id=client_id,
                posts=len({h.canonical_url for h in hits}),
                first=min(dates),
                last=max(dates),
                photo=any(h.match_kind == "image" for h in hits),
            )
        )
    return sorted(named, key=lambda c: (-c.posts, c.client_id))


def co_posters(
    corpus: CorpusStore, account: Account, posts: Sequence[CorpusPost], mentions: Sequence[Hit]
) -> list[CoPoster]:
    """The other accounts with a hit, for a client this account names, in a thread this
    account posts in (false positives left out on both sides)."""
    own = {p.canonical_url for p in posts}
    clients = {
        h.client_id
        for h in mentions
        if h.review_status != ReviewStatus.DISMISSED and h.canonical_url in own
    }
    threads = {p.thread for p in posts} | {p.thread.split("#")[0] for p in posts}
    if not clients or not threads:
        return []
    others = [
        h
        for h in corpus.mentions(threads=threads, client_ids=clients, dismissed=False)
        if h.canonical_url not in own
    ]
    their_posts = {p.canonical_url: p for p in corpus.posts_at(h.canonical_url for h in others)}
    found: dict[Account, dict[str, Any]] = {}
    for hit in others:
        post = their_posts.get(hit.canonical_url)
        name = post.author if post else hit.author
        who_ = Account(hit.source_id, post.account if post else hit.author)
        if not who_.account or who_.account == account.account:
            continue
        entry = found.setdefault(
            who_, {"names": set(), "clients": set(), "threads": {}, "urls": set(), "last": None}
        )
        if name:
            entry["names"].add(name)
        entry["clients"].add(hit.client_id)
        thread = post.thread if post else hit.thread
        title = (post.thread_title if post else "") or hit.title or thread
        entry["threads"].setdefault(thread, title)
        entry["urls"].add(hit.canonical_url)
        when = _when(post) if post else hit.posted_at or hit.first_seen
        entry["last"] = max(entry["last"], when) if entry["last"] else when
    return sorted(
        (
            CoPoster(
                account=who_,
                names=sorted(e["names"]),
                clients=sorted(e["clients"]),
                threads=sorted(e["threads"].values()),
                posts=len(e["urls"]),
                last=e["last"],
            )
            for who_, e in found.items()
        ),
        key=lambda c: (-c.posts, c.account.source_id, c.account.account),
    )


def _accounts_of_hit(corpus: CorpusStore, hit: Hit) -> list[Account]:
    """Who wrote the post a hit is on: the corpus record's account; else the accounts that
    post under the hit's author name on that source; else that name."""
    for post in corpus.posts_at([hit.canonical_url]):
        if post.account:
            return [Account(post.source_id, post.account)]
    if not hit.author:
        return []
    named = corpus.accounts_named(hit.source_id, hit.author)
    return [Account(hit.source_id, a) for a in named or [hit.author]]


@reviewer_required
@require_safe
def author_page(request: HttpRequest) -> HttpResponse:
    g = request.GET
    hit_id = g.get("hit", "").strip()
    if hit_id:
        hit = _hit(hit_id)
        corpus = corpus_store()
        try:
            accounts = _accounts_of_hit(corpus, hit)
        finally:
            corpus.close()
        if not accounts:
            raise Http404("this hit has no known author")
        if len(accounts) == 1:
            return redirect(accounts[0].page_url)
        # Several accounts post under that name on this source: the reviewer chooses.
        return render(request, "takedowns/author_choice.html", {"hit": hit, "accounts": accounts})
    source_id, name = g.get("source", "").strip(), g.get("account", "").strip()
    if not source_id or not name:
        return HttpResponse(
            _("Say which account to show: open it from a hit or from a corpus search result."),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    account = Account(source_id, name)
    corpus = corpus_store()
    try:
        posts = corpus.by_account(
            source_id, name, limit=AUTHOR_POSTS, any_source=account.is_profile_url
        )
        total = len(posts)
        if total >= AUTHOR_POSTS:
            total = corpus.count_by_account(source_id, name, any_source=account.is_profile_url)
        mentions = corpus.mentions(canonical_urls=[p.canonical_url for p in posts])
        others = co_posters(corpus, account, posts, mentions)
    finally:
        corpus.close()
    audit(
        who(request),
        "view_author",
        account.audit_target(),
        f"{source_id} {name}: {total} post(s)",
    )
    names = sorted({p.author for p in posts if p.author})
    # The name the account writes under finds its posts and those quoting or answering it.
    searched = names[0] if len(names) == 1 else name
    return render(
        request,
        "takedowns/author.html",
        {
            "account": account,
            "names": names,
            "groups": group_posts(posts, mentions),
            "clients": clients_named(posts, mentions),
            "co_posters": others,
            "shown": len(posts),
            "total": total,
            "search_url": f"{reverse('takedowns:corpus_search')}?{urlencode({'q': searched})}",
        },
    )


# -- the corpus search --------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchRequest:
    """The search as understood, what could not be understood (shown), and whether anything
    was asked at all (an empty form searches nothing)."""

    filters: CorpusFilters
    page: int
    problems: list[str]
    asked: bool


def parse_search_request(g: Any) -> SearchRequest:
    """The queue's filters where they apply to posts: client, source, Paris days ("to"
    included)."""
    problems: list[str] = []
    since_day = _paris_day(g.get("since", ""), _("from"), problems)
    until_day = _paris_day(g.get("until", ""), _("to"), problems)
    if since_day and until_day and since_day > until_day:
        problems.append(_("The “from” date is after the “to” date: no post can match."))
    page = _page_number(g.get("page", ""), problems)
    text = g.get("q", "").strip()
    if len(text) > MAX_QUERY:
        problems.append(_("The search was cut to its first %(n)s characters.") % {"n": MAX_QUERY})
        text = text[:MAX_QUERY]
    filters = CorpusFilters(
        text=text,
        source_id=g.get("source", "").strip(),
        client_id=g.get("client", "").strip(),
        since=_start_of(since_day) if since_day else None,
        # "until" includes its whole day.
        until=_start_of(until_day + timedelta(days=1)) if until_day else None,
    )
    asked = any(g.get(k, "").strip() for k in ("q", "client", "source", "since", "until"))
    return SearchRequest(filters, page, problems, asked)


@dataclass
class ResultRow(PostRow):
    author_url: str


@reviewer_required
@require_safe
def corpus_search(request: HttpRequest) -> HttpResponse:
    g = request.GET
    asked = parse_search_request(g)
    context: dict[str, Any] = {
        "query": g,
        "problems": asked.problems,
        "asked": asked.asked,
        "window": SEARCH_WINDOW,
    }
    if asked.asked:
        corpus = corpus_store()
        try:
            page = corpus.search(asked.filters, page=asked.page, per_page=PER_PAGE)
            if page.total and page.page > page.pages:
                # Past the last page (a typed number): show the last one.
                page = corpus.search(asked.filters, page=page.pages, per_page=PER_PAGE)
            mentions = corpus.mentions(canonical_urls=[p.canonical_url for p in page.posts])
        finally:
            corpus.close()
        client = asked.filters.client_id
        # Filtered on a client: the entry is about them, and is redacted if they are erased.
        audit(
            who(request), "corpus_search", f"client:{client}" if client else "corpus", g.urlencode()
        )
        on = _on(mentions)
        phrase, words = _search_words(asked.filters.text)
        rows = []
        for post in page.posts:
            hits = on.get(post.canonical_url, [])
            rows.append(
                ResultRow(
                    post,
                    _mentions(hits),
                    excerpt(post.text, [phrase, *_term_texts(hits)], words),
                    Account(post.source_id, post.account).page_url if post.account else "",
                )
            )
        base_query = g.copy()
        base_query.pop("page", None)
        context |= {
            "page": page,
            "rows": rows,
            "last_page": min(page.pages, SEARCH_WINDOW // PER_PAGE),
            "base_query": base_query.urlencode(),
            "sources": page.counts.get("source_id", []),
        }
    return render(request, "takedowns/corpus_search.html", context)
