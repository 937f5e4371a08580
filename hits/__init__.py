"""Hits in Elasticsearch. The only package that imports the Elasticsearch client."""

from hits.documents import Hit, MatchedTerm, MatchKind, ReviewStatus
from hits.errors import HitStoreError, HitStoreUnavailable

__all__ = [
    "Hit",
    "HitStoreError",
    "HitStoreUnavailable",
    "MatchKind",
    "MatchedTerm",
    "ReviewStatus",
]
