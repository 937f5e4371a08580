"""A local append-only journal of hits that could not reach Elasticsearch.

Hits are appended as JSON lines while Elasticsearch is down and replayed, in order, before the
next write. Replaying is idempotent because hit ids are deterministic, so a crash between a
replay and the journal's truncation costs nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hits.documents import Hit, HitDocument


@dataclass(frozen=True)
class ReplayOutcome:
    replayed: int
    remaining: int


class HitJournal:
    def __init__(self, directory: Path, index_name: str) -> None:
        self.path = directory / f"{index_name}.jsonl"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, hits: Sequence[Hit]) -> None:
        if not hits:
            return
        with self._locked(), open(self.path, "a", encoding="utf-8") as out:
            for hit in hits:
                out.write(json.dumps(HitDocument.from_domain(hit), ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def pending(self) -> list[Hit]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as lines:
            return [HitDocument.to_domain(json.loads(line)) for line in lines if line.strip()]

    def replay(self, write: Callable[[list[Hit]], object]) -> ReplayOutcome:
        """Write every journaled hit with ``write``; the journal is emptied only if it succeeds."""
        with self._locked():
            hits = self.pending()
            if not hits:
                return ReplayOutcome(0, 0)
            write(hits)
            self.path.unlink()
            return ReplayOutcome(len(hits), 0)

    def remove_client(self, client_id: str) -> int:
        """Drop a client's pending hits (right to erasure); returns how many were dropped."""
        with self._locked():
            hits = self.pending()
            kept = [h for h in hits if h.client_id != client_id]
            if len(kept) == len(hits):
                return 0
            self.path.unlink()
            with open(self.path, "a", encoding="utf-8") as out:
                for hit in kept:
                    out.write(json.dumps(HitDocument.from_domain(hit), ensure_ascii=False) + "\n")
            return len(hits) - len(kept)
