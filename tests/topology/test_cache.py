"""The on-disk cache of loaded topologies: a hit returns what the load returned; a changed
file, changed code or a corrupt entry is a miss (rewritten), never an error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from overlaynet.errors import TopologyError
from overlaynet.topology import cache, load
from overlaynet.topology.cache import load_cached

DEMO = Path(__file__).parents[2] / "topologies" / "demo.yaml"


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("OVERLAYNET_CACHE_DIR", str(d))
    monkeypatch.delenv("OVERLAYNET_NO_CACHE", raising=False)
    return d


@pytest.fixture()
def topo(tmp_path: Path) -> Path:
    f = tmp_path / "t.yaml"
    f.write_text(DEMO.read_text())
    return f


def _entries(d: Path) -> list[Path]:
    return sorted(d.glob("load-*.pickle"))


def _forbid_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the topology was loaded again instead of read from the cache")
    monkeypatch.setattr(cache, "_load", boom)


def test_second_load_comes_from_the_cache_and_equals_the_first(cache_dir: Path, topo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_cached([topo])
    assert len(_entries(cache_dir)) == 1
    _forbid_load(monkeypatch)
    second = load_cached([topo])
    assert second.cluster == first.cluster == load([topo]).cluster
    assert second.warnings == first.warnings
    assert [p.ips for p in second.cluster.pods] == [p.ips for p in first.cluster.pods]
    web = second.cluster.service("default", "web")
    assert second.cluster.slices_for(web) == first.cluster.slices_for(web) != ()


def test_a_changed_file_is_a_miss(cache_dir: Path, topo: Path) -> None:
    before = load_cached([topo]).cluster
    topo.write_text(topo.read_text().replace("replicas: 3", "replicas: 4"))
    after = load_cached([topo]).cluster
    assert len(after.pods) == len(before.pods) + 1
    assert len(_entries(cache_dir)) == 2


def test_changed_code_is_a_miss(cache_dir: Path, topo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_cached([topo])
    key = _entries(cache_dir)[0].name
    monkeypatch.setattr(cache, "code_digest", lambda: "another version of the code")
    load_cached([topo])
    names = [p.name for p in _entries(cache_dir)]
    assert len(names) == 2 and key in names


def test_the_code_digest_covers_the_package_sources() -> None:
    assert cache.code_digest() == cache.code_digest()
    assert len(cache.code_digest()) == 64


@pytest.mark.parametrize("garbage", [b"", b"not a pickle at all", b"overlaynet-load-cache\n\x80\x05truncated", None])
def test_a_corrupt_entry_is_ignored_and_replaced(cache_dir: Path, topo: Path, garbage: bytes | None) -> None:
    good = load_cached([topo]).cluster
    entry = _entries(cache_dir)[0]
    if garbage is None:  # a valid pickle of something else
        import pickle

        garbage = b"overlaynet-load-cache\n" + pickle.dumps({"not": "a LoadResult"})
    entry.write_bytes(garbage)
    assert load_cached([topo]).cluster == good
    assert entry.read_bytes().startswith(b"overlaynet-load-cache\n") and len(entry.read_bytes()) > 1000


def test_an_entry_others_could_write_is_not_trusted(cache_dir: Path, topo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_cached([topo])
    entry = _entries(cache_dir)[0]
    entry.chmod(0o666)
    _forbid_load(monkeypatch)
    with pytest.raises(AssertionError, match="loaded again"):
        load_cached([topo])


def test_errors_are_not_cached_and_no_cache_turns_it_off(cache_dir: Path, tmp_path: Path, topo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: 3}\n")
    for _ in range(2):
        with pytest.raises(TopologyError) as exc:
            load_cached([bad])
        assert exc.value.diagnostics[0].file == str(bad) and exc.value.diagnostics[0].line == 4
    assert _entries(cache_dir) == []
    monkeypatch.setenv("OVERLAYNET_NO_CACHE", "1")
    load_cached([topo])
    assert _entries(cache_dir) == []


def test_an_unwritable_cache_directory_only_costs_time(tmp_path: Path, topo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv("OVERLAYNET_CACHE_DIR", str(blocker / "cache"))
    assert load_cached([topo]).cluster.name == "demo"


def test_xdg_cache_home_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OVERLAYNET_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "overlaynet"


def test_cli_trace_twice_writes_then_reads_the_cache(cache_dir: Path, topo: Path) -> None:
    cmd = [str(Path(sys.executable).with_name("overlaynet")), "trace", str(topo), "--from", "default/frontend-dtz8lffdhv-blt7m", "--to", "web", "--json"]
    env = {**os.environ, "OVERLAYNET_CACHE_DIR": str(cache_dir)}
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert first.returncode == 0, first.stderr
    entry = _entries(cache_dir)
    assert len(entry) == 1
    stamp = entry[0].stat().st_mtime_ns
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert second.returncode == 0 and second.stdout == first.stdout
    assert '"DELIVERED"' in second.stdout
    assert _entries(cache_dir)[0].stat().st_mtime_ns == stamp  # read, not rewritten


def test_keep_freezes_a_hit_out_of_the_collector_and_leaves_it_on(cache_dir: Path, topo: Path) -> None:
    import gc

    load_cached([topo])
    gc.unfreeze()
    try:
        hit = load_cached([topo], keep=True)
        assert gc.isenabled() and gc.get_freeze_count() > 0
        assert hit.cluster.pods[0] not in gc.get_objects()  # frozen: no collection scans it
        gc.unfreeze()
        again = load_cached([topo])  # without keep: nothing frozen
        assert gc.get_freeze_count() == 0 and again.cluster == hit.cluster
    finally:
        gc.unfreeze()


def test_the_driver_check_is_part_of_the_key(cache_dir: Path, topo: Path) -> None:
    """An entry loaded without the network driver's check never answers a load that must
    check: a bad driver option is an error there, whatever was cached before."""
    from overlaynet.drivers import check_network

    topo.write_text(topo.read_text().replace("options: {backend: vxlan}", "options: {backend: carrier-pigeon}"))
    unchecked = load_cached([topo])  # the loader alone does not judge driver options
    assert unchecked.cluster.network.options["backend"] == "carrier-pigeon"
    with pytest.raises(TopologyError, match="carrier-pigeon"):
        load_cached([topo], network_check=check_network)
    assert len(_entries(cache_dir)) == 1  # the error was not cached either
