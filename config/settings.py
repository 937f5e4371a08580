"""Django settings. Values come from :mod:`config.environment`, read once."""

from __future__ import annotations

import dj_database_url

from config.environment import BASE_DIR, ENV

DEBUG = ENV.debug
SECRET_KEY = ENV.secret_key
ALLOWED_HOSTS = list(ENV.allowed_hosts)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "clients",
    "crawlers",
    "alerts",
    "takedowns",
    "operations",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.parse(ENV.database_url, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    ENV.var_dir.mkdir(parents=True, exist_ok=True)
    # The crawler runs as a separate `scrapy crawl` process and must see the same database,
    # so even the test database is a file, never SQLite's default in-memory one.
    DATABASES["default"]["TEST"] = {"NAME": str(ENV.var_dir / "test-bodyguard.sqlite3")}
    # secure_delete: an erased client's rows are overwritten in the file, not merely unlinked.
    # IMMEDIATE: a transaction takes the write lock when it begins, so concurrent writers
    # (overlapping jobs, parallel requests) wait their turn instead of failing with "database
    # is locked" when a read inside a transaction turns into a write.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA secure_delete = ON;",
        "transaction_mode": "IMMEDIATE",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English")]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
LOCALE_PATHS = [BASE_DIR / "locale"]
STATIC_URL = "static/"
STATIC_ROOT = ENV.var_dir / "static"

# The team sees harmful content: sessions end with the working day or the browser.
SESSION_COOKIE_AGE = 8 * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Nothing to other sites (a harmful page must not learn our review URLs); "no-referrer" would
# also make browsers send "Origin: null" on our own forms, which CSRF protection refuses.
SECURE_REFERRER_POLICY = "same-origin"
# Behind a TLS-terminating proxy (README "Behind a TLS proxy"): the proxy says the request
# came over HTTPS, and the browser's https Origin is ours.
SECURE_PROXY_SSL_HEADER = ENV.proxy_ssl_header
CSRF_TRUSTED_ORIGINS = list(ENV.csrf_trusted_origins)
# Whose X-Forwarded-For names the client address for the sign-in lock-out (takedowns.access).
BODYGUARD_TRUSTED_PROXIES = list(ENV.trusted_proxies)
if not DEBUG and ENV.site_url.startswith("https://"):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000

# Uploaded client photos and videos stay in memory (hashed, then forgotten): never a temporary
# file on disk. A file beyond the budget is read through, dropped, and refused by its form with
# the limit (clients.uploads). Signed-in staff may send a video (matching.videos.MAX_VIDEO_BYTES);
# any other request keeps FILE_UPLOAD_MAX_MEMORY_SIZE.
FILE_UPLOAD_HANDLERS = ["clients.uploads.InMemoryUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = 30 * 1024 * 1024
BODYGUARD_UPLOAD_MAX_BYTES = 300 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 31 * 1024 * 1024

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = ENV.email_host
EMAIL_PORT = ENV.email_port
EMAIL_HOST_USER = ENV.email_user
EMAIL_HOST_PASSWORD = ENV.email_password
EMAIL_USE_TLS = ENV.email_use_tls
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = ENV.email_from

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "apscheduler": {"level": "WARNING"},
        "elastic_transport": {"level": "WARNING"},
        "mail.log": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# Bodyguard's own settings (tests override them with pytest-django's `settings` fixture).
BODYGUARD_VAR_DIR = ENV.var_dir
BODYGUARD_ELASTICSEARCH_URL = ENV.elasticsearch_url
# Credentials and CA for that cluster (hits.connection); its URLs, without credentials, above.
BODYGUARD_ELASTICSEARCH = ENV.elasticsearch
BODYGUARD_INDEX_PREFIX = ENV.es_index_prefix
BODYGUARD_ES_TIMEOUT_S = ENV.es_timeout_s
BODYGUARD_SOURCES_DIR = ENV.sources_dir
BODYGUARD_JOURNAL_DIR = ENV.journal_dir
BODYGUARD_CRAWL_TIME_LIMIT_S = ENV.crawl_time_limit_s
# Scrapy settings passed to every crawl process (`-s KEY=VALUE`); tests drop the delays.
BODYGUARD_CRAWL_SETTINGS: dict[str, str] = {}
BODYGUARD_DIGEST_HOUR = ENV.digest_hour
BODYGUARD_SITE_URL = ENV.site_url
# Who hears about sources that keep failing (never clients).
BODYGUARD_STAFF_EMAILS = list(ENV.staff_emails)
# Consecutive failed runs of a source after which staff are told, once.
BODYGUARD_FAILURES_BEFORE_ALERT = 3
# Days a hit dismissed as a false positive is kept after it was last seen.
BODYGUARD_RETENTION_DAYS = ENV.retention_days
# Days a crawled post that produced no hit stays in the corpus (posts behind a hit follow it).
BODYGUARD_CORPUS_DAYS = ENV.corpus_days
# WARC files of what each hit's page was when it was seen (one file per crawl run, by day).
BODYGUARD_EVIDENCE_DIR = ENV.evidence_dir
# Who signs removal notices, and how long the team waits before reminding and escalating.
BODYGUARD_NOTIFIER = ENV.notifier
BODYGUARD_RECHECK_HOURS = ENV.recheck_hours
BODYGUARD_NOTICE_REMINDER_DAYS = ENV.notice_reminder_days
BODYGUARD_ESCALATION_DAYS = ENV.escalation_days
# The association's trusted-flagger designation (DSA art. 22), empty when it holds none.
BODYGUARD_TRUSTED_FLAGGER = ENV.trusted_flagger
# A removal seen by a re-check is believed only if a second fetch this much later agrees.
BODYGUARD_RECHECK_CONFIRM_DELAY_S = ENV.recheck_confirm_delay_s
# Optional screenshot of every new hit's page (headless Chromium; images are not loaded).
BODYGUARD_SCREENSHOTS = ENV.screenshots
BODYGUARD_CHROMIUM = ENV.chromium
BODYGUARD_DNS_SERVER = ENV.dns_server
# Seals registered photos' local features at rest (clients.keys; a dev key lives in var/).
BODYGUARD_FEATURES_KEY = ENV.features_key
# The victim's space (/espace/): where "Quick exit" leads, and the private host:port pairs a
# link she reports may reach (tests and the demo only; public addresses otherwise).
BODYGUARD_PORTAL_EXIT_URL = ENV.portal_exit_url
# Crawl workers (ADR 0023): Scrapyd nodes, and how often a running crawl's job is looked at.
BODYGUARD_SCRAPYD_URLS = list(ENV.scrapyd_urls)
BODYGUARD_SCRAPYD_POLL_S = 5.0
BODYGUARD_PORTAL_PRIVATE_ALLOWLIST: list[str] = []
