"""The guarded fetch used outside crawls (image proxy, re-checks): same address rule, bounded."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from crawlers.fetch import Fetched, FetchFailed, FetchPolicy, fetch
from tests.crawlers.dns_server import RebindingDns
from tests.crawlers.static_site import Route, StaticSite, serve_site


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
    policy = FetchPolicy(allow_private_addresses=True, timeout_s=2, deadline_s=2)
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
