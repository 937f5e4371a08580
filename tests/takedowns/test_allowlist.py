"""Allow-listing covers the thread or account that was allowed, and nothing next to it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.models import Alert
from alerts.services import collect_new_hits
from clients.models import Client
from hits.documents import Hit, MatchedTerm, MatchKind
from tests.takedowns.workbench import make_user

pytestmark = [pytest.mark.django_db(transaction=True)]

FORUM = "https://forum.example"


def _hit(url: str, *, thread: str = "", author: str = "someone") -> Hit:
    now = datetime.now(UTC)
    return Hit(
        client_id="jeanne", source_id="forum", url=url, match_kind=MatchKind.NAME,
        matched_terms=(MatchedTerm("Jeanne Dupont", "Jeanne Dupont", "exact", 0, 13),),
        first_seen=now, last_seen=now, excerpt="Jeanne Dupont", author=author, thread_url=thread,
    )  # fmt: skip


@pytest.fixture
def reviewer(client, isolated, hit_store):
    Client.objects.create(reference="jeanne", display_name="Jeanne Dupont", email="j@example.org")
    client.force_login(make_user("rev", "reviewer"))
    return client


def _allow(reviewer, hit_store, hit: Hit, kind: str) -> None:
    hit_store.upsert([hit])
    collect_new_hits(hit_store)
    response = reviewer.post(
        f"/review/hit/{hit.hit_id}/allowlist/", {"kind": kind, "reason": "her own"}
    )
    assert response.status_code == 302
    assert hit_store.get(hit.hit_id).review_status == "allowlisted"


def _raised(hit_store, hits: list[Hit]) -> dict[str, bool]:
    hit_store.upsert(hits)
    collect_new_hits(hit_store)
    return {h.url: Alert.objects.filter(hit_id=h.hit_id).exists() for h in hits}


def test_allow_listing_a_thread_covers_its_other_pages_and_not_its_neighbours(reviewer, hit_store):
    topic = f"{FORUM}/viewtopic.php?f=4&t=12"
    _allow(reviewer, hit_store, _hit(f"{topic}#p100", thread=topic), "url")

    raised = _raised(
        hit_store,
        [
            _hit(f"{FORUM}/viewtopic.php?f=4&t=12&start=25#p140", thread=f"{topic}&start=25"),
            _hit(f"{FORUM}/viewtopic.php?t=12#p141"),
            _hit(f"{FORUM}/viewtopic.php?f=4&t=123#p7", thread=f"{FORUM}/viewtopic.php?f=4&t=123"),
            _hit(f"{FORUM}/viewtopic.php?f=4&t=1#p8", thread=f"{FORUM}/viewtopic.php?f=4&t=1"),
            _hit("https://other.example/viewtopic.php?f=4&t=12#p100"),
        ],
    )
    assert raised == {
        f"{FORUM}/viewtopic.php?f=4&t=12&start=25#p140": False,  # page 2 of the thread
        f"{FORUM}/viewtopic.php?t=12#p141": False,  # the same topic without its forum id
        f"{FORUM}/viewtopic.php?f=4&t=123#p7": True,
        f"{FORUM}/viewtopic.php?f=4&t=1#p8": True,
        "https://other.example/viewtopic.php?f=4&t=12#p100": True,  # same path, other site
    }


def test_allow_listing_a_profile_page_covers_what_is_under_it_not_a_longer_name(
    reviewer, hit_store
):
    _allow(reviewer, hit_store, _hit(f"{FORUM}/user/jdupont"), "url")
    raised = _raised(
        hit_store,
        [
            _hit(f"{FORUM}/user/jdupont/photos"),
            _hit(f"{FORUM}/user/jdupont_leaks"),
            _hit(f"{FORUM}/user/jdupont-leaks/photos"),
        ],
    )
    assert raised == {
        f"{FORUM}/user/jdupont/photos": False,
        f"{FORUM}/user/jdupont_leaks": True,
        f"{FORUM}/user/jdupont-leaks/photos": True,
    }


def test_allow_listing_an_account_does_not_cover_a_look_alike_account(reviewer, hit_store):
    _allow(reviewer, hit_store, _hit(f"{FORUM}/t/1", author="jdupont"), "account")
    raised = _raised(
        hit_store,
        [
            _hit(f"{FORUM}/t/2", author="JDupont"),
            _hit(f"{FORUM}/t/3", author="jdupont_leaks"),
            _hit("https://other.example/t/4", author="jdupont"),
        ],
    )
    assert raised == {
        f"{FORUM}/t/2": False,
        f"{FORUM}/t/3": True,
        "https://other.example/t/4": True,
    }
