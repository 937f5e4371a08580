"""Evidence at hit time: the page as served, archived as WARC records, with hashes.

A spider middleware remembers the response each post was read from; the pipeline writes that
response (status, headers, body), the request, and a metadata record (final URL, redirect chain,
server IP, UTC time, capture environment) to this run's WARC file when the post is a hit. One
WARC file per crawl run, under a folder per day; ``MANIFEST.jsonl`` lists each closed file with
its SHA-256 so ``verify_evidence`` can prove nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import re
import signal
import socket
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from config.environment import ConfigurationError, secret
from crawlers.fetch import Fetched
from crawlers.items import EvidenceRef, ForumPost

logger = logging.getLogger(__name__)

# Request headers and query parameters that carry our credentials (search API keys, logins):
# evidence goes to lawyers and PHAROS, and a key in it is a key given away.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-subscription-token",  # Brave
        "ocp-apim-subscription-key",  # Bing
        "x-api-key",
        "api-key",
    }
)
SECRET_PARAMS = frozenset(
    {
        "key",  # Google Custom Search
        "api_key",
        "apikey",
        "access_token",
        "token",
        "subscription-key",
        "client_secret",
        "password",
        "sig",
        "signature",
    }
)
REDACTED = "REDACTED"
_SECRET_PARAM_IN_TEXT = re.compile(
    r"([?&](?:" + "|".join(re.escape(p) for p in sorted(SECRET_PARAMS)) + r")=)[^&#\s>'\"]+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Capture:
    url: str
    final_url: str
    redirect_chain: tuple[str, ...]
    status: int
    headers: tuple[tuple[str, str], ...]
    request_headers: tuple[tuple[str, str], ...]
    body: bytes
    server_ip: str
    fetched_at: str


@dataclass(frozen=True)
class Redactor:
    """Takes credentials out of what is archived: the headers and query parameters above, the
    user:password of a URL, and any of ``secrets`` (the source's own values) wherever they
    appear in a URL or a request header. Bodies are archived as served."""

    secrets: tuple[str, ...] = ()

    def url(self, url: str, notes: set[str]) -> str:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
            notes.add("user and password in the URL")
        query = []
        for pair in parts.query.split("&") if parts.query else []:
            name, eq, _value = pair.partition("=")
            if eq and unquote(name).strip().lower() in SECRET_PARAMS:
                pair = f"{name}={REDACTED}"
                notes.add(f"query parameter {unquote(name)}")
            query.append(pair)
        cleaned = urlunsplit((parts.scheme, netloc, parts.path, "&".join(query), parts.fragment))
        return self._values(cleaned, notes)

    def headers(
        self, headers: tuple[tuple[str, str], ...], notes: set[str]
    ) -> tuple[tuple[str, str], ...]:
        out = []
        for name, value in headers:
            if name.strip().lower() in SECRET_HEADERS:
                out.append((name, REDACTED))
                notes.add(f"request header {name}")
            else:
                out.append((name, self._values(value, notes)))
        return tuple(out)

    def text(self, text: str) -> str:
        """Any text that may quote our requests (a log line)."""
        return self._values(_SECRET_PARAM_IN_TEXT.sub(rf"\1{REDACTED}", text), set())

    def _values(self, text: str, notes: set[str]) -> str:
        # Shorter values would blank out ordinary words of a URL.
        for value in self.secrets:
            if len(value) >= 4 and value in text:
                text = text.replace(value, REDACTED)
                notes.add("a configured credential")
        return text

    def capture(self, capture: Capture) -> tuple[Capture, list[str]]:
        notes: set[str] = set()
        cleaned = Capture(
            url=self.url(capture.url, notes),
            final_url=self.url(capture.final_url, notes),
            redirect_chain=tuple(self.url(u, notes) for u in capture.redirect_chain),
            status=capture.status,
            headers=capture.headers,
            request_headers=self.headers(capture.request_headers, notes),
            body=capture.body,
            server_ip=capture.server_ip,
            fetched_at=capture.fetched_at,
        )
        return cleaned, sorted(notes)


def capture_of(fetched: Fetched) -> Capture:
    """A guarded fetch (re-checks) archived like a crawl's response."""
    return Capture(
        url=fetched.url,
        final_url=fetched.final_url,
        redirect_chain=fetched.redirect_chain,
        status=fetched.status,
        headers=fetched.headers,
        request_headers=fetched.request_headers,
        body=fetched.body,
        server_ip=fetched.server_ip,
        fetched_at=fetched.fetched_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


class CaptureRecorder:
    """Spider middleware: tags each post with the response it came from and keeps that response
    until every post read from it has left the pipelines (scraped, dropped or failed), so the
    evidence pipeline finds the capture of every hit however many pages are in flight; memory
    is bounded by the posts in flight, not by a count that would evict captures still needed."""

    def __init__(self, crawler: Crawler) -> None:
        self.captures: dict[str, Capture] = {}
        self.pending: dict[str, int] = {}
        crawler.bodyguard_captures = self.captures  # type: ignore[attr-defined]
        for signal_ in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(self._done, signal=signal_)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CaptureRecorder:
        return cls(crawler)

    async def process_spider_output_async(self, response: Response, result: Any) -> Any:
        async for item in result:
            yield self._tag(response, item)

    def process_spider_output(self, response: Response, result: Iterable[Any]) -> Iterable[Any]:
        for item in result:
            yield self._tag(response, item)

    def _tag(self, response: Response, item: Any) -> Any:
        if isinstance(item, ForumPost) and not item.fetched_url:
            item.fetched_url = response.url
            if response.url not in self.captures:
                self.captures[response.url] = _capture(response)
            self.pending[response.url] = self.pending.get(response.url, 0) + 1
        return item

    def _done(self, item: Any, **_: Any) -> None:
        if not isinstance(item, ForumPost) or item.fetched_url not in self.pending:
            return
        self.pending[item.fetched_url] -= 1
        if self.pending[item.fetched_url] <= 0:
            del self.pending[item.fetched_url]
            self.captures.pop(item.fetched_url, None)


def _capture(response: Response) -> Capture:
    request = response.request
    chain = tuple(
        str(u) for u in (request.meta.get("redirect_urls", []) if request is not None else [])
    )
    return Capture(
        url=chain[0] if chain else response.url,
        final_url=response.url,
        redirect_chain=chain,
        status=response.status,
        headers=tuple(
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, vs in response.headers.items()
            for v in vs
        ),
        request_headers=tuple(
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, vs in (request.headers.items() if request is not None else [])
            for v in vs
        ),
        body=response.body,
        server_ip=str(response.ip_address or ""),
        fetched_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


def _outgoing_ip(server_ip: str) -> str:
    """The local address the system routes to ``server_ip`` from (a UDP connect sends nothing).
    Behind NAT the public address differs; the constat notes it separately."""
    if not server_ip:
        return ""
    family = socket.AF_INET6 if ":" in server_ip else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((server_ip, 80))
            return str(probe.getsockname()[0])
    except OSError:
        return ""


def capture_environment() -> dict[str, Any]:
    """In the spirit of the AFNOR NF Z67-147 constat practice: what captured, from where, how."""
    notes: set[str] = set()
    proxies = {k: Redactor().url(v, notes) for k, v in urllib.request.getproxies().items()}
    return {
        "software": {
            "bodyguard": "0.1.0",
            "python": platform.python_version(),
            "scrapy": scrapy.__version__,
            "os": platform.platform(),
        },
        "host": socket.gethostname(),
        "proxy": proxies or "none",
        "clock": "system clock, UTC (synchronisation not verified by the capture)",
    }


class EvidenceWriter:
    """One WARC file of captures (request, response, metadata), listed in the manifest once
    closed. Crawls write one per run; re-checks one per re-check run."""

    def __init__(self, directory: Path, name: str, secrets: Iterable[str] = ()) -> None:
        self.directory = directory
        self.name = name
        self.redactor = Redactor(tuple(secrets))
        self.file: IO[bytes] | None = None
        self.writer: WARCWriter | None = None
        self.relative = ""
        self.records = 0

    def _open(self) -> WARCWriter:
        if self.writer is None:
            now = datetime.now(UTC)
            name = f"{self.name}-{now:%Y%m%dT%H%M%S%f}Z.warc.gz"
            self.relative = f"{now:%Y-%m-%d}/{name}"
            path = self.directory / self.relative
            path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(path, "xb")  # noqa: SIM115 (open until close())
            self.writer = WARCWriter(self.file, gzip=True)
            info = self.writer.create_warcinfo_record(
                name,
                {
                    "software": "Bodyguard",
                    "format": "WARC/1.0",
                    **{k: json.dumps(v) for k, v in capture_environment().items()},
                },
            )
            self.writer.write_record(info)
        return self.writer

    def write(self, capture: Capture, extra: dict[str, Any] | None = None) -> EvidenceRef:
        writer = self._open()
        capture, redacted = self.redactor.capture(capture)
        status_line = f"{capture.status} {'OK' if capture.status == 200 else ''}".strip()
        response = writer.create_warc_record(
            capture.final_url,
            "response",
            payload=BytesIO(capture.body),
            http_headers=StatusAndHeaders(status_line, list(capture.headers), protocol="HTTP/1.1"),
            warc_headers_dict={
                "WARC-Date": capture.fetched_at,
                "WARC-IP-Address": capture.server_ip,
            },
        )
        record_id = response.rec_headers.get_header("WARC-Record-ID")
        # Tied to its response, so an erasure or an export takes or leaves both together.
        request = writer.create_warc_record(
            capture.final_url,
            "request",
            payload=BytesIO(b""),
            http_headers=StatusAndHeaders(
                f"GET {capture.final_url} HTTP/1.1",
                list(capture.request_headers),
                is_http_request=True,
            ),
            warc_headers_dict={"WARC-Date": capture.fetched_at, "WARC-Concurrent-To": record_id},
        )
        writer.write_record(request)
        writer.write_record(response)
        body_sha256 = hashlib.sha256(capture.body).hexdigest()
        metadata: dict[str, Any] = {
            "outgoing_ip": _outgoing_ip(capture.server_ip),
            "requested_url": capture.url,
            "final_url": capture.final_url,
            "redirect_chain": list(capture.redirect_chain),
            "server_ip": capture.server_ip,
            "fetched_at_utc": capture.fetched_at,
            "body_sha256": body_sha256,
            **(extra or {}),
        }
        if redacted:
            metadata["redacted"] = {
                "what": redacted,
                "note": f"credentials of ours were replaced by {REDACTED} in the archived "
                "request and addresses; the body is archived as served",
            }
        meta = writer.create_warc_record(
            capture.final_url,
            "metadata",
            payload=BytesIO(json.dumps(metadata, indent=1).encode()),
            warc_content_type="application/json",
            warc_headers_dict={"WARC-Concurrent-To": record_id, "WARC-Date": capture.fetched_at},
        )
        writer.write_record(meta)
        self.records += 1
        return EvidenceRef(self.relative, record_id, body_sha256, capture.fetched_at)

    def write_resource(
        self, uri: str, data: bytes, content_type: str, when: str, extra: dict[str, Any]
    ) -> EvidenceRef:
        """A file made by us about ``uri`` (a screenshot), with its metadata record."""
        writer = self._open()
        resource = writer.create_warc_record(
            uri,
            "resource",
            payload=BytesIO(data),
            warc_content_type=content_type,
            warc_headers_dict={"WARC-Date": when},
        )
        writer.write_record(resource)
        record_id = resource.rec_headers.get_header("WARC-Record-ID")
        sha256 = hashlib.sha256(data).hexdigest()
        meta = writer.create_warc_record(
            uri,
            "metadata",
            payload=BytesIO(json.dumps({"sha256": sha256, **extra}, indent=1).encode()),
            warc_content_type="application/json",
            warc_headers_dict={"WARC-Concurrent-To": record_id, "WARC-Date": when},
        )
        writer.write_record(meta)
        self.records += 1
        return EvidenceRef(self.relative, record_id, sha256, when)

    def close(self) -> str:
        """Close the file and list it in the manifest with its SHA-256; returns its path
        relative to the evidence store ("" if nothing was written)."""
        if self.file is None:
            return ""
        self.file.close()
        self.file, self.writer = None, None
        path = self.directory / self.relative
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        entry = {
            "file": self.relative,
            "sha256": digest,
            "records": self.records,
            "closed_at": datetime.now(UTC).isoformat(),
        }
        with open(self.directory / "MANIFEST.jsonl", "a", encoding="utf-8") as manifest:
            manifest.write(json.dumps(entry) + "\n")
        return self.relative


class EvidencePipeline:
    """Archives the response behind every hit (once per response and run)."""

    def __init__(self, crawler: Crawler, directory: Path) -> None:
        self.crawler = crawler
        self.directory = directory
        self.out: EvidenceWriter | None = None
        self.written: dict[str, EvidenceRef] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EvidencePipeline:
        directory = crawler.settings.get("BODYGUARD_EVIDENCE_DIR")
        if not directory or not crawler.settings.getbool("BODYGUARD_INDEX_HITS"):
            raise NotConfigured("no evidence directory, or hits are not indexed")
        pipeline = cls(crawler, Path(directory))
        crawler.signals.connect(pipeline._spider_opened, signal=signals.spider_opened)
        return pipeline

    def _spider_opened(self) -> None:
        from twisted.internet import reactor

        # Once the reactor runs, Scrapy's own SIGTERM handler is in place: ours goes in front.
        reactor.callLater(0, self._close_on_terminate)  # type: ignore[arg-type]

    def _close_on_terminate(self) -> None:
        """A crawl stopped at its time limit gets SIGTERM, then a kill once the runner's grace
        period is over; Scrapy's graceful stop waits for downloads in flight (a slow server can
        outlast the grace), so the WARC is closed and listed at SIGTERM, not at the end."""
        from twisted.internet import reactor

        previous = signal.getsignal(signal.SIGTERM)

        def on_terminate(signum: int, frame: Any) -> None:
            # Run between two reactor callbacks, never in the middle of writing a record.
            reactor.callFromThread(self._close_now)
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGTERM, on_terminate)

    def _close_now(self) -> None:
        if self.out is None:
            return
        relative = self.out.close()
        self.out = None  # a hit read after this goes to a new file, closed at the end
        logger.info("evidence closed on SIGTERM: %s", relative)
        assert self.crawler.stats is not None
        self.crawler.stats.set_value("bodyguard/evidence_file", relative)

    def process_item(self, item: ForumPost) -> ForumPost:
        if not (item.mentions or item.image_matches or item.video_matches) or not item.fetched_url:
            return item
        if item.fetched_url in self.written:
            item.evidence = self.written[item.fetched_url]
            return item
        captures = getattr(self.crawler, "bodyguard_captures", {})
        capture = captures.get(item.fetched_url)
        if capture is None:
            self._without_evidence(item, "no capture of its response was kept")
            return item
        if self.out is None:
            spider = self.crawler.spider
            self.out = EvidenceWriter(
                self.directory, getattr(spider, "source_id", "crawl"), source_credentials(spider)
            )
        try:
            item.evidence = self.written[item.fetched_url] = self.out.write(capture)
        except OSError as exc:  # a full disk: the hit stands, and says why it has no evidence
            self._without_evidence(item, f"the WARC could not be written ({exc})")
        return item

    def _without_evidence(self, item: ForumPost, reason: str) -> None:
        url = Redactor().url(item.fetched_url, set())
        logger.warning("hit without evidence at %s: %s", url, reason)
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("bodyguard/hits_without_evidence")
        self.crawler.stats.set_value("bodyguard/hits_without_evidence_reason", f"{url}: {reason}")

    def close_spider(self) -> None:
        if self.out is None:
            return
        relative = self.out.close()
        assert self.crawler.stats is not None
        self.crawler.stats.set_value("bodyguard/evidence_file", relative)


def source_credentials(spider: Any) -> list[str]:
    """The values of the source's credentials, to be kept out of its evidence."""
    source = getattr(spider, "source", None)
    values = []
    for name in (getattr(source, "credentials", None) or {}).values():
        try:
            values.append(secret(name))
        except ConfigurationError:
            continue
    return values
