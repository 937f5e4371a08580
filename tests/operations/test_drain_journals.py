"""A crawl node about to be retired hands over what it journaled while Elasticsearch was down."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from hits.documents import Hit, MatchedTerm, MatchKind
from hits.images import CrawledImage, ImageJournal, ImageStore
from hits.journal import HitJournal
from hits.store import HitStore
from matching.images import crawled_fingerprint, decode, registration_hashes
from tests.conftest import DATA

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PHOTO = (DATA / "photos" / "opencv_baboon.jpg").read_bytes()


def _hit(n: int) -> Hit:
    text = "Jeanne Dupont"
    return Hit(
        client_id="jeanne", source_id="forum", url=f"https://forum.example.org/t/{n}",
        match_kind=MatchKind.NAME, matched_terms=(MatchedTerm(text, text, "exact", 0, len(text)),),
        first_seen=T0, last_seen=T0, excerpt=text,
    )  # fmt: skip


def _journaled(settings) -> tuple[HitJournal, ImageJournal, list[Hit], CrawledImage]:
    prefix = settings.BODYGUARD_INDEX_PREFIX
    directory = Path(settings.BODYGUARD_JOURNAL_DIR)
    hits = HitJournal(directory, f"{prefix}-hits")
    images = ImageJournal(directory, f"{prefix}-images")
    found = crawled_fingerprint(PHOTO)
    image = CrawledImage(
        "https://img.example/1.jpg", "https://forum.example.org/t/1", "forum",
        found.fingerprint.pdq, found.fingerprint.quality, T0, variants=found.variants,
    )  # fmt: skip
    kept = [_hit(1), _hit(2)]
    hits.append(kept)
    images.append([image])
    return hits, images, kept, image


def test_what_a_node_journaled_is_written_before_it_is_retired(isolated, settings, capsys):
    hits, images, kept, image = _journaled(settings)

    call_command("drain_journals")

    store = HitStore(settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX)
    pictures = ImageStore.connect(
        settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    )
    try:
        # In the reviewers' queue, and found by a photo registered from now on.
        assert all(store.get(h.hit_id) for h in kept)
        similar = pictures.similar(registration_hashes(decode(PHOTO)))
        assert [s.image_url for s in similar] == [image.image_url]
    finally:
        store.close()
        pictures.close()
    assert hits.pending() == [] and images.pending() == []
    out = capsys.readouterr().out
    assert "hits: 2 written, 0 waiting" in out and "images: 1 written, 0 waiting" in out


def test_while_elasticsearch_cannot_be_reached_nothing_is_lost_and_the_command_fails(
    isolated, settings
):
    hits, images, _, _ = _journaled(settings)
    before = hits.path.read_bytes(), images.path.read_bytes()
    settings.BODYGUARD_ELASTICSEARCH_URL = "http://127.0.0.1:9"  # nothing listens there

    with pytest.raises(CommandError, match=r"3 record\(s\) still waiting .*nothing was lost"):
        call_command("drain_journals")

    assert (hits.path.read_bytes(), images.path.read_bytes()) == before


def test_what_elasticsearch_refused_earlier_is_pointed_out_before_the_node_goes(
    isolated, settings, hit_store, capsys
):
    from tests.hits.test_store import IMMENSE

    journal = HitJournal(Path(settings.BODYGUARD_JOURNAL_DIR), hit_store.index)
    journal.append([_hit(1)])
    journal.append([replace(_hit(2), author=IMMENSE)])
    journal.replay(hit_store.upsert)  # an earlier crawl: one written, one refused

    call_command("drain_journals")

    out = capsys.readouterr().out
    assert "hits: 1 record(s) Elasticsearch refused are kept in" in out
    assert str(journal.dead_letters.directory) in out
