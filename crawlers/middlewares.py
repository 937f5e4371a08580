"""Downloader middlewares."""

from __future__ import annotations

import ipaddress
import logging
import socket
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest

logger = logging.getLogger(__name__)

# Cloud metadata endpoints are link-local or private already; named so the intent is explicit.
_METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
}


def is_forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip in _METADATA_ADDRESSES
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


class AddressGuardMiddleware:
    """Refuses requests to private, loopback, link-local and metadata addresses.

    Host names are resolved first, so a public-looking name that points inside is refused too.
    Redirects and robots.txt requests pass through here as well. A source may allow private
    addresses explicitly (`allow_private_addresses: true`, for tests and the demo).
    """

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats
        self._verdicts: dict[str, str | None] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider) -> None:
        source = getattr(spider, "source", None)
        if source is not None and source.allow_private_addresses:
            return None
        host = urlsplit(request.url).hostname or ""
        if host not in self._verdicts:
            self._verdicts[host] = self._check(host)
        reason = self._verdicts[host]
        if reason:
            assert self.stats is not None
            self.stats.inc_value("bodyguard/refused_private_address")
            logger.warning("refused %s: %s", request.url, reason)
            raise IgnoreRequest(f"refused {request.url}: {reason}")
        return None

    @staticmethod
    def _check(host: str) -> str | None:
        if not host:
            return "no host name"
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            return f"{host} does not resolve ({exc})"
        for info in infos:
            address = str(info[4][0])
            if is_forbidden_address(address):
                return f"{host} resolves to {address}, a private or internal address"
        return None
