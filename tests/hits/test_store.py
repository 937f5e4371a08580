from datetime import UTC, datetime, timedelta

import pytest

from demo.smtp_sink import free_port
from hits.documents import Hit, MatchedTerm, MatchKind, ReviewStatus
from hits.errors import BulkWriteFailed, HitStoreUnavailable
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


# Lucene refuses a keyword term over 32766 bytes: a hostile page can make any such field huge.
IMMENSE = "x" * 40000


@pytest.mark.elasticsearch
def test_a_refused_document_is_named_with_its_reason_and_the_rest_is_written(hit_store: HitStore):
    good = _hit(url="https://forum.example.org/t/ok/1")
    bad = _hit(url="https://forum.example.org/t/bad/2", author=IMMENSE)
    with pytest.raises(BulkWriteFailed) as caught:
        hit_store.upsert([good, bad])
    failure = caught.value
    assert [f.doc_id for f in failure.refused] == [bad.hit_id]
    assert failure.retryable == []
    assert failure.refused[0].status == 400 and "author" in failure.refused[0].reason
    assert "xxxx" not in str(failure)  # the refused value is page content: never quoted
    assert [r.hit_id for r in failure.written] == [good.hit_id]
    assert hit_store.get(good.hit_id) is not None and hit_store.get(bad.hit_id) is None


@pytest.mark.elasticsearch
def test_an_image_fingerprint_elasticsearch_refuses_raises_our_own_error(hit_store: HitStore):
    from hits.images import CrawledImage, ImageStore
    from matching.hashes import PdqHash

    images = ImageStore(hit_store._es, hit_store.index.removesuffix("-hits"))
    # An index made by someone else, where a field of ours has another type.
    hit_store._es.indices.create(index=images.index, mappings={"properties": {"quality": {"type": "boolean"}}})  # fmt: skip
    try:
        image = CrawledImage("https://i.example/a.jpg", "https://f.example/t/1", "forum",
                             PdqHash.from_hex("f" * 64), -5, T0)  # fmt: skip
        with pytest.raises(BulkWriteFailed) as caught:
            images.add([image])
        assert [f.doc_id for f in caught.value.refused] == [image.doc_id]
    finally:
        hit_store._es.indices.delete(index=images.index)
