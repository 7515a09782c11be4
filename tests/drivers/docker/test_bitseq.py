"""libnetwork's bit sequence: allocation order, run-length form, the stored bytes."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.drivers.docker.bitseq import BitAllocated, BitSequence
from overlaynet.errors import AddressExhausted


def test_stored_form_matches_libnetwork_bytes() -> None:
    seq = BitSequence.empty(256)  # a /24 pool: 8 blocks
    seq.set(0)
    seq.set(255)
    raw = base64.b64decode(json.loads(seq.to_json("GlobalDefault/10.0.0.0/24"))["sequence"])
    # bits 256, unselected 254, then (0x80000000 x1) (0 x6) (0x00000001 x1), big endian
    assert raw.hex() == (
        "0000000000000100" "00000000000000fe"
        "80000000" "0000000000000001"
        "00000000" "0000000000000006"
        "00000001" "0000000000000001"
    )


def test_first_available_and_cursor_wraps() -> None:
    seq = BitSequence.empty(64)
    assert [seq.set_any(0, 63) for _ in range(3)] == [0, 1, 2]
    seq.unset(1)
    assert seq.set_any(0, 63) == 1  # first available, not next
    assert seq.set_any(0, 63, cursor=40) == 40  # serial: from the cursor
    for i in range(41, 64):
        seq.set(i)
    assert seq.set_any(0, 63, cursor=50) == 3  # wraps to the start
    with pytest.raises(BitAllocated):
        seq.set(3)


def test_range_exhaustion() -> None:
    seq = BitSequence.empty(32)
    for _ in range(4):
        seq.set_any(8, 11)
    with pytest.raises(AddressExhausted):
        seq.set_any(8, 11)
    assert seq.unselected == 28


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 299)), max_size=120))
def test_matches_a_plain_bitmap(ops: list[tuple[bool, int]]) -> None:
    seq, plain = BitSequence.empty(300), [False] * 300
    for take, bit in ops:
        if take:
            got = seq.set_any(0, 299) if not all(plain) else None
            if got is not None:
                assert got == plain.index(False)
                plain[got] = True
        else:
            seq.unset(bit)
            plain[bit] = False
    assert [seq.is_set(i) for i in range(300)] == plain
    assert seq.unselected == plain.count(False)
    assert BitSequence.from_bytes(seq.to_bytes()) == seq
    assert all(a[0] != b[0] for a, b in zip(seq.runs, seq.runs[1:], strict=False))  # runs merged
