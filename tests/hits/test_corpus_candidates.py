"""The back-scan misses nothing a crawl would find: for every disguise `make eval` writes, the
corpus's candidate query proposes every post in which the crawl-time matcher finds the name
(issue 10: "the back-scan must not miss what a crawl would find").

Real French names, real forum text (tests/data/forums), the disguises drawn as `make eval`
draws them, a real Elasticsearch index."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.corpus import chunks, french_people
from bench.eval_names import DISGUISES, _alias, _insert
from hits.corpus import CorpusPost, CorpusStore
from matching.html import html_to_text
from matching.names import NameMatcher, WatchEntry

pytestmark = pytest.mark.elasticsearch

FORUMS = Path(__file__).resolve().parents[1] / "data" / "forums"
PEOPLE = 40
POSTS_PER_FAMILY = 12


@pytest.fixture
def corpus(settings, isolated):
    store = CorpusStore(settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX)
    store.ensure_index()
    yield store
    store.delete_index()
    store.close()


def test_every_post_the_matcher_finds_is_a_back_scan_candidate(corpus):
    rng = random.Random(20261204)
    texts = chunks(
        [
            html_to_text(p.read_text("utf-8", errors="replace"))
            for p in sorted(FORUMS.glob("*.html"))
        ]
    )
    people = french_people(PEOPLE, rng)
    compound = [p for p in people if p.compound]
    entries = {
        p.full: WatchEntry(f"c{i}", names=(p.full,), aliases=(_alias(p),))
        for i, p in enumerate(people)
    }
    posts: list[tuple[str, str, CorpusPost]] = []  # (family, person, post)
    now = datetime.now(UTC)
    for family, (write, compound_only) in DISGUISES.items():
        pool = compound if compound_only else people
        for n in range(POSTS_PER_FAMILY):
            person = rng.choice(pool)
            text, _, _ = _insert(rng.choice(texts), write(person, rng), rng)
            url = f"https://forum.example/t/{family}/{n}"
            post = CorpusPost("forum", url, url, "", text, "someone", now)
            posts.append((family, person.full, post))
    corpus.index_posts([p for _, _, p in posts])

    found_by_matcher = 0
    missed: list[str] = []
    candidates_of: dict[str, set[str]] = {}
    for family, full, post in posts:
        entry = entries[full]
        if not any(m.client_id == entry.client_id for m in NameMatcher([entry]).scan(post.text)):
            continue  # the matcher does not find it either (make eval reports those)
        found_by_matcher += 1
        if full not in candidates_of:
            candidates_of[full] = {c.url for c in corpus.candidates([entry])}
        if post.url not in candidates_of[full]:
            missed.append(f"{family}: {post.text[:60]!r}... ({full})")
    assert found_by_matcher >= 0.9 * len(posts)
    assert not missed, "\n".join(missed)


def test_several_masked_letters_in_both_words_are_proposed(corpus):
    now = datetime.now(UTC)
    posts = [
        CorpusPost("forum", f"https://forum.example/t/{i}", "", "", text, "someone", now)
        for i, text in enumerate(
            [
                "Regardez ce que H*l*ne L*f*vre a fait hier soir",
                "tout le monde connaît Hélène L**èvre ici",
                "H…ne L…vre encore",
                # Another name with masks, and a word that only shares letters: not proposed.
                "M*r*e D*r*nd est passée",
                "un f***ing mot",
            ]
        )
    ]
    corpus.index_posts(posts)
    entry = WatchEntry("c1", names=("Hélène Lefèvre",))
    proposed = {p.url for p in corpus.candidates([entry])}
    matched = {p.url for p in posts if NameMatcher([entry]).scan(p.text)}
    assert matched == {posts[0].url, posts[1].url, posts[2].url}
    assert matched <= proposed
    assert posts[3].url not in proposed and posts[4].url not in proposed
