"""Golden tests: a real Telegram channel preview (t.me/s/durov) and the cards Telegram serves
for usernames without a preview, over local HTTP."""

from __future__ import annotations

import pytest

from crawlers.models import CrawlRun
from crawlers.runner import run_crawl
from operations.scheduler import configured_sources
from tests.conftest import DATA, write_source
from tests.crawlers.golden import crawl_items
from tests.crawlers.static_site import Route, StaticSite, serve_site

pytestmark = pytest.mark.django_db

TELEGRAM = DATA / "telegram"


def _page(fragment: str) -> bytes:
    block = (TELEGRAM / fragment).read_bytes()
    return (
        b'<!DOCTYPE html><html><body><section class="tgme_channel_history">'
        + block
        + b"</section></body></html>"
    )


def _site() -> StaticSite:
    page = (TELEGRAM / "sherlock-telegram_t.me_s_durov.html").read_bytes()
    free = (TELEGRAM / "sherlock-telegram_t.me_unused_username_page.html").read_bytes()
    user = (TELEGRAM / "sherlock-telegram_t.me_nikolai_user_page.html").read_bytes()
    return StaticSite(
        {
            "/s/durov": Route(page),
            # Telegram sends a username without a public preview to its card page.
            "/s/zzq9x7v2knot44": Route(b"", status=302, headers={"Location": "/zzq9x7v2knot44"}),
            "/zzq9x7v2knot44": Route(free),
            "/s/nikolai": Route(b"", status=302, headers={"Location": "/nikolai"}),
            "/nikolai": Route(user),
            # Real single message blocks (2023), each as the only message of its channel page.
            "/s/channel": Route(_page("any2feed_message_with_from_author.html")),
            "/s/oper_goblin": Route(_page("any2feed_message_link_preview.html")),
        }
    )


@pytest.fixture(scope="module")
def durov(django_db_setup, django_db_blocker, tmp_path_factory):
    site = _site()
    server = serve_site(site)
    base = f"http://127.0.0.1:{server.server_port}"
    with django_db_blocker.unblock():
        items = crawl_items(
            tmp_path_factory.mktemp("telegram"),
            "telegram",
            base,
            {"channels": ["durov"], "pages": 2},
        )
    server.shutdown()
    return {item["url"]: item for item in items}, site.requests


def test_every_message_of_the_page_is_read(durov):
    items, _ = durov
    assert len(items) == 20
    assert all(url.startswith("https://t.me/durov/") for url in items)


def test_text_is_the_message_as_published(durov):
    items, _ = durov
    assert any("Telegram" in item["text"] for item in items.values())
    assert not any("<br" in item["text"] or "&#" in item["text"] for item in items.values())


def test_author_is_the_channel_or_the_signature(durov):
    items, _ = durov
    assert {item["author"] for item in items.values()} == {"Pavel Durov"}


def test_date_is_the_message_time(durov):
    items, _ = durov
    assert all(
        item["posted_at"] and item["posted_at"].endswith("+00:00") for item in items.values()
    )


def test_photos_come_from_background_images(durov):
    items, _ = durov
    photos = [url for item in items.values() for url in item["image_urls"]]
    assert photos and all(url.startswith("https://cdn4.telesco.pe/file/") for url in photos)
    assert not any("emoji" in url for url in photos)


def test_videos_are_kept(durov):
    items, _ = durov
    videos = [url for item in items.values() for url in item["video_urls"]]
    assert videos and all(".mp4" in url for url in videos)


def test_older_messages_are_requested_with_before(durov):
    _, requests = durov
    assert "/s/durov?before=519" in requests


def test_a_thread_is_the_channel(durov):
    items, _ = durov
    assert {item["thread_url"] for item in items.values()} == {"https://t.me/durov"}


@pytest.fixture(scope="module")
def fragments(django_db_setup, django_db_blocker, tmp_path_factory):
    server = serve_site(_site())
    base = f"http://127.0.0.1:{server.server_port}"
    with django_db_blocker.unblock():
        items = crawl_items(
            tmp_path_factory.mktemp("telegram-fragments"),
            "telegram",
            base,
            {"channels": ["channel", "oper_goblin"], "pages": 1},
        )
    server.shutdown()
    return {item["url"]: item for item in items}


def test_a_signed_message_is_by_its_signer(fragments):
    assert fragments["https://t.me/channel/4"]["author"] == "🅰️rkadiy Ivanov"


def test_a_link_preview_is_part_of_the_message(fragments):
    item = fragments["https://t.me/oper_goblin/22360"]
    assert "ОККУПАЦИЯ ВОЛОСАТЫМ КРАБОМ" in item["text"]
    assert "Ваши новости" in item["text"]
    assert any(url.startswith("https://cdn4.telegram-cdn.org/file/") for url in item["image_urls"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        ("zzq9x7v2knot44", "no Telegram channel @zzq9x7v2knot44"),
        ("nikolai", "@nikolai has no public web preview"),
    ],
)
def test_a_channel_without_a_preview_is_an_error_not_silence(isolated, settings, channel, reason):
    server = serve_site(_site())
    base = f"http://127.0.0.1:{server.server_port}"
    write_source(
        settings.BODYGUARD_SOURCES_DIR, "tg", base, kind="telegram", options={"channels": [channel]}
    )
    outcome = run_crawl(configured_sources()["tg"])
    server.shutdown()
    run = CrawlRun.objects.get(pk=outcome.run_id)
    assert run.status == CrawlRun.Status.FAILED
    assert reason in run.message


# Committed for real: the crawls are other processes and must see each other's state.
@pytest.mark.django_db(transaction=True)
def test_a_second_run_reads_only_what_is_new(django_db_setup, django_db_blocker, tmp_path):
    from crawlers.models import SourceState

    site = _site()
    server = serve_site(site)
    base = f"http://127.0.0.1:{server.server_port}"
    options = {"channels": ["durov"], "pages": 2}
    try:
        with django_db_blocker.unblock():
            first = crawl_items(tmp_path, "telegram", base, options, source_id="tg-twice")
            site.requests.clear()
            again = crawl_items(tmp_path, "telegram", base, options, source_id="tg-twice")
            SourceState.objects.filter(source_id="tg-twice").delete()
    finally:
        server.shutdown()
    assert len(first) > 10
    # Nothing changed: no message again, and no older page asked for.
    assert again == []
    assert not any("before=" in r for r in site.requests)
