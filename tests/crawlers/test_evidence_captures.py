"""Evidence for every hit, however many pages are read before their posts are matched."""

from __future__ import annotations

from pathlib import Path

from scrapy import Request, signals
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from crawlers.evidence import CaptureRecorder, EvidencePipeline
from crawlers.items import ForumPost
from matching.names import Mention
from tests.conftest import DATA

PAGE = (DATA / "forums" / "phpbb3_foren.myoos.de_viewtopic.html").read_bytes()
PAGES = 600  # more than the 256 captures the recorder used to keep


def _post(n: int) -> ForumPost:
    return ForumPost(
        source_id="s", url=f"http://forum.test/t/{n}#p1", thread_url=f"http://forum.test/t/{n}",
        thread_title="t", text="Richard Stallman", author="a", posted_at=None,
    )  # fmt: skip


def test_every_hit_gets_evidence_when_many_pages_are_in_flight(tmp_path: Path):
    crawler = get_crawler(
        settings_dict={"BODYGUARD_EVIDENCE_DIR": str(tmp_path), "BODYGUARD_INDEX_HITS": True}
    )
    recorder = CaptureRecorder.from_crawler(crawler)
    pipeline = EvidencePipeline.from_crawler(crawler)
    crawler.stats.open_spider()
    # Every page is read (and its post tagged) before the first post reaches the pipeline.
    tagged = []
    for n in range(PAGES):
        url = f"http://forum.test/t/{n}"
        response = HtmlResponse(url, body=PAGE, request=Request(url))
        tagged += list(recorder.process_spider_output(response, [_post(n)]))
    for item in tagged:
        item.mentions = [Mention("c", 0, 16, "Richard Stallman", "Richard Stallman", "exact", 1.0)]
        pipeline.process_item(item)
        crawler.signals.send_catch_log(signals.item_scraped, item=item, response=None)
    pipeline.close_spider()

    assert all(item.evidence is not None for item in tagged)
    assert crawler.stats.get_value("bodyguard/hits_without_evidence") is None
    assert recorder.captures == {}  # released once their posts were done
