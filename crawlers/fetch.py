"""One guarded HTTP fetch, outside Scrapy: for the review UI's image proxy and the re-check job.

The same rule as the crawl's address guard: private, loopback, link-local and cloud-metadata
addresses are refused after DNS resolution and on every redirect, unless the source allows
them. The connection is made to the address that was checked (not to the name again), so a
name that resolves elsewhere the second time cannot slip through. Nothing is written to disk.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from config.sources import Source
from crawlers.guard import AddressRule, Pinned, default_port
from crawlers.identity import ACCEPT, ACCEPT_LANGUAGE, USER_AGENT

__all__ = ["USER_AGENT", "FetchFailed", "FetchPolicy", "Fetched", "fetch", "resolve"]
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class FetchPolicy:
    allow_private_addresses: bool = False
    # host:port pairs reachable even when private addresses are refused (tests, the demo).
    private_allowlist: tuple[str, ...] = ()
    max_bytes: int = 10 * 1024 * 1024
    # Seconds one connect or read may wait.
    timeout_s: float = 20.0
    # Seconds the whole fetch (every redirect, the whole body) may take: a server that sends a
    # byte every few seconds would otherwise hold a re-check, and every later one, forever.
    deadline_s: float = 60.0
    # "host:port" of the DNS server to resolve through ("" for the system's).
    dns_server: str = ""
    max_redirects: int = 5
    # What a crawl accepts by default (crawlers.identity); the image proxy asks for images.
    accept: str = ACCEPT

    @classmethod
    def for_source(cls, source: Source | None, **overrides: Any) -> FetchPolicy:
        """Fetch as a crawl of ``source`` would: private addresses only where it allows them
        (an unknown source allows none)."""
        from django.conf import settings

        # Crawls take theirs from BODYGUARD_DNS_SERVER in their Scrapy settings.
        overrides.setdefault("dns_server", settings.BODYGUARD_DNS_SERVER)
        if source is None:
            return cls(**overrides)
        return cls(
            allow_private_addresses=source.allow_private_addresses,
            private_allowlist=source.private_allowlist,
            **overrides,
        )


@dataclass(frozen=True)
class Fetched:
    url: str
    final_url: str
    redirect_chain: tuple[str, ...]
    status: int
    headers: tuple[tuple[str, str], ...]
    request_headers: tuple[tuple[str, str], ...]
    body: bytes
    # The body was longer than the policy's max_bytes and was cut there.
    truncated: bool
    server_ip: str
    fetched_at: datetime

    def header(self, name: str) -> str:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), "")


@dataclass(frozen=True)
class FetchFailed:
    url: str
    reason: str
    # True when our own guard refused the address (not a network problem).
    refused: bool = False


class _Deadline:
    """Shuts the connection's socket down when the fetch's time is up, so a read blocked on a
    slow server returns at once instead of at the server's pace."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def watch(self, connection: http.client.HTTPConnection) -> None:
        self.cancel()
        self._timer = threading.Timer(max(0.0, self.remaining()), self._expire, (connection,))
        self._timer.daemon = True
        self._timer.start()

    def _expire(self, connection: http.client.HTTPConnection) -> None:
        self.expired = True
        if connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def resolve(host: str, port: int, policy: FetchPolicy) -> str | FetchFailed:
    """The address to connect to, or why not."""
    rule = AddressRule(policy.allow_private_addresses, policy.private_allowlist, policy.dns_server)
    verdict = rule.check(host, port)
    if isinstance(verdict, Pinned):
        return verdict.address
    return FetchFailed(host, verdict.reason, verdict.by_rule)


def fetch(url: str, policy: FetchPolicy | None = None) -> Fetched | FetchFailed:
    """GET ``url``, following redirects, each hop checked. Never raises for network trouble."""
    policy = policy or FetchPolicy()
    deadline = _Deadline(policy.deadline_s)
    try:
        return _fetch(url, policy, deadline)
    finally:
        deadline.cancel()


def _fetch(url: str, policy: FetchPolicy, deadline: _Deadline) -> Fetched | FetchFailed:
    chain: list[str] = []
    current = url
    for _ in range(policy.max_redirects + 1):
        parts = urlsplit(current)
        try:
            port = parts.port or default_port(parts.scheme)
        except ValueError:
            return FetchFailed(url, f"bad port in {current}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return FetchFailed(url, f"not an http(s) URL: {current}")
        address = resolve(parts.hostname, port, policy)
        if isinstance(address, FetchFailed):
            return FetchFailed(url, f"refused {current}: {address.reason}", address.refused)
        if deadline.remaining() <= 0:
            return _too_slow(url, policy, current)
        connection_class = (
            _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        )
        connection = connection_class(
            parts.hostname, port, address, min(policy.timeout_s, deadline.remaining())
        )
        deadline.watch(connection)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        # The crawl's identity: a site must not be able to answer re-checks differently.
        request_headers = (
            ("User-Agent", USER_AGENT),
            ("Accept", policy.accept),
            ("Accept-Language", ACCEPT_LANGUAGE),
        )
        fetched_at = datetime.now(UTC)
        try:
            connection.request("GET", path, headers=dict(request_headers))
            response = connection.getresponse()
            headers = tuple((k, v) for k, v in response.getheaders())
            location = response.getheader("Location")
            if response.status in _REDIRECTS and location:
                response.close()
                chain.append(current)
                current = urljoin(current, location)
                continue
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                body, truncated = b"", True
            else:
                body = response.read(policy.max_bytes + 1)
                truncated = len(body) > policy.max_bytes
                body = body[: policy.max_bytes]
            if deadline.expired:
                # The socket was shut under a read: what came is only part of the page.
                return _too_slow(url, policy, current)
            return Fetched(
                url=url,
                final_url=current,
                redirect_chain=tuple(chain),
                status=response.status,
                headers=headers,
                request_headers=request_headers,
                body=body,
                truncated=truncated,
                server_ip=address,
                fetched_at=fetched_at,
            )
        except (OSError, http.client.HTTPException) as exc:
            if deadline.expired:
                return _too_slow(url, policy, current)
            return FetchFailed(url, f"{type(exc).__name__}: {exc} ({current})")
        finally:
            deadline.cancel()
            connection.close()
    return FetchFailed(url, f"more than {policy.max_redirects} redirects from {url}")


def _too_slow(url: str, policy: FetchPolicy, current: str) -> FetchFailed:
    return FetchFailed(url, f"took longer than the {policy.deadline_s:g}s deadline ({current})")
