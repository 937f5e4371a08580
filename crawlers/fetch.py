"""One guarded HTTP fetch, outside Scrapy: for the review UI's image proxy and the re-check job.

The same rule as the crawl's address guard: private, loopback, link-local and cloud-metadata
addresses are refused after DNS resolution and on every redirect, unless the source allows
them. The connection is made to the address that was checked (not to the name again), so a
name that resolves elsewhere the second time cannot slip through. Nothing is written to disk.

Requests look like a crawl's (crawlers.identity): same headers, values and order, including
the compressed encodings Scrapy accepts, so bodies are decoded here as Scrapy decodes them. A
compressed body is hostile input like any other: it is inflated in bounded steps and cut at
the policy's size limit, so a few kilobytes that expand to gigabytes cost no more memory than
a page of that limit.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from config.sources import Source
from crawlers.guard import AddressRule, Pinned, default_port
from crawlers.identity import ACCEPT, ACCEPT_ENCODING, USER_AGENT, request_headers

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
    # The body (as served, or once decompressed) was longer than the policy's max_bytes and
    # was cut there, or a compressed body ended before its stream did.
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
        sent = (*request_headers(policy.accept), ("Host", _host_header(parts.hostname, port)))
        fetched_at = datetime.now(UTC)
        try:
            # http.client would put its own Host first and add "Accept-Encoding: identity".
            connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
            for name, value in sent:
                connection.putheader(name, value)
            connection.endheaders()
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
            decoded = _decode(body, headers, policy.max_bytes)
            if isinstance(decoded, str):
                return FetchFailed(url, f"{decoded} ({current})")
            body, headers = decoded.body, decoded.headers
            truncated = truncated or decoded.truncated
            return Fetched(
                url=url,
                final_url=current,
                redirect_chain=tuple(chain),
                status=response.status,
                headers=headers,
                request_headers=tuple((k, v) for k, v in sent if k != "Host"),
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


def _host_header(host: str, port: int) -> str:
    """``Host`` as Twisted writes it for a crawl: the port only when it is not the default."""
    if ":" in host:
        host = f"[{host}]"
    with contextlib.suppress(UnicodeError):
        host.encode("ascii")
        return host if port in (80, 443) else f"{host}:{port}"
    ascii_host = host.encode("idna").decode("ascii")
    return ascii_host if port in (80, 443) else f"{ascii_host}:{port}"


# --- Content-Encoding ------------------------------------------------------------------------

# Output is produced at most this much at a time, so that an encoding's ratio never decides
# how much memory one step takes (Scrapy inflates in the same 64 KiB steps).
_STEP = 64 * 1024


@dataclass(frozen=True)
class _Decoded:
    body: bytes
    headers: tuple[tuple[str, str], ...]
    truncated: bool


# Each inflates ``data`` into at most ``limit`` bytes: (output, True when the output was cut
# there or the stream ended early). They raise on data that is not of their encoding.
_Inflate = Callable[[bytes, int], tuple[bytes, bool]]


def _zlib_inflate(data: bytes, limit: int, wbits: int) -> tuple[bytes, bool]:
    out = bytearray()
    while True:
        stream = zlib.decompressobj(wbits)
        pending = data
        while True:
            chunk = stream.decompress(pending, min(_STEP, limit + 1 - len(out)))
            out += chunk
            if len(out) > limit:
                return bytes(out[:limit]), True
            pending = stream.unconsumed_tail
            if stream.eof or not (pending or chunk):
                break
        if not stream.eof:
            return bytes(out), True  # the body ended before the stream did
        data = stream.unused_data
        # gzip allows several members one after the other; anything else after the end is
        # ignored, as Scrapy (and browsers) do.
        if wbits != 31 or not data.startswith(b"\x1f\x8b"):
            return bytes(out), False


def _gunzip(data: bytes, limit: int) -> tuple[bytes, bool]:
    return _zlib_inflate(data, limit, 31)


def _inflate(data: bytes, limit: int) -> tuple[bytes, bool]:
    try:
        return _zlib_inflate(data, limit, zlib.MAX_WBITS)
    except zlib.error:
        # "deflate" as some Microsoft servers send it: raw, without the zlib wrapper.
        return _zlib_inflate(data, limit, -zlib.MAX_WBITS)


def _optional(*modules: str) -> Any:
    for name in modules:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


_brotli = _optional("brotli", "brotlicffi")
_zstd = _optional("compression.zstd", "backports.zstd")
# What a decoder raises on data that is not of its encoding.
_BAD_DATA: tuple[type[Exception], ...] = (zlib.error, OSError, EOFError, ValueError)
_BAD_DATA += tuple(m.error for m in (_brotli,) if m is not None and hasattr(m, "error"))
_BAD_DATA += tuple(m.ZstdError for m in (_zstd,) if m is not None)


def _unbrotli(data: bytes, limit: int) -> tuple[bytes, bool]:
    stream = _brotli.Decompressor()
    out = bytearray(stream.process(data, output_buffer_limit=_STEP))
    while len(out) <= limit and not stream.is_finished():
        more = stream.process(b"", output_buffer_limit=_STEP)
        if not more:
            break
        out += more
    if len(out) > limit:
        return bytes(out[:limit]), True
    return bytes(out), not stream.is_finished()


def _unzstd(data: bytes, limit: int) -> tuple[bytes, bool]:
    out = bytearray()
    while True:
        stream = _zstd.ZstdDecompressor()
        pending = data
        while not stream.eof and len(out) <= limit:
            chunk = stream.decompress(pending, max_length=min(_STEP, limit + 1 - len(out)))
            pending = b""
            out += chunk
            if not chunk:
                break
        if len(out) > limit:
            return bytes(out[:limit]), True
        if not stream.eof:
            return bytes(out), True
        data = stream.unused_data
        if not data:  # zstd allows several frames one after the other
            return bytes(out), False


_INFLATE: dict[str, _Inflate] = {"gzip": _gunzip, "x-gzip": _gunzip, "deflate": _inflate}
if _brotli is not None:
    _INFLATE["br"] = _unbrotli
if _zstd is not None:
    _INFLATE["zstd"] = _unzstd
_missing = [e for e in ACCEPT_ENCODING.split(", ") if e not in _INFLATE]
if _missing:  # a crawl accepts what a re-check could not read: the identities would differ
    raise ImportError(
        f"crawls accept {', '.join(_missing)} but crawlers.fetch cannot decode it: install "
        "the module Scrapy uses for it (brotli for br, backports.zstd for zstd)"
    )


def _decode(body: bytes, headers: tuple[tuple[str, str], ...], limit: int) -> _Decoded | str:
    """The body without its Content-Encoding (the header goes too, as Scrapy removes it), or
    why it cannot be read. Encodings apply in the order listed, so they are undone from the
    last; a body we cannot decode is never passed on as if it were the page."""
    encodings = [
        e.strip().lower()
        for name, value in headers
        if name.lower() == "content-encoding"
        for e in value.split(",")
        if e.strip() and e.strip().lower() != "identity"
    ]
    if not encodings:
        return _Decoded(body, headers, False)
    unknown = [e for e in encodings if e not in _INFLATE]
    if unknown:
        return f"cannot decode Content-Encoding {', '.join(unknown)}"
    truncated = False
    for encoding in reversed(encodings):
        if not body:
            break  # HEAD-like answers (204, 304) and bodies cut at Content-Length carry none
        try:
            body, cut = _INFLATE[encoding](body, limit)
        except _BAD_DATA as exc:
            return f"the body is not valid {encoding} ({type(exc).__name__}: {exc})"
        truncated = truncated or cut
    kept = tuple((k, v) for k, v in headers if k.lower() != "content-encoding")
    return _Decoded(body, kept, truncated)


def _too_slow(url: str, policy: FetchPolicy, current: str) -> FetchFailed:
    return FetchFailed(url, f"took longer than the {policy.deadline_s:g}s deadline ({current})")
