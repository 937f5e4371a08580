"""The journal: refused documents set aside, crash-safe rewrites, erased clients dropped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hits.documents import Hit, MatchedTerm, MatchKind
from hits.journal import HitJournal
from hits.store import HitStore
from hits.tombstones import ErasedClients
from tests.conftest import ROOT
from tests.hits.test_store import IMMENSE

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _hit(client: str, n: int, **kw) -> Hit:
    text = "Jeanne Dupont"
    kw.setdefault("excerpt", text)
    return Hit(
        client_id=client, source_id="forum", url=f"https://forum.example.org/t/{n}",
        match_kind=MatchKind.NAME, matched_terms=(MatchedTerm(text, text, "exact", 0, len(text)),),
        first_seen=T0, last_seen=T0, **kw,
    )  # fmt: skip


@pytest.mark.elasticsearch
def test_a_refused_journal_entry_goes_to_the_dead_letters_and_the_rest_is_replayed(
    hit_store: HitStore, tmp_path: Path
):
    journal = HitJournal(tmp_path, hit_store.index)
    good, bad, later = _hit("c", 1), _hit("c", 2, author=IMMENSE), _hit("c", 3)
    journal.append([good, bad, later])

    outcome = journal.replay(hit_store.upsert)

    assert (outcome.replayed, outcome.remaining, outcome.dead_lettered) == (2, 0, 1)
    assert hit_store.get(good.hit_id) and hit_store.get(later.hit_id)
    assert journal.pending() == []
    [letter] = journal.dead_letters.entries()
    assert letter.doc_id == bad.hit_id and letter.status == 400
    assert letter.document["author"] == IMMENSE  # kept whole, to be fixed and sent again
    assert journal.dead_letters.summary() == {letter.error_type: 1}
    assert journal.dead_letters.files()[0].name.endswith(f".{letter.error_type}.jsonl")
    # The next replay has nothing left to trip on.
    journal.append([_hit("c", 4)])
    assert journal.replay(hit_store.upsert).replayed == 1


@pytest.mark.elasticsearch
def test_journaled_hits_of_an_erased_client_are_never_written(hit_store: HitStore, tmp_path):
    journal = HitJournal(tmp_path, hit_store.index)
    journal.append([_hit("erased", 1), _hit("kept", 2)])
    ErasedClients(tmp_path).add("erased")

    outcome = journal.replay(hit_store.upsert)

    assert outcome.dropped_erased == 1 and outcome.replayed == 1
    assert [h.client_id for h in hit_store.latest()] == ["kept"]
    assert b"erased" not in (tmp_path / "erased-clients.txt").read_bytes()  # a digest only


_REWRITE = """
import sys
from pathlib import Path
from hits.journal import HitJournal
HitJournal(Path(sys.argv[1]), "idx").remove_client("gone")
"""


def test_a_crash_in_the_middle_of_a_rewrite_loses_no_entry(tmp_path: Path):
    journal = HitJournal(tmp_path, "idx")
    kept = [_hit("kept", n, excerpt="x" * 3000) for n in range(6000)]
    journal.append([*kept, _hit("gone", 99999)])
    size = journal.path.stat().st_size
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", _REWRITE, str(tmp_path)], cwd=ROOT, env=env)
    # Kill it while it writes: the journal shrank, or a new file is being written next to it.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            current = journal.path.stat().st_size if journal.path.exists() else 0
            if current < size or any(
                p.suffix == ".tmp" and p.stat().st_size for p in tmp_path.iterdir()
            ):
                break
        except FileNotFoundError:  # renamed between the listing and the look at it
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the rewrite finished before it was killed"

    again = HitJournal(tmp_path, "idx")
    assert {h.hit_id for h in kept} <= {h.hit_id for h in again.pending()}
    again.remove_client("gone")  # the erasure run again finishes the job
    assert [h.hit_id for h in again.pending()] == [h.hit_id for h in kept]
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]
