from datetime import UTC, datetime, timedelta

import pytest

from demo.smtp_sink import free_port
from hits.documents import Hit, MatchedTerm, MatchKind, ReviewStatus
from hits.errors import HitStoreUnavailable
from hits.store import HitStore
from hits.urls import canonicalize

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _hit(
    url="https://Forum.example.org:443/t/x/1?utm_source=a#top", seen=T0, text="Jeanne Dupont", **kw
):
    return Hit(
        client_id="jeanne",
        source_id="forum",
        url=url,
        match_kind=MatchKind.NAME,
        matched_terms=(MatchedTerm("Jeanne Dupont", text, "exact_normalized", 0, len(text)),),
        first_seen=seen,
        last_seen=seen,
        excerpt=text,
        content_sha256=kw.pop("sha", "a" * 64),
        **kw,
    )


def test_canonical_urls_ignore_case_default_port_fragment_and_tracking():
    assert canonicalize("HTTPS://Forum.Example.org:443/t/x/1?utm_source=a&b=2&a=1#post") == (
        "https://forum.example.org/t/x/1?a=1&b=2"
    )


def test_a_fragment_naming_one_post_of_a_page_is_kept():
    assert canonicalize("https://f.example/viewtopic.php?t=1#p453").endswith("#p453")
    assert canonicalize("https://f.example/2018/04/#comment4750748").endswith("#comment4750748")
    assert canonicalize("https://f.example/t/1#top") == "https://f.example/t/1"


def test_the_hit_id_depends_on_client_canonical_url_and_kind_only():
    a = _hit()
    b = _hit(url="https://forum.example.org/t/x/1", seen=T0 + timedelta(days=1))
    assert a.hit_id == b.hit_id
    assert a.hit_id != _hit(url="https://forum.example.org/t/x/2").hit_id


@pytest.mark.elasticsearch
def test_seeing_a_page_again_moves_last_seen_and_keeps_one_document(hit_store: HitStore):
    first = hit_store.upsert([_hit()])
    later = T0 + timedelta(hours=3)
    second = hit_store.upsert([_hit(seen=later)])
    assert [r.created for r in first] == [True]
    assert [r.created for r in second] == [False]
    assert hit_store.count() == 1
    stored = hit_store.get(first[0].hit_id)
    assert stored is not None
    assert stored.first_seen == T0
    assert stored.last_seen == later
    assert stored.review_status == ReviewStatus.NEW


@pytest.mark.elasticsearch
def test_an_older_replay_never_moves_last_seen_back(hit_store: HitStore):
    later = T0 + timedelta(hours=3)
    hit_store.upsert([_hit(seen=later)])
    hit_store.upsert([_hit(seen=T0, text="old text", sha="b" * 64)])
    stored = hit_store.get(_hit().hit_id)
    assert stored is not None and stored.last_seen == later
    assert stored.excerpt == "Jeanne Dupont"


@pytest.mark.elasticsearch
def test_changed_content_is_refreshed(hit_store: HitStore):
    hit_store.upsert([_hit()])
    hit_store.upsert([_hit(seen=T0 + timedelta(hours=1), text="JEANNE DUPONT", sha="c" * 64)])
    stored = hit_store.get(_hit().hit_id)
    assert stored is not None and stored.excerpt == "JEANNE DUPONT"
    assert stored.matched_terms[0].text == "JEANNE DUPONT"


@pytest.mark.elasticsearch
def test_unalerted_hits_are_listed_until_marked(hit_store: HitStore):
    hit_store.upsert([_hit(), _hit(url="https://forum.example.org/t/x/2")])
    pending = list(hit_store.iter_unalerted())
    assert len(pending) == 2
    hit_store.mark_alerted([pending[0].hit_id])
    assert [h.hit_id for h in hit_store.iter_unalerted()] == [pending[1].hit_id]
    hit_store.upsert([_hit(seen=T0 + timedelta(days=1))])
    assert [h.hit_id for h in hit_store.iter_unalerted()] == [pending[1].hit_id]


def test_an_unreachable_cluster_raises_our_own_error():
    store = HitStore(f"http://127.0.0.1:{free_port()}", "nothing", timeout_s=2)
    with pytest.raises(HitStoreUnavailable, match="unreachable"):
        store.upsert([_hit()])
    with pytest.raises(HitStoreUnavailable):
        store.ensure_index()
