"""The one mapping from a source's ``kind`` to its spider class, checked at import."""

from __future__ import annotations

from crawlers.spiders.base import SourceSpider
from crawlers.spiders.discourse import DiscourseSpider

_ALL: tuple[type[SourceSpider], ...] = (DiscourseSpider,)

SPIDERS: dict[str, type[SourceSpider]] = {spider.name: spider for spider in _ALL}
if len(SPIDERS) != len(_ALL):
    raise RuntimeError("two spiders share a name; every kind must map to exactly one spider")
KNOWN_KINDS: tuple[str, ...] = tuple(sorted(SPIDERS))
