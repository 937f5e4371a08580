"""Network and registrar abuse contacts through RDAP, on real saved answers of RDAP servers
(tests/data/rdap/SOURCES.md) served by a local HTTP server through the address guard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawlers.fetch import FetchPolicy
from takedowns.models import HostContact
from takedowns.rdap import (
    ACCEPT_RDAP,
    Bootstrap,
    RdapError,
    load_bootstrap,
    lookup_host,
    network_contact,
    registrar_contact,
)
from tests.conftest import DATA
from tests.crawlers.static_site import Route, StaticSite, serve_site

RDAP = DATA / "rdap"
BOOTSTRAP = {
    "dns": RDAP / "bootstrap" / "rdap_client_iana_dns_2019-12-24.json",
    "ipv4": RDAP / "bootstrap" / "rdap_client_iana_ipv4_2019-06-07.json",
    "ipv6": RDAP / "bootstrap" / "rdap_client_iana_ipv6_2019-11-06.json",
}


def _load(name: str) -> dict:
    return json.loads((RDAP / name).read_text(encoding="utf-8"))


def _real_bootstrap() -> Bootstrap:
    return Bootstrap.from_json(*(json.loads(p.read_text()) for p in BOOTSTRAP.values()))


@pytest.mark.parametrize(
    ("file", "email", "name"),
    [
        # ARIN: the abuse POC nested in the registrant organisation.
        ("laravel-rdap_arin_216.58.192.0_google.json", "network-abuse@google.com", "Google LLC"),
        # ARIN v6: the abuse-only POC wins over a top-level noc/technical/abuse entity.
        ("whoisit_arin_2001-4860-4860--8888_google.json", "network-abuse@google.com", "Google"),
        # ARIN reassignment: three levels down.
        ("elixir-rdap_arin_24.34.128.0_comcast.json", "abuse@comcast.net", "Comcast"),
        # RIPE: a top-level abuse-c.
        ("elixir-rdap_ripe_93.198.203.20_telekom.json", "abuse@telekom.de", "DTAG"),
        # RIPE: two addresses, the one typed "abuse" wins.
        ("rdap_client_ripe_193.0.6.139_ripe-ncc.json", "abuse@ripe.net", "RIPE-NCC"),
        # APNIC IRT: the pref=1 address is the abuse mailbox.
        ("20c-rdap_apnic_AS9269.json", "abuse@hkbn.net", "Hong Kong Broadband"),
        # AFRINIC: no abuse role, an abuse@ address among the organisation's.
        ("20c-rdap_afrinic_AS37271.json", "abuse@workonline.africa", "Workonline"),
    ],
)
def test_the_network_abuse_address_is_read_from_real_answers(file, email, name):
    found = network_contact(_load(file))
    assert found.abuse_email == email
    assert name in found.name


@pytest.mark.parametrize(
    "file", ["rdap_client_afrinic_41.0.0.0_vodacom.json", "rdap_client_ripe_AS1234.json"]
)
def test_an_answer_without_abuse_contact_gives_none_rather_than_a_person(file):
    found = network_contact(_load(file))
    assert found.abuse_email == ""
    assert found.name


@pytest.mark.parametrize(
    ("file", "email", "name"),
    [
        # Verisign (thin .com): the registrar's nested abuse entity.
        ("whoisit_verisign_google.com.json", "abusecomplaints@markmonitor.com", "MarkMonitor"),
        # Namecheap: the abuse entity beside the registrar, not inside it.
        ("whodap_namecheap_bitcoin.org.json", "abuse@namecheap.com", "NAMECHEAP"),
        # AFNIC .fr: no abuse entity, the registrar's own address.
        ("icann-rdap_afnic_lemonde.fr.json", "registrar@nameshield.net", "NAMESHIELD"),
    ],
)
def test_the_registrar_abuse_address_is_read_from_real_answers(file, email, name):
    found = registrar_contact(_load(file))
    assert (found.abuse_email, name in found.name) == (email, True)


def test_a_registrar_with_a_bare_handle_has_no_address():
    found = registrar_contact(_load("openrdap_cznic_example.cz.json"))
    assert found == type(found)("REG-INTERNET-CZ", "")


def test_the_iana_bootstrap_names_the_server_to_ask():
    bootstrap = _real_bootstrap()
    assert bootstrap.for_address("216.58.192.14")[0] == "https://rdap.arin.net/registry/"
    assert bootstrap.for_address("93.198.203.20")[0] == "https://rdap.db.ripe.net/"
    assert bootstrap.for_address("2001:4860:4860::8888")[0] == "https://rdap.arin.net/registry/"
    assert bootstrap.for_domain("www.google.com") == ("https://rdap.verisign.com/com/v1/",)


# --- Through the network ---------------------------------------------------------------


@pytest.fixture
def rdap_site() -> Iterator[tuple[StaticSite, str]]:
    site = StaticSite()
    server = serve_site(site)
    yield site, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _json(path: Path) -> Route:
    return Route(path.read_bytes(), "application/rdap+json")


def _local(bootstrap: Bootstrap, base: str) -> Bootstrap:
    """The real bootstrap, each server moved under the local site (/<server host><path>)."""

    def moved(urls: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(f"{base}/{urlsplit(u).hostname}{urlsplit(u).path}" for u in urls[:1])

    return Bootstrap(
        {tld: moved(urls) for tld, urls in bootstrap.dns.items()},
        tuple((network, moved(urls)) for network, urls in bootstrap.networks),
    )


def _policy(base: str) -> FetchPolicy:
    return FetchPolicy(private_allowlist=(urlsplit(base).netloc,), accept=ACCEPT_RDAP)


@pytest.mark.django_db
def test_a_host_without_contact_gets_its_network_and_registrar_abuse_addresses(rdap_site):
    site, base = rdap_site
    site.routes["/rdap.arin.net/registry/ip/216.58.192.14"] = _json(
        RDAP / "laravel-rdap_arin_216.58.192.0_google.json"
    )
    site.routes["/rdap.verisign.com/com/v1/domain/google.com"] = _json(
        RDAP / "whoisit_verisign_google.com.json"
    )

    contact = lookup_host(
        "www.google.com",
        policy=_policy(base),
        bootstrap=_local(_real_bootstrap(), base),
        addresses=["216.58.192.14"],
    )

    stored = HostContact.objects.get()
    assert stored.pk == contact.pk and stored.domain == "google.com"
    assert (stored.network_name, stored.network_abuse_email) == (
        "Google LLC (GOOGLE)",
        "network-abuse@google.com",
    )
    assert (stored.registrar_name, stored.registrar_abuse_email) == (
        "MarkMonitor Inc.",
        "abusecomplaints@markmonitor.com",
    )
    assert stored.rdap_checked_at is not None
    # The registry knows the registered domain, not the host name: that was asked first.
    assert site.requests[-2:] == [
        "/rdap.verisign.com/com/v1/domain/www.google.com",
        "/rdap.verisign.com/com/v1/domain/google.com",
    ]


@pytest.mark.django_db
def test_rdap_goes_through_the_address_guard(rdap_site):
    site, base = rdap_site
    with pytest.raises(RdapError, match="private or internal"):
        lookup_host(
            "www.google.com",
            policy=FetchPolicy(accept=ACCEPT_RDAP),  # no exception for the local server
            bootstrap=_local(_real_bootstrap(), base),
            addresses=["216.58.192.14"],
        )
    assert site.requests == []
    assert not HostContact.objects.exists()


def test_the_bootstrap_is_fetched_once_and_kept(rdap_site, tmp_path):
    site, base = rdap_site
    for name, path in BOOTSTRAP.items():
        site.routes[f"/rdap/{name}.json"] = Route(path.read_bytes(), "application/json")
    policy = _policy(base)

    first = load_bootstrap(policy, tmp_path, base=f"{base}/rdap/")
    again = load_bootstrap(policy, tmp_path, base=f"{base}/rdap/")

    assert first.for_address("8.8.8.8")[0] == "https://rdap.arin.net/registry/"
    assert again == first
    assert sorted(site.requests) == ["/rdap/dns.json", "/rdap/ipv4.json", "/rdap/ipv6.json"]


@pytest.mark.django_db
def test_the_case_page_looks_the_contacts_up_and_proposes_the_route(
    rdap_site, client, settings, tmp_path
):
    from takedowns.models import AuditEvent, Case
    from tests.takedowns.workbench import make_user

    site, base = rdap_site
    site.routes["/rdap.arin.net/registry/ip/216.58.192.14"] = _json(
        RDAP / "laravel-rdap_arin_216.58.192.0_google.json"
    )
    # A bootstrap already fetched (fresh files in var/rdap/), pointing at the local server.
    settings.BODYGUARD_VAR_DIR = tmp_path
    settings.BODYGUARD_RDAP_PRIVATE_ALLOWLIST = (urlsplit(base).netloc,)
    local = _local(_real_bootstrap(), base)
    (tmp_path / "rdap").mkdir()
    services = [[[str(n)], list(urls)] for n, urls in local.networks]
    for name, data in {
        "dns": {"services": [[[tld], list(urls)] for tld, urls in local.dns.items()]},
        "ipv4": {"services": [s for s in services if ":" not in s[0][0]]},
        "ipv6": {"services": [s for s in services if ":" in s[0][0]]},
    }.items():
        (tmp_path / "rdap" / f"{name}.json").write_text(json.dumps(data))
    case = Case.objects.create(client_reference="rms", host="216.58.192.14")
    client.force_login(make_user("alice", "reviewer"))

    response = client.post(f"/review/case/{case.pk}/rdap/")

    assert response.status_code == 302
    contact = HostContact.objects.get(domain="216.58.192.14")
    assert contact.network_abuse_email == "network-abuse@google.com"
    page = client.get(f"/review/case/{case.pk}/").content.decode()
    assert "Google LLC (GOOGLE) &lt;network-abuse@google.com&gt;" in page
    assert "recipient_email=network-abuse%40google.com" in page
    assert AuditEvent.objects.filter(action="rdap_lookup", who="alice").exists()
