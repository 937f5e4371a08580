"""Fingerprints of crawled media (images, videos) on their way to Elasticsearch, none lost.

They are sent in batches; while Elasticsearch is unreachable (or asks to retry) they go to the
local journal, written at the start of the next crawl; those it refuses go to the dead letters
for staff, with the reason. One writer per kind of fingerprint and crawl.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from scrapy.statscollectors import StatsCollector

from hits.errors import BulkWriteFailed, HitStoreError, HitStoreUnavailable
from hits.journal import DeadLetter, Journal

logger = logging.getLogger(__name__)


class Fingerprinted(Protocol):
    @property
    def doc_id(self) -> str: ...


R = TypeVar("R", bound=Fingerprinted)


class FingerprintStore(Protocol[R]):  # type: ignore[misc]
    def ensure_index(self) -> None: ...

    def add(self, records: Sequence[R], refresh: bool = True) -> int: ...

    def close(self) -> None: ...


class FingerprintWriter(Generic[R]):
    """``kind`` names the fingerprints in stats (``bodyguard/<kind>_fingerprints...``) and logs."""

    def __init__(
        self,
        stats: StatsCollector,
        store: FingerprintStore[R] | None,
        journal: Journal[R] | None,
        kind: str,
        flush_every: int,
    ) -> None:
        self.stats = stats
        self.store = store
        self.journal = journal
        self.kind = kind
        self.flush_every = flush_every
        self.store_up = True
        self.pending: list[R] = []

    def open(self) -> None:
        """Set up the index and write what earlier runs journaled, before this run's own."""
        if self.store is None or self.journal is None:
            return
        try:
            self.store.ensure_index()
            outcome = self.journal.replay(self._write)
        except HitStoreUnavailable as exc:
            self._store_down(exc)
            return
        except HitStoreError as exc:
            # Not an outage (an index someone else made, a mapping it cannot take): the journal
            # stays as it is; this run's fingerprints are still sent, each refusal recorded.
            self.stats.inc_value(f"bodyguard/{self.kind}_store_refusals")
            logger.error(
                "the %s journal %s could not be replayed: %s", self.kind, self.journal.path, exc
            )
            return
        if outcome.replayed:
            logger.info(
                "replayed %d %s fingerprint(s) from the journal %s",
                outcome.replayed,
                self.kind,
                self.journal.path,
            )
            self.stats.set_value(f"bodyguard/{self.kind}_fingerprints_replayed", outcome.replayed)
        if outcome.remaining:
            self.stats.inc_value(f"bodyguard/{self.kind}_fingerprints_journaled", outcome.remaining)
        if outcome.dead_lettered:
            self._dead_lettered(outcome.dead_lettered, "replaying the journal")

    def add(self, record: R) -> None:
        self.pending.append(record)
        if len(self.pending) >= self.flush_every:
            self.flush()

    def close(self) -> None:
        # The last batch waits for a refresh: a photo or video registered right after the crawl
        # sees it.
        self.flush(refresh=True)
        if self.store is not None:
            self.store.close()

    def flush(self, refresh: bool = False) -> None:
        batch, self.pending = self.pending, []
        if not batch or self.store is None or self.journal is None:
            return
        if self.store_up:
            try:
                self._write(batch, refresh=refresh)
                return
            except BulkWriteFailed as exc:
                self.stats.inc_value(f"bodyguard/{self.kind}_fingerprints", len(exc.written))
                self._partly_written(batch, exc)
                return
            except HitStoreUnavailable as exc:
                self._store_down(exc)
            except HitStoreError as exc:
                # The whole request refused: keep the fingerprints, loudly.
                self.stats.inc_value(f"bodyguard/{self.kind}_store_refusals")
                logger.error(
                    "Elasticsearch refused %s fingerprints, kept in %s: %s",
                    self.kind,
                    self.journal.path,
                    exc,
                )
        self._journal(batch)

    def _write(self, records: list[R], refresh: bool = True) -> None:
        assert self.store is not None
        written = self.store.add(records, refresh=refresh)
        self.stats.inc_value(f"bodyguard/{self.kind}_fingerprints", written)

    def _journal(self, records: Sequence[R]) -> None:
        assert self.journal is not None
        self.journal.append(records)
        self.stats.inc_value(f"bodyguard/{self.kind}_fingerprints_journaled", len(records))

    def _partly_written(self, batch: list[R], exc: BulkWriteFailed) -> None:
        assert self.journal is not None
        by_id = {record.doc_id: record for record in batch}
        retry = [by_id[f.doc_id] for f in exc.retryable if f.doc_id in by_id]
        refused = [
            self.journal.dead_letter(by_id[f.doc_id], f) for f in exc.refused if f.doc_id in by_id
        ]
        if retry:
            self._journal(retry)
        if refused:
            self.journal.dead_letters.add(refused)
            self._dead_lettered(len(refused), "indexing", refused)

    def _dead_lettered(self, count: int, during: str, letters: Sequence[DeadLetter] = ()) -> None:
        assert self.journal is not None
        self.stats.inc_value(f"bodyguard/{self.kind}_fingerprints_dead_lettered", count)
        reasons = sorted({f"{x.error_type}: {x.reason}" for x in letters})
        logger.error(
            "Elasticsearch refused %d %s fingerprint(s) while %s; kept for staff in %s (%s)",
            count,
            self.kind,
            during,
            self.journal.dead_letters.directory,
            "; ".join(reasons) or "see the files",
        )

    def _store_down(self, exc: HitStoreError) -> None:
        self.store_up = False
        logger.error(
            "Elasticsearch unavailable, %s fingerprints go to the journal %s and will be "
            "indexed on the next run: %s",
            self.kind,
            self.journal.path if self.journal is not None else "",
            exc,
        )
