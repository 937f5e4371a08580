"""Crawls on two real Scrapyd nodes: shared out, recorded as local crawls are, and a node that
goes down mid-crawl costs neither a hit nor a duplicate (issue 15)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from clients.services import import_client_file
from crawlers.models import CrawlNode, CrawlRun
from crawlers.runner import crawl_environment
from demo.discourse_server import serve
from operations.scheduler import CycleReport, configured_sources, run_cycle
from tests.conftest import real_discourse_site, write_source
from tests.crawlers.scrapyd_nodes import Node, start_node
from tests.test_end_to_end import CLIENTS, POST_440

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]


@pytest.fixture
def nodes(isolated: Path, settings: Any, hit_store, mailbox) -> Iterator[list[Node]]:
    clients = isolated / "clients.yaml"
    clients.write_text(CLIENTS, encoding="utf-8")
    import_client_file(clients)
    settings.BODYGUARD_STAFF_EMAILS = ["veille@example.org"]
    # Each node gets the environment its service would: the shared database and index.
    env = crawl_environment()
    started = [start_node(isolated / f"node-{i}", env) for i in (1, 2)]
    settings.BODYGUARD_SCRAPYD_URLS = [node.url for node in started]
    settings.BODYGUARD_SCRAPYD_POLL_S = 0.3
    yield started
    for node in started:
        node.stop()


def _sites(
    isolated: Path, count: int, delay: float = 0.0, hold: threading.Event | None = None
) -> list[str]:
    """``hold``, once set, keeps every request waiting (up to a minute) until it is cleared."""
    bases = []
    for i in range(count):
        site = real_discourse_site()
        site.delay = delay
        if hold is not None:
            answer = site.respond

            def held(path: str, query: dict[str, list[str]], answer: Any = answer) -> Any:
                deadline = time.monotonic() + 60
                while hold.is_set() and time.monotonic() < deadline:
                    time.sleep(0.1)
                return answer(path, query)

            site.respond = held  # type: ignore[method-assign]
        server = serve(site)
        base = f"http://127.0.0.1:{server.server_port}"
        write_source(isolated / "sources", f"forum-{i}", base)
        bases.append(base)
    return bases


def _hit_urls(store) -> list[str]:
    store.refresh()
    return sorted(h.url for h in store.latest(client_id="allan-bloom", size=100))


def test_a_cycle_shares_its_crawls_between_two_nodes_and_records_each(isolated, nodes, hit_store):
    bases = _sites(isolated, 4)

    report = run_cycle(list(configured_sources().values()))

    assert [c.status for c in report.crawls] == ["ok"] * 4, [c.message for c in report.crawls]
    runs = list(CrawlRun.objects.order_by("source_id"))
    assert [r.source_id for r in runs] == [f"forum-{i}" for i in range(4)]
    # Both nodes took crawls, and each run says which node and job ran it.
    assert {r.node for r in runs} == {node.url for node in nodes}
    assert all(r.job_id and r.finished_at and r.stats for r in runs)
    # The same figures as a local crawl, from the stats the crawl wrote on its node.
    assert all(r.pages >= 3 and r.items >= 1 and r.hits == 1 for r in runs)
    assert all("Spider closed" in Path(r.log_file).read_text() for r in runs)
    # Each site's post is one hit, stored once.
    assert _hit_urls(hit_store) == sorted(base + POST_440 for base in bases)
    assert report.alerts.collect is not None and report.alerts.collect.alerts_created == 4


def test_a_node_stopped_mid_crawl_is_reported_and_its_crawl_runs_again_without_duplicates(
    isolated, nodes, hit_store, mailbox
):
    # Once the hit is stored, the forum stops answering until the node is stopped: the crawl is
    # still running then, however busy the machine.
    hold = threading.Event()
    (base,) = _sites(isolated, 1, delay=0.8, hold=hold)
    reports: list[CycleReport] = []

    def cycle() -> None:
        try:
            reports.append(run_cycle(list(configured_sources().values()), full=True))
        finally:
            connection.close()

    thread = threading.Thread(target=cycle)
    thread.start()
    # The crawl has found and stored the post, and is still reading the forum: its node dies.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _hit_urls(hit_store):
        time.sleep(0.2)
    hold.set()
    assert _hit_urls(hit_store) == [base + POST_440]
    first = CrawlRun.objects.get()
    doomed = next(node for node in nodes if node.url == first.node)
    assert doomed.running_jobs() == [first.job_id]
    doomed.stop()
    hold.clear()
    thread.join(timeout=180)
    assert not thread.is_alive()

    (outcome,) = reports[0].crawls
    lost, again = CrawlRun.objects.order_by("started_at")
    assert lost.status == CrawlRun.Status.FAILED and lost.node == doomed.url
    assert "lost with its Scrapyd node" in lost.message
    assert again.status == CrawlRun.Status.OK and again.node != doomed.url
    assert outcome.run_id == again.pk and outcome.status == "ok"
    # The crawl run again read the post again (full crawl), and it is still one hit.
    assert again.hits == 1
    assert _hit_urls(hit_store) == [base + POST_440]
    # Staff are told once that the node stopped answering.
    down = [m for m in mailbox.messages if doomed.url in m["Subject"]]
    assert len(down) == 1 and "ne répond plus" in down[0]["Subject"]
    assert not CrawlNode.objects.get(url=doomed.url).answering


def test_a_crawl_over_its_time_limit_is_cancelled_on_its_node_and_recorded_as_such(
    isolated, nodes, hit_store
):
    from crawlers.runner import run_crawl

    # 10 s per answer: the crawl cannot end by itself within the limit, and has long opened its
    # spider when it is cancelled, even on a busy node.
    _sites(isolated, 1, delay=10.0)
    (source,) = configured_sources().values()

    # The spider's own closing timer off: only the monitor's cancel.json can stop it.
    outcome = run_crawl(source, time_limit_s=15, extra_settings={"CLOSESPIDER_TIMEOUT": "0"})

    run = CrawlRun.objects.get()
    assert outcome.status == CrawlRun.Status.TIMEOUT, run.message
    assert "time limit" in run.message
    # Cancelled as Ctrl-C: the spider closed and wrote its stats (reason "shutdown").
    assert run.stats and run.stats["finish_reason"] == "shutdown"
    node = next(n for n in nodes if n.url == run.node)
    assert node.running_jobs() == []


def test_a_crawl_left_running_by_a_stopped_monitor_is_cancelled_before_the_next_cycle(
    isolated, nodes, hit_store
):
    from crawlers.runner import new_run
    from crawlers.scrapyd import ScrapydNode

    _sites(isolated, 1, delay=2.0)
    (source,) = configured_sources().values()
    # A monitor scheduled this crawl, then stopped: the run is "running", the job too.
    run, _ = new_run(source)
    node = ScrapydNode(nodes[0].url)
    run.node = node.url
    run.job_id = node.schedule(
        source.kind, {"source": source.id}, {"BODYGUARD_CRAWL_RUN_ID": str(run.pk)}
    )
    run.save()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and nodes[0].running_jobs() != [run.job_id]:
        time.sleep(0.2)

    report = run_cycle(list(configured_sources().values()))

    run.refresh_from_db()
    assert run.status == CrawlRun.Status.FAILED and "monitor stopped" in run.message
    assert run.job_id not in nodes[0].running_jobs()
    # The cycle's own crawl of the source ran after it, alone.
    assert [c.status for c in report.crawls] == ["ok"]


def test_a_node_that_refuses_a_crawl_is_passed_over_not_reported_down(
    isolated, settings, nodes, hit_store, mailbox
):
    from crawlers.runner import run_crawl

    stale = start_node(
        isolated / "node-stale", crawl_environment(), settings="tests.crawlers.no_spiders_settings"
    )
    try:
        # The stale node first, and idle: it is asked first, refuses, the next node runs it.
        settings.BODYGUARD_SCRAPYD_URLS = [stale.url, nodes[0].url]
        _sites(isolated, 1)
        (source,) = configured_sources().values()

        outcome = run_crawl(source)
    finally:
        stale.stop()

    assert outcome.status == CrawlRun.Status.OK, outcome.message
    assert CrawlRun.objects.get().node == nodes[0].url
    assert not CrawlNode.objects.filter(answering=False).exists()
    assert not [m for m in mailbox.messages if "ne répond plus" in m["Subject"]]


def test_a_crawl_the_nodes_refuse_fails_with_their_reason_and_no_node_is_reported_down(
    isolated, nodes, hit_store, mailbox
):
    import dataclasses

    from crawlers.runner import run_crawl

    _sites(isolated, 1)
    (source,) = configured_sources().values()
    # A spider this release of the nodes does not have (a node left on an older release).
    outcome = run_crawl(dataclasses.replace(source, kind="newer"))

    assert outcome.status == CrawlRun.Status.FAILED
    assert "spider 'newer' not found" in outcome.message
    assert not CrawlNode.objects.filter(answering=False).exists()
    assert not [m for m in mailbox.messages if "ne répond plus" in m["Subject"]]
