"""``local_etcd``: a throwaway etcd that is gone, data directory included, afterwards."""

from __future__ import annotations

import glob
import tempfile
import urllib.request
from pathlib import Path

import pytest

from overlaynet.errors import KVError
from overlaynet.kv import EtcdKV
from overlaynet.testing.etcd import local_etcd


def _data_dirs() -> set[str]:
    return set(glob.glob(str(Path(tempfile.gettempdir()) / "onet-etcd-*")))


def test_missing_binary_is_a_kverror() -> None:
    before = _data_dirs()
    with pytest.raises(KVError, match="cannot start etcd") as info, local_etcd(binary="/nonexistent/etcd"):
        pass
    assert isinstance(info.value.__cause__, OSError)
    assert _data_dirs() <= before


@pytest.mark.etcd
def test_local_etcd_serves_then_cleans_up() -> None:
    before = _data_dirs()
    mine: set[str] = set()
    with pytest.raises(RuntimeError, match="body failed"), local_etcd() as url:
        mine = _data_dirs() - before  # (other suites may run their own etcd meanwhile)
        assert mine
        kv = EtcdKV([url])
        kv.put("/x", "1")
        assert kv.get("/x") is not None
        kv.close()
        raise RuntimeError("body failed")
    assert not any(Path(d).exists() for d in mine)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/health", timeout=1)
