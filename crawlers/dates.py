"""Post times as forums print them: ISO attributes, epoch seconds, or local formats."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# Forum software prints local time; without a zone, the source's zone (default Paris) is used.
DEFAULT_ZONE = "Europe/Paris"
_FORMATS = (
    "%d.%m.%Y, %H:%M",
    "%d.%m.%Y %H:%M",
    "%d.%m.%y | %H:%M",
    "%d.%m.%y, %H:%M",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y, %H:%M",
    "%d/%m/%Y à %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%a %b %d, %Y %I:%M %p",
    "%b %d, %Y %I:%M %p",
    "%d %b %Y, %H:%M",
)
_SPACES = re.compile(r"\s+")


def parse_post_time(value: str | None, zone: str = DEFAULT_ZONE) -> datetime | None:
    if not value:
        return None
    text = _SPACES.sub(" ", value.replace("\xa0", " ")).strip()
    if text.isdigit() and len(text) >= 9:
        return datetime.fromtimestamp(int(text), tz=UTC)
    iso = text.replace("Z", "+00:00")
    if re.match(r"^\d{4}-\d{2}-\d{2}T", iso):
        iso = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", iso)
        try:
            moment = datetime.fromisoformat(iso)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=ZoneInfo(zone))
        except ValueError:
            continue
    return None
