"""Declarative crawl sources: ``config/sources/*.yaml``, loaded once and validated.

Every error names the file, the key and what is wrong, so staff can fix a source without
reading code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ENV_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_INTERVAL_RE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Below this a crawl would hammer a small forum; above a week, a victim learns too late.
MIN_INTERVAL = timedelta(minutes=1)
MAX_INTERVAL = timedelta(days=7)

ALLOWED_KEYS = {
    "id",
    "kind",
    "base_url",
    "crawl_interval",
    "enabled",
    "allow_private_addresses",
    "notes",
    "options",
    "credentials",
    "rate_limit",
    "concurrency",
    "robots",
}


class SourceError(ValueError):
    def __init__(self, file: Path, key: str | None, message: str) -> None:
        self.file = file
        self.key = key
        where = f"{file}: {key}: " if key else f"{file}: "
        super().__init__(where + message)


@dataclass(frozen=True)
class Source:
    id: str
    kind: str
    base_url: str
    crawl_interval: timedelta
    enabled: bool = True
    allow_private_addresses: bool = False
    # Private host:port pairs this source may reach even when private addresses are refused.
    private_allowlist: tuple[str, ...] = ()
    notes: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    # Purpose -> name of the environment variable holding the secret, e.g. {api_key: BRAVE_API_KEY}.
    credentials: dict[str, str] = field(default_factory=dict)
    # Seconds between two requests to the source, and requests in flight at once.
    rate_limit: float = 1.0
    concurrency: int = 2
    # robots.txt is obeyed unless the source says why not (e.g. an API endpoint with none).
    obey_robots: bool = True
    robots_reason: str = ""
    file: Path | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""


def parse_interval(value: object) -> timedelta:
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30m, 6h or 1d")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and (m := _INTERVAL_RE.match(value)):
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration such as 30m, 6h or 1d")
    interval = timedelta(seconds=seconds)
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        raise ValueError(f"{value!r} is outside the allowed range 1m to 7d")
    return interval


def _parse_one(file: Path, data: object, known_kinds: Iterable[str]) -> Source:
    if not isinstance(data, dict):
        raise SourceError(file, None, "the file must hold one mapping of keys (id, kind, ...)")
    unknown = sorted(set(data) - ALLOWED_KEYS)
    if unknown:
        raise SourceError(
            file, unknown[0], f"unknown key; allowed keys are {', '.join(sorted(ALLOWED_KEYS))}"
        )
    for key in ("id", "kind", "base_url", "crawl_interval"):
        if key not in data or data[key] in (None, ""):
            raise SourceError(file, key, "missing required key")
    source_id = data["id"]
    if not isinstance(source_id, str) or not _ID_RE.match(source_id):
        raise SourceError(
            file, "id", f"{source_id!r} must be lowercase letters, digits, '-' or '_'"
        )
    kinds = sorted(known_kinds)
    kind = data["kind"]
    if kind not in kinds:
        raise SourceError(file, "kind", f"unknown kind {kind!r}; known kinds: {', '.join(kinds)}")
    base_url = data["base_url"]
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SourceError(file, "base_url", f"{base_url!r} is not an http(s) URL")
    try:
        interval = parse_interval(data["crawl_interval"])
    except ValueError as exc:
        raise SourceError(file, "crawl_interval", str(exc)) from None
    flags: dict[str, bool] = {}
    value = data.get("enabled", True)
    if not isinstance(value, bool):
        raise SourceError(file, "enabled", f"{value!r} must be true or false")
    flags["enabled"] = value
    private = data.get("allow_private_addresses", False)
    allowlist: tuple[str, ...] = ()
    if isinstance(private, list) and all(isinstance(v, str) and v for v in private):
        allowlist, private = tuple(private), False
    elif not isinstance(private, bool):
        raise SourceError(
            file,
            "allow_private_addresses",
            f"{private!r} must be true, false, or a list of host:port the crawl may reach inside",
        )
    flags["allow_private_addresses"] = private
    notes = data.get("notes", "") or ""
    if not isinstance(notes, str):
        raise SourceError(file, "notes", "must be text")
    options = data.get("options", {}) or {}
    if not isinstance(options, dict):
        raise SourceError(file, "options", "must be a mapping")
    credentials = data.get("credentials", {}) or {}
    if not isinstance(credentials, dict) or not all(
        isinstance(v, str) and _ENV_NAME_RE.match(v) for v in credentials.values()
    ):
        raise SourceError(
            file,
            "credentials",
            "must map each purpose to the NAME of an environment variable (e.g. api_key: BRAVE_API_KEY); secrets never go in source files",
        )
    rate_limit = data.get("rate_limit", 1.0)
    if (
        isinstance(rate_limit, bool)
        or not isinstance(rate_limit, (int, float))
        or not 0 <= rate_limit <= 3600
    ):
        raise SourceError(
            file, "rate_limit", f"{rate_limit!r} must be seconds between requests (0 to 3600)"
        )
    concurrency = data.get("concurrency", 2)
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= 16
    ):
        raise SourceError(
            file, "concurrency", f"{concurrency!r} must be a whole number from 1 to 16"
        )
    robots = data.get("robots", {"obey": True}) or {"obey": True}
    if not isinstance(robots, dict) or not isinstance(robots.get("obey", True), bool):
        raise SourceError(
            file, "robots", "must be a mapping: {obey: true} or {obey: false, reason: ...}"
        )
    obey = robots.get("obey", True)
    reason = robots.get("reason", "") or ""
    if not obey and not (isinstance(reason, str) and reason.strip()):
        raise SourceError(
            file,
            "robots",
            "ignoring robots.txt needs a written reason (robots: {obey: false, reason: ...})",
        )
    return Source(
        id=source_id,
        kind=kind,
        base_url=base_url.rstrip("/"),
        crawl_interval=interval,
        enabled=flags["enabled"],
        allow_private_addresses=flags["allow_private_addresses"],
        private_allowlist=allowlist,
        notes=notes,
        options=options,
        credentials=credentials,
        rate_limit=float(rate_limit),
        concurrency=concurrency,
        obey_robots=obey,
        robots_reason=reason,
        file=file,
    )


def load_source_file(file: Path, known_kinds: Iterable[str]) -> Source:
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SourceError(file, None, f"invalid YAML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(file, None, f"cannot read the file: {exc}") from None
    return _parse_one(file, data, known_kinds)


def load_sources(directory: Path, known_kinds: Iterable[str]) -> dict[str, Source]:
    """All sources of a directory, keyed by id. Any bad file fails the whole load."""
    if not directory.is_dir():
        raise SourceError(directory, None, "the sources directory does not exist")
    kinds = list(known_kinds)
    sources: dict[str, Source] = {}
    for file in sorted(directory.glob("*.y*ml")):
        source = load_source_file(file, kinds)
        if source.id in sources:
            raise SourceError(
                file, "id", f"{source.id!r} is already used by {sources[source.id].file}"
            )
        sources[source.id] = source
    return sources
