from pathlib import Path

import pytest

from crawlers.middlewares import AddressGuardMiddleware, is_forbidden_address
from crawlers.runner import run_crawl
from operations.scheduler import configured_sources
from tests.conftest import write_source


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "::ffff:127.0.0.1",
        "fe80::1",
        "0.0.0.0",
        "fd00:ec2::254",
    ],
)
def test_internal_addresses_are_forbidden(address):
    assert is_forbidden_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_allowed(address):
    assert not is_forbidden_address(address)


def test_a_host_name_is_judged_by_what_it_resolves_to():
    assert "127.0.0.1" in (AddressGuardMiddleware._check("localhost") or "")


@pytest.mark.django_db(transaction=True)
def test_a_source_without_permission_never_reaches_a_local_server(isolated: Path, discourse_site):
    site, base_url = discourse_site
    write_source(isolated / "sources", "local", base_url, allow_private_addresses=False)

    outcome = run_crawl(configured_sources()["local"])

    assert site.requests == []
    assert outcome.pages == 0
    log = Path(outcome_log(outcome.run_id)).read_text()
    assert "private or internal address" in log


def outcome_log(run_id: int) -> str:
    from crawlers.models import CrawlRun

    return CrawlRun.objects.get(pk=run_id).log_file


@pytest.mark.django_db(transaction=True)
def test_results_and_redirects_to_internal_addresses_are_never_fetched(
    isolated: Path, client_named
):
    """A search API (allowed by host:port) lists pages inside our network and one of its own
    pages redirects to the cloud metadata address: none of them is fetched."""
    import json

    from tests.crawlers.static_site import Route, StaticSite, serve_site

    inside = StaticSite({"/admin": Route(b"secret")})
    inside_server = serve_site(inside)
    port = inside_server.server_port
    api = StaticSite()
    api_server = serve_site(api)
    netloc = f"127.0.0.1:{api_server.server_port}"
    targets = [
        f"http://127.0.0.1:{port}/admin",
        f"http://localhost:{port}/admin",
        "http://10.0.0.1/admin",
        "http://169.254.169.254/latest/meta-data/",
        f"http://{netloc}/moved",
    ]
    results = [{"url": u, "title": "Jeanne Dupont", "content": "Jeanne Dupont"} for u in targets]
    api.routes["/search"] = Route(
        json.dumps({"query": "x", "results": results}).encode(), "application/json"
    )
    api.routes["/moved"] = Route(
        b"", status=302, headers={"Location": "http://169.254.169.254/latest/user-data"}
    )
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
    assert "/moved" in api.requests  # the allowed API's own page was read, its redirect was not
    log = Path(outcome_log(outcome.run_id)).read_text()
    for refused in (*targets[:4], "http://169.254.169.254/latest/user-data"):
        assert f"refused {refused}" in log, refused


@pytest.fixture
def client_named(db):
    from clients.models import Client

    client = Client.objects.create(reference="jeanne", display_name="J", email="j@example.org")
    client.terms.create(kind="name", value="Jeanne Dupont")
    return client
