"""Crawl workers on Scrapyd nodes: the narrow client the monitor uses (ADR 0023).

Scrapyd is Scrapy's own job service. Each node runs the Bodyguard package installed from the
same release as the monitor, and lists the project through the ``[settings]`` section of the
checkout's ``scrapy.cfg`` (no egg is uploaded: the code a node runs is the code installed on
it, upgraded like the rest of the deployment). The node's environment (database, Elasticsearch,
evidence volume) comes from its own service configuration, as the monitor's does.

Node addresses come from the deployment's configuration, never from a crawled page, so they do
not go through the address guard (which exists for hostile URLs).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

logger = logging.getLogger(__name__)

# The project name under which a node lists Bodyguard (scrapy.cfg's [settings] section).
PROJECT = "bodyguard"
# Seconds an API call to a node may take: the calls are tiny; a node slower than this is busy
# enough (or far enough) to be treated as not answering.
API_TIMEOUT_S = 10

JobState = Literal["pending", "running", "finished", "unknown"]


class ScrapydError(Exception):
    """A Scrapyd node did not answer, or refused what we asked."""


class ScrapydRefused(ScrapydError):
    """The node answered, and said no (an unknown spider or project): it is not down."""


@dataclass(frozen=True)
class NodeLoad:
    node: ScrapydNode
    pending: int
    running: int

    @property
    def busy(self) -> int:
        return self.pending + self.running


@dataclass(frozen=True)
class JobInfo:
    state: JobState
    log_url: str = ""


class ScrapydNode:
    """One node's HTTP API (schedule, listjobs, cancel, daemonstatus, logs)."""

    def __init__(self, url: str, timeout_s: float = API_TIMEOUT_S) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"{url!r} is not a Scrapyd node URL such as http://crawler-1:6800")
        self._auth = ""
        if parts.username is not None:
            pair = f"{parts.username}:{parts.password or ''}"
            self._auth = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        # The URL without credentials: what logs, messages and CrawlRun rows show.
        self.url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"ScrapydNode({self.url})"

    def _call(self, path: str, params: dict[str, str] | list[tuple[str, str]] | None = None,
              *, post: bool = False) -> dict[str, Any]:  # fmt: skip
        query = urlencode(params or {})
        url = f"{self.url}/{path}"
        data = None
        if post:
            data = query.encode()
        elif query:
            url += "?" + query
        request = urllib.request.Request(url, data=data, method="POST" if post else "GET")
        if self._auth:
            request.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = json.loads(response.read(1_000_000))
        except urllib.error.HTTPError as exc:
            raise ScrapydError(f"{self.url} answered {exc.code} to {path}") from None
        except (OSError, ValueError) as exc:
            raise ScrapydError(f"{self.url} did not answer {path}: {exc}") from None
        if body.get("status") != "ok":
            raise ScrapydRefused(f"{self.url} refused {path}: {body.get('message', body)}")
        return dict(body)

    def load(self) -> NodeLoad:
        status = self._call("daemonstatus.json")
        return NodeLoad(self, int(status.get("pending", 0)), int(status.get("running", 0)))

    def schedule(self, spider: str, args: dict[str, str], settings: dict[str, str]) -> str:
        params = [("project", PROJECT), ("spider", spider)]
        params += [("setting", f"{key}={value}") for key, value in settings.items()]
        params += list(args.items())
        return str(self._call("schedule.json", params, post=True)["jobid"])

    def job(self, job_id: str) -> JobInfo:
        jobs = self._call("listjobs.json", {"project": PROJECT})
        for state in ("pending", "running", "finished"):
            for job in jobs.get(state, []):
                if job.get("id") == job_id:
                    return JobInfo(state, str(job.get("log_url") or ""))
        return JobInfo("unknown")

    def cancel(self, job_id: str, signal: str = "INT") -> None:
        # INT, as Ctrl-C: Scrapy closes the spider (hits flushed, stats written); a second
        # cancel, or KILL, stops it at once.
        self._call("cancel.json", {"project": PROJECT, "job": job_id, "signal": signal}, post=True)

    def log(self, log_url: str, limit: int = 2_000_000) -> bytes:
        """The job's log (its last ``limit`` bytes); ``log_url`` is the path listjobs gave."""
        if not log_url.startswith("/"):
            raise ScrapydError(f"{self.url} gave an unexpected log address {log_url!r}")
        request = urllib.request.Request(self.url + log_url)
        if self._auth:
            request.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return bytes(response.read())[-limit:]
        except OSError as exc:
            raise ScrapydError(f"{self.url} did not give the log {log_url}: {exc}") from None


class NodePool:
    """The configured nodes, and which one takes the next crawl.

    The least loaded node that answers (pending + running jobs, as the node reports them);
    ties go round the list so that idle nodes share the work. The choice and the schedule call
    are made under one lock: a crawl scheduled by another thread is counted before the next
    choice.
    """

    def __init__(self, urls: tuple[str, ...] | list[str]) -> None:
        self.nodes = [ScrapydNode(url) for url in urls]
        self._lock = threading.Lock()
        self._turn = 0

    def loads(self) -> tuple[list[NodeLoad], dict[str, str]]:
        """Loads of the nodes that answer, and why each other node is skipped."""
        answering, down = [], {}
        for node in self.nodes:
            try:
                answering.append(node.load())
            except ScrapydError as exc:
                down[node.url] = str(exc)
        return answering, down

    def schedule(
        self, spider: str, args: dict[str, str], settings: dict[str, str], exclude: set[str]
    ) -> tuple[ScrapydNode, str, dict[str, str]]:
        """Schedules on the least loaded node not in ``exclude``; returns the node, the job id
        and the nodes that did not answer (url -> why). Raises ScrapydError when none could."""
        with self._lock:
            loads, down = self.loads()
            candidates = [load for load in loads if load.node.url not in exclude]
            order = {node.url: i for i, node in enumerate(self.nodes)}
            size = len(self.nodes)
            candidates.sort(
                key=lambda load: (load.busy, (order[load.node.url] - self._turn) % size)
            )
            refused: list[str] = []
            for load in candidates:
                try:
                    job_id = load.node.schedule(spider, args, settings)
                except ScrapydRefused as exc:
                    refused.append(str(exc))  # answering, but not running this release?
                    continue
                except ScrapydError as exc:
                    down[load.node.url] = str(exc)
                    continue
                self._turn = (order[load.node.url] + 1) % size
                return load.node, job_id, down
        reasons = "; ".join([*refused, *down.values()]) or "every node was excluded"
        raise ScrapydError(f"no Scrapyd node took the crawl ({reasons})")
