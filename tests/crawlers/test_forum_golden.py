"""Golden tests: each HTML forum engine crawls a real saved page served over local HTTP."""

from __future__ import annotations

import pytest

from tests.conftest import DATA
from tests.crawlers.golden import crawl_items
from tests.crawlers.static_site import Route, StaticSite, serve_site

# The crawl processes read the test database: it must exist even for module fixtures.
pytestmark = pytest.mark.django_db

FORUMS = DATA / "forums"

PHPBB_TOPIC = "/viewtopic.php?f=4&t=167"
VB_THREAD = (
    "/windows-phone-7-allgemein/122760-microsoft-beginnt-auslieferung-vorbereitungsupdate-34.html"
)
XF_THREAD = "/threads/jede-nacht-verliert-pepe-soviel-dreck-aus-dem-fell.230143/"
XF_VILLAGERS = "/forums/threads/patchnotes-4-47-4-tagundnachtgleiche-bugfix-build.3976/"
IPB_TOPIC = "/2018/04/23/350937/"
FORUMOTION_TOPIC = "/t7-forums-regeln"
GENERIC_SELECTORS = {
    "post": "div.post[id^='p']",
    "text": "div.post-entry",
    "author": "p.author strong::text",
    "time": "p.author::text",
    "permalink": "h3 a::attr(href)",
}

CASES = {
    "phpbb": ({"/viewtopic.php": "phpbb3_foren.myoos.de_viewtopic.html"}, PHPBB_TOPIC),
    "vbulletin": ({VB_THREAD: "vbulletin_pocketpc.ch_thread_page34.html"}, VB_THREAD),
    "xenforo": ({XF_THREAD: "xenforo2_katzen-forum.net_thread.html"}, XF_THREAD),
    "xenforo-villagers": (
        {XF_VILLAGERS: "xenforo2_villagersandheroes.com_thread.html"},
        XF_VILLAGERS,
    ),
    "invision": ({IPB_TOPIC: "invision_ipb_4pda.ru_topic.html"}, IPB_TOPIC),
    "generic": ({FORUMOTION_TOPIC: "forumotion_forumieren.com_topic.html"}, FORUMOTION_TOPIC),
}


@pytest.fixture(scope="module")
def crawled(
    django_db_setup, django_db_blocker, tmp_path_factory
) -> dict[str, tuple[str, list[dict]]]:
    out = {}
    for case, (routes, start) in CASES.items():
        site = StaticSite(
            {path: Route((FORUMS / name).read_bytes()) for path, name in routes.items()}
        )
        server = serve_site(site)
        base = f"http://127.0.0.1:{server.server_port}"
        kind = case.split("-")[0]
        with django_db_blocker.unblock():
            options: dict = {"start_urls": [start], "max_pages": 1}
            if kind == "generic":
                options["selectors"] = GENERIC_SELECTORS
            if kind == "vbulletin":
                # Its permalinks are absolute, on the forum's real host: declared as its own.
                options["extra_domains"] = ["www.pocketpc.ch"]
            items = crawl_items(tmp_path_factory.mktemp(case), kind, base, options)
        server.shutdown()
        out[case] = (base, items)
    return out


def _first(crawled, case):
    base, items = crawled[case]
    return base, items[0] if items else {}


# -- phpBB 3 ------------------------------------------------------------------------------------


def test_phpbb_posts(crawled):
    assert len(crawled["phpbb"][1]) == 1


def test_phpbb_author(crawled):
    assert _first(crawled, "phpbb")[1]["author"] == "r23"


def test_phpbb_time_in_the_forums_local_format(crawled):
    assert _first(crawled, "phpbb")[1]["posted_at"] == "2009-01-21T05:42:00+01:00"


def test_phpbb_permalink(crawled):
    base, post = _first(crawled, "phpbb")
    assert post["url"] == f"{base}/viewtopic.php?p=453&sid=c613f07a94d24ae130f878df2f758925#p453"


def test_phpbb_text(crawled):
    text = _first(crawled, "phpbb")[1]["text"]
    assert text.startswith("Was ist Freie Software und warum ist sie wichtig?")
    assert "<br>" not in text


def test_phpbb_title(crawled):
    assert _first(crawled, "phpbb")[1]["thread_title"] == "Was ist Freie Software"


# -- vBulletin 4 --------------------------------------------------------------------------------


def test_vbulletin_posts(crawled):
    assert len(crawled["vbulletin"][1]) == 20


def test_vbulletin_author(crawled):
    assert _first(crawled, "vbulletin")[1]["author"] == "Predator"


def test_vbulletin_time(crawled):
    assert _first(crawled, "vbulletin")[1]["posted_at"] == "2011-03-03T14:17:00+01:00"


def test_vbulletin_permalink(crawled):
    assert _first(crawled, "vbulletin")[1]["url"].endswith(
        "-post949757.html?s=22c09551c71c1a6b64e4364ca45cbf28#post949757"
    )


def test_vbulletin_text_decoded_from_latin1(crawled):
    texts = " ".join(p["text"] for p in crawled["vbulletin"][1])
    assert "Das war noch nicht das Update, sondern nur die Vorbereitung." in texts
    assert "\ufffd" not in texts


def test_vbulletin_smileys_and_buttons_are_not_post_images(crawled):
    assert all(p["image_urls"] == [] for p in crawled["vbulletin"][1][:1])


def test_vbulletin_next_page_stays_on_the_forum(crawled):
    # The next-page link is absolute to www.pocketpc.ch: a crawl of this source must not leave it.
    base, items = crawled["vbulletin"]
    assert all(
        p["url"].startswith("https://www.pocketpc.ch/") or p["url"].startswith(base) for p in items
    )


# -- XenForo 2 ----------------------------------------------------------------------------------


def test_xenforo_posts(crawled):
    assert len(crawled["xenforo"][1]) == 18


def test_xenforo_author(crawled):
    assert _first(crawled, "xenforo")[1]["author"] == "Pepemaus"


def test_xenforo_time_with_its_offset(crawled):
    assert _first(crawled, "xenforo")[1]["posted_at"] == "2018-09-27T14:51:09+02:00"


def test_xenforo_permalink(crawled):
    base, post = _first(crawled, "xenforo")
    assert (
        post["url"]
        == f"{base}/threads/jede-nacht-verliert-pepe-soviel-dreck-aus-dem-fell.230143/post-6331411"
    )


def test_xenforo_text(crawled):
    assert "Pepe schläft nachts mit mir im Schlafzimmer" in _first(crawled, "xenforo")[1]["text"]


def test_xenforo_quoted_author_is_not_the_author(crawled):
    second = crawled["xenforo-villagers"][1][1]
    assert second["author"] == "Bibi Blocksberg"


def test_xenforo_lazy_images_use_their_real_url(crawled):
    images = [u for p in crawled["xenforo-villagers"][1] for u in p["image_urls"]]
    assert not any(u.startswith("data:") for u in images)


# -- Invision (4pda comments) -------------------------------------------------------------------


def test_invision_posts(crawled):
    assert len(crawled["invision"][1]) == 16


def test_invision_author(crawled):
    assert _first(crawled, "invision")[1]["author"] == "pogartizm"


def test_invision_time(crawled):
    assert _first(crawled, "invision")[1]["posted_at"] == "2018-04-23T20:30:00+02:00"


def test_invision_permalink_is_the_comment_anchor(crawled):
    base, post = _first(crawled, "invision")
    assert post["url"] == f"{base}{IPB_TOPIC}#comment4750745"


def test_invision_text_decoded_from_windows_1251(crawled):
    assert _first(crawled, "invision")[1]["text"] == "Когда surface phone уже"


# -- generic (Forumotion, selectors from YAML) --------------------------------------------------


def test_generic_posts(crawled):
    assert len(crawled["generic"][1]) == 3


def test_generic_author(crawled):
    assert _first(crawled, "generic")[1]["author"] == "lupa"


def test_generic_time_embedded_in_a_sentence(crawled):
    assert _first(crawled, "generic")[1]["posted_at"] == "2013-10-26T15:48:00+02:00"


def test_generic_permalink(crawled):
    base, post = _first(crawled, "generic")
    assert post["url"] == f"{base}/t7-forums-regeln#7"


def test_generic_text(crawled):
    assert (
        "Wir pflegen hier ein sehr freundschaftliches Miteinander"
        in _first(crawled, "generic")[1]["text"]
    )


# -- every engine -------------------------------------------------------------------------------


def test_language_is_the_primary_tag_the_page_declares(crawled):
    # <html lang="de">, "de-DE", "en-US", "ru-RU": the region goes, the language stays.
    languages = {case: {i["language"] for i in items} for case, (_base, items) in crawled.items()}
    assert languages == {
        "phpbb": {"de"},
        "vbulletin": {"de"},
        "xenforo": {"de"},
        "xenforo-villagers": {"en"},
        "invision": {"ru"},
        "generic": {"de"},
    }
