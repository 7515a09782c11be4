"""Names of namespaces and interfaces (no kernel needed)."""

from __future__ import annotations

import pytest

from overlaynet.dataplane.ir import NsRef
from overlaynet.errors import MaterializeError
from overlaynet.materialize.naming import (
    NameMap,
    check_run_id,
    kernel_ifname,
    namespace_label,
    new_run_id,
    remove_namespaces,
    run_ids,
    segment_label,
)


def test_run_ids() -> None:
    assert check_run_id(new_run_id()) and len(new_run_id()) == 6
    for bad in ("", "A1", "a-b", "x" * 13, "a/b"):
        with pytest.raises(MaterializeError, match="run id"):
            check_run_id(bad)
    assert run_ids(["onet-ab12-node-1", "onet-ab12-seg.lan", "onet-zz-x", "other", "onet-probe-12"]) == ["ab12", "probe", "zz"]


def test_labels() -> None:
    assert namespace_label(NsRef("node-1")) == "node-1"
    assert namespace_label(NsRef.pod("node-1", "default/frontend-0")) == "node-1.frontend-0"
    assert namespace_label(NsRef.network("h", "ovnet 1/x")) == "h.ovnet_1_x"
    assert segment_label("rack-a") == "seg.rack-a"
    assert len(namespace_label(NsRef("n" * 80))) == 40


def test_interface_names_fit_the_kernel() -> None:
    assert kernel_ifname("flannel.1") == "flannel.1"
    assert kernel_ifname("cali12345678901") == "cali12345678901"
    long = kernel_ifname("cali1234567890123")
    assert len(long) == 15 and long != kernel_ifname("cali1234567890124")
    assert kernel_ifname("a/b:c d") == "a_b_c_d"
    names = NameMap(15)
    assert [names.take("eth0"), names.take("eth0"), names.take("x" * 20)][:2] == ["eth0", "eth0-2"]


def test_only_onet_namespaces_are_ever_removed() -> None:
    with pytest.raises(MaterializeError, match="refusing"):
        remove_namespaces(["default"])
    with pytest.raises(MaterializeError, match="refusing"):
        remove_namespaces(["onet-x/../../etc"])
