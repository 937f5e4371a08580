"""Registering clients: YAML import and the watch list handed to the crawlers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from clients.models import AlertDetail, AlertPreference, Client, Language, WatchTerm

_REFERENCE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TERM_FIELDS = {
    "names": WatchTerm.Kind.NAME,
    "aliases": WatchTerm.Kind.ALIAS,
    "nicknames": WatchTerm.Kind.NICKNAME,
    "required_context": WatchTerm.Kind.REQUIRED_CONTEXT,
    "excluded_context": WatchTerm.Kind.EXCLUDED_CONTEXT,
}
_CLIENT_KEYS = {
    "nicknames",
    "required_context",
    "excluded_context",
    "id",
    "display_name",
    "names",
    "aliases",
    "email",
    "language",
    "alert_preference",
    "alert_detail",
    "active",
}


class ClientFileError(ValueError):
    """A client file cannot be imported. Names the file, the client and the field."""

    def __init__(self, file: Path, client: str | None, field: str | None, message: str) -> None:
        self.file, self.client, self.field = file, client, field
        parts = [str(file)]
        if client is not None:
            parts.append(f"client {client}")
        if field is not None:
            parts.append(f"field {field!r}")
        super().__init__(": ".join(parts) + f": {message}")


@dataclass(frozen=True)
class ClientRecord:
    reference: str
    display_name: str
    names: tuple[str, ...]
    aliases: tuple[str, ...]
    email: str
    nicknames: tuple[str, ...]
    required_context: tuple[str, ...]
    excluded_context: tuple[str, ...]
    language: str
    alert_preference: str
    active: bool
    alert_detail: str = AlertDetail.SUMMARY


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VideoWatch:
    label: str
    md5: str
    # (seconds, PDQ hex, quality) of every sampled frame and of its variants.
    hashes: tuple[tuple[float, str, int], ...]
    # Keyframes' local features, sealed (matching.features.seal_many): opened only by the crawl.
    sealed_features: bytes | None = None


@dataclass(frozen=True)
class WatchTarget:
    """What the crawlers look for on behalf of one client."""

    client_ref: str
    names: tuple[str, ...]
    aliases: tuple[str, ...]
    required_context: tuple[str, ...] = ()
    excluded_context: tuple[str, ...] = ()
    # (label, PDQ hashes in hex) of each registered photo: hashes only, never images.
    photos: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # (label, sealed local features) of the photos that have them: opened only by the crawl.
    photo_features: tuple[tuple[str, bytes], ...] = ()
    # Each registered video: MD5 and frame hashes only, never the video.
    videos: tuple[VideoWatch, ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        """What to search for: names, aliases and nicknames (nicknames are kept as aliases)."""
        return self.names + self.aliases


def _string_list(file: Path, who: str, key: str, value: object, required: bool) -> tuple[str, ...]:
    if value is None:
        value = []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ClientFileError(file, who, key, "must be a list of text values")
    cleaned = tuple(dict.fromkeys(v.strip() for v in value if v.strip()))
    if required and not cleaned:
        raise ClientFileError(file, who, key, "must list at least one name to watch")
    return cleaned


def parse_client_file(file: Path) -> list[ClientRecord]:
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ClientFileError(file, None, None, f"invalid YAML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ClientFileError(file, None, None, f"cannot read the file: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("clients"), list):
        raise ClientFileError(
            file, None, "clients", "the file must have a top-level 'clients' list"
        )
    records: list[ClientRecord] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["clients"], start=1):
        who = f"#{index}"
        if not isinstance(entry, dict):
            raise ClientFileError(file, who, None, "each client must be a mapping of fields")
        if isinstance(entry.get("id"), str) and entry["id"]:
            who = f"#{index} ({entry['id']})"
        unknown = sorted(set(entry) - _CLIENT_KEYS)
        if unknown:
            raise ClientFileError(
                file,
                who,
                unknown[0],
                f"unknown field; known fields: {', '.join(sorted(_CLIENT_KEYS))}",
            )
        for key in ("id", "display_name", "email", "names"):
            if entry.get(key) in (None, "", []):
                raise ClientFileError(file, who, key, "missing required field")
        reference = entry["id"]
        if not isinstance(reference, str) or not _REFERENCE_RE.match(reference):
            raise ClientFileError(file, who, "id", "use lowercase letters, digits, '-' or '_'")
        if reference in seen:
            raise ClientFileError(file, who, "id", "appears twice in this file")
        seen.add(reference)
        display_name = entry["display_name"]
        if not isinstance(display_name, str):
            raise ClientFileError(file, who, "display_name", "must be text")
        email = entry["email"]
        try:
            validate_email(email)
        except ValidationError:
            raise ClientFileError(
                file, who, "email", f"{email!r} is not an email address"
            ) from None
        language = entry.get("language", Language.FR)
        if language not in Language.values:
            raise ClientFileError(
                file, who, "language", f"must be one of {', '.join(Language.values)}"
            )
        preference = entry.get("alert_preference", AlertPreference.IMMEDIATE)
        if preference not in AlertPreference.values:
            raise ClientFileError(
                file, who, "alert_preference", f"must be one of {', '.join(AlertPreference.values)}"
            )
        detail = entry.get("alert_detail", AlertDetail.SUMMARY)
        if detail not in AlertDetail.values:
            raise ClientFileError(
                file, who, "alert_detail", f"must be one of {', '.join(AlertDetail.values)}"
            )
        active = entry.get("active", True)
        if not isinstance(active, bool):
            raise ClientFileError(file, who, "active", "must be true or false")
        records.append(
            ClientRecord(
                reference=reference,
                display_name=display_name.strip(),
                names=_string_list(file, who, "names", entry.get("names"), required=True),
                aliases=_string_list(file, who, "aliases", entry.get("aliases"), required=False),
                nicknames=_string_list(
                    file, who, "nicknames", entry.get("nicknames"), required=False
                ),
                required_context=_string_list(
                    file, who, "required_context", entry.get("required_context"), required=False
                ),
                excluded_context=_string_list(
                    file, who, "excluded_context", entry.get("excluded_context"), required=False
                ),
                email=email,
                language=language,
                alert_preference=preference,
                alert_detail=detail,
                active=active,
            )
        )
    return records


def _terms_of(client: Client) -> set[tuple[str, str]]:
    return {(t.kind, t.value) for t in client.terms.all()}


@transaction.atomic
def save_records(records: list[ClientRecord]) -> ImportReport:
    report = ImportReport()
    for record in records:
        wanted_terms = {
            (str(kind), value)
            for key, kind in _TERM_FIELDS.items()
            for value in getattr(record, key)
        }
        fields = {
            "display_name": record.display_name,
            "email": record.email,
            "language": record.language,
            "alert_preference": record.alert_preference,
            "alert_detail": record.alert_detail,
            "active": record.active,
        }
        client = Client.objects.filter(reference=record.reference).first()
        if client is None:
            client = Client.objects.create(reference=record.reference, **fields)
            report.created.append(record.reference)
        else:
            changed = any(getattr(client, k) != v for k, v in fields.items())
            changed |= _terms_of(client) != wanted_terms
            if not changed:
                report.unchanged.append(record.reference)
                continue
            for key, value in fields.items():
                setattr(client, key, value)
            client.save()
            report.updated.append(record.reference)
        client.terms.exclude(
            pk__in=[t.pk for t in client.terms.all() if (t.kind, t.value) in wanted_terms]
        ).delete()
        existing = _terms_of(client)
        WatchTerm.objects.bulk_create(
            WatchTerm(client=client, kind=kind, value=value)
            for kind, value in sorted(wanted_terms - existing)
        )
    return report


def import_client_file(file: Path) -> ImportReport:
    """Validate the whole file first, then write it in one transaction: all or nothing."""
    return save_records(parse_client_file(file))


def watch_target(client: Client) -> WatchTarget:
    terms = list(client.terms.all())

    def of(*kinds: object) -> tuple[str, ...]:
        return tuple(t.value for t in terms if t.kind in kinds)

    return WatchTarget(
        client_ref=client.reference,
        names=of(WatchTerm.Kind.NAME),
        aliases=of(WatchTerm.Kind.ALIAS, WatchTerm.Kind.NICKNAME),
        required_context=of(WatchTerm.Kind.REQUIRED_CONTEXT),
        excluded_context=of(WatchTerm.Kind.EXCLUDED_CONTEXT),
        photos=tuple((p.label, tuple(p.pdq_hashes)) for p in client.photos.all()),
        photo_features=tuple(
            (p.label, bytes(p.sealed_features)) for p in client.photos.all() if p.sealed_features
        ),
        videos=tuple(
            VideoWatch(
                v.label,
                v.md5,
                tuple(
                    (float(t), str(h), int(q)) for t, h, q in [*v.frame_hashes, *v.variant_hashes]
                ),
                bytes(v.sealed_features) if v.sealed_features else None,
            )
            for v in client.videos.all()
        ),
    )


def watchlist() -> list[WatchTarget]:
    clients = Client.objects.filter(active=True).prefetch_related("terms", "photos", "videos")
    return [watch_target(client) for client in clients]
