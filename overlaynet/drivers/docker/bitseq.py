"""libnetwork's bit-sequence allocator (``bitseq/sequence.go``): a long bitmask kept as a
run-length list of 32-bit blocks, serialised exactly as libnetwork stores it.

Bit ``n`` is the ``n``-th bit from the most significant end of the sequence (ordinal 0 is
the top bit of the first block, ``blockFirstBit``). ``first_available`` is
``getAvailableFromCurrent``: the first unset bit at or after a cursor, wrapping to ``start``;
the cursor ("serial" allocation) is process-local state in libnetwork, never stored. The
stored form is the JSON of ``Handle.MarshalJSON``: ``{"id": ..., "sequence": base64(...)}``
where the bytes are ``bits`` and ``unselected`` (uint64 BE) then per run ``block`` (uint32
BE) and ``count`` (uint64 BE). The IPAM (``ipam.py``) and the VNI manager use it.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass

from overlaynet.errors import AddressExhausted

__all__ = ["BLOCK_LEN", "BitSequence", "BitAllocated"]

BLOCK_LEN = 32
BLOCK_MAX = (1 << BLOCK_LEN) - 1


class BitAllocated(ValueError):
    """The bit asked for is set already (libnetwork's ``ErrBitAllocated``)."""


@dataclass
class BitSequence:
    """A bitmask of ``bits`` bits as ``[block, count]`` runs (``head`` in libnetwork).

    >>> seq = BitSequence.empty(256)
    >>> seq.set(0); seq.set(255)
    >>> seq.set_any(0, 255)
    1
    >>> seq.runs
    [[3221225472, 1], [0, 6], [1, 1]]
    >>> BitSequence.from_json(seq.to_json("x"))[1] == seq
    True
    """

    bits: int
    unselected: int
    runs: list[list[int]]

    @classmethod
    def empty(cls, bits: int) -> BitSequence:
        blocks = (bits + BLOCK_LEN - 1) // BLOCK_LEN
        return cls(bits, bits, [[0, blocks]])

    # --- reading --------------------------------------------------------------------------
    def is_set(self, ordinal: int) -> bool:
        block = self._block_of(ordinal)
        return bool(block & (1 << (BLOCK_LEN - 1 - ordinal % BLOCK_LEN)))

    def _block_of(self, ordinal: int) -> int:
        index = ordinal // BLOCK_LEN
        for block, count in self.runs:
            if index < count:
                return block
            index -= count
        raise ValueError(f"bit {ordinal} does not belong to the sequence of {self.bits} bits")

    def _first_from(self, start: int) -> int | None:
        """The first unset bit with ordinal >= ``start`` (``getFirstAvailable``)."""
        base = 0
        for block, count in self.runs:
            span = count * BLOCK_LEN
            if base + span <= start or block == BLOCK_MAX:
                base += span
                continue
            first = max(0, (start - base) // BLOCK_LEN)
            for k in (first, first + 1):  # every instance of a run holds the same block
                if k >= count:
                    break
                offset = start - (base + k * BLOCK_LEN) if k == first and start > base else 0
                for bit in range(max(0, offset), BLOCK_LEN):
                    if not block & (1 << (BLOCK_LEN - 1 - bit)):
                        return base + k * BLOCK_LEN + bit
            base += span
        return None

    def first_available(self, start: int, end: int, cursor: int = 0) -> int | None:
        """``getAvailableFromCurrent``: from ``cursor`` when it is past ``start``, then again
        from ``start``; None when no unset bit lies in ``[start, end]``."""
        if cursor and cursor > start:
            found = self._first_from(cursor)
            if found is not None and found <= end:
                return found
        found = self._first_from(start)
        return found if found is not None and found <= end else None

    # --- writing --------------------------------------------------------------------------
    def set(self, ordinal: int) -> None:
        """Set one bit; ``BitAllocated`` when it is set already."""
        if not 0 <= ordinal < self.bits:
            raise ValueError(f"bit {ordinal} does not belong to the sequence of {self.bits} bits")
        if self.is_set(ordinal):
            raise BitAllocated(f"bit {ordinal} is already allocated")
        self._push(ordinal, release=False)
        self.unselected -= 1

    def unset(self, ordinal: int) -> None:
        if not 0 <= ordinal < self.bits:
            raise ValueError(f"bit {ordinal} does not belong to the sequence of {self.bits} bits")
        if self.is_set(ordinal):
            self._push(ordinal, release=True)
            self.unselected += 1

    def set_any(self, start: int, end: int, cursor: int = 0) -> int:
        """Set the first available bit in ``[start, end]`` (from ``cursor`` first) and return
        it; ``AddressExhausted`` ("no bit available") when there is none."""
        if self.unselected == 0:
            raise AddressExhausted("no bit available")
        found = self.first_available(start, end, cursor)
        if found is None:
            raise AddressExhausted("no bit available")
        self.set(found)
        return found

    def _push(self, ordinal: int, *, release: bool) -> None:
        """``pushReservation``: split the run holding the bit's block, flip the bit in a run
        of one block, and merge equal neighbouring runs."""
        index = ordinal // BLOCK_LEN
        mask = 1 << (BLOCK_LEN - 1 - ordinal % BLOCK_LEN)
        out: list[list[int]] = []
        for block, count in self.runs:
            if 0 <= index < count:
                new = block & ~mask if release else block | mask
                pieces = [[block, index], [new, 1], [block, count - index - 1]]
                out.extend(p for p in pieces if p[1] > 0)
            else:
                out.append([block, count])
            index -= count
        merged: list[list[int]] = []
        for run in out:
            if merged and merged[-1][0] == run[0]:
                merged[-1][1] += run[1]
            else:
                merged.append(list(run))
        self.runs = merged

    # --- the stored form ------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        out = struct.pack(">QQ", self.bits, self.unselected)
        return out + b"".join(struct.pack(">IQ", block, count) for block, count in self.runs)

    @classmethod
    def from_bytes(cls, data: bytes) -> BitSequence:
        if len(data) < 16 or (len(data) - 16) % 12:
            raise ValueError(f"cannot deserialize byte sequence of length {len(data)}")
        bits, unselected = struct.unpack_from(">QQ", data)
        runs = [list(struct.unpack_from(">IQ", data, i)) for i in range(16, len(data), 12)]
        return cls(bits, unselected, runs)

    def to_json(self, handle_id: str) -> str:
        """The value libnetwork writes: Go's ``json.Marshal`` of ``{"id", "sequence"}``
        (keys sorted, ``[]byte`` as standard base64)."""
        return json.dumps({"id": handle_id, "sequence": base64.b64encode(self.to_bytes()).decode()},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> tuple[str, BitSequence]:
        obj = json.loads(text)
        return obj["id"], cls.from_bytes(base64.b64decode(obj["sequence"]))
