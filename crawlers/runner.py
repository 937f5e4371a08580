"""Running one crawl as a ``scrapy crawl`` subprocess and recording its outcome.

A subprocess per crawl because Twisted's reactor cannot be restarted in one process, and
because a crawl that hangs can then be killed without taking the scheduler with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import connection

from config.environment import BASE_DIR, child_environment
from config.sources import Source
from crawlers.models import CrawlRun

# Seconds the spider gets to close cleanly (flush hits) before the hard time limit.
CLOSE_MARGIN_S = 30
# Seconds between SIGTERM at the time limit and the kill: the crawl closes its evidence at
# SIGTERM (well under a second for a WARC of a few hundred records) and flushes its hits.
TERM_GRACE_S = 15

# A run is degraded, not ok, when at least this share of its requests failed (and at least
# DEGRADED_MIN_FAILURES of them): one flaky page in a hundred is the web; one in five means the
# site, or our access to it, is broken. Not measured on production runs yet: the Discourse test
# with its topic down fails 2 of 6 requests, healthy test runs fail none.
DEGRADED_FAILURE_SHARE = 0.2
DEGRADED_MIN_FAILURES = 2


@dataclass(frozen=True)
class CrawlOutcome:
    run_id: int
    source_id: str
    status: str
    exit_code: int | None
    pages: int
    items: int
    hits: int
    new_hits: int
    journaled_hits: int
    errors: int
    message: str
    blocked: int = 0
    # Hits Elasticsearch refused, kept in the dead-letter files for staff.
    dead_lettered: int = 0
    dead_letter_reason: str = ""
    dead_letter_dir: str = ""
    failed_requests: int = 0


def database_url_of(db: dict[str, Any]) -> str:
    """The URL a crawl process needs to reach the database we are connected to, options kept."""
    engine = db["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    if "postgresql" in engine:
        auth = ""
        if db.get("USER"):
            auth = quote(db["USER"], safe="")
            if db.get("PASSWORD"):
                auth += ":" + quote(db["PASSWORD"], safe="")
            auth += "@"
        port = f":{db['PORT']}" if db.get("PORT") else ""
        # sslmode, sslrootcert, options, ...: dj-database-url reads query parameters back
        # into OPTIONS, so a cluster that requires TLS is reached the same way by the crawl.
        options = {k: str(v) for k, v in (db.get("OPTIONS") or {}).items() if v is not None}
        query = f"?{urlencode(options)}" if options else ""
        host = quote(db.get("HOST") or "localhost", safe="")
        return f"postgres://{auth}{host}{port}/{quote(db['NAME'], safe='')}{query}"
    raise ValueError(f"unsupported database engine for crawls: {engine}")


def crawl_environment() -> dict[str, str]:
    """What a crawl process must share with us: database, index, sources, journal."""
    return child_environment(
        {
            "DATABASE_URL": database_url_of(connection.settings_dict),
            # The cluster's URLs, credentials and CA (all five ELASTICSEARCH_* variables).
            **settings.BODYGUARD_ELASTICSEARCH.with_url(
                settings.BODYGUARD_ELASTICSEARCH_URL
            ).environment(),
            "BODYGUARD_INDEX_PREFIX": settings.BODYGUARD_INDEX_PREFIX,
            "BODYGUARD_SOURCES_DIR": str(settings.BODYGUARD_SOURCES_DIR),
            "BODYGUARD_JOURNAL_DIR": str(settings.BODYGUARD_JOURNAL_DIR),
            "BODYGUARD_VAR_DIR": str(settings.BODYGUARD_VAR_DIR),
            "BODYGUARD_EVIDENCE_DIR": str(settings.BODYGUARD_EVIDENCE_DIR),
            "PYTHONUNBUFFERED": "1",
            # A crawl is one process working on one core (crawls run side by side): BLAS and
            # OpenMP threads of its own only spin-wait, and doubled the CPU an image costs
            # (make bench: 107 -> 55 ms per crawled image at 100,000 registered photos).
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            # The key that opens registered photos' features (else the dev key in var/).
            **(
                {"BODYGUARD_FEATURES_KEY": settings.BODYGUARD_FEATURES_KEY}
                if getattr(settings, "BODYGUARD_FEATURES_KEY", "")
                else {}
            ),
        }
    )


def run_crawl(
    source: Source,
    *,
    time_limit_s: int | None = None,
    extra_settings: dict[str, str] | None = None,
    full: bool = False,
) -> CrawlOutcome:
    limit = time_limit_s or settings.BODYGUARD_CRAWL_TIME_LIMIT_S
    overrides = {
        "CLOSESPIDER_TIMEOUT": str(max(10, limit - CLOSE_MARGIN_S)),
        **settings.BODYGUARD_CRAWL_SETTINGS,
        **(extra_settings or {}),
    }
    if settings.BODYGUARD_SCRAPYD_URLS:
        from crawlers.remote import run_on_nodes

        return run_on_nodes(source, limit=limit, overrides=overrides, full=full)
    run, log_file = new_run(source)
    with tempfile.TemporaryDirectory(prefix="bodyguard-crawl-") as tmp:
        stats_file = Path(tmp) / "stats.json"
        command = [
            sys.executable, "-m", "scrapy", "crawl", source.kind,
            "-a", f"source={source.id}",
            "-a", f"full={int(full)}",
            "-s", f"BODYGUARD_STATS_FILE={stats_file}",
        ]  # fmt: skip
        for key, value in overrides.items():
            command += ["-s", f"{key}={value}"]
        exit_code: int | None
        with open(log_file, "wb") as log:
            process = subprocess.Popen(
                command, cwd=BASE_DIR, env=crawl_environment(), stdout=log, stderr=subprocess.STDOUT
            )
            try:
                exit_code = process.wait(timeout=limit)
                timed_out = False
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(timeout=TERM_GRACE_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                exit_code, timed_out = None, True
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    return record_run(run, stats, exit_code, timed_out, log_file, limit)


def new_run(source: Source) -> tuple[CrawlRun, Path]:
    """A ``running`` CrawlRun row and the local file its log is kept in."""
    started = datetime.now(UTC)
    log_dir = Path(settings.BODYGUARD_VAR_DIR) / "logs" / "crawls"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"{source.id}-{started:%Y%m%dT%H%M%S%f}.log"
    run = CrawlRun.objects.create(
        source_id=source.id, kind=source.kind, started_at=started, log_file=str(log_file)
    )
    return run, log_file


def record_run(
    run: CrawlRun,
    stats: dict[str, Any],
    exit_code: int | None,
    timed_out: bool,
    log_file: Path,
    limit: int,
) -> CrawlOutcome:
    run.finished_at = datetime.now(UTC)
    run.exit_code = exit_code
    run.pages = int(stats.get("response_received_count", 0))
    run.items = int(stats.get("item_scraped_count", 0))
    run.hits = int(stats.get("bodyguard/hits", 0))
    run.new_hits = int(stats.get("bodyguard/hits_new", 0))
    run.journaled_hits = int(stats.get("bodyguard/hits_journaled", 0))
    run.errors = int(stats.get("log_count/ERROR", 0))
    run.blocked = int(stats.get("bodyguard/blocked", 0))
    run.images = int(stats.get("bodyguard/images", 0))
    failed = int(stats.get("bodyguard/failed_requests", 0))
    run.errors = max(run.errors, failed)
    requests = int(stats.get("downloader/request_count", 0)) or run.pages
    skipped = int(stats.get("bodyguard/state_unchanged", 0)) + int(
        stats.get("bodyguard/retry_backoff", 0)
    )
    # Posts read, matched or not (the name filter drops those that name nobody).
    posts = run.items + int(stats.get("item_dropped_count", 0))
    retry_note = f"; {failed} request(s) failed and are retried on the next run" if failed else ""
    if timed_out:
        run.status, run.message = CrawlRun.Status.TIMEOUT, f"killed after the {limit}s time limit"
    elif exit_code != 0 or not stats:
        run.status = CrawlRun.Status.FAILED
        run.message = f"scrapy exited with status {exit_code}: {_last_error(log_file)}"
    elif stats.get("finish_reason") not in ("finished", "closespider_timeout"):
        run.status = CrawlRun.Status.FAILED
        run.message = str(stats.get("finish_reason"))
    elif stats.get("bodyguard/unknown_accounts"):
        # A channel or account that does not exist (any more) is a wrong source, not silence.
        run.status = CrawlRun.Status.FAILED
        run.message = (
            f"{stats['bodyguard/unknown_accounts']} account(s) not found; last: "
            f"{stats.get('bodyguard/unknown_account_reason', '')}"
        )
    elif run.blocked and not run.items:
        # Never "no results": what we could not read is not known to be clean.
        run.status = CrawlRun.Status.BLOCKED
        run.message = (
            f"{run.blocked} page(s) blocked; last: {stats.get('bodyguard/blocked_reason', '')}"
        )
    elif stats.get("bodyguard/hits_dead_lettered"):
        run.status = CrawlRun.Status.DEGRADED
        run.message = (
            f"{stats['bodyguard/hits_dead_lettered']} hit(s) refused by Elasticsearch, kept in "
            f"{stats.get('bodyguard/dead_letter_dir', 'the dead-letter files')} for staff "
            f"({stats.get('bodyguard/dead_letter_reason', 'see the files')})"
        )
        if run.journaled_hits:
            run.message += f"; {run.journaled_hits} hit(s) kept in the journal for the next run"
    elif run.journaled_hits:
        run.status = CrawlRun.Status.DEGRADED
        run.message = (
            f"{run.journaled_hits} hit(s) kept in the local journal because Elasticsearch was "
            f"unavailable ({stats.get('bodyguard/store_error', '')}); they are written on the next run"
        )
    elif run.pages and not posts and not skipped:
        # Pages were read and none held a post: the site changed (selectors no longer match,
        # 404 everywhere); "nothing found" would hide that nothing is watched any more.
        run.status = CrawlRun.Status.DEGRADED
        run.message = f"{run.pages} page(s) read but no post found in them{retry_note}"
    elif failed >= DEGRADED_MIN_FAILURES and failed >= DEGRADED_FAILURE_SHARE * max(requests, 1):
        run.status = CrawlRun.Status.DEGRADED
        run.message = f"{failed} of {requests} request(s) failed; they are retried on the next run"
    else:
        run.status = CrawlRun.Status.OK
        run.message = f"finish reason: {stats.get('finish_reason', 'unknown')}{retry_note}"
    kept = {
        "image fingerprint(s) kept in the journal for the next run": "bodyguard/image_fingerprints_journaled",
        "image fingerprint(s) refused by Elasticsearch, in the dead-letter files": "bodyguard/image_fingerprints_dead_lettered",
        "video fingerprint(s) kept in the journal for the next run": "bodyguard/video_fingerprints_journaled",
        "video fingerprint(s) refused by Elasticsearch, in the dead-letter files": "bodyguard/video_fingerprints_dead_lettered",
        "video(s) not fetched: over the video byte budget": "bodyguard/videos_over_budget",
        "corpus post(s) kept in the journal for the next run": "bodyguard/corpus_journaled",
        "corpus post(s) refused by Elasticsearch": "bodyguard/corpus_refusals",
    }
    for what, key in kept.items():
        if stats.get(key):
            run.message += f"\n{int(stats[key])} {what}"
    gone = int(stats.get("bodyguard/pages_gone", 0))
    if gone:
        run.message += f"\n{gone} page(s) gone (404/410), read again on the next run"
    pages_failed = int(stats.get("bodyguard/pages_failed", 0))
    if pages_failed:
        listed = "; ".join(stats.get("bodyguard/page_failures") or [])
        run.message += f"\n{pages_failed} page(s) not read: {listed}"
    run.save()
    return CrawlOutcome(
        run_id=run.pk,
        source_id=run.source_id,
        status=run.status,
        exit_code=exit_code,
        pages=run.pages,
        items=run.items,
        hits=run.hits,
        new_hits=run.new_hits,
        journaled_hits=run.journaled_hits,
        errors=run.errors,
        message=run.message,
        blocked=run.blocked,
        dead_lettered=int(stats.get("bodyguard/hits_dead_lettered", 0)),
        dead_letter_reason=str(stats.get("bodyguard/dead_letter_reason", "")),
        dead_letter_dir=str(stats.get("bodyguard/dead_letter_dir", "")),
        failed_requests=failed,
    )


def _last_error(log_file: Path) -> str:
    try:
        lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "no log"
    interesting = [line for line in lines if "Error" in line or "ERROR" in line]
    return (interesting or lines or ["no output"])[-1][:500]
