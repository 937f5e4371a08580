"""Elasticsearch unreachable during a crawl: a clear outcome, and nothing lost."""

from pathlib import Path

import pytest

from alerts.models import Alert
from clients.services import import_client_file
from crawlers.models import CrawlRun
from demo.smtp_sink import free_port
from hits.corpus import CorpusJournal, CorpusStore
from hits.journal import HitJournal
from operations.models import BackScan
from operations.scheduler import configured_sources, run_cycle
from tests.conftest import write_source
from tests.test_end_to_end import CLIENTS, POST_440

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_hits_found_while_elasticsearch_is_down_are_written_on_the_next_run(
    isolated: Path, settings, discourse_site, hit_store, mailbox
):
    _site, base_url = discourse_site
    (isolated / "clients.yaml").write_text(CLIENTS, encoding="utf-8")
    import_client_file(isolated / "clients.yaml")
    write_source(isolated / "sources", "cf-forum", base_url)
    real_url = settings.BODYGUARD_ELASTICSEARCH_URL

    settings.BODYGUARD_ELASTICSEARCH_URL = f"http://127.0.0.1:{free_port()}"
    down = run_cycle(list(configured_sources().values()))

    [crawl] = down.crawls
    assert crawl.status == CrawlRun.Status.DEGRADED
    assert crawl.journaled_hits == 1
    assert "journal" in crawl.message and "Elasticsearch" in crawl.message
    assert "unreachable" in down.alerts.error
    journal = HitJournal(settings.BODYGUARD_JOURNAL_DIR, hit_store.index)
    assert [h.url for h in journal.pending()] == [base_url + POST_440]
    assert mailbox.messages == []
    # The client's back-scan waits for Elasticsearch; it did not stop the crawls.
    assert BackScan.objects.get().status == BackScan.Status.QUEUED

    settings.BODYGUARD_ELASTICSEARCH_URL = real_url
    up = run_cycle(list(configured_sources().values()))

    assert up.crawls[0].status == CrawlRun.Status.OK
    assert [h.url for h in hit_store.latest()] == [base_url + POST_440]
    assert hit_store.count() == 1
    assert journal.pending() == []
    assert Alert.objects.count() == 1
    assert len(mailbox.messages) == 1
    assert BackScan.objects.get(status=BackScan.Status.DONE)
    # Every post read while Elasticsearch was down reached the corpus from its journal.
    corpus = CorpusStore(real_url, settings.BODYGUARD_INDEX_PREFIX)
    corpus_journal = CorpusJournal(settings.BODYGUARD_JOURNAL_DIR, corpus.index)
    assert corpus_journal.pending() == [] and not corpus_journal.dead_letters.entries()
    assert corpus.count() == len([p for p in _site.posts.values() if p.get("cooked")])
    corpus.close()
