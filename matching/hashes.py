"""Perceptual hashes as value objects: hex round-trip, ``a - b`` is the Hamming distance."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Hash256:
    """A 256-bit hash. Subclasses say which algorithm made it; only equal kinds compare."""

    KIND: ClassVar[str] = "hash256"
    value: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.value, bytes) or len(self.value) != 32:
            raise ValueError(f"a {self.KIND} hash is 32 bytes, got {self.value!r:.80}")

    @classmethod
    def from_hex(cls, text: str) -> Self:
        if not isinstance(text, str) or not _HEX64.match(text.strip().lower()):
            raise ValueError(f"a {cls.KIND} hash is 64 hexadecimal digits, got {text!r:.80}")
        return cls(bytes.fromhex(text.strip().lower()))

    @classmethod
    def from_bits(cls, bits: npt.ArrayLike) -> Self:
        flat = np.asarray(bits, dtype=bool).reshape(-1)
        if flat.size != 256:
            raise ValueError(f"a {cls.KIND} hash has 256 bits, got {flat.size}")
        return cls(np.packbits(flat).tobytes())

    def hex(self) -> str:
        return self.value.hex()

    def __str__(self) -> str:
        return self.hex()

    def __sub__(self, other: object) -> int:
        if type(other) is not type(self):
            raise TypeError(f"cannot compare a {self.KIND} hash with {other!r:.60}")
        assert isinstance(other, Hash256)
        return (
            int.from_bytes(self.value, "big")
            .__xor__(int.from_bytes(other.value, "big"))
            .bit_count()
        )

    def words(self) -> tuple[int, int, int, int]:
        """The hash as four 64-bit words (for vectorised distances)."""
        v = self.value
        return tuple(int.from_bytes(v[i : i + 8], "big") for i in range(0, 32, 8))  # type: ignore[return-value]

    def chunks16(self) -> tuple[int, ...]:
        """Sixteen 16-bit chunks, for multi-index hashing."""
        v = self.value
        return tuple(int.from_bytes(v[i : i + 2], "big") for i in range(0, 32, 2))


class PdqHash(Hash256):
    KIND = "pdq"


class PHash256(Hash256):
    KIND = "phash256"
