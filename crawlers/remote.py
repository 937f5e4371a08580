"""Running one crawl on a Scrapyd node and recording the same outcome as a local crawl.

The monitor stays the one scheduler: it picks the least loaded node that answers, schedules the
spider there with the crawl's settings, follows the job until it finishes (cancelling it at the
time limit), then records the ``CrawlRun`` from the stats the crawl wrote into the shared
database. A node that stops answering is reported to staff once; the crawl it held is
scheduled again on another node, and deterministic hit ids keep that from duplicating hits.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F

from config.sources import Source
from crawlers.models import CrawlNode, CrawlRun
from crawlers.runner import TERM_GRACE_S, CrawlOutcome, new_run, record_run
from crawlers.scrapyd import NodePool, ScrapydError, ScrapydNode

logger = logging.getLogger(__name__)

# Consecutive failed looks at a running job before its node counts as gone (with the default
# 5 s poll: ~30 s). One missed answer is a busy node; six is a node that is down or cut off.
LOST_AFTER_MISSES = 6

_pools: dict[tuple[str, ...], NodePool] = {}


def node_pool() -> NodePool:
    # One pool per configuration, shared by the monitor's threads (its lock orders choices).
    urls = tuple(settings.BODYGUARD_SCRAPYD_URLS)
    if urls not in _pools:
        _pools[urls] = NodePool(urls)
    return _pools[urls]


@dataclass(frozen=True)
class _Ending:
    how: Literal["finished", "timeout", "lost"]
    log_url: str = ""
    why: str = ""


def run_on_nodes(
    source: Source, *, limit: int, overrides: dict[str, str], full: bool
) -> CrawlOutcome:
    pool = node_pool()
    tried: set[str] = set()
    while True:
        run, log_file = new_run(source)
        crawl_settings = {**overrides, "BODYGUARD_CRAWL_RUN_ID": str(run.pk)}
        args = {"source": source.id, "full": str(int(full))}
        try:
            node, job_id, down = pool.schedule(source.kind, args, crawl_settings, exclude=tried)
        except ScrapydError as exc:
            _note_nodes(pool, {}, answering=set())
            return _unrun(run, f"not run: {exc}; the crawl is tried again on its next turn")
        _note_nodes(pool, down, answering={node.url})
        CrawlNode.objects.filter(url=node.url).update(jobs=F("jobs") + 1)
        run.node, run.job_id = node.url, job_id
        run.save(update_fields=["node", "job_id"])
        logger.info("crawl %s scheduled on %s as job %s", source.id, node.url, job_id)
        ending = _follow(node, job_id, limit)
        if ending.log_url:
            _fetch_log(node, ending.log_url, log_file)
        run.refresh_from_db(fields=["stats"])
        if ending.how == "lost":
            tried.add(node.url)
            _note_nodes(pool, {node.url: ending.why}, answering=set())
            again = len(tried) < len(pool.nodes)
            outcome = _unrun(
                run,
                f"lost with its Scrapyd node {node.url} ({ending.why}); "
                + ("scheduled again on another node" if again else "tried again on its next turn"),
            )
            if again:
                continue
            return outcome
        stats = run.stats or {}
        timed_out = ending.how == "timeout"
        return record_run(run, stats, 0 if stats else None, timed_out, log_file, limit)


def _follow(node: ScrapydNode, job_id: str, limit: int) -> _Ending:
    poll_s = float(settings.BODYGUARD_SCRAPYD_POLL_S)
    deadline = time.monotonic() + limit
    misses = 0
    cancelled_at: float | None = None
    while True:
        try:
            info = node.job(job_id)
        except ScrapydError as exc:
            misses += 1
            if misses >= LOST_AFTER_MISSES:
                return _Ending("lost", why=str(exc))
        else:
            misses = 0
            if info.state == "finished":
                return _Ending("timeout" if cancelled_at else "finished", info.log_url)
            if info.state == "unknown":
                # The node answers but forgot the job: it was restarted (jobs are in memory).
                return _Ending("lost", why=f"{node.url} no longer knows job {job_id}")
        now = time.monotonic()
        try:
            if cancelled_at is None and now > deadline:
                node.cancel(job_id)  # the spider closes: hits flushed, stats written
                cancelled_at = now
            elif cancelled_at is not None and now > cancelled_at + TERM_GRACE_S:
                node.cancel(job_id, signal="KILL")
                cancelled_at = now + 3600  # once
        except ScrapydError as exc:
            logger.warning("could not cancel job %s on %s: %s", job_id, node.url, exc)
        time.sleep(poll_s)


def _fetch_log(node: ScrapydNode, log_url: str, log_file: Path) -> None:
    try:
        log_file.write_bytes(node.log(log_url))
    except (ScrapydError, OSError) as exc:
        log_file.write_text(f"log not fetched from {node.url}: {exc}\n", encoding="utf-8")


def _unrun(run: CrawlRun, message: str) -> CrawlOutcome:
    """A crawl that did not run to its end on any node: failed, so the source's health sees
    it, with no stats."""
    run.finished_at = datetime.now(UTC)
    run.status = CrawlRun.Status.FAILED
    run.message = message
    run.save(update_fields=["finished_at", "status", "message"])
    logger.warning("crawl %s: %s", run.source_id, message)
    return CrawlOutcome(
        run_id=run.pk,
        source_id=run.source_id,
        status=run.status,
        exit_code=None,
        pages=0,
        items=0,
        hits=0,
        new_hits=0,
        journaled_hits=0,
        errors=0,
        message=message,
    )


def _note_nodes(pool: NodePool, down: dict[str, str], answering: set[str]) -> None:
    """Remembers which nodes answer; staff are emailed when one stops answering."""
    if not down and not answering:
        # Nothing took the crawl: look at every node, to report the ones that are down.
        _, down = pool.loads()
    for url in answering:
        CrawlNode.objects.update_or_create(url=url, defaults={"answering": True, "error": ""})
    for url, why in down.items():
        node, created = CrawlNode.objects.get_or_create(url=url)
        was_answering = node.answering or created
        node.answering, node.error = False, why
        node.save(update_fields=["answering", "error", "checked_at"])
        if was_answering:
            _email_staff_node_down(url, why)


def _email_staff_node_down(url: str, why: str) -> None:
    subject = f"[Bodyguard] Le nœud de collecte {url} ne répond plus"
    body = (
        f"Le nœud Scrapyd {url} ne répond plus :\n\n{why}\n\n"
        "Les collectes sont confiées aux autres nœuds ; celles qu'il exécutait sont relancées "
        "ailleurs. Tant qu'il est arrêté, la capacité de collecte est réduite. Vous ne serez "
        "de nouveau prévenus qu'après son retour.\n"
    )
    recipients = list(settings.BODYGUARD_STAFF_EMAILS)
    if not recipients:
        logger.warning("%s (BODYGUARD_STAFF_EMAILS is empty, nobody was emailed)", subject)
        return
    try:
        send_mail(subject, body, None, recipients)
    except OSError as exc:
        logger.error("could not email staff that %s is down: %s", url, exc)


def settle_orphans() -> int:
    """Crawls a previous monitor left running on nodes (it stopped while following them): their
    jobs are cancelled and their runs closed as failed, so that a source never has two crawls
    at once and no run stays "running" for ever. Returns how many were settled."""
    settled = 0
    orphans = CrawlRun.objects.filter(status=CrawlRun.Status.RUNNING).exclude(node="")
    for run in orphans:
        note = "the monitor stopped while following it"
        try:
            node = ScrapydNode(run.node)
            if node.job(run.job_id).state in ("pending", "running"):
                node.cancel(run.job_id)
                note += "; its job was cancelled"
        except (ScrapydError, ValueError) as exc:
            note += f"; its node could not be asked ({exc})"
        _unrun(run, f"not finished: {note}; the crawl runs again on its next turn")
        settled += 1
    return settled
