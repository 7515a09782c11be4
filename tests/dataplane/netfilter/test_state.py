"""NetfilterState: the seeded generator of sampled statistic choices."""

from __future__ import annotations

import random

from overlaynet.dataplane.netfilter import NetfilterState


def test_a_state_draws_what_random_of_its_seed_draws() -> None:
    """The seeded generator is built on first use from a copy of the seeded state: the same
    draws as ``random.Random(seed)``, and no two states share one."""
    a, b = NetfilterState(seed=5), NetfilterState(seed=5)
    expected = random.Random(5)
    assert [a.rng.random() for _ in range(3)] == [expected.random() for _ in range(3)]
    assert b.rng.random() == random.Random(5).random() and a.rng is not b.rng
    assert NetfilterState(seed=6).rng.random() == random.Random(6).random()
