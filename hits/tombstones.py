"""Clients erased: a crawl that was already running, or a journal written before the erasure,
must not bring their hits back.

Only a SHA-256 of each erased client's id is kept (ids are often made from names), in
``<journal dir>/erased-clients.txt``, the directory every crawl process shares.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

FILE_NAME = "erased-clients.txt"


def _digest(client_id: str) -> str:
    return hashlib.sha256(f"bodyguard-erased-client\x1f{client_id}".encode()).hexdigest()


class ErasedClients:
    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / FILE_NAME
        self._cache: tuple[int, int, frozenset[str]] | None = None

    def _digests(self) -> frozenset[str]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return frozenset()
        # Re-read when the file changed: an erasure during a crawl must be seen at once.
        if self._cache is None or self._cache[:2] != (stat.st_mtime_ns, stat.st_size):
            lines = self.path.read_text(encoding="ascii").split()
            self._cache = (stat.st_mtime_ns, stat.st_size, frozenset(lines))
        return self._cache[2]

    def __contains__(self, client_id: object) -> bool:
        return isinstance(client_id, str) and _digest(client_id) in self._digests()

    def add(self, client_id: str) -> None:
        self._change(add=_digest(client_id))

    def lift(self, client_id: str) -> None:
        """A client registered again under an erased id is watched again."""
        self._change(remove=_digest(client_id))

    def _change(self, add: str = "", remove: str = "") -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(FILE_NAME + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = set(self._digests())
                if (add and add in current) or (remove and remove not in current):
                    return
                current = (current | {add}) - {remove, ""}
                tmp = self.path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
                with open(tmp, "w", encoding="ascii") as out:
                    out.write("".join(f"{d}\n" for d in sorted(current)))
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
                self._cache = None
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
