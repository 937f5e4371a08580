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
# A date and time inside other words: "von lupa am 26/10/13, 03:48 pm", "23.04.18 | 20:30".
_EMBEDDED = re.compile(
    r"(?P<d>\d{1,2})[./](?P<m>\d{1,2})[./](?P<y>\d{2,4})\D{0,6}?(?P<H>\d{1,2}):(?P<M>\d{2})\s*(?P<ampm>[ap]\.?m\.?)?",
    re.IGNORECASE,
)


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
    return _embedded(text, zone)


def _embedded(text: str, zone: str) -> datetime | None:
    m = _EMBEDDED.search(text)
    if m is None:
        return None
    year = int(m["y"]) + (2000 if len(m["y"]) == 2 else 0)
    hour = int(m["H"])
    ampm = (m["ampm"] or "").lower().replace(".", "")
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    try:
        return datetime(year, int(m["m"]), int(m["d"]), hour, int(m["M"]), tzinfo=ZoneInfo(zone))
    except ValueError:
        return None
