"""The guarded fetch used outside crawls (image proxy, re-checks): same address rule, bounded."""

from __future__ import annotations

import functools
import gzip
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import brotli
import pytest

from crawlers.fetch import Fetched, FetchFailed, FetchPolicy, fetch
from tests.conftest import DATA
from tests.crawlers.dns_server import RebindingDns
from tests.crawlers.static_site import Route, StaticSite, serve_site

try:
    from compression import zstd
except ImportError:
    from backports import zstd  # what Scrapy decodes zstd with before Python 3.14

PAGE = (DATA / "forums" / "phpbb3_foren.myoos.de_viewtopic.html").read_bytes()


@pytest.fixture
def server():
    site = StaticSite(
        {
            "/page": Route(b"<p>hello</p>"),
            "/to-metadata": Route(b"", status=302, headers={"Location": "http://169.254.169.254/"}),
            "/to-localhost": Route(b"", status=301, headers={"Location": "http://localhost:9/x"}),
            "/to-page": Route(b"", status=302, headers={"Location": "/page"}),
            "/loop": Route(b"", status=302, headers={"Location": "/loop"}),
            "/big": Route(b"x" * 5000),
        }
    )
    running = serve_site(site)
    yield site, f"127.0.0.1:{running.server_port}"
    running.shutdown()


def test_internal_addresses_are_refused_unless_allowed(server):
    _site, netloc = server
    refused = fetch(f"http://{netloc}/page")
    assert isinstance(refused, FetchFailed) and refused.refused
    assert "private or internal address" in refused.reason
    allowed = fetch(f"http://{netloc}/page", FetchPolicy(private_allowlist=(netloc,)))
    assert isinstance(allowed, Fetched) and allowed.body == b"<p>hello</p>"


@pytest.mark.parametrize("path", ["/to-metadata", "/to-localhost"])
def test_every_redirect_is_checked_again(server, path):
    _site, netloc = server
    result = fetch(f"http://{netloc}{path}", FetchPolicy(private_allowlist=(netloc,)))
    assert isinstance(result, FetchFailed) and result.refused


def test_redirects_are_followed_and_recorded(server):
    _site, netloc = server
    result = fetch(f"http://{netloc}/to-page", FetchPolicy(private_allowlist=(netloc,)))
    assert isinstance(result, Fetched)
    assert result.final_url == f"http://{netloc}/page"
    assert result.redirect_chain == (f"http://{netloc}/to-page",)


def test_redirect_loops_and_oversized_bodies_are_bounded(server):
    _site, netloc = server
    policy = FetchPolicy(private_allowlist=(netloc,), max_bytes=1000)
    looped = fetch(f"http://{netloc}/loop", policy)
    assert isinstance(looped, FetchFailed) and "redirects" in looped.reason
    big = fetch(f"http://{netloc}/big", policy)
    assert isinstance(big, Fetched) and big.truncated and big.body == b""  # Content-Length said so


def test_unreachable_hosts_are_a_value_not_an_exception():
    result = fetch("http://127.0.0.1:9/", FetchPolicy(allow_private_addresses=True, timeout_s=2))
    assert isinstance(result, FetchFailed) and "Connection" in result.reason
    assert isinstance(fetch("ftp://example.org/x"), FetchFailed)


class _Dripping(threading.Thread):
    """A server that answers at a byte every ``every`` seconds (headers included), as a host
    holding a re-check hostage does."""

    def __init__(self, every: float, total: int) -> None:
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.every, self.total = every, total

    def run(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.recv(4096)
            answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % self.total
            answer += b"x" * self.total
            try:
                for byte in answer:
                    conn.sendall(bytes([byte]))
                    time.sleep(self.every)
            except OSError:
                pass


def test_a_server_that_drips_bytes_cannot_hold_the_fetch_past_its_deadline():
    server = _Dripping(every=0.05, total=200)  # about 12 s to send everything
    server.start()
    # Each byte comes well within the socket timeout: only the deadline can stop the fetch.
    policy = FetchPolicy(allow_private_addresses=True, timeout_s=10, deadline_s=2)
    started = time.monotonic()
    result = fetch(f"http://127.0.0.1:{server.port}/slow", policy)
    took = time.monotonic() - started
    server.listener.close()
    assert isinstance(result, FetchFailed) and "deadline" in result.reason, result
    assert took < 6


def test_the_fetch_connects_to_the_address_it_checked(server):
    """The name first resolves to the allowed server (127.0.0.2), then to 127.0.0.1 where
    something else listens on the same port: the fetch reads the allowed server only."""
    allowed = StaticSite({"/page": Route(b"the forum")})
    allowed_server = serve_site(allowed, host="127.0.0.2")
    port = allowed_server.server_port
    inside = StaticSite({"/page": Route(b"internal")})
    inside_server = serve_site(inside, host="127.0.0.1", port=port)
    dns = RebindingDns("forum.rebind.test", ["127.0.0.2", "127.0.0.1"])
    try:
        policy = FetchPolicy(private_allowlist=(f"127.0.0.2:{port}",), dns_server=dns.address)
        first = fetch(f"http://forum.rebind.test:{port}/page", policy)
        second = fetch(f"http://forum.rebind.test:{port}/page", policy)
    finally:
        allowed_server.shutdown()
        inside_server.shutdown()
        dns.close()
    assert isinstance(first, Fetched) and first.body == b"the forum"
    assert first.server_ip == "127.0.0.2"
    # The second answer (127.0.0.1) is judged like any other, and refused.
    assert isinstance(second, FetchFailed) and second.refused
    assert inside.requests == []


# --- compressed answers ---------------------------------------------------------------------


def _raw_deflate(data: bytes) -> bytes:
    stream = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return stream.compress(data) + stream.flush()


# Content-Encoding and how to produce it: every encoding a crawl accepts, the "deflate" some
# servers send without its zlib wrapper, gzip in two members, and two encodings stacked.
ENCODED: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": ("gzip", gzip.compress),
    "x-gzip": ("x-gzip", gzip.compress),
    "deflate": ("deflate", zlib.compress),
    "raw-deflate": ("deflate", _raw_deflate),
    "br": ("br", brotli.compress),
    "zstd": ("zstd", zstd.compress),
    "gzip-members": ("gzip", lambda b: gzip.compress(b[:1000]) + gzip.compress(b[1000:])),
    "gzip-then-br": ("gzip, br", lambda b: brotli.compress(gzip.compress(b))),
}


@pytest.fixture
def compressed_site() -> Iterator[tuple[StaticSite, str]]:
    site = StaticSite({})
    running = serve_site(site)
    yield site, f"127.0.0.1:{running.server_port}"
    running.shutdown()


@pytest.mark.parametrize("kind", list(ENCODED))
def test_a_compressed_page_is_read_as_the_crawl_reads_it(compressed_site, kind):
    site, netloc = compressed_site
    encoding, encode = ENCODED[kind]
    site.routes["/page"] = Route(encode(PAGE), "text/html", headers={"Content-Encoding": encoding})
    got = fetch(f"http://{netloc}/page", FetchPolicy(private_allowlist=(netloc,)))
    assert isinstance(got, Fetched), got
    assert got.body == PAGE and not got.truncated
    # As Scrapy does: the body handed on is decoded, so the header no longer describes it.
    assert got.header("Content-Encoding") == ""


def _bomb(encoding: str, size: int) -> bytes:
    """``size`` zero bytes, compressed a megabyte at a time (never held whole here either)."""
    block = bytes(1024 * 1024)
    if encoding == "br":
        brotli_stream = brotli.Compressor(quality=1)
        return b"".join(brotli_stream.process(block) for _ in range(size // len(block))) + (
            brotli_stream.finish()
        )
    if encoding == "zstd":
        zstd_stream = zstd.ZstdCompressor()
        out = b"".join(zstd_stream.compress(block) for _ in range(size // len(block)))
        return out + zstd_stream.flush()
    zlib_stream = zlib.compressobj(9, wbits=31 if encoding == "gzip" else zlib.MAX_WBITS)
    out = b"".join(zlib_stream.compress(block) for _ in range(size // len(block)))
    return out + zlib_stream.flush()


@functools.cache
def _cached_bomb(encoding: str) -> bytes:
    return _bomb(encoding, BOMB_BYTES)


LIMIT = 1024 * 1024
BOMB_BYTES = 64 * LIMIT


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_a_decompression_bomb_is_cut_at_the_size_limit_without_inflating_it(
    compressed_site, encoding
):
    site, netloc = compressed_site
    bomb = _cached_bomb(encoding)
    assert len(bomb) < LIMIT  # what comes over the wire is within the limit
    site.routes["/bomb"] = Route(bomb, "text/html", headers={"Content-Encoding": encoding})
    tracemalloc.start()
    try:
        got = fetch(
            f"http://{netloc}/bomb", FetchPolicy(private_allowlist=(netloc,), max_bytes=LIMIT)
        )
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(got, Fetched), got
    assert got.truncated and len(got.body) == LIMIT
    # 64 MB inside; reading it must not cost anything like that.
    assert peak < 16 * LIMIT, f"{peak / LIMIT:.0f} MB allocated to read a page cut at 1 MB"


def test_a_compressed_stream_that_ends_early_is_truncated_not_complete(compressed_site):
    site, netloc = compressed_site
    whole = gzip.compress(PAGE)
    site.routes["/cut"] = Route(
        whole[: len(whole) // 2], "text/html", headers={"Content-Encoding": "gzip"}
    )
    got = fetch(f"http://{netloc}/cut", FetchPolicy(private_allowlist=(netloc,)))
    assert isinstance(got, Fetched) and got.truncated
    assert got.body and PAGE.startswith(got.body)


@pytest.mark.parametrize(
    ("encoding", "body", "said"),
    [
        ("gzip", PAGE, "not valid gzip"),
        ("br", b"\xff" * 64, "not valid br"),
        ("zstd", b"not zstd at all", "not valid zstd"),
        ("compress", PAGE, "cannot decode Content-Encoding compress"),
    ],
    ids=["gzip-declared-not-gzip", "br-garbage", "zstd-garbage", "unknown-encoding"],
)
def test_a_body_that_cannot_be_decoded_is_a_failure_never_a_page(
    compressed_site, encoding, body, said
):
    site, netloc = compressed_site
    site.routes["/odd"] = Route(body, "text/html", headers={"Content-Encoding": encoding})
    got = fetch(f"http://{netloc}/odd", FetchPolicy(private_allowlist=(netloc,)))
    assert isinstance(got, FetchFailed), got
    assert said in got.reason
