"""Each run fetches only what changed since the last complete one; --full re-crawls."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from clients.services import import_client_file
from operations.scheduler import configured_sources, run_cycle
from tests.conftest import write_source
from tests.test_end_to_end import CLIENTS

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def forum(isolated: Path, discourse_site, hit_store, mailbox):
    site, base_url = discourse_site
    (isolated / "clients.yaml").write_text(CLIENTS, encoding="utf-8")
    import_client_file(isolated / "clients.yaml")
    write_source(isolated / "sources", "cf-forum", base_url)
    return site


def _topic_fetches(site) -> int:
    return sum(1 for r in site.requests if r.startswith("/t/2108"))


def test_an_unchanged_forum_is_not_fetched_again(forum, hit_store):
    run_cycle(list(configured_sources().values()))
    first = _topic_fetches(forum)
    forum.requests.clear()

    again = run_cycle(list(configured_sources().values()))

    assert first > 20
    assert _topic_fetches(forum) == 0
    assert again.crawls[0].status == "ok"
    assert hit_store.count() == 1  # nothing lost: the hit of the first run is still there


def test_a_new_post_is_fetched_on_the_next_run(forum, hit_store):
    run_cycle(list(configured_sources().values()))
    forum.requests.clear()
    topic = forum.topics[2108]
    new_post = dict(forum.posts[topic["stream"][0]])
    new_post.update(
        {
            "id": 999999,
            "post_number": 447,
            "cooked": "<p>Et Allan Bloom encore.</p>",
            "post_url": None,
        }
    )
    forum.add_topic(
        {k: topic[k] for k in ("id", "title", "slug")},
        [*(forum.posts[i] for i in topic["stream"] if i in forum.posts), new_post],
        stream=[*topic["stream"], 999999],
    )

    run_cycle(list(configured_sources().values()))

    assert _topic_fetches(forum) > 0
    assert hit_store.count() == 2


def test_full_re_crawls_everything(forum, settings):
    run_cycle(list(configured_sources().values()))
    forum.requests.clear()
    call_command("monitor", "--once", "--full")
    assert _topic_fetches(forum) > 20
