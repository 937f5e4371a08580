"""Who to notify when a site publishes no abuse contact: its network and its registrar, via RDAP.

RDAP (RFC 9082 queries, RFC 9083 JSON answers) replaces WHOIS. The server to ask comes from
IANA's bootstrap files (RFC 9224: ``dns.json``, ``ipv4.json``, ``ipv6.json``), kept in
``var/rdap/`` and refreshed weekly. Every request goes through the project's address guard
(crawlers.fetch), like crawls and re-checks: a redirect to an internal address is refused.

- The network: the RDAP record of the address the site's name resolves to (``/ip/<addr>``); its
  abuse contact is an entity with the ``abuse`` role, at the top (RIPE, APNIC's IRT) or nested
  in the registrant organisation (ARIN, two or three levels down). Entities whose only role is
  ``abuse`` come first; within a vCard, the address typed ``abuse`` (RIPE) or ``pref=1``
  (APNIC) comes first. An abuse entity without a vCard is fetched by its ``self`` link
  (LACNIC). Failing any abuse role, an ``abuse@`` address anywhere (AFRINIC).
- The registrar: the ``registrar`` entity of the domain's record (``/domain/<name>``) and its
  nested ``abuse`` entity, or an ``abuse`` entity beside it (Namecheap), or else the
  registrar's own address (.fr, .no); a thin registry's answer without one leads to the
  registrar's own RDAP server through ``links[rel=related]``.

Why not a library: docs/adr/0021-rdap.md.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from crawlers.fetch import Fetched, FetchPolicy, fetch
from crawlers.guard import GuardRefused, address_problem, resolve_addresses
from takedowns.models import HostContact

IANA_BOOTSTRAP = "https://data.iana.org/rdap/"
BOOTSTRAP_FILES = ("dns", "ipv4", "ipv6")
BOOTSTRAP_MAX_AGE_S = 7 * 24 * 3600
ACCEPT_RDAP = "application/rdap+json, application/json;q=0.9"
MAX_BYTES = 2 * 1024 * 1024

JSON = dict[str, Any]
# GET an RDAP URL: the answer's JSON, None for "not found" (404), RdapError otherwise.
Getter = Callable[[str], JSON | None]


class RdapError(Exception):
    """An RDAP server or the bootstrap could not be read; the message says which and why."""


@dataclass(frozen=True)
class Bootstrap:
    """IANA's RDAP bootstrap: which server answers for a TLD or an address block."""

    dns: dict[str, tuple[str, ...]]
    networks: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, tuple[str, ...]], ...] = ()

    @classmethod
    def from_json(cls, dns: JSON, ipv4: JSON, ipv6: JSON) -> Bootstrap:
        tlds: dict[str, tuple[str, ...]] = {}
        for entries, urls in _services(dns):
            for tld in entries:
                tlds[tld.lower().strip(".")] = urls
        networks = []
        for data in (ipv4, ipv6):
            for entries, urls in _services(data):
                for prefix in entries:
                    try:
                        networks.append((ipaddress.ip_network(prefix, strict=False), urls))
                    except ValueError:
                        continue
        return cls(tlds, tuple(networks))

    @classmethod
    def from_directory(cls, directory: Path) -> Bootstrap:
        try:
            files = {
                name: json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
                for name in BOOTSTRAP_FILES
            }
        except (OSError, ValueError) as exc:
            raise RdapError(f"the RDAP bootstrap in {directory} cannot be read ({exc})") from None
        return cls.from_json(files["dns"], files["ipv4"], files["ipv6"])

    def for_domain(self, name: str) -> tuple[str, ...]:
        labels = name.lower().strip(".").split(".")
        for i in range(len(labels)):
            found = self.dns.get(".".join(labels[i:]))
            if found:
                return found
        return ()

    def for_address(self, address: str) -> tuple[str, ...]:
        ip = ipaddress.ip_address(address)
        matching = [
            (network.prefixlen, urls)
            for network, urls in self.networks
            if network.version == ip.version and ip in network
        ]
        return max(matching, key=lambda m: m[0])[1] if matching else ()


def _services(data: JSON) -> Iterator[tuple[list[str], tuple[str, ...]]]:
    for service in data.get("services") or []:
        if not isinstance(service, list) or len(service) < 2:
            continue
        entries, urls = service[0], service[1]
        # HTTPS first: RFC 9224 says clients should prefer it.
        ordered = sorted(
            (u for u in urls if isinstance(u, str)), key=lambda u: not u.startswith("https:")
        )
        yield [e for e in entries if isinstance(e, str)], tuple(ordered)


# --- Reading RFC 9083 answers ---------------------------------------------------------


def _roles(entity: JSON) -> set[str]:
    return {str(r).lower() for r in entity.get("roles") or []}


def _walk(entities: Any) -> Iterator[JSON]:
    """Every entity, depth first, each before those nested in it."""
    for entity in entities or []:
        if isinstance(entity, dict):
            yield entity
            yield from _walk(entity.get("entities"))


def _vcard(entity: JSON) -> list[list[Any]]:
    card = entity.get("vcardArray")
    if isinstance(card, list) and len(card) > 1 and isinstance(card[1], list):
        return [p for p in card[1] if isinstance(p, list) and len(p) >= 4]
    return []


def _fn(entity: JSON) -> str:
    for prop in _vcard(entity):
        if prop[0] == "fn" and isinstance(prop[3], str) and prop[3].strip():
            return prop[3].strip()
    return ""


def _valid(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def _email_rank(params: Any) -> int:
    """0 for an address typed abuse (RIPE), 1 for the preferred one (APNIC's pref=1), 2 else."""
    if not isinstance(params, dict):
        return 2  # PHP turned {} into []
    types = params.get("type")
    types = [types] if isinstance(types, str) else types or []
    if any(str(t).lower() == "abuse" for t in types):
        return 0
    return 1 if str(params.get("pref", "")) == "1" else 2


def emails(entity: JSON) -> list[str]:
    """The entity's email addresses, the abuse-typed or preferred one first."""
    found = []
    for prop in _vcard(entity):
        if prop[0] != "email":
            continue
        values = prop[3] if isinstance(prop[3], list) else [prop[3]]
        for value in values:
            if isinstance(value, str):
                address = value.strip().removeprefix("mailto:")
                if _valid(address):
                    found.append((_email_rank(prop[1]), address))
    return list(dict.fromkeys(a for _, a in sorted(found, key=lambda f: f[0])))


def _self_link(entity: JSON) -> str:
    for link in entity.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "self" and link.get("href"):
            return str(link["href"])
    return ""


@dataclass(frozen=True)
class Found:
    name: str
    abuse_email: str


def network_contact(data: JSON, get: Getter | None = None) -> Found:
    """The network's name and its abuse address ("" when the record gives none)."""
    entities = list(_walk(data.get("entities")))
    abuse = [e for e in entities if "abuse" in _roles(e)]
    abuse.sort(key=lambda e: _roles(e) != {"abuse"})  # stable: walk order within each rank
    email = ""
    for entity in abuse:
        found = emails(entity)
        if not found and get is not None and not _vcard(entity) and _self_link(entity):
            try:
                fetched = get(_self_link(entity))
            except RdapError:
                fetched = None
            found = emails(fetched) if fetched else []
        if found:
            email = found[0]
            break
    if not email:
        # Old AFRINIC records carry no abuse role: an abuse@ address of the organisation.
        email = next((a for e in entities for a in emails(e) if a.lower().startswith("abuse@")), "")
    org = next((_fn(e) for e in entities if "registrant" in _roles(e) and _fn(e)), "")
    handle = str(data.get("name") or data.get("handle") or "").strip()
    if org and handle:
        name = f"{org} ({handle})"
    else:
        name = org or handle or next((_fn(e) for e in abuse if _fn(e)), "")
    return Found(name[:200], email)


def _related(data: JSON) -> str:
    for link in data.get("links") or []:
        if (
            isinstance(link, dict)
            and link.get("rel") == "related"
            and "rdap" in str(link.get("type", "")) + str(link.get("href", ""))
            and link.get("href")
        ):
            return str(link["href"])
    return ""


def registrar_contact(data: JSON, get: Getter | None = None) -> Found:
    """The domain's registrar and its abuse address ("" when the record gives none)."""
    top = [e for e in data.get("entities") or [] if isinstance(e, dict)]
    registrar = next((e for e in _walk(top) if "registrar" in _roles(e)), None)
    name = ""
    email = ""
    if registrar is not None:
        name = _fn(registrar) or str(registrar.get("handle") or "")
        nested = [e for e in _walk(registrar.get("entities")) if "abuse" in _roles(e)]
        beside = [e for e in top if "abuse" in _roles(e)]
        email = next((emails(e)[0] for e in (*nested, *beside) if emails(e)), "")
        if not email and get is not None:
            related = _related(data)
            if related:
                try:
                    deeper = get(related)
                except RdapError:
                    deeper = None
                if deeper:
                    found = registrar_contact(deeper)
                    name, email = name or found.name, found.abuse_email
        email = email or next(iter(emails(registrar)), "")
    return Found(name[:200], email)


# --- Fetching -------------------------------------------------------------------------


def default_policy() -> FetchPolicy:
    return FetchPolicy.for_source(
        None,
        accept=ACCEPT_RDAP,
        max_bytes=MAX_BYTES,
        deadline_s=30.0,
        private_allowlist=tuple(getattr(settings, "BODYGUARD_RDAP_PRIVATE_ALLOWLIST", ())),
    )


def getter(policy: FetchPolicy) -> Getter:
    def get(url: str) -> JSON | None:
        response = fetch(url, policy)
        if not isinstance(response, Fetched):
            raise RdapError(f"{url}: {response.reason}")
        if response.status == 404:
            return None
        if response.status != 200:
            raise RdapError(f"{url}: HTTP {response.status}{_error_title(response.body)}")
        if response.truncated:
            raise RdapError(f"{url}: the answer is larger than {policy.max_bytes} bytes")
        try:
            data = json.loads(response.body)
        except ValueError:
            raise RdapError(f"{url}: the answer is not JSON") from None
        if not isinstance(data, dict):
            raise RdapError(f"{url}: the answer is not an RDAP object")
        return data

    return get


def _error_title(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    title = data.get("title") if isinstance(data, dict) else None
    return f" ({title})" if isinstance(title, str) and title else ""


def load_bootstrap(
    policy: FetchPolicy, directory: Path | None = None, base: str = IANA_BOOTSTRAP
) -> Bootstrap:
    """IANA's bootstrap files from ``var/rdap/``, fetched again once a week (a stale copy
    serves while IANA cannot be reached)."""
    directory = directory or Path(settings.BODYGUARD_VAR_DIR) / "rdap"
    directory.mkdir(parents=True, exist_ok=True)
    get = getter(policy)
    for name in BOOTSTRAP_FILES:
        path = directory / f"{name}.json"
        fresh = path.exists() and time.time() - path.stat().st_mtime < BOOTSTRAP_MAX_AGE_S
        if fresh:
            continue
        try:
            data = get(f"{base}{name}.json")
        except RdapError:
            if path.exists():
                continue
            raise
        if data is None or not isinstance(data.get("services"), list):
            if path.exists():
                continue
            raise RdapError(f"IANA's {name}.json could not be read")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)
    return Bootstrap.from_directory(directory)


def _first(servers: tuple[str, ...], path: str, get: Getter) -> JSON | None:
    if not servers:
        return None
    base = servers[0] if servers[0].endswith("/") else servers[0] + "/"
    return get(base + path)


def lookup_network(address: str, bootstrap: Bootstrap, get: Getter) -> Found | None:
    data = _first(bootstrap.for_address(address), f"ip/{quote(address)}", get)
    return network_contact(data, get) if data else None


def lookup_registrar(host: str, bootstrap: Bootstrap, get: Getter) -> tuple[str, Found] | None:
    """The registered domain (the first name a registry knows, host first then its parents)
    and its registrar."""
    labels = host.lower().strip(".").split(".")
    for i in range(min(len(labels) - 1, 4)):
        name = ".".join(labels[i:])
        data = _first(bootstrap.for_domain(name), f"domain/{quote(name)}", get)
        if data:
            return name, registrar_contact(data, get)
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def lookup_host(
    host: str,
    *,
    policy: FetchPolicy | None = None,
    bootstrap: Bootstrap | None = None,
    addresses: list[str] | None = None,
) -> HostContact:
    """Look up the host's network and registrar abuse contacts and store them on its
    HostContact (per registered domain). Raises RdapError when nothing could be read."""
    policy = policy or default_policy()
    bootstrap = bootstrap or load_bootstrap(policy)
    get = getter(policy)
    host = host.lower().strip(".")
    problems: list[str] = []
    if addresses is None:
        try:
            addresses = resolve_addresses(host, 443, policy.dns_server)
        except GuardRefused as exc:
            addresses = []
            problems.append(str(exc))
    public = [a for a in addresses if address_problem(a) is None]
    network: Found | None = None
    if public:
        try:
            network = lookup_network(public[0], bootstrap, get)
        except RdapError as exc:
            problems.append(str(exc))
    domain, registrar = host, None
    if not _is_ip(host):
        try:
            found = lookup_registrar(host, bootstrap, get)
        except RdapError as exc:
            problems.append(str(exc))
        else:
            if found:
                domain, registrar = found
    if network is None and registrar is None:
        raise RdapError("; ".join(problems) or f"no RDAP record found for {host}")
    contact, _created = HostContact.objects.get_or_create(domain=domain)
    if network is not None:
        contact.network_name, contact.network_abuse_email = network.name, network.abuse_email
    if registrar is not None:
        contact.registrar_name = registrar.name
        contact.registrar_abuse_email = registrar.abuse_email
    contact.rdap_checked_at = datetime.now(UTC)
    contact.save()
    return contact
