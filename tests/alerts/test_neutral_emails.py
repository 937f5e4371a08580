"""Alert emails never carry words a harasser chose: not in a thread's slug, not in a query,
not in the host of a search result."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from alerts.models import Alert
from alerts.neutral import neutral_url
from alerts.services import render_alert_email
from clients.models import Client
from clients.services import import_client_file
from hits.documents import Severity
from operations.scheduler import configured_sources, run_cycle
from tests.conftest import write_source

REAL_SLUG = "comments-on-the-boyfriends-introduction-to-feminism"
SLUG_WORDS = ("comments", "boyfriends", "introduction", "feminism")
HOSTILE_SLUG = "jeanne-dupont-est-une-salope-voici-ses-photos"
HOSTILE_HOST = "jeanne-dupont-salope.example.net"


@pytest.mark.django_db(transaction=True)
def test_a_detailed_email_links_to_a_real_discourse_post_without_its_slug(
    isolated: Path, discourse_site, hit_store, mailbox
):
    _site, base_url = discourse_site
    clients = isolated / "clients.yaml"
    clients.write_text(
        "clients:\n  - id: allan-bloom\n    display_name: Allan Bloom\n"
        '    names: ["Allan Bloom"]\n    email: allan.bloom@example.org\n    language: en\n',
        encoding="utf-8",
    )
    import_client_file(clients)
    Client.objects.filter(reference="allan-bloom").update(alert_detail="detailed")
    write_source(isolated / "sources", "cf-forum", base_url)

    run_cycle(list(configured_sources().values()))

    [alert] = Alert.objects.all()
    assert REAL_SLUG in alert.url  # the real post's address carries its thread's title
    body = (
        mailbox.messages[0].get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    )
    assert f"  - {base_url}/t/2108/440\n" in body  # Discourse finds a post by its ids alone
    assert not [w for w in SLUG_WORDS if w in body.lower()]
    assert "on the site: 127.0.0.1." in body


@pytest.mark.django_db
def test_hostile_slugs_queries_and_search_result_hosts_never_reach_the_email(settings, tmp_path):
    settings.BODYGUARD_SOURCES_DIR = tmp_path
    write_source(tmp_path, "forum", "https://forum.example.org/")
    write_source(tmp_path, "brave", "https://api.search.brave.com/res/v1/web/search", kind="brave")
    jeanne = Client.objects.create(
        reference="jd", display_name="Jeanne Dupont", email="j@example.org", alert_detail="detailed"
    )
    urls = {
        "forum": [
            f"https://forum.example.org/t/{HOSTILE_SLUG}/57/3",
            f"https://forum.example.org/threads/{HOSTILE_SLUG}.1234/",
            "https://forum.example.org/viewtopic.php?f=4&t=167&hilit=salope+jeanne#p453",
            f"https://forum.example.org/search?q={HOSTILE_SLUG}",
        ],
        "brave": [f"https://{HOSTILE_HOST}/{HOSTILE_SLUG}.html"],
    }
    alerts = []
    for source, found in urls.items():
        for n, url in enumerate(found):
            alerts.append(
                Alert.objects.create(
                    client=jeanne, hit_id=f"{source}{n}", source_id=source,
                    host=url.split("/")[2], url=url, match_kind="name",
                    severity=Severity.HIGH, hit_first_seen=datetime.now(UTC),
                )
            )  # fmt: skip
    for detail in ("detailed", "summary"):
        jeanne.alert_detail = detail
        subject, body = render_alert_email(jeanne, alerts)
        text = (subject + body).lower()
        for word in ("salope", "photos", "voici", "dupont-est", "hilit", "jeanne-dupont"):
            assert word not in text, (detail, word)
    jeanne.alert_detail = "detailed"
    _subject, body = render_alert_email(jeanne, alerts)
    assert "  - https://forum.example.org/t/57/3\n" in body
    assert "  - https://forum.example.org/threads/1234\n" in body
    assert "  - https://forum.example.org/viewtopic.php?f=4&t=167#p453\n" in body
    assert "api.search.brave.com" in body  # the search we configured, not the result's host
    # The search result, and the forum's search page (nothing in its address leads to a post
    # without the words searched for): the team gives their addresses on request.
    assert "2 autres pages" in body
    assert "ne peuvent pas être indiquées ici sans reprendre des mots de leur adresse" in body
    assert "répondez à ce message et notre équipe vous donnera le lien" in body
    assert "ne surveillons pas" not in body  # they are on sites we do watch


# Words a harasser writes so that a filter looking for words misses them: leetspeak, initials,
# a phone number, mixed with ids; and query strings and fragments of their own.
LEET_AND_SHORT = ("s4l0p3", "j34nn3", "j3ann3", "p0uf", "pute", "0612345678", "sid", "hl=", "q=")
HOSTILE_LINKS: dict[str, dict[str, str | None]] = {
    "forum": {
        "https://forum.example.org/t/s4l0p3-j34nn3/57/3": "https://forum.example.org/t/57/3",
        "https://forum.example.org/t/jd/58": "https://forum.example.org/t/58",
        "https://forum.example.org/threads/jd-s4l0p3.1234/page-2": (
            "https://forum.example.org/threads/1234/page-2"
        ),
        "https://forum.example.org/topic/123-jd-pute-0612345678/?do=findComment&comment=5678": (
            "https://forum.example.org/topic/123?do=findComment&comment=5678"
        ),
        "https://forum.example.org/viewtopic.php?t=169&hl=jd&q=s4l0p3&p=0612345678&sid=%73alope#jd": (
            "https://forum.example.org/viewtopic.php?t=169"
        ),
        "https://forum.example.org/showthread.php?170-J3ann3-D-la-p0uf&p=456#post456": (
            "https://forum.example.org/showthread.php?170&p=456#post456"
        ),
        "https://forum.example.org/jd/s4l0p3": None,  # nothing left that leads there
    },
    "reddit": {
        "https://www.reddit.com/r/jds4l0p3/comments/1cebxh/j34nn3_d_la_pute/c9ftsjg/": (
            "https://www.reddit.com/comments/1cebxh/_/c9ftsjg"
        ),
    },
    # The account's name is the address: no link.
    "mastodon": {"https://mastodon.social/@jd_s4l0p3/110000000000000000": None},
}


@pytest.mark.django_db
def test_leetspeak_initials_mixed_slugs_and_hostile_queries_never_reach_the_email(
    settings, tmp_path
):
    settings.BODYGUARD_SOURCES_DIR = tmp_path
    write_source(tmp_path, "forum", "https://forum.example.org/")
    write_source(tmp_path, "reddit", "https://www.reddit.com", kind="reddit", options={})
    write_source(tmp_path, "mastodon", "https://mastodon.social", kind="mastodon", options={})
    jeanne = Client.objects.create(
        reference="jd", display_name="Jeanne Dupont", email="j@example.org", alert_detail="detailed"
    )
    alerts = [
        Alert.objects.create(
            client=jeanne, hit_id=f"{source}{n}", source_id=source, host=urlsplit(url).hostname or "",
            url=url, match_kind="name", severity=Severity.HIGH, hit_first_seen=datetime.now(UTC),
        )
        for source, links in HOSTILE_LINKS.items()
        for n, url in enumerate(links)
    ]  # fmt: skip
    expected = {link for links in HOSTILE_LINKS.values() for link in links.values() if link}

    for detail in ("detailed", "summary"):
        jeanne.alert_detail = detail
        subject, body = render_alert_email(jeanne, alerts)
        text = (subject + body).lower()
        for word in LEET_AND_SHORT:
            assert word not in text, (detail, word)
        # Every site is named from our configuration, none by the page.
        assert "forum.example.org" in text and "www.reddit.com" in text
        assert "mastodon.social" in text

    jeanne.alert_detail = "detailed"
    _subject, body = render_alert_email(jeanne, alerts)
    links = {line[4:] for line in body.splitlines() if line.startswith("  - ")}
    # Exactly the stripped links, each still with its thread (and post) id: nothing of "jd".
    assert links == expected
    assert not [link for link in links if "jd" in link.lower()]


# The permalinks our spiders produce, from the saved pages in tests/data and the golden tests,
# and the link an email may show for each: the thread (and post) ids survive, no word does.
ENGINE_LINKS = [
    ("https://foren.myoos.de/viewtopic.php?p=453&sid=c613f07a94d24ae130f878df2f758925#p453",
     "https://foren.myoos.de/viewtopic.php?p=453#p453"),
    ("https://www.pocketpc.ch/windows-phone-7-allgemein/122760-microsoft-beginnt-auslieferung-"
     "vorbereitungsupdate-post949757.html?s=22c09551c71c1a6b64e4364ca45cbf28#post949757",
     "https://www.pocketpc.ch/showthread.php?p=949757#post949757"),
    ("https://www.katzen-forum.net/threads/jede-nacht-verliert-pepe-soviel-dreck-aus-dem-fell"
     ".230143/post-6331411",
     "https://www.katzen-forum.net/threads/230143/post-6331411"),
    ("https://villagersandheroes.com/forums/threads/patchnotes-4-47-4-tagundnachtgleiche-bugfix"
     "-build.3976/post-53504",
     "https://villagersandheroes.com/forums/threads/3976/post-53504"),
    ("https://4pda.ru/2018/04/23/350937/#comment4750745",
     "https://4pda.ru/2018/04/23/350937#comment4750745"),
    ("https://forumieren.com/t7-forums-regeln#7", "https://forumieren.com/t7-#7"),
    ("https://discuss.criticalfallibilism.com/t/comments-on-the-boyfriends-introduction-to-"
     "feminism/2108/440",
     "https://discuss.criticalfallibilism.com/t/2108/440"),
    ("https://www.reddit.com/r/self/comments/1cebxh/my_wife_passed_away_eight_months_ago_"
     "yesterday_i/c9ftsjg/",
     "https://www.reddit.com/comments/1cebxh/_/c9ftsjg"),
    ("https://boards.4chan.org/po/thread/570368#p570370",
     "https://boards.4chan.org/po/thread/570368#p570370"),
    ("https://t.me/oper_goblin/22360", None),
    ("https://mastodon.social/@Gargron/110000000000000000", None),
]  # fmt: skip


@pytest.mark.parametrize(("url", "link"), ENGINE_LINKS, ids=lambda v: urlsplit(v or "").hostname)
def test_a_detailed_link_still_leads_to_the_thread_on_every_engine_we_crawl(url, link):
    assert neutral_url(url, urlsplit(url).hostname or "") == link
