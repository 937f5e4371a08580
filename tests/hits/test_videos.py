"""The crawled-video index: frames stored and read back, candidates by MD5 and by frames,
retro-matching a video registered after the crawl, refusals set aside per video."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hits.documents import MatchKind
from hits.errors import BulkWriteFailed
from hits.journal import HitJournal, journals_in
from hits.store import HitStore
from hits.videos import CrawledVideo, VideoJournal, VideoStore, retro_match_video
from matching.videos import MIN_ALIGNED_FRAMES, fingerprint_video
from tests.hits.test_journal import _hit
from tests.video_clips import excerpt, md5_hex, original, other, within

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PAGE = "https://t.me/somechannel/41"


@pytest.fixture(scope="module")
def registered():
    return fingerprint_video(original(), registration=True)


@pytest.fixture(scope="module")
def reposted() -> CrawledVideo:
    """Seconds 8-18 of the registered video, re-encoded small, as a crawl indexes it."""
    fp = fingerprint_video(excerpt())
    return CrawledVideo.of(fp, "https://cdn4.telesco.pe/file/a.mp4", PAGE, "tg", T0)


@pytest.fixture(scope="module")
def unrelated() -> CrawledVideo:
    fp = fingerprint_video(other())
    return CrawledVideo.of(fp, "https://cdn4.telesco.pe/file/b.mp4", PAGE + "0", "tg", T0)


@pytest.fixture
def store(isolated: Path, settings: Any) -> Iterator[VideoStore]:
    videos = VideoStore.connect(
        settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    )
    videos.ensure_index()
    yield videos
    videos.delete_index()
    videos.close()


def test_a_journaled_video_reads_back_with_every_frame_hash(tmp_path: Path, reposted):
    journal = VideoJournal(tmp_path, "bodyguard-videos")

    journal.append([reposted])

    [back] = journal.pending()
    assert back == reposted
    assert len(back.frames) >= 10 and back.frames[0].pdq == reposted.frames[0].pdq
    # Not a hit journal: erasure does not read it as one.
    HitJournal(tmp_path, "bodyguard-hits").append([_hit("jeanne", 1)])
    assert [j.index for j in journals_in(tmp_path)] == ["bodyguard-hits"]


@pytest.mark.elasticsearch
def test_a_stored_video_reads_back_whole_from_its_frame_documents(store, reposted):
    assert store.add([reposted]) == 1

    [back] = store.videos([reposted.doc_id])

    assert back.frames == reposted.frames and back.variants == reposted.variants
    assert (back.md5, back.video_url, back.page_url) == (
        reposted.md5,
        reposted.video_url,
        reposted.page_url,
    )
    assert store.count_videos() == 1
    # One document per sampled frame, none holding the video.
    count = store._es.count(index=store.index)["count"]
    assert count == len(reposted.frames)


@pytest.mark.elasticsearch
def test_a_video_registered_later_is_found_among_videos_crawled_before(
    store, hit_store: HitStore, registered, reposted, unrelated
):
    store.add([reposted, unrelated])

    result = retro_match_video(
        store, hit_store, "jeanne", "video 1", registered.md5, registered.all_hashes
    )

    assert (result.hits_created, result.videos_matched) == (1, 1)
    [hit] = hit_store.latest(client_id="jeanne")
    assert hit.match_kind == MatchKind.VIDEO
    assert (hit.url, hit.video_url, hit.video_label) == (PAGE, reposted.video_url, "video 1")
    assert (hit.video_method, hit.video_tier) == ("frames", "strong")
    assert hit.video_frames_compared == len(reposted.frames)
    assert hit.video_frames_matched is not None and hit.video_frames_matched >= 8
    # The excerpt is seconds 8-18 of the registered video: its own 0-10 s.
    assert within(hit.video_ranges, 0, 10) and within(hit.video_registered_ranges, 8, 18)
    assert "sampled frames match" in hit.video_why


@pytest.mark.elasticsearch
def test_a_short_video_of_another_scene_is_no_match(store, hit_store, registered, unrelated):
    store.add([unrelated])

    result = retro_match_video(
        store, hit_store, "jeanne", "video 1", registered.md5, registered.all_hashes
    )

    assert result.hits_created == 0 and hit_store.count(client_id="jeanne") == 0


@pytest.mark.elasticsearch
def test_a_video_known_by_its_md5_only_is_found_by_that_md5(store, hit_store, registered):
    declared = CrawledVideo(
        "https://i.4cdn.org/wsg/1.webm",
        "https://boards.4chan.org/wsg/thread/1#p1",
        "4chan",
        md5_hex(original()),
        T0,
    )
    store.add([declared])

    result = retro_match_video(
        store, hit_store, "jeanne", "video 1", registered.md5, registered.all_hashes
    )

    assert result.hits_created == 1
    [hit] = hit_store.latest(client_id="jeanne")
    assert (hit.video_method, hit.video_tier, hit.video_ranges) == ("md5", "strong", ())
    assert "declared by the site" in hit.video_why


@pytest.mark.elasticsearch
def test_candidates_need_frames_close_enough(store, registered, reposted):
    store.add([reposted])

    by_frames = store.candidates("", registered.all_hashes)
    by_md5 = store.candidates(reposted.md5, ())
    far = store.candidates("", [replace(f, pdq=_inverted(f.pdq)) for f in registered.frames])

    assert by_frames.video_ids == (reposted.doc_id,)
    assert by_md5.video_ids == (reposted.doc_id,)
    assert far.video_ids == ()
    assert len(reposted.frames) >= MIN_ALIGNED_FRAMES


def _inverted(pdq):
    return type(pdq)(bytes(b ^ 0xFF for b in pdq.value))


@pytest.mark.elasticsearch
def test_a_refused_video_is_named_once_and_set_aside_by_the_journal(
    store, tmp_path: Path, reposted, unrelated
):
    # An index where "frame" cannot take a number (made by someone else, or an old mapping).
    store._es.indices.delete(index=store.index)
    store._es.indices.create(index=store.index, mappings={"properties": {"at": {"type": "ip"}}})

    with pytest.raises(BulkWriteFailed) as failed:
        store.add([reposted])
    assert [f.doc_id for f in failed.value.failures] == [reposted.doc_id]
    assert failed.value.refused and not failed.value.written

    journal = VideoJournal(tmp_path, store.index)
    journal.append([reposted, unrelated])
    outcome = journal.replay(store.add)

    assert (outcome.replayed, outcome.remaining, outcome.dead_lettered) == (0, 0, 2)
    assert journal.pending() == []
    letters = journal.dead_letters.entries()
    assert {letter.doc_id for letter in letters} == {reposted.doc_id, unrelated.doc_id}
    assert all(letter.client_id == "" and letter.status == 400 for letter in letters)
    assert VideoJournal(tmp_path, store.index).decode(letters[0].document) in (reposted, unrelated)


@pytest.mark.elasticsearch
def test_a_video_hit_seen_again_keeps_its_best_match(hit_store: HitStore):
    from datetime import timedelta

    from hits.documents import Hit

    def seen(days: int, **video: Any) -> Hit:
        moment = T0 + timedelta(days=days)
        return Hit(
            client_id="jeanne", source_id="tg", url=PAGE, match_kind=MatchKind.VIDEO,
            matched_terms=(), first_seen=moment, last_seen=moment, video_label="video 1",
            video_url="https://cdn.example/a.mp4", **video,
        )  # fmt: skip

    first = seen(0, video_tier="candidate", video_method="frames", video_frames_matched=3,
                 video_frames_compared=10, video_ranges=((0.0, 3.0),))  # fmt: skip
    hit_store.upsert([first])
    hit_store.upsert([seen(1, video_tier="strong", video_method="frames", video_frames_matched=9,
                           video_frames_compared=10, video_ranges=((0.0, 9.0),))])  # fmt: skip
    hit_store.upsert([seen(2, video_tier="candidate", video_method="frames", video_frames_matched=4,
                           video_frames_compared=10, video_ranges=((0.0, 4.0),))])  # fmt: skip

    stored = hit_store.get(first.hit_id)
    assert stored is not None
    assert (stored.video_tier, stored.video_frames_matched, stored.video_ranges) == (
        "strong",
        9,
        ((0.0, 9.0),),
    )
    assert stored.severity == 4 and stored.last_seen == T0 + timedelta(days=2)
