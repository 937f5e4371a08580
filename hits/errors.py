from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hits.store import WriteResult


class HitStoreError(Exception):
    """Elasticsearch refused an operation (bad mapping, bad query): a bug or a config error."""


class HitStoreUnavailable(HitStoreError):
    """Elasticsearch cannot be reached or is overloaded: retry later, lose nothing."""


class HitStoreUnauthorized(HitStoreUnavailable):
    """Elasticsearch refused our credentials (401) or their privileges (403, a security
    exception): a configuration to fix; what was to be written waits in the journal meanwhile,
    as during an outage."""


# Per-document statuses that mean "try again later" (overload, a shard not ready, a version
# conflict left after the retries); anything else is Elasticsearch refusing that document.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 502, 503, 504})

# Elasticsearch quotes the start of a refused value ("Preview of field's value: '...'"); that
# is page content (a name, a message): it must not reach logs, emails or the CrawlRun record.
_PREVIEW = re.compile(r"\.?\s*Preview of field's value:.*", re.DOTALL)
_REASON_MAX = 300


# Secrets a message about Elasticsearch may carry: a password in a URL (https://user:pw@host)
# and an Authorization header's value. Neither may reach a log, a CrawlRun or evidence.
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s/@:]*:)[^\s/@]*@", re.IGNORECASE)
_AUTH_HEADER = re.compile(r"\b(ApiKey|Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{8,}")


def redact(text: str) -> str:
    """``text`` with URL passwords and authorization header values masked."""
    return _AUTH_HEADER.sub(r"\1 ***", _URL_PASSWORD.sub(r"\1***@", text))


def describe_es_error(error: Any) -> tuple[str, str]:
    """(type, reason) of a per-document Elasticsearch error, without any quoted content."""
    if isinstance(error, dict):
        kind = str(error.get("type") or "unknown_error")
        reason = str(error.get("reason") or "")
        cause = error.get("caused_by")
        if isinstance(cause, dict) and cause.get("reason"):
            reason = f"{reason} (caused by {cause.get('type')}: {cause.get('reason')})"
    else:
        kind, reason = "unknown_error", str(error or "")
    return kind, redact(_PREVIEW.sub("", reason))[:_REASON_MAX]


@dataclass(frozen=True)
class DocumentFailure:
    """One document of a bulk write that was not written, and why."""

    doc_id: str
    status: int
    error_type: str
    reason: str

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUSES

    @classmethod
    def from_bulk_item(cls, item: dict[str, Any]) -> DocumentFailure:
        # helpers.bulk reports each failed item as {op_type: {...}}
        outcome = next(iter(item.values())) if len(item) == 1 else item
        kind, reason = describe_es_error(outcome.get("error"))
        return cls(str(outcome.get("_id", "")), int(outcome.get("status") or 0), kind, reason)


@dataclass(eq=False)
class BulkWriteFailed(HitStoreError):
    """Some documents of a bulk write were not written: ``refused`` ones never will be as
    they are (dead-letter them), ``retryable`` ones can be sent again later (journal them).
    ``written`` holds what the same request did write."""

    action: str
    failures: list[DocumentFailure]
    written: list[WriteResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        first = self.failures[0] if self.failures else None
        detail = f"first: {first.error_type}: {first.reason}" if first else "no detail"
        return (
            f"{len(self.failures)} document(s) not written during {self.action} "
            f"({len(self.refused)} refused, {len(self.retryable)} to retry); {detail}"
        )

    @property
    def refused(self) -> list[DocumentFailure]:
        return [f for f in self.failures if not f.retryable]

    @property
    def retryable(self) -> list[DocumentFailure]:
        return [f for f in self.failures if f.retryable]
