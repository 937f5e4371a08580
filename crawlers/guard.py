"""The address guard: which addresses we may connect to, and the one address we connect to.

Every outbound connection (crawls, the guarded fetch, Chromium's screenshots) is judged here:
the name is resolved once, every address it resolves to must be a public unicast address
(unless the source allows a private one), and the connection then goes to the address that was
checked, never to the name again, so a DNS answer that changes between the check and the
connection (rebinding) cannot reach inside. See docs/adr/0013-address-guard.md.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

# Carrier-grade NAT space: not "private" in RFC 1918's sense but never a public server.
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
# NAT64 prefixes carry an IPv4 address in their last 32 bits (RFC 6052, RFC 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# Seconds one DNS question to a configured server may take.
DNS_TIMEOUT_S = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class GuardRefused(Exception):
    """The guard refused a URL or an address; the message says which and why."""


@dataclass(frozen=True)
class Pinned:
    host: str
    port: int
    address: str


@dataclass(frozen=True)
class Refused:
    host: str
    reason: str
    # True when the rule refused the address; False when the name could not be resolved.
    by_rule: bool = True


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses a 6to4 or Teredo address carries: each is judged too."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = [ip.sixtofour] if ip.sixtofour is not None else []
    if ip.teredo is not None:
        found += list(ip.teredo)
    return found


def address_problem(address: str) -> str | None:
    """Why we may not connect to ``address``, or None when it is a public unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and (
        ip.ipv4_mapped is not None or any(ip in net for net in _NAT64)
    ):
        # Translation prefixes are "not global" as blocks (Python's table); what a connection
        # reaches is the IPv4 address they carry, judged alone.
        ip = ip.ipv4_mapped or ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    for candidate in (ip, *_embedded_ipv4(ip)):
        if (
            not candidate.is_global
            or candidate in _SHARED_ADDRESS_SPACE
            or candidate.is_multicast
            or candidate.is_reserved
            or candidate.is_unspecified
            or candidate.is_loopback
            or candidate.is_link_local
        ):
            shown = address if candidate == ip else f"{address} (carrying {candidate})"
            return f"{shown} is a private or internal address"
    return None


def is_forbidden_address(address: str) -> bool:
    return address_problem(address) is not None


def default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def resolve_addresses(host: str, port: int, dns_server: str = "") -> list[str]:
    """Every address ``host`` resolves to, through ``dns_server`` ("host:port") when one is
    named, else the system's resolver. Raises GuardRefused when it does not resolve."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return [str(literal)]
    if dns_server:
        return _ask_dns_server(host, dns_server)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise GuardRefused(f"{host} does not resolve ({exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise GuardRefused(f"{host} does not resolve")
    return addresses


def _ask_dns_server(host: str, dns_server: str) -> list[str]:
    import dns.exception
    import dns.resolver

    server, _, port = dns_server.rpartition(":")
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server.strip("[]")]
    resolver.port = int(port)
    resolver.lifetime = DNS_TIMEOUT_S
    addresses: list[str] = []
    for kind in ("A", "AAAA"):
        try:
            answer = resolver.resolve(host, kind, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            continue
        except dns.exception.DNSException as exc:
            raise GuardRefused(f"{host} does not resolve ({type(exc).__name__})") from None
        addresses += [str(rdata) for rdata in answer]
    if not addresses:
        raise GuardRefused(f"{host} does not resolve")
    return addresses


@dataclass(frozen=True)
class AddressRule:
    """What one source may reach: public addresses always; private ones if it says so, all of
    them or the listed ``host:port`` pairs (a name as written in URLs, or an address)."""

    allow_private_addresses: bool = False
    private_allowlist: tuple[str, ...] = ()
    dns_server: str = ""

    def check(self, host: str, port: int) -> Pinned | Refused:
        """Resolve once and judge every address; the first one is the one to connect to."""
        if not host:
            return Refused(host, "no host name")
        try:
            addresses = resolve_addresses(host, port, self.dns_server)
        except GuardRefused as exc:
            return Refused(host, str(exc), by_rule=False)
        if self.allow_private_addresses or _netloc(host, port) in self.private_allowlist:
            return Pinned(host, port, addresses[0])
        for address in addresses:
            if _netloc(address, port) in self.private_allowlist:
                continue
            problem = address_problem(address)
            if problem:
                return Refused(host, f"{host} resolves to {problem}")
        return Pinned(host, port, addresses[0])

    def check_url(self, url: str) -> Pinned | Refused:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return Refused(parts.hostname or "", f"not an http(s) URL: {url[:200]}")
        try:
            port = parts.port or default_port(parts.scheme)
        except ValueError:
            return Refused(parts.hostname or "", f"bad port in {url[:200]}")
        return self.check(parts.hostname or "", port)


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def on_hosts(url: str, hosts: Iterable[str]) -> bool:
    """Whether ``url`` is http(s) on one of ``hosts`` or a subdomain of one."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return False
    return any(host == h.lower() or host.endswith("." + h.lower()) for h in hosts if h)


def on_web(url: str) -> bool:
    """Whether ``url`` is an http(s) URL with a host (and nothing a browser would read as
    another host)."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "\\" not in url
