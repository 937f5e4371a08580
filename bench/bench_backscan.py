"""`make bench` (back-scan): one new client (3 name forms, 2 aliases) against a corpus of
1,000,000 posts of real forum text in Elasticsearch, end to end until the hits exist (target
< 5 s); its recall against crawl-time matching of every post (must be 100 %); corpus indexing
throughput beside hit indexing throughput, measured in the same run.

The corpus index is built once and reused: its name carries a hash of everything the posts
are made from (count, seed, texts, mapping), so a changed generator builds a new one and an
unchanged one is found again (indexing a million posts on a shared 2-core machine takes
minutes). BENCH_CORPUS=50000 while iterating.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POSTS = int(os.environ.get("BENCH_CORPUS", "1000000"))
SEED = 11
# Generator version: bump when the way posts are made changes (a new cached index is built).
GENERATOR = 4
# Share of posts that name the bench client in one of its forms, and that name someone else
# with the same first or last name (candidates the matcher must turn down).
PLANTED_SHARE = 0.001
DISTRACTOR_SHARE = 0.01

CLIENT_NAMES = ("Jeanne Dupont", "Jeanne-Marie Dupont", "Jeanne Dupont-Moreau")
CLIENT_ALIASES = ("jeannedu75", "La Dupont")
# How the client is written in the planted posts: as the matcher's rules expect harassers to.
FORMS = (
    "Jeanne Dupont", "jeanne dupont", "DUPONT Jeanne", "J. Dupont", "J3anne Dup0nt", "D*pont Jeanne",
    "Jeanne D*pont", "Jeane Dupont", "Jeanne Dupnot", "J e a n n e D u p o n t", "jeanne_dupont",
    "Jeanne-Marie Dupont", "Jeanne Dupont-Moreau", "@jeannedu75", "la dupont", "JEANNE DUPONT",
    # Several masked letters, hashtags and handles glued to other words (issue 9's families).
    "J*a*ne D*p*nt", "Jea… Dup…t", "#JusticePourJeanneDupont", "@DupontJeanne13", "jdupont4",
    "dupontmoreaujeanne", "Jeanne Dupont\u200bMoreau",
)  # fmt: skip


def _setup(tmp: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
            "BODYGUARD_VAR_DIR": str(tmp),
            "BODYGUARD_INDEX_PREFIX": "bodyguard-bench",
            "BODYGUARD_SOURCES_DIR": str(tmp / "sources"),
            "BODYGUARD_JOURNAL_DIR": str(tmp / "journal"),
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _realdata() -> Path:
    """shared/realdata beside the checkout (a git worktree sits one level deeper)."""
    for parent in ROOT.parents:
        if (parent / "shared" / "realdata" / "forums").is_dir():
            return parent / "shared" / "realdata"
    raise SystemExit("no shared/realdata/forums above this checkout: the bench needs real text")


def _texts() -> list[str]:
    from bench.corpus import chunks, forum_texts

    return chunks(forum_texts(_realdata()))


def generated_posts(texts: list[str], count: int) -> Iterator[Any]:
    """``count`` posts of real forum text; a few name the client, more name namesakes."""
    from bench.corpus import generated_names
    from hits.corpus import CorpusPost

    rng = random.Random(SEED)
    others = [f"{f} {last}" for f, last in generated_names(400, seed=SEED)]
    namesakes = [n for n in others if n.startswith("Jeanne ") or n.endswith(" Dupont")]
    namesakes += ["Julien Dupont", "Jeanne Moreau", "Jean Dupont", "Jeanne Dupond"]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(count):
        text = texts[i % len(texts)]
        if i >= len(texts):
            # Another real chunk after it: the same page is never twice the same post.
            text = f"{text} {texts[(i * 7919) % len(texts)][:200]}"
        roll = rng.random()
        words = text.split(" ")
        at = rng.randrange(len(words))
        if roll < PLANTED_SHARE:
            words.insert(at, rng.choice(FORMS))
        elif roll < PLANTED_SHARE + DISTRACTOR_SHARE:
            words.insert(at, rng.choice(namesakes))
        elif roll < PLANTED_SHARE + DISTRACTOR_SHARE + 0.02:
            words.insert(at, rng.choice(others))
        thread = i // 20
        yield CorpusPost(
            source_id=f"forum-{thread % 7}",
            url=f"https://forum-{thread % 7}.example/t/{thread}/{i % 20 + 1}",
            thread_url=f"https://forum-{thread % 7}.example/t/{thread}",
            thread_title=f"Sujet {thread}",
            text=" ".join(words),
            author=f"user{rng.randrange(5000)}",
            posted_at=start + timedelta(minutes=i),
            crawled_at=start + timedelta(minutes=i, seconds=30),
            is_thread_start=False,
            content_sha256="",
        )


def _corpus_key(texts: list[str]) -> str:
    from hits.corpus import CorpusDocument

    digest = hashlib.sha256()
    digest.update(f"{POSTS}|{SEED}|{GENERATOR}|{PLANTED_SHARE}|{DISTRACTOR_SHARE}|{FORMS}".encode())
    digest.update(json.dumps([CorpusDocument.MAPPING, CorpusDocument.SETTINGS]).encode())
    for text in texts:
        digest.update(text.encode())
    return digest.hexdigest()[:12]


def build_corpus(es_url: str, texts: list[str]) -> tuple[Any, float | None]:
    """The cached corpus index, built if absent; (store, posts/s if built in this run)."""
    from elasticsearch import Elasticsearch

    from hits.corpus import CorpusDocument, CorpusStore

    key = _corpus_key(texts)
    store = CorpusStore(es_url, f"bodyguard-benchcorpus-{key}", timeout_s=120)
    es = Elasticsearch(es_url, request_timeout=300)
    if es.indices.exists(index=store.index):
        meta = es.indices.get_mapping(index=store.index)[store.index]["mappings"].get("_meta", {})
        if meta.get("complete") and store.count() == POSTS:
            print(
                f"  corpus index {store.index} reused ({POSTS:,} posts, cache key {key}); "
                f"when built: {meta.get('posts_per_s', '?')} posts/s"
            )
            return store, None
        es.indices.delete(index=store.index)
    store.ensure_index()
    es.indices.put_settings(index=store.index, settings={"refresh_interval": "-1"})
    began = time.perf_counter()
    batch: list[dict[str, Any]] = []
    done = 0
    for post in generated_posts(texts, POSTS):
        batch.append(
            {
                "_index": store.index,
                "_id": post.post_id,
                "_source": CorpusDocument.from_domain(post),
            }
        )
        if len(batch) >= 5000:
            done += store.index_documents(batch, refresh=False)
            batch = []
            if done % 100000 == 0:
                print(f"  ... {done:,} posts indexed", flush=True)
    done += store.index_documents(batch, refresh=False)
    es.indices.put_settings(index=store.index, settings={"refresh_interval": "1s"})
    store.refresh()
    es.indices.forcemerge(index=store.index, max_num_segments=1)
    elapsed = time.perf_counter() - began
    es.indices.put_mapping(
        index=store.index, meta={"complete": True, "posts_per_s": round(done / elapsed, 1)}
    )
    es.close()
    return store, done / elapsed


def hit_indexing_rate(es_url: str, count: int = 20000) -> float:
    from hits.documents import Hit, MatchedTerm, MatchKind
    from hits.store import HitStore

    store = HitStore(es_url, f"bodyguard-benchhits-{os.getpid()}", timeout_s=120)
    store.ensure_index()
    now = datetime.now(UTC)
    hits = [
        Hit(
            client_id=f"c{i % 100}",
            source_id="forum",
            url=f"https://forum.example/t/{i}",
            match_kind=MatchKind.NAME,
            matched_terms=(MatchedTerm("Jeanne Dupont", "Jeanne Dupont", "exact", 0, 13),),
            first_seen=now,
            last_seen=now,
            excerpt="Jeanne Dupont " * 20,
        )
        for i in range(count)
    ]
    try:
        began = time.perf_counter()
        for i in range(0, count, 500):
            store.upsert(hits[i : i + 500])
        return count / (time.perf_counter() - began)
    finally:
        store.delete_index()
        store.close()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bodyguard-bench-backscan-") as tmp_name:
        tmp = Path(tmp_name)
        _setup(tmp)
        from django.conf import settings

        from bench.corpus import generated_names
        from clients.models import Client, WatchTerm
        from clients.services import watch_target
        from crawlers.pipelines import watch_entry
        from hits.store import HitStore
        from matching.names import NameMatcher
        from operations.backscan import backscan_client

        es_url = settings.BODYGUARD_ELASTICSEARCH_URL
        texts = _texts()
        print(
            f"back-scan: {POSTS:,} corpus posts made from {len(texts):,} chunks of real forum text"
        )
        store, built = build_corpus(es_url, texts)
        if built is not None:
            print(f"  corpus indexing: {built:,.0f} posts/s (built in this run)")
        # The watch list the crawls use: 200 other clients, then the new one.
        for first, last in generated_names(200, seed=3):
            other = Client.objects.create(
                reference=f"{first}-{last}".lower().replace(" ", "-")[:60],
                display_name=f"{first} {last}",
                email="c@example.org",
            )
            WatchTerm.objects.create(
                client=other, kind=WatchTerm.Kind.NAME, value=f"{first} {last}"
            )
        client = Client.objects.create(
            reference="bench-client", display_name="Jeanne Dupont", email="j@example.org"
        )
        for name in CLIENT_NAMES:
            WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.NAME, value=name)
        for alias in CLIENT_ALIASES:
            WatchTerm.objects.create(client=client, kind=WatchTerm.Kind.ALIAS, value=alias)

        hits = HitStore(es_url, f"bodyguard-benchbackscan-{os.getpid()}", timeout_s=120)
        hits.ensure_index()
        try:
            timings = []
            outcome = None
            for _ in range(3):
                began = time.perf_counter()
                outcome = backscan_client(
                    client,
                    corpus=store,
                    hits=hits,
                    sources={},
                    evidence_dir=tmp / "evidence",
                    fresh_capture=False,
                )
                timings.append(time.perf_counter() - began)
            assert outcome is not None
            made = hits.count(client_id="bench-client")
        finally:
            hits.delete_index()
            hits.close()

        # Crawl-time matching of every post, the reference the back-scan must equal.
        from clients.services import watchlist

        matcher = NameMatcher([watch_entry(t) for t in watchlist()])
        # Posts repeat the same real chunks: each distinct text is matched once (a memo, not
        # a shortcut: every post's own text is looked up).
        memo: dict[str, bool] = {}
        scanned = 0
        began = time.perf_counter()
        truth = set()
        for p in generated_posts(texts, POSTS):
            named = memo.get(p.match_text)
            if named is None:
                scanned += 1
                named = memo[p.match_text] = any(
                    m.client_id == "bench-client" for m in matcher.scan(p.match_text)
                )
            if named:
                truth.add(p.canonical_url)
        brute_s = time.perf_counter() - began
        found = {h.canonical_url for h in outcome.hits}
        recall = len(found & truth) / len(truth) if truth else 1.0
        extra = found - truth
        print(
            f"  back-scan of one new client ({len(CLIENT_NAMES)} names, {len(CLIENT_ALIASES)} aliases, "
            f"{len(watch_target(client).terms)} terms) until its hits exist: "
            f"{timings[0]:.2f} s first run, {min(timings[1:]):.2f} s again (target < 5 s)"
        )
        print(
            f"  {outcome.posts_read:,} candidate posts proposed by Elasticsearch, "
            f"{outcome.posts_matched:,} verified, {made:,} hits"
        )
        print(
            f"  recall against crawl-time matching of all {POSTS:,} posts: {recall:.2%} "
            f"({len(found & truth)}/{len(truth)}; {len(extra)} not found by crawl-time matching)"
        )
        print(
            f"  crawl-time matching of every post ({scanned:,} distinct texts scanned): {brute_s:.1f} s"
        )
        print(f"  hit indexing: {hit_indexing_rate(es_url):,.0f} hits/s (bulk upserts of 500)")
        store.close()
        return 0 if recall == 1.0 and not extra else 1


if __name__ == "__main__":
    sys.exit(main())
