from django.apps import AppConfig


class CrawlersConfig(AppConfig):
    """The Scrapy project is also a Django app: it owns the record of crawl runs."""

    name = "crawlers"
    verbose_name = "Crawls"
