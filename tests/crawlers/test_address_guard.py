"""The address guard on real crawls: every target here is on 127.0.0.0/8 (refusals are proved
with the private-address allowance off); other addresses are only classified, never contacted."""

import json
from pathlib import Path

import pytest

from crawlers.guard import AddressRule, Pinned, Refused, is_forbidden_address
from crawlers.models import CrawlRun
from crawlers.runner import run_crawl
from operations.scheduler import configured_sources
from tests.conftest import DATA, write_source
from tests.crawlers.dns_server import RebindingDns
from tests.crawlers.static_site import Route, StaticSite, serve_site


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",  # carrier-grade NAT
        "100.127.255.254",
        "198.18.0.1",  # benchmarking
        "224.0.0.1",  # multicast
        "240.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "::1",
        "::",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::a00:1",  # local-use NAT64 of 10.0.0.1
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "2001:db8::1",  # documentation
    ],
)
def test_internal_addresses_are_forbidden(address):
    assert is_forbidden_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "2606:2800:220:1:248:1893:25c8:1946",
        "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822",  # NAT64 of a public address
        "2002:5db8:d822::1",  # 6to4 of a public address
    ],
)
def test_public_addresses_are_allowed(address):
    assert not is_forbidden_address(address)


def test_a_host_name_is_judged_by_what_it_resolves_to():
    verdict = AddressRule().check("localhost", 80)
    assert isinstance(verdict, Refused) and "private or internal address" in verdict.reason
    allowed = AddressRule(private_allowlist=("localhost:80",)).check("localhost", 80)
    assert isinstance(allowed, Pinned) and is_forbidden_address(allowed.address)


def test_a_name_that_does_not_resolve_is_refused_not_fetched():
    dns = RebindingDns("known.test", ["127.0.0.1"])
    try:
        verdict = AddressRule(dns_server=dns.address).check("unknown.test", 80)
    finally:
        dns.close()
    assert isinstance(verdict, Refused) and not verdict.by_rule
    assert "does not resolve" in verdict.reason


def _unmasked(settings):
    """The guard alone: no BODYGUARD_ONLY_HOSTS refusing hosts before it is asked."""
    crawl = dict(settings.BODYGUARD_CRAWL_SETTINGS)
    crawl.pop("BODYGUARD_ONLY_HOSTS", None)
    settings.BODYGUARD_CRAWL_SETTINGS = crawl


@pytest.mark.django_db(transaction=True)
def test_a_source_without_permission_never_reaches_a_local_server(
    isolated: Path, discourse_site, settings
):
    _unmasked(settings)
    site, base_url = discourse_site
    write_source(isolated / "sources", "local", base_url, allow_private_addresses=False)

    outcome = run_crawl(configured_sources()["local"])

    assert site.requests == []
    assert outcome.pages == 0
    log = Path(CrawlRun.objects.get(pk=outcome.run_id).log_file).read_text()
    assert "private or internal address" in log


@pytest.fixture
def client_named(db):
    from clients.models import Client

    client = Client.objects.create(reference="jeanne", display_name="J", email="j@example.org")
    client.terms.create(kind="name", value="Jeanne Dupont")
    return client


@pytest.mark.django_db(transaction=True)
def test_results_and_redirects_to_internal_addresses_are_never_fetched(
    isolated: Path, client_named, settings
):
    """A search API (allowed by host:port) lists pages inside our network, under every
    spelling of a loopback address, and two of its own pages redirect inside: none of them is
    fetched, each refusal is logged, and only the allowed API is ever contacted."""
    _unmasked(settings)
    inside = StaticSite({"/admin": Route(b"secret")})
    inside_server = serve_site(inside)
    port = inside_server.server_port
    api = StaticSite()
    api_server = serve_site(api)
    netloc = f"127.0.0.1:{api_server.server_port}"
    targets = [
        f"http://127.0.0.1:{port}/admin",
        f"http://localhost:{port}/admin",
        f"http://[::ffff:127.0.0.1]:{port}/admin",
        f"http://2130706433:{port}/admin",  # 127.0.0.1 as one decimal number
        f"http://127.1:{port}/admin",
        f"http://{netloc}/moved",
        f"http://{netloc}/moved-by-name",
    ]
    results = [{"url": u, "title": "Jeanne Dupont", "content": "Jeanne Dupont"} for u in targets]
    api.routes["/search"] = Route(
        json.dumps({"query": "x", "results": results}).encode(), "application/json"
    )
    redirects = {
        "/moved": f"http://127.0.0.1:{port}/admin?via=redirect",
        "/moved-by-name": f"http://localhost:{port}/admin?via=redirect",
    }
    for path, location in redirects.items():
        api.routes[path] = Route(b"", status=302, headers={"Location": location})
    write_source(
        isolated / "sources",
        "guarded",
        f"http://{netloc}",
        kind="searxng",
        allow_private_addresses=[netloc],
    )
    try:
        outcome = run_crawl(configured_sources()["guarded"])
    finally:
        api_server.shutdown()
        inside_server.shutdown()

    assert inside.requests == []
    assert {"/moved", "/moved-by-name"} <= set(api.requests)  # read; their redirects were not
    log = Path(CrawlRun.objects.get(pk=outcome.run_id).log_file).read_text()
    for refused in (*targets[:5], *redirects.values()):
        assert f"refused {refused}" in log, refused


PHPBB_PAGE = (DATA / "forums" / "phpbb3_foren.myoos.de_viewtopic.html").read_bytes()


@pytest.mark.django_db(transaction=True)
def test_dns_rebinding_cannot_reach_an_internal_server(isolated: Path, settings, hit_store):
    """The forum's name first resolves to the address the source may reach (127.0.0.2, its
    server), then to 127.0.0.1, where an internal service listens on the same port. The crawl
    connects to the address it checked: the internal service never hears from it."""
    from clients.models import Client

    client = Client.objects.create(reference="rms", display_name="R", email="r@example.org")
    client.terms.create(kind="name", value="Richard Stallman")
    forum = StaticSite({"/viewtopic.php": Route(PHPBB_PAGE, "text/html; charset=utf-8")})
    forum_server = serve_site(forum, host="127.0.0.2")
    port = forum_server.server_port
    inside = StaticSite()
    inside_server = serve_site(inside, host="127.0.0.1", port=port)
    dns = RebindingDns("forum.rebind.test", ["127.0.0.2", "127.0.0.1"])
    settings.BODYGUARD_CRAWL_SETTINGS = settings.BODYGUARD_CRAWL_SETTINGS | {
        "BODYGUARD_DNS_SERVER": dns.address,
        "BODYGUARD_ONLY_HOSTS": "forum.rebind.test",
    }
    write_source(
        isolated / "sources",
        "rebind",
        f"http://forum.rebind.test:{port}",
        kind="phpbb",
        allow_private_addresses=[f"127.0.0.2:{port}"],
        options={"start_urls": ["/viewtopic.php?t=1", "/viewtopic.php?t=2"], "max_pages": 0},
    )
    try:
        outcome = run_crawl(configured_sources()["rebind"])
    finally:
        forum_server.shutdown()
        inside_server.shutdown()
        dns.close()

    assert inside.requests == []
    assert "/viewtopic.php?t=1" in forum.requests and "/viewtopic.php?t=2" in forum.requests
    assert dns.given[0] == "127.0.0.2"
    assert outcome.hits >= 1
