"""Scrapy settings of a crawl node whose release has no spiders (a node left on another
release): it answers, and refuses every crawl."""

from crawlers.settings import *  # noqa: F403
from crawlers.settings import SPIDER_MODULES

SPIDER_MODULES.clear()
