"""Writing what a machine's journals hold, on demand: before a crawl node is retired, or to see
that nothing waits on it. Crawls replay their own journals as they start; a node taken out of
service runs no further crawl, so what it journaled would otherwise stay on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hits.connection import ElasticsearchAccess
from hits.corpus import CorpusJournal, CorpusStore
from hits.errors import HitStoreError
from hits.images import ImageJournal, ImageStore
from hits.journal import HitJournal, Journal, ReplayOutcome
from hits.store import HitStore
from hits.videos import VideoJournal, VideoStore

KINDS = ("hits", "corpus", "images", "videos")
_NOTHING = ReplayOutcome(0, 0)


@dataclass(frozen=True)
class Drained:
    """One journal after its replay. ``error``: Elasticsearch could not take it, nothing moved."""

    kind: str
    path: Path
    outcome: ReplayOutcome  # remaining: what still waits in the journal
    error: str = ""
    # Refused by Elasticsearch, now or by earlier crawls: on this machine only, for staff.
    dead_letters: int = 0
    dead_letters_dir: Path | None = None


@contextmanager
def _opened(
    kind: str, es: ElasticsearchAccess | str, prefix: str, directory: Path, timeout_s: float
) -> Iterator[tuple[Any, Journal[Any], Callable[[Sequence[Any]], object]]]:
    store: Any
    journal: Journal[Any]
    if kind == "hits":
        store = HitStore(es, prefix, timeout_s)
        journal, write = HitJournal(directory, store.index), store.upsert
    elif kind == "corpus":
        store = CorpusStore(es, prefix, timeout_s)
        journal, write = CorpusJournal(directory, store.index), store.index_posts
    elif kind == "images":
        store = ImageStore.connect(es, prefix, timeout_s)
        journal, write = ImageJournal(directory, store.index), store.add
    else:
        store = VideoStore.connect(es, prefix, timeout_s)
        journal, write = VideoJournal(directory, store.index), store.add
    try:
        yield store, journal, write
    finally:
        store.close()


def drain_journals(
    es: ElasticsearchAccess | str, prefix: str, directory: Path, timeout_s: float = 30
) -> list[Drained]:
    """Replays this configuration's journals (hits, corpus posts, image and video fingerprints)
    as a crawl does at its start: written records leave the journal, refused ones go to its dead
    letters, and while Elasticsearch cannot be reached nothing moves."""
    drained: list[Drained] = []
    for kind in KINDS:
        with _opened(kind, es, prefix, Path(directory), timeout_s) as (store, journal, write):
            outcome, error = _NOTHING, ""
            if journal.path.exists() and journal.path.stat().st_size:
                try:
                    store.ensure_index()
                    outcome = journal.replay(write)
                except HitStoreError as exc:
                    outcome, error = ReplayOutcome(0, len(journal.pending())), str(exc)
            letters = journal.dead_letters
            drained.append(
                Drained(
                    kind, journal.path, outcome, error, len(letters.entries()), letters.directory
                )
            )
    return drained
