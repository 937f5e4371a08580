"""A real Elasticsearch node stopped in the middle of a crawl, then restarted: every hit is
present exactly once after the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from clients.services import import_client_file
from crawlers.models import CrawlRun
from hits.journal import HitJournal
from hits.store import HitStore
from operations.scheduler import configured_sources, run_cycle
from tests.conftest import ROOT, write_source

pytestmark = [pytest.mark.django_db(transaction=True)]

PORT = int(os.environ.get("BODYGUARD_TEST_ES2_PORT", "9250"))
SCRIPT = str(ROOT / "scripts" / "elasticsearch.sh")
CLIENT = """
clients:
  - id: watched
    display_name: W
    email: w@example.org
    names: ["Allan Bloom"]
    aliases: ["Elliot", "feminism"]
"""


def _node(action: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ELASTICSEARCH_URL"} | {"ES_PORT": str(PORT)}
    subprocess.run(
        [SCRIPT, action], env=env, check=True, cwd=ROOT, capture_output=True, timeout=180
    )


def _crash_node() -> None:
    """The node goes down at once, as a machine that fails: a graceful stop takes seconds, in
    which a busy crawl could write every hit it had left, and the outage would test nothing."""
    cache = Path(
        os.environ.get("BODYGUARD_CACHE")
        or ("/var/cache/bodyguard" if os.geteuid() == 0 else Path.home() / ".cache" / "bodyguard")
    )
    pid = int((cache / f"node-{PORT}" / "elasticsearch.pid").read_text().strip())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"Elasticsearch (pid {pid}) did not die")


@pytest.fixture
def second_node():
    """A node of our own, so stopping it disturbs no other test."""
    _node("start")
    yield f"http://127.0.0.1:{PORT}"
    _node("stop")


def test_hits_survive_an_elasticsearch_stop_in_the_middle_of_a_crawl(
    isolated: Path, settings, discourse_site, second_node, mailbox
):
    site, base_url = discourse_site
    site.delay = 0.5
    settings.BODYGUARD_ELASTICSEARCH_URL = second_node
    settings.BODYGUARD_CRAWL_SETTINGS = settings.BODYGUARD_CRAWL_SETTINGS | {
        "BODYGUARD_HIT_BATCH": "1"
    }
    (isolated / "clients.yaml").write_text(CLIENT, encoding="utf-8")
    import_client_file(isolated / "clients.yaml")
    write_source(isolated / "sources", "cf-forum", base_url)
    store = HitStore(second_node, settings.BODYGUARD_INDEX_PREFIX, timeout_s=2)
    stopped = threading.Event()
    # The rest of the long topic is answered once the node is down, so some hits are always
    # found after the stop, however slowly the watcher sees the first ones.
    answer = site.respond

    def held_until_stopped(path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        if path.startswith("/t/2108/posts.json"):
            stopped.wait(60)
        return answer(path, query)

    site.respond = held_until_stopped

    def stop_after_first_hits() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if store.ping() and store.count() >= 1:
                    _crash_node()
                    stopped.set()
                    return
            except Exception:
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=stop_after_first_hits)
    watcher.start()
    first = run_cycle(list(configured_sources().values()))
    watcher.join()
    assert stopped.is_set(), "the node was never stopped mid-crawl"

    crawl = first.crawls[0]
    assert crawl.status == CrawlRun.Status.DEGRADED, crawl.message
    journal = HitJournal(settings.BODYGUARD_JOURNAL_DIR, store.index)
    journaled = {h.hit_id for h in journal.pending()}
    assert journaled, "hits found after the stop should be in the journal"

    _node("start")
    site.delay = 0
    # A normal run: only the journal's replay can bring back what the first run could not write.
    run_cycle(list(configured_sources().values()))

    store = HitStore(second_node, settings.BODYGUARD_INDEX_PREFIX)
    hits = store.latest(size=1000)
    ids = [h.hit_id for h in hits]
    assert len(ids) == len(set(ids))  # exactly once
    assert journaled <= set(ids)  # nothing lost
    assert journal.pending() == []
    assert len(ids) == crawl.hits + crawl.journaled_hits
    store.delete_index()
