"""Scrapy settings. Bodyguard's own values come from Django settings (one configuration)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Scrapy runs on an asyncio loop; the only database read in a crawl is the watch list, once,
# when the spider is created, before any request: Django's async guard does not apply to it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
django.setup()

from django.conf import settings as _django  # noqa: E402

from crawlers import identity  # noqa: E402

BOT_NAME = "bodyguard"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

ROBOTSTXT_OBEY = True
# One identity for every request we make (crawls, re-checks, image proxy, screenshots).
USER_AGENT = identity.USER_AGENT
DEFAULT_REQUEST_HEADERS = dict(identity.DEFAULT_HEADERS)
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False

CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.25
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.25
AUTOTHROTTLE_MAX_DELAY = 30
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 2
REDIRECT_MAX_TIMES = 5

# Connections go to the address the guard checked, never to a second DNS answer.
TWISTED_DNS_RESOLVER = "crawlers.middlewares.PinnedResolver"
# Only the web: no file:, data:, ftp: or s3: URL a hostile page could point a crawl at.
DOWNLOAD_HANDLERS = {"file": None, "data": None, "ftp": None, "s3": None}
DOWNLOADER_MIDDLEWARES = {
    # Outermost: sees every download error once the inner middlewares (retries) gave up.
    "crawlers.middlewares.PageFailureMiddleware": 5,
    # Before every other middleware, so redirects and robots.txt are checked too.
    "crawlers.middlewares.AddressGuardMiddleware": 10,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.PoliteRetryMiddleware": 550,
    # Responses pass middlewares from high to low numbers: retries first, then wall detection.
    "crawlers.middlewares.BlockedPageMiddleware": 540,
}
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
ITEM_PIPELINES = {
    "crawlers.pipelines.DuplicatePostsPipeline": 100,
    "crawlers.images.ImagePipeline": 200,
    "crawlers.videos.VideoPipeline": 210,
    # Every post read, before the name filter drops those that name nobody.
    "crawlers.corpus.CorpusPipeline": 250,
    "crawlers.pipelines.MatchNamesPipeline": 300,
    "crawlers.evidence.EvidencePipeline": 700,
    "crawlers.pipelines.IndexHitsPipeline": 800,
}
SPIDER_MIDDLEWARES = {"crawlers.evidence.CaptureRecorder": 50}
EXTENSIONS = {
    "crawlers.extensions.RedactLogs": 0,
    "crawlers.extensions.RunStatsFile": 500,
    "crawlers.extensions.RunStatsRecord": 510,
}
LOG_FORMATTER = "crawlers.extensions.QuietDropLogFormatter"
LOG_LEVEL = "INFO"

# Bodyguard
BODYGUARD_SOURCES_DIR = str(_django.BODYGUARD_SOURCES_DIR)
BODYGUARD_ELASTICSEARCH_URL = _django.BODYGUARD_ELASTICSEARCH_URL
BODYGUARD_INDEX_PREFIX = _django.BODYGUARD_INDEX_PREFIX
BODYGUARD_ES_TIMEOUT_S = _django.BODYGUARD_ES_TIMEOUT_S
BODYGUARD_JOURNAL_DIR = str(_django.BODYGUARD_JOURNAL_DIR)
BODYGUARD_EVIDENCE_DIR = str(_django.BODYGUARD_EVIDENCE_DIR)
BODYGUARD_MATCH_NAMES = True
BODYGUARD_INDEX_HITS = True
# Hits per bulk write. 1: every post is written as it comes, so a crawl killed at its time
# limit loses nothing already matched (posts that name a client are few; one request each).
BODYGUARD_HIT_BATCH = 1
BODYGUARD_CORPUS = True
BODYGUARD_CORPUS_BATCH = 500
BODYGUARD_STATS_FILE = ""
# The CrawlRun a crawl on a Scrapyd node writes its stats into (crawlers/scrapyd.py).
BODYGUARD_CRAWL_RUN_ID = 0
BODYGUARD_FETCH_IMAGES = True
BODYGUARD_ONLY_HOSTS: list[str] = []
# Images of a post are all fetched (photos first) within these byte budgets; each fetch counts
# at least 64 KB (crawlers/images.py MIN_FETCH_COST), and a crawl fetches at most so many.
BODYGUARD_IMAGE_BYTES_PER_POST = 40 * 1024 * 1024
BODYGUARD_IMAGE_BYTES_PER_CRAWL = 1024 * 1024 * 1024
BODYGUARD_MAX_IMAGES_PER_CRAWL = 2000
# "host:port" of the DNS server every name is resolved through (guard and connections alike);
# "" for the system's resolver.
BODYGUARD_DNS_SERVER = _django.BODYGUARD_DNS_SERVER
BODYGUARD_MAX_IMAGE_BYTES = 10 * 1024 * 1024
# Videos of a post (Telegram, fediverse media, <video> sources, 4chan's .webm/.mp4) are fetched
# within these budgets, hashed in memory and never written. A sextortion clip is a few minutes
# of phone video, 5-50 MB once a platform re-encodes it; each fetch counts at least 256 KB
# (crawlers/videos.py MIN_FETCH_COST).
BODYGUARD_FETCH_VIDEOS = True
BODYGUARD_MAX_VIDEO_BYTES = 64 * 1024 * 1024
BODYGUARD_VIDEO_BYTES_PER_POST = 128 * 1024 * 1024
BODYGUARD_VIDEO_BYTES_PER_CRAWL = 2 * 1024 * 1024 * 1024
BODYGUARD_MAX_VIDEOS_PER_CRAWL = 200
# Seconds a video download may take (pages get DOWNLOAD_TIMEOUT).
BODYGUARD_VIDEO_TIMEOUT_S = 180.0
BODYGUARD_RETRY_BACKOFF_BASE = 1.0
BODYGUARD_RETRY_BACKOFF_MAX = 60.0
BODYGUARD_RETRY_AFTER_MAX = 300.0
