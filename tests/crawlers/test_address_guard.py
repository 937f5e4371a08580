from pathlib import Path

import pytest

from config.scheduler import configured_sources
from crawlers.middlewares import AddressGuardMiddleware, is_forbidden_address
from crawlers.runner import run_crawl
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
