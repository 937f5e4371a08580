"""The guarded fetch used outside crawls (image proxy, re-checks): same address rule, bounded."""

from __future__ import annotations

import pytest

from crawlers.fetch import Fetched, FetchFailed, FetchPolicy, fetch
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
