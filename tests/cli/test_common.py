"""The CLI's load path: the loaded cluster is taken out of the cyclic collector's scans."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from overlaynet.cli._common import load_cluster


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_loading_freezes_the_cluster_and_raises_the_young_threshold(collector: None, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OVERLAYNET_CACHE_DIR", str(tmp_path))
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    cluster = load_cluster(["topologies/demo.yaml"])
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (100_000, 20, 100)
    assert cluster.pods[0] not in gc.get_objects()  # frozen objects are outside every generation
