"""A local journal of hits that could not reach Elasticsearch, and the dead letters it refused.

Hits are appended as JSON lines while Elasticsearch is down and replayed, in order, before the
next write. Replaying is idempotent because hit ids are deterministic, so a crash between a
replay and the journal's rewrite costs nothing. :class:`Journal` is the same machinery for any
record with a deterministic document id (crawled image fingerprints: :mod:`hits.images`); each
kind says how its records become documents and back.

A document Elasticsearch refuses (a mapping conflict, an immense field) would be refused at
every replay and block every later crawl: it goes to a dead-letter file instead (one per
reason, with the document) for staff to look at, and the rest is replayed.

Every rewrite goes to a temporary file in the same directory, is fsynced, then renamed over
the old file: a crash at any moment leaves either the old file or the new one, never less.
Hits of clients erased meanwhile (:mod:`hits.tombstones`) are dropped, never written.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from hits.documents import Hit, HitDocument
from hits.errors import BulkWriteFailed, DocumentFailure
from hits.tombstones import ErasedClients

logger = logging.getLogger(__name__)

DEAD_LETTER_DIR = "dead-letter"
# Journals in the same directory that hold no hit (``<index>.jsonl`` of those indexes): records
# about no client, nothing to erase; read as hits they would only be unreadable lines.
NOT_HIT_JOURNALS = ("-corpus", "-images", "-videos")
# A journal line that cannot be read back (a disk error, a hand edit): kept, not replayed.
UNREADABLE = "unreadable_journal_line"


@dataclass(frozen=True)
class ReplayOutcome:
    replayed: int
    remaining: int
    dead_lettered: int = 0
    dropped_erased: int = 0


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            # Writers hold the lock: a temporary file left now is from a writer that died.
            for stale in path.parent.glob(f".{path.name}.*.tmp"):
                stale.unlink(missing_ok=True)
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rewrite_atomically(path: Path, lines: Iterable[str]) -> None:
    """Replace ``path`` with ``lines`` (or remove it when there are none), crash-safely."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        written = 0
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for line in lines:
                out.write(line + "\n")
                written += 1
            out.flush()
            os.fsync(out.fileno())
        if written:
            os.replace(tmp, path)
        else:
            tmp.unlink()
            path.unlink(missing_ok=True)
        _fsync_directory(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _append_lines(path: Path, lines: Sequence[str]) -> None:
    with open(path, "a", encoding="utf-8") as out:
        for line in lines:
            out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())


def _dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False)


@dataclass(frozen=True)
class DeadLetter:
    """A document Elasticsearch refused, with why; ``document`` is the hit as it was sent
    (or, for an unreadable journal line, ``{"raw": line}``)."""

    at: datetime
    index: str
    doc_id: str
    client_id: str
    status: int
    error_type: str
    reason: str
    document: dict[str, Any]

    def to_json(self) -> str:
        return _dumps(
            {
                "at": self.at.isoformat(),
                "index": self.index,
                "doc_id": self.doc_id,
                "client_id": self.client_id,
                "status": self.status,
                "error_type": self.error_type,
                "reason": self.reason,
                "document": self.document,
            }
        )

    @classmethod
    def from_json(cls, line: str) -> DeadLetter:
        data = json.loads(line)
        return cls(
            at=datetime.fromisoformat(data["at"]),
            index=data["index"],
            doc_id=data["doc_id"],
            client_id=data.get("client_id", ""),
            status=int(data["status"]),
            error_type=data["error_type"],
            reason=data["reason"],
            document=data["document"],
        )


_SAFE = re.compile(r"[^a-z0-9_]+")


class DeadLetters:
    """``<journal dir>/dead-letter/<index>.<reason>.jsonl``: refused documents, per reason."""

    def __init__(self, journal_dir: Path, index_name: str) -> None:
        self.directory = Path(journal_dir) / DEAD_LETTER_DIR
        self.index = index_name

    def path_for(self, error_type: str) -> Path:
        reason = _SAFE.sub("_", error_type.lower()).strip("_") or "unknown_error"
        return self.directory / f"{self.index}.{reason}.jsonl"

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"{self.index}.*.jsonl"))

    def add(self, letters: Sequence[DeadLetter]) -> None:
        by_file: dict[Path, list[str]] = {}
        for letter in letters:
            by_file.setdefault(self.path_for(letter.error_type), []).append(letter.to_json())
        for path, lines in by_file.items():
            with _locked(path):
                _append_lines(path, lines)

    def entries(self) -> list[DeadLetter]:
        found = []
        for path in self.files():
            with open(path, encoding="utf-8") as lines:
                found += [DeadLetter.from_json(line) for line in lines if line.strip()]
        return found

    def summary(self) -> dict[str, int]:
        """How many refused documents per reason."""
        return dict(Counter(letter.error_type for letter in self.entries()))

    def remove_client(self, client_id: str) -> int:
        removed = 0
        for path in self.files():
            with _locked(path):
                letters = [
                    line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
                ]
                kept = [
                    line for line in letters if not _about(DeadLetter.from_json(line), client_id)
                ]
                if len(kept) != len(letters):
                    rewrite_atomically(path, kept)
                    removed += len(letters) - len(kept)
        return removed


def _about(letter: DeadLetter, client_id: str) -> bool:
    if letter.error_type == UNREADABLE:
        return f'"{client_id}"' in str(letter.document.get("raw", ""))
    return letter.client_id == client_id


def dead_letter_of(hit: Hit, failure: DocumentFailure, index: str) -> DeadLetter:
    return DeadLetter(
        at=datetime.now(UTC),
        index=index,
        doc_id=hit.hit_id,
        client_id=hit.client_id,
        status=failure.status,
        error_type=failure.error_type,
        reason=failure.reason,
        document=HitDocument.from_domain(hit),
    )


R = TypeVar("R")


class Journal(Generic[R]):
    """Records of one index that could not reach Elasticsearch, in ``<dir>/<index>.jsonl``.
    Subclasses say how a record becomes a document (``encode``), is read back (``decode``),
    which document it is (``doc_id``) and whose (``client_of``: "" for no client's)."""

    def __init__(self, directory: Path, index_name: str) -> None:
        self.directory = Path(directory)
        self.index = index_name
        self.path = self.directory / f"{index_name}.jsonl"
        self.dead_letters = DeadLetters(self.directory, index_name)
        self.erased = ErasedClients(self.directory)

    def encode(self, record: R) -> dict[str, Any]:
        raise NotImplementedError

    def decode(self, document: dict[str, Any]) -> R:
        raise NotImplementedError

    def doc_id(self, record: R) -> str:
        raise NotImplementedError

    def client_of(self, record: R) -> str:
        return ""

    def dead_letter(self, record: R, failure: DocumentFailure) -> DeadLetter:
        return DeadLetter(
            at=datetime.now(UTC),
            index=self.index,
            doc_id=self.doc_id(record),
            client_id=self.client_of(record),
            status=failure.status,
            error_type=failure.error_type,
            reason=failure.reason,
            document=self.encode(record),
        )

    def _erased(self, record: R) -> bool:
        client = self.client_of(record)
        return bool(client) and client in self.erased

    def append(self, records: Sequence[R]) -> None:
        if not records:
            return
        with _locked(self.path):
            _append_lines(self.path, [_dumps(self.encode(r)) for r in records])

    def _read(self) -> tuple[list[R], list[str]]:
        """The journaled records, and lines that could not be read back."""
        if not self.path.exists():
            return [], []
        text = self.path.read_text(encoding="utf-8", errors="replace")
        lines = text.split("\n")
        records: list[R] = []
        unreadable: list[str] = []
        for number, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                records.append(self.decode(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                if number == len(lines) - 1:
                    # A torn last line: the append that wrote it never completed (the crawl
                    # died mid-write), so no one was told this record was kept.
                    logger.warning("ignoring an incomplete last line in %s", self.path)
                else:
                    unreadable.append(line)
        return records, unreadable

    def _unreadable(self, line: str) -> DeadLetter:
        return DeadLetter(
            datetime.now(UTC), self.index, "", "", 0, UNREADABLE, "not valid JSON", {"raw": line}
        )

    def pending(self) -> list[R]:
        return self._read()[0]

    def replay(self, write: Callable[[list[R]], object]) -> ReplayOutcome:
        """Write every journaled record with ``write``. Written ones leave the journal, refused
        ones go to the dead letters, those to retry stay; if Elasticsearch is unavailable
        (``write`` raises :class:`~hits.errors.HitStoreUnavailable`) nothing changes."""
        with _locked(self.path):
            records, unreadable = self._read()
            letters = [self._unreadable(line) for line in unreadable]
            live = [r for r in records if not self._erased(r)]
            dropped = len(records) - len(live)
            if not records and not unreadable:
                return ReplayOutcome(0, 0)
            keep: list[R] = []
            replayed = len(live)
            if live:
                try:
                    write(live)
                except BulkWriteFailed as exc:
                    by_id = {self.doc_id(r): r for r in live}
                    failed = {f.doc_id: f for f in exc.failures}
                    for doc_id, failure in failed.items():
                        record = by_id.get(doc_id)
                        if record is None:
                            continue
                        if failure.retryable:
                            keep.append(record)
                        else:
                            letters.append(self.dead_letter(record, failure))
                    replayed = len(live) - len(failed)
            # Dead letters first: if that fails the journal still holds them.
            self.dead_letters.add(letters)
            rewrite_atomically(self.path, [_dumps(self.encode(r)) for r in keep])
            if dropped:
                logger.info("dropped %d journaled record(s) of erased clients", dropped)
            return ReplayOutcome(replayed, len(keep), len(letters), dropped)

    def remove_client(self, client_id: str) -> int:
        """Drop a client's pending records (right to erasure); returns how many were dropped."""
        with _locked(self.path):
            records, unreadable = self._read()
            kept = [r for r in records if self.client_of(r) != client_id]
            if len(kept) == len(records):
                return 0
            rewrite_atomically(self.path, [*(_dumps(self.encode(r)) for r in kept), *unreadable])
            return len(records) - len(kept)


class HitJournal(Journal[Hit]):
    def encode(self, record: Hit) -> dict[str, Any]:
        return HitDocument.from_domain(record)

    def decode(self, document: dict[str, Any]) -> Hit:
        return HitDocument.to_domain(document)

    def doc_id(self, record: Hit) -> str:
        return record.hit_id

    def client_of(self, record: Hit) -> str:
        return record.client_id


def journals_in(directory: Path) -> list[HitJournal]:
    """Every hit journal of a journal directory (one per index)."""
    if not Path(directory).is_dir():
        return []
    return [
        HitJournal(Path(directory), p.stem)
        for p in sorted(Path(directory).glob("*.jsonl"))
        if not p.stem.endswith(NOT_HIT_JOURNALS)
    ]
