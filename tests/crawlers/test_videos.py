"""Videos on crawled posts, end to end: real Telegram, Mastodon and 4chan answers served over
local HTTP with their video addresses pointing at our server, which serves re-encoded excerpts
of a real clip; the clip is registered for a client (hashes only) and the real crawl must
put a video hit in Elasticsearch. Budgets, hosts, the journal, retro-matching, and no video
byte kept anywhere."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import time
import zlib
from pathlib import Path
from typing import Any

import ahocorasick
import pytest

from bench.eval_videos import Edit, render
from clients.keys import features_key
from clients.models import Client, ClientVideo
from crawlers.models import CrawlRun
from demo.smtp_sink import free_port
from hits.documents import MatchKind
from hits.store import HitStore
from hits.videos import VideoJournal, VideoStore, retro_match_video
from matching.features import seal_many
from matching.videos import (
    KEYFRAME_EVERY_S,
    MAX_KEYFRAMES,
    VideoFingerprint,
    fingerprint_video,
    registration_keyframes,
    video_stills,
)
from operations.scheduler import configured_sources, run_cycle
from tests.conftest import DATA, database_contents, write_source
from tests.crawlers.cassettes import load_cassette
from tests.crawlers.golden import crawl_items
from tests.crawlers.static_site import Route, StaticSite, serve_site
from tests.video_clips import MIN_DISTINCT_BYTES, blocks, excerpt, original, within

pytestmark = [pytest.mark.django_db(transaction=True)]

JSON = "application/json; charset=utf-8"
MP4 = "video/mp4"
TELEGRAM_PAGE = DATA / "telegram" / "sherlock-telegram_t.me_s_durov.html"
# Messages of the real t.me/s/durov page with a video, and their video files on Telegram's CDN.
TG_VIDEO = ("durov/519", "/file/e174be993b.mp4")
TG_OTHER = ("durov/523", "/file/3d8e6da6a4.mp4")
TG_THIRD = ("durov/524", "/file/2192a7c5b9.mp4")


@pytest.fixture(scope="module")
def registered() -> VideoFingerprint:
    return fingerprint_video(original(), registration=True)


def _client(reference: str) -> Client:
    client = Client.objects.create(
        reference=reference, display_name=reference.title(), email=f"{reference}@example.org"
    )
    client.terms.create(kind="name", value="Personne Inconnue")
    return client


def _register(client: Client, label: str, fp: VideoFingerprint) -> ClientVideo:
    """As registration stores a video: its MD5 and frame hashes (clients/videos.py does the
    same from the uploaded bytes; the tests of registration are its own)."""
    return ClientVideo.objects.create(
        client=client,
        label=label,
        md5=fp.md5,
        frame_hashes=[f.to_row() for f in fp.frames],
        variant_hashes=[f.to_row() for f in fp.variants],
        duration_s=fp.duration,
    )


def _telegram_page(base: str, videos: dict[str, str]) -> bytes:
    """The real channel page, with the video of each message named in ``videos`` moved from
    Telegram's CDN to the address given (the rest stay on the CDN: not a host of the source)."""
    html = TELEGRAM_PAGE.read_text(encoding="utf-8")
    for path, url in videos.items():
        html, n = re.subn(
            r'(<video src=")https://cdn4\.telesco\.pe' + re.escape(path) + r'\?token=[^"]*"',
            rf'\g<1>{url}"',
            html,
        )
        assert n == 1, path
    return html.encode("utf-8")


@pytest.fixture
def telegram(isolated: Path, hit_store, mailbox):
    site = StaticSite({})
    server = serve_site(site)
    base = f"http://127.0.0.1:{server.server_port}"
    write_source(isolated / "sources", "tg", base, kind="telegram", options={"channels": ["durov"]})
    yield site, base
    server.shutdown()


def _permalink(post: str) -> str:
    return f"https://t.me/{post}"


def test_a_registered_video_reposted_in_a_telegram_channel_is_a_video_hit_and_no_byte_of_it_is_kept(
    telegram, isolated: Path, hit_store: HitStore, mailbox, registered, settings
):
    started = time.time() - 1
    site, base = telegram
    reposted = excerpt()  # seconds 8-18, 480x270, H.264
    unrelated = excerpt(0.0, 1.0, source="other")
    site.routes.update(
        {
            "/s/durov": Route(
                _telegram_page(
                    base, {TG_VIDEO[1]: base + TG_VIDEO[1], TG_OTHER[1]: base + TG_OTHER[1]}
                )
            ),
            TG_VIDEO[1]: Route(reposted, MP4),
            TG_OTHER[1]: Route(unrelated, MP4),
        }
    )
    client = _client("jeanne")
    _register(client, "video 1", registered)

    report = run_cycle(list(configured_sources().values()))

    run = CrawlRun.objects.get()
    assert run.status == CrawlRun.Status.OK, run.message
    [hit] = hit_store.latest(client_id="jeanne")
    assert hit.match_kind == MatchKind.VIDEO
    assert hit.url == _permalink(TG_VIDEO[0])
    assert hit.video_url == base + TG_VIDEO[1]
    assert (hit.video_label, hit.video_method, hit.video_tier) == ("video 1", "frames", "strong")
    assert hit.video_frames_matched is not None and hit.video_frames_compared is not None
    assert hit.video_frames_matched >= 8 and hit.video_frames_compared >= hit.video_frames_matched
    # Seconds 8-18 of the registered video: its own 0-10 s.
    assert within(hit.video_ranges, 0, 10) and within(hit.video_registered_ranges, 8, 18)
    assert hit.severity == 4 and hit.evidence_sha256  # the page as seen is archived
    # The clip of the other scene was fetched and indexed, and matched nothing.
    assert TG_OTHER[1] in site.requests
    assert report.alerts.collect is not None and report.alerts.collect.alerts_created == 1
    [message] = mailbox.messages
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "video 1" not in body and TG_VIDEO[1] not in body and "durov/519" not in body

    # Not a byte of either clip anywhere: files the crawl wrote, database, every index.
    needles = [*blocks(reposted), *blocks(unrelated)]
    roots = [
        isolated / "var",
        isolated / "evidence",
        isolated / "journal",
        Path(settings.BODYGUARD_VAR_DIR),
    ]
    assert _files_holding(roots, needles, started) == []
    assert not _holds(database_contents(), needles)
    dump = _es_dump(hit_store)
    assert not _holds(dump.encode("latin-1", errors="replace"), needles)
    assert not _holds(dump.encode(), [base64.b64encode(b) for b in _b64_blocks(reposted)])
    videos = VideoStore(hit_store._es, settings.BODYGUARD_INDEX_PREFIX)
    assert videos.count_videos() == 2  # fingerprints of both, for registrations to come


def test_a_registered_video_attached_to_a_mastodon_status_is_a_video_hit(
    isolated: Path, hit_store: HitStore, mailbox, registered
):
    statuses = [
        json.loads(i.body)
        for i in load_cassette(DATA / "mastodon" / "mastodonpy_mastodon.social_status_video.yaml")
        if i.method == "GET"
    ]
    site = StaticSite({})
    server = serve_site(site)
    base = f"http://127.0.0.1:{server.server_port}"
    # The real statuses, their media (and every other link) on our server instead.
    timeline = json.dumps(statuses)
    for origin in ("https://files.mastodon.social", "https://mastodon.social"):
        timeline = timeline.replace(origin, base)
    local, remote = (s["media_attachments"][0]["url"] for s in json.loads(timeline))
    assert local.startswith(base) and remote.startswith(base + "/media_proxy/")
    site.routes.update(
        {
            "/api/v1/timelines/public": Route(timeline.encode(), JSON),
            local.removeprefix(base): Route(excerpt(3.0, 13.0, 640, 360, 500_000), MP4),
            remote.removeprefix(base): Route(excerpt(0.0, 1.0, source="other"), MP4),
        }
    )
    write_source(
        isolated / "sources",
        "masto",
        base,
        kind="mastodon",
        options={"timelines": ["public"], "pages": 1},
    )
    _register(_client("jeanne"), "video 1", registered)
    try:
        run_cycle(list(configured_sources().values()))
    finally:
        server.shutdown()

    run = CrawlRun.objects.get()
    assert run.status == CrawlRun.Status.OK, run.message
    [hit] = hit_store.latest(client_id="jeanne")
    assert hit.match_kind == MatchKind.VIDEO
    assert hit.url == f"{base}/@halcy/{statuses[0]['id']}"
    assert (hit.video_url, hit.video_label, hit.video_method) == (local, "video 1", "frames")
    assert hit.video_frames_matched is not None and hit.video_frames_matched >= 8
    assert within(hit.video_ranges, 0, 10) and within(hit.video_registered_ranges, 3, 13)
    assert remote.removeprefix(base) in site.requests  # fetched, hashed, not a match
    assert len(mailbox.messages) == 1


def test_a_cropped_copy_pdq_misses_is_a_video_hit_by_local_features(
    telegram, hit_store: HitStore, registered
):
    site, base = telegram
    # 10% cut off, off-centre, halved, re-encoded: beyond PDQ (tests/matching/test_videos.py).
    cropped = render(
        original(),
        Edit(start=9.0, length=8.0, scale=0.5, crop=(0.03, 0.07, 0.06, 0.04), bitrate=250_000),
    )
    unrelated = excerpt(0.0, 1.0, source="other")
    site.routes.update(
        {
            "/s/durov": Route(
                _telegram_page(
                    base, {TG_VIDEO[1]: base + TG_VIDEO[1], TG_OTHER[1]: base + TG_OTHER[1]}
                )
            ),
            TG_VIDEO[1]: Route(cropped, MP4),
            TG_OTHER[1]: Route(unrelated, MP4),
        }
    )
    video = _register(_client("jeanne"), "video 1", registered)
    stills = video_stills(original(), KEYFRAME_EVERY_S, MAX_KEYFRAMES)
    video.sealed_features = seal_many(registration_keyframes(stills), features_key())
    video.save()

    run_cycle(list(configured_sources().values()))

    run = CrawlRun.objects.get()
    assert run.status == CrawlRun.Status.OK, run.message
    [hit] = hit_store.latest(client_id="jeanne")  # the unrelated clip matched nothing
    assert (hit.url, hit.video_url) == (_permalink(TG_VIDEO[0]), base + TG_VIDEO[1])
    assert (hit.video_label, hit.video_method) == ("video 1", "features")
    assert hit.video_frames_matched is not None and hit.video_frames_matched >= 2
    assert hit.video_why.startswith("local features:")
    assert TG_OTHER[1] in site.requests


def test_a_wrong_features_key_stops_the_crawl_with_a_clear_error(
    telegram, hit_store: HitStore, registered
):
    site, base = telegram
    site.routes["/s/durov"] = Route(_telegram_page(base, {}))
    video = _register(_client("jeanne"), "video 1", registered)
    stills = video_stills(excerpt(), limit=2)
    video.sealed_features = seal_many(registration_keyframes(stills), os.urandom(32))
    video.save()

    run_cycle(list(configured_sources().values()))

    run = CrawlRun.objects.get()
    assert run.status != CrawlRun.Status.OK
    log = Path(run.log_file).read_text(encoding="utf-8")
    assert "BODYGUARD_FEATURES_KEY" in log + run.message
    assert hit_store.count() == 0


def test_a_video_over_the_budget_or_on_another_host_is_not_fetched_and_the_crawl_goes_on(
    telegram, hit_store: HitStore, registered, settings
):
    site, base = telegram
    port = base.rsplit(":", 1)[1]
    offsite = f"http://localhost:{port}/file/offsite.mp4"
    site.routes.update(
        {
            "/s/durov": Route(
                _telegram_page(
                    base,
                    {
                        TG_VIDEO[1]: base + TG_VIDEO[1],
                        TG_OTHER[1]: base + TG_OTHER[1],
                        TG_THIRD[1]: offsite,
                    },
                )
            ),
            # The registered file itself (1.3 MB): matched by its MD5 if it were fetched.
            TG_VIDEO[1]: Route(original(), "video/webm"),
            TG_OTHER[1]: Route(excerpt(), MP4),
            "/file/offsite.mp4": Route(excerpt(), MP4),
        }
    )
    settings.BODYGUARD_CRAWL_SETTINGS = {
        **settings.BODYGUARD_CRAWL_SETTINGS,
        "BODYGUARD_VIDEO_BYTES_PER_POST": str(600 * 1024),
    }
    _register(_client("jeanne"), "video 1", registered)

    run_cycle(list(configured_sources().values()))

    run = CrawlRun.objects.get()
    assert run.status == CrawlRun.Status.OK, run.message
    assert "1 video(s) not fetched: over the video byte budget" in run.message
    # The small one, in the next message, was still fetched and matched.
    [hit] = hit_store.latest(client_id="jeanne")
    assert (hit.url, hit.video_method) == (_permalink(TG_OTHER[0]), "frames")
    assert "/file/offsite.mp4" not in site.requests
    log = Path(run.log_file).read_text(encoding="utf-8")
    assert f"video {offsite} not fetched: not a host of this source" in log
    videos = VideoStore(hit_store._es, settings.BODYGUARD_INDEX_PREFIX)
    assert videos.count_videos() == 1


def test_a_video_whose_md5_the_board_declares_matches_without_being_fetched(
    isolated: Path, hit_store: HitStore, registered
):
    board = json.loads((DATA / "fourchan" / "4bot_spec_board_page_wsg.json").read_bytes())
    post = copy.deepcopy(board)["threads"][1]["posts"][0]
    assert (post["no"], post["ext"]) == (881624, ".webm")
    # The real board page, the first video's MD5 (base64, as 4chan gives it) being the
    # registered file's.
    board["threads"][1]["posts"][0]["md5"] = base64.b64encode(
        hashlib.md5(original(), usedforsecurity=False).digest()
    ).decode()
    site = StaticSite({"/wsg/catalog.json": Route(json.dumps(board).encode(), JSON)})
    server = serve_site(site)
    base = f"http://127.0.0.1:{server.server_port}"
    write_source(
        isolated / "sources",
        "wsg",
        base,
        kind="fourchan",
        options={"boards": ["wsg"], "image_host": f"{base}/img"},
    )
    _register(_client("jeanne"), "video 1", registered)
    try:
        run_cycle(list(configured_sources().values()))
    finally:
        server.shutdown()

    [hit] = hit_store.latest(client_id="jeanne")
    assert hit.url == "https://boards.4chan.org/wsg/thread/881624#p881624"
    assert hit.video_url == f"{base}/img/wsg/1451418624252.webm"
    assert (hit.video_method, hit.video_tier, hit.video_ranges) == ("md5", "strong", ())
    assert "declared by the site" in hit.video_why
    assert "/img/wsg/1451418624252.webm" not in site.requests
    # The other video's MD5 is nobody's: it was asked for (and is not there).
    assert "/img/wsg/1451462748867.webm" in site.requests


def _crawl_with_elasticsearch_down(settings: Any) -> None:
    real_url = settings.BODYGUARD_ELASTICSEARCH_URL
    settings.BODYGUARD_ELASTICSEARCH_URL = f"http://127.0.0.1:{free_port()}"
    try:
        run_cycle(list(configured_sources().values()))
    finally:
        settings.BODYGUARD_ELASTICSEARCH_URL = real_url


def test_videos_crawled_while_elasticsearch_is_down_are_found_by_a_video_registered_later(
    telegram, hit_store: HitStore, registered, settings
):
    site, base = telegram
    site.routes.update(
        {
            "/s/durov": Route(_telegram_page(base, {TG_VIDEO[1]: base + TG_VIDEO[1]})),
            TG_VIDEO[1]: Route(excerpt(), MP4),
        }
    )
    _client("someone")

    _crawl_with_elasticsearch_down(settings)

    run = CrawlRun.objects.get()
    assert "1 video fingerprint(s) kept in the journal for the next run" in run.message
    journal = VideoJournal(
        Path(settings.BODYGUARD_JOURNAL_DIR), f"{settings.BODYGUARD_INDEX_PREFIX}-videos"
    )
    [pending] = journal.pending()
    assert pending.video_url == base + TG_VIDEO[1] and len(pending.frames) >= 10

    # The video is gone from the channel: only the journal can bring its fingerprint.
    del site.routes[TG_VIDEO[1]]
    run_cycle(list(configured_sources().values()))

    assert journal.pending() == []
    videos = VideoStore.connect(
        settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    )
    try:
        assert videos.count_videos() == 1
        paul = _client("paul")
        _register(paul, "video 1", registered)
        result = retro_match_video(
            videos, hit_store, "paul", "video 1", registered.md5, registered.all_hashes
        )
    finally:
        videos.close()
    assert result.hits_created == 1
    [hit] = hit_store.latest(client_id="paul")
    assert hit.match_kind == MatchKind.VIDEO and hit.url == _permalink(TG_VIDEO[0])
    assert hit.video_frames_matched is not None and hit.video_frames_matched >= 8
    assert hit_store.count(client_id="someone") == 0


# -- no video byte kept ---------------------------------------------------------------------


def _automaton(needles: list[bytes]) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for n, needle in enumerate(needles):
        automaton.add_word(needle.decode("latin-1"), n)
    automaton.make_automaton()
    return automaton


def _holds(data: bytes, needles: list[bytes]) -> bool:
    automaton = _automaton(needles)
    return next(automaton.iter(data.decode("latin-1")), None) is not None


def _b64_blocks(data: bytes) -> list[bytes]:
    """48-byte blocks at every offset of each residue modulo 3, every 48 bytes: any base64 text
    of 96 consecutive bytes of ``data`` holds the base64 of one of them."""
    cut = [data[i + r : i + r + 48] for i in range(0, len(data) - 50, 48) for r in range(3)]
    return [b for b in cut if len(set(b)) >= MIN_DISTINCT_BYTES]


def _decompressed(data: bytes) -> bytes:
    out = []
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out.append(inflater.decompress(data))
        except zlib.error:
            break
        data = inflater.unused_data
    return b"".join(out)


def _files_holding(roots: list[Path], needles: list[bytes], since: float) -> list[Path]:
    automaton = _automaton(needles)
    found = []
    for root in roots:
        for path in (p for p in root.rglob("*") if p.is_file()):
            if path.stat().st_mtime < since:
                continue
            data = path.read_bytes()
            if path.suffix == ".gz":
                data += _decompressed(data)
            if next(automaton.iter(data.decode("latin-1")), None) is not None:
                found.append(path)
    return found


def _es_dump(store: HitStore) -> str:
    prefix = store.index.removesuffix("-hits")
    store._es.indices.refresh(index=f"{prefix}*")
    response = store._es.search(index=f"{prefix}*", size=10000, query={"match_all": {}})
    return json.dumps(response["hits"]["hits"])


# -- where spiders find videos --------------------------------------------------------------


def test_fourchan_videos_are_video_urls_with_the_md5_the_board_gives(isolated: Path):
    site = StaticSite(
        {
            "/wsg/catalog.json": Route(
                (DATA / "fourchan" / "4bot_spec_board_page_wsg.json").read_bytes(), JSON
            )
        }
    )
    server = serve_site(site)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        items = crawl_items(isolated, "fourchan", base, {"boards": ["wsg"]})
    finally:
        server.shutdown()

    post = next(i for i in items if i["url"].endswith("#p881624"))
    url = "https://i.4cdn.org/wsg/1451418624252.webm"
    assert post["video_urls"] == [url] and post["image_urls"] == []
    # "6kaIF+0KGkx2nzV1e3QsAA==" in the JSON: the 16 bytes of the file's MD5.
    assert post["video_md5s"] == {url: "ea468817ed0a1a4c769f35757b742c00"}


def test_a_forum_post_with_a_video_element_lists_its_source(isolated: Path):
    page = (DATA / "forums" / "phpbb3_foren.myoos.de_viewtopic.html").read_text(encoding="utf-8")
    # The real phpBB page, its post embedding a video as HTML5 forums do.
    page = page.replace(
        '<div class="content">',
        '<div class="content"><video controls><source src="/media/clip.mp4" type="video/mp4">'
        "</video>",
        1,
    )
    site = StaticSite({"/viewtopic.php": Route(page.encode("utf-8"))})
    server = serve_site(site)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        items = crawl_items(
            isolated,
            "phpbb",
            base,
            {"start_urls": ["/viewtopic.php?f=4&t=167"], "max_pages": 1},
        )
    finally:
        server.shutdown()

    assert [i["video_urls"] for i in items if i["video_urls"]] == [[f"{base}/media/clip.mp4"]]
