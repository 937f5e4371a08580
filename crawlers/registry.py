"""The one mapping from a source's ``kind`` to its spider class, checked at import."""

from __future__ import annotations

from crawlers.spiders.base import SourceSpider
from crawlers.spiders.bing import BingSpider
from crawlers.spiders.bluesky import BlueskySpider
from crawlers.spiders.brave import BraveSpider
from crawlers.spiders.discourse import DiscourseSpider
from crawlers.spiders.fourchan import FourchanSpider
from crawlers.spiders.generic import GenericSpider
from crawlers.spiders.google_cse import GoogleCseSpider
from crawlers.spiders.invision import InvisionSpider
from crawlers.spiders.lemmy import LemmySpider
from crawlers.spiders.mastodon import MastodonSpider
from crawlers.spiders.misskey import MisskeySpider
from crawlers.spiders.phpbb import PhpbbSpider
from crawlers.spiders.reddit import RedditSpider
from crawlers.spiders.searxng import SearxngSpider
from crawlers.spiders.telegram import TelegramSpider
from crawlers.spiders.vbulletin import VbulletinSpider
from crawlers.spiders.xenforo import XenforoSpider

_ALL: tuple[type[SourceSpider], ...] = (
    DiscourseSpider,
    PhpbbSpider,
    VbulletinSpider,
    XenforoSpider,
    InvisionSpider,
    GenericSpider,
    RedditSpider,
    FourchanSpider,
    SearxngSpider,
    BraveSpider,
    GoogleCseSpider,
    BingSpider,
    TelegramSpider,
    MastodonSpider,
    MisskeySpider,
    LemmySpider,
    BlueskySpider,
)

SPIDERS: dict[str, type[SourceSpider]] = {spider.name: spider for spider in _ALL}
if len(SPIDERS) != len(_ALL):
    raise RuntimeError("two spiders share a name; every kind must map to exactly one spider")
KNOWN_KINDS: tuple[str, ...] = tuple(sorted(SPIDERS))
