"""Recorded HTTP interactions (VCR cassettes, in Ruby/R vcr's and Python vcrpy's dialects)
served again by a local server, under the recorded paths and queries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import yaml

from tests.crawlers.static_site import Route, StaticSite

# Framing the recording's server applied: our local server frames the body itself.
_HOP_HEADERS = {"content-encoding", "content-length", "transfer-encoding", "connection"}


@dataclass(frozen=True)
class Interaction:
    method: str
    url: str
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def target(self) -> str:
        return canonical_target(self.url)


def canonical_target(url: str) -> str:
    """Path and query with the parameters sorted: a client may send them in any order."""
    parts = urlsplit(url)
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return parts.path + (f"?{query}" if query else "")


class CassetteSite(StaticSite):
    def route(self, target: str) -> Route | None:
        return super().route(canonical_target(target))


def _header_value(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def load_cassette(path: Path) -> list[Interaction]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    found = []
    for recorded in data.get("http_interactions") or data.get("interactions") or []:
        request, response = recorded["request"], recorded["response"]
        status = response.get("status", 200)
        code = int(status.get("code", 200) if isinstance(status, dict) else status)
        body = response.get("body") or {}
        text = body.get("string", "") if isinstance(body, dict) else str(body)
        headers = {
            str(k): _header_value(v)
            for k, v in (response.get("headers") or {}).items()
            if str(k).lower() not in _HOP_HEADERS
        }
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        found.append(Interaction(request["method"].upper(), request["uri"], code, headers, raw))
    return found


def routes_of(interactions: list[Interaction], origin: str, local: str) -> dict[str, Route]:
    """GET interactions as routes; ``origin`` (the recorded server) becomes ``local`` in headers.

    The bare path answers like the first recording of it (the first page of a listing)."""
    routes: dict[str, Route] = {}
    for interaction in interactions:
        if interaction.method != "GET":
            continue
        headers = {k: v.replace(origin, local) for k, v in interaction.headers.items()}
        content_type = headers.pop("content-type", headers.pop("Content-Type", "application/json"))
        route = Route(interaction.body, content_type, interaction.status, headers)
        routes.setdefault(interaction.target, route)
        routes.setdefault(urlsplit(interaction.url).path, route)
    return routes
