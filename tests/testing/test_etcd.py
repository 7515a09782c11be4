"""``local_etcd``: a throwaway etcd that is gone, data directory included, afterwards."""

from __future__ import annotations

import tempfile
import urllib.request
from pathlib import Path

import pytest

from overlaynet.errors import KVError
from overlaynet.kv import EtcdKV
from overlaynet.testing.etcd import local_etcd


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make local_etcd create its data directory where only this test looks."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_missing_binary_is_a_kverror(private_tmp: Path) -> None:
    with pytest.raises(KVError, match="cannot start etcd") as info, local_etcd(binary="/nonexistent/etcd"):
        pass
    assert isinstance(info.value.__cause__, OSError)
    assert list(private_tmp.iterdir()) == []


@pytest.mark.etcd
def test_local_etcd_serves_then_cleans_up(private_tmp: Path) -> None:
    with pytest.raises(RuntimeError, match="body failed"), local_etcd() as url:
        assert [p.name[:10] for p in private_tmp.iterdir()] == ["onet-etcd-"]
        kv = EtcdKV([url])
        kv.put("/x", "1")
        assert kv.get("/x") is not None
        kv.close()
        raise RuntimeError("body failed")
    assert list(private_tmp.iterdir()) == []
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/health", timeout=1)
