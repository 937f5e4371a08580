"""The monitoring cycle and its schedule. Jobs are thin wrappers over plain functions."""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor as ApsThreadPool
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from django.conf import settings
from django.db import close_old_connections, connection

from alerts.services import (
    CollectReport,
    DispatchReport,
    collect_new_hits,
    dispatch_pending,
    hit_store,
)
from config.sources import Source, load_sources
from crawlers.health import alert_staff_if_failing, alert_staff_of_refused_hits
from crawlers.registry import KNOWN_KINDS
from crawlers.runner import CrawlOutcome, run_crawl
from crawlers.screenshots import ScreenshotReport, screenshot_hits
from hits.errors import HitStoreError
from operations import backscan
from operations.backscan import BackScanOutcome, purge_corpus, run_pending_backscans
from operations.privacy import purge_dismissed_hits
from takedowns.recheck import recheck_open_cases
from takedowns.services import record_reopened

logger = logging.getLogger(__name__)

# How often pending alerts are collected and sent even when no crawl just finished.
ALERTS_EVERY_S = 60
# Crawls a one-off cycle hands to Scrapyd nodes at once (each is a thread following its job;
# the nodes' own max_proc decides how many run, the rest wait in the nodes' queues).
MAX_REMOTE_FOLLOWERS = 32


class MonitorAlreadyRunning(RuntimeError):
    pass


@dataclass
class AlertsOutcome:
    backscans: list[BackScanOutcome] = field(default_factory=list)
    collect: CollectReport | None = None
    dispatch: DispatchReport | None = None
    screenshots: ScreenshotReport | None = None
    error: str = ""


@dataclass
class CycleReport:
    crawls: list[CrawlOutcome] = field(default_factory=list)
    alerts: AlertsOutcome = field(default_factory=AlertsOutcome)
    backscans: list[BackScanOutcome] = field(default_factory=list)


def configured_sources() -> dict[str, Source]:
    return load_sources(Path(settings.BODYGUARD_SOURCES_DIR), KNOWN_KINDS)


def crawl_source(source: Source, *, full: bool = False) -> CrawlOutcome:
    outcome = run_crawl(source, full=full)
    try:
        alert_staff_if_failing(source.id)
        alert_staff_of_refused_hits(outcome)
    except OSError as exc:  # SMTP down: the run is recorded; the next failure will not re-alert
        logger.error("could not email staff about source %s: %s", source.id, exc)
    logger.info(
        "crawl %s: %s, %d page(s), %d item(s), %d hit(s), %d new",
        source.id, outcome.status, outcome.pages, outcome.items, outcome.hits, outcome.new_hits,
    )  # fmt: skip
    return outcome


def process_alerts(*, digest: bool = False) -> AlertsOutcome:
    outcome = AlertsOutcome()
    store = hit_store()
    try:
        # Back-scans queued by registrations make hits from the corpus; they are collected now.
        outcome.backscans = run_pending_backscans()
        store.ensure_index()
        outcome.collect = collect_new_hits(store)
        record_reopened(store)  # dismissed hits whose content changed: logged, back to review
        if settings.BODYGUARD_SCREENSHOTS and outcome.collect.new_hits:
            outcome.screenshots = screenshot_hits(
                store,
                outcome.collect.new_hits,
                configured_sources(),
                Path(settings.BODYGUARD_EVIDENCE_DIR),
                settings.BODYGUARD_CHROMIUM,
            )
            for failure in outcome.screenshots.failures:
                logger.warning("no screenshot: %s", failure)
    except HitStoreError as exc:
        # Alerts already recorded can still be sent; the rest waits for Elasticsearch.
        outcome.error = str(exc)
        logger.error("could not collect new hits: %s", exc)
    finally:
        store.close()
    outcome.dispatch = dispatch_pending(digest=digest)
    return outcome


def _settle_remote_orphans() -> None:
    # Crawls a stopped monitor left on Scrapyd nodes: cancelled before any new one starts.
    if settings.BODYGUARD_SCRAPYD_URLS:
        from crawlers.remote import settle_orphans

        settle_orphans()


def run_cycle(sources: list[Source], *, full: bool = False) -> CycleReport:
    report = CycleReport()
    _settle_remote_orphans()
    # Back-scans first: the crawls below are then the new names' first-sight crawls.
    report.backscans = run_pending_backscans()
    if settings.BODYGUARD_SCRAPYD_URLS and len(sources) > 1:
        # Crawl workers: every crawl is handed out at once and the nodes share them.
        with ThreadPoolExecutor(max_workers=min(len(sources), MAX_REMOTE_FOLLOWERS)) as pool:
            report.crawls = list(
                pool.map(lambda s: _in_thread(crawl_source, s, full=full), sources)
            )
    else:
        for source in sources:
            report.crawls.append(crawl_source(source, full=full))
    report.alerts = process_alerts()
    return report


def _in_thread(func, *args, **kwargs):
    # A thread's own database connection, closed when its work is done.
    try:
        return func(*args, **kwargs)
    finally:
        connection.close()


def _job(func, *args, **kwargs):
    close_old_connections()
    try:
        return func(*args, **kwargs)
    except Exception:
        logger.exception("job %s failed", func.__name__)
    finally:
        close_old_connections()


def build_scheduler(sources: list[Source]) -> BlockingScheduler:
    _settle_remote_orphans()
    executors = {}
    if settings.BODYGUARD_SCRAPYD_URLS:
        # Following a crawl on a node costs a thread, not a core: as many as the nodes take.
        executors["default"] = ApsThreadPool(MAX_REMOTE_FOLLOWERS)
    scheduler = BlockingScheduler(timezone=settings.TIME_ZONE, executors=executors)
    now = datetime.now(UTC)
    for source in sources:
        scheduler.add_job(
            _job,
            IntervalTrigger(seconds=int(source.crawl_interval.total_seconds())),
            args=[crawl_source, source],
            id=f"crawl:{source.id}",
            max_instances=1,
            coalesce=True,
            next_run_time=now,
            misfire_grace_time=300,
        )
    scheduler.add_job(
        _job, IntervalTrigger(seconds=ALERTS_EVERY_S), args=[process_alerts],
        id="alerts", max_instances=1, coalesce=True,
    )  # fmt: skip
    scheduler.add_job(
        _job, CronTrigger(hour=3, minute=30), args=[purge_dismissed_hits],
        id="retention", max_instances=1, coalesce=True,
    )  # fmt: skip
    scheduler.add_job(
        _job, CronTrigger(hour=3, minute=45), args=[purge_corpus],
        id="corpus-retention", max_instances=1, coalesce=True,
    )  # fmt: skip

    def first_sight(source_ids: list[str]) -> None:
        # A new name's first-sight crawl: the source's next run, now.
        for source_id in source_ids:
            job = scheduler.get_job(f"crawl:{source_id}")
            if job is not None:
                job.modify(next_run_time=datetime.now(UTC))

    backscan.first_sight_hook = first_sight
    scheduler.add_job(
        _job, CronTrigger(hour=settings.BODYGUARD_DIGEST_HOUR), args=[process_alerts],
        kwargs={"digest": True}, id="digest", max_instances=1, coalesce=True,
    )  # fmt: skip
    scheduler.add_job(
        _job, IntervalTrigger(hours=settings.BODYGUARD_RECHECK_HOURS), args=[recheck_open_cases],
        id="recheck", max_instances=1, coalesce=True,
    )  # fmt: skip
    return scheduler


@contextmanager
def single_monitor(var_dir: Path) -> Iterator[None]:
    """One scheduler per deployment: a second one on the same machine refuses to start."""
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / "monitor.lock"
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise MonitorAlreadyRunning(
                f"another monitor holds {path} (pid {lock.read().strip() or '?'}); "
                "run exactly one scheduler per deployment"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
