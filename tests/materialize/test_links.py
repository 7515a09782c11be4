"""Interface creation details: taking over the ipip module's fallback ``tunl0`` (as Calico
does), and reading a device's link type back from the kernel."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

import pytest

from overlaynet.dataplane.ir import Dataplane, Interface, IpipInfo, NsRef
from overlaynet.errors import MaterializeError
from overlaynet.materialize import materialize
from overlaynet.materialize._state import ApplyState
from overlaynet.materialize.links import _create_ipip, _link_kind

from .irs import two_host_vxlan

NS = "onet-fake-node-1"
REF = NsRef("node-1")


class _Attrs:
    def __init__(self, **attrs: Any) -> None:
        self.attrs = attrs

    def get_attr(self, name: str) -> Any:
        return self.attrs.get(name)


class _ExistingLink:
    """A netlink socket whose namespace already holds ``tunl0`` of link type ``kind``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def link(self, cmd: str, **kwargs: Any) -> list[_Attrs]:
        from pyroute2.netlink.exceptions import NetlinkError

        if cmd == "add":
            raise NetlinkError(17, "File exists")
        return [_Attrs(IFLA_LINKINFO=_Attrs(IFLA_INFO_KIND=self.kind))]

    def link_lookup(self, ifname: str) -> list[int]:
        return [7] if ifname == "tunl0" else []


def _state(kind: str) -> ApplyState:
    state = ApplyState(dp=Dataplane(), run_id="fake", refs=[REF])
    state.ns_names[REF] = NS
    state.sockets[NS] = _ExistingLink(kind)
    return state


def test_the_fallback_tunl0_of_the_ipip_module_is_taken_over() -> None:
    state = _state("ipip")
    _create_ipip(state, REF, Interface("tunl0", "ipip", mtu=1480, ipip=IpipInfo()))
    assert state.skipped == [] and state.skipped_ifaces == set()


def test_an_existing_device_of_another_kind_or_a_fixed_tunnel_is_still_refused() -> None:
    with pytest.raises(MaterializeError, match=f"namespace {NS}: ipip tunl0: the kernel refused it: File exists"):
        _create_ipip(_state("gre"), REF, Interface("tunl0", "ipip", mtu=1480, ipip=IpipInfo()))
    fixed = IpipInfo(local=ip_address("192.168.10.11"), remote=ip_address("192.168.10.12"))
    with pytest.raises(MaterializeError, match="File exists"):
        _create_ipip(_state("ipip"), REF, Interface("tunl0", "ipip", mtu=1480, ipip=fixed))


@pytest.mark.root
def test_link_kind_reads_the_kernels_link_type(run_id: str) -> None:
    with materialize(two_host_vxlan(), run_id=run_id) as m:
        state = ApplyState(dp=m.dataplane, run_id=run_id, refs=m.refs)
        state.created = m.namespaces
        try:
            ref = next(r for r in m.refs if any(i.kind == "vxlan" for i in m.dataplane.namespaces[r].interfaces.values()))
            name = m.namespace_name(ref)
            kinds = {i.name: _link_kind(state, name, m.ifname(ref, i.name))
                     for i in m.dataplane.namespaces[ref].interfaces.values() if i.kind in ("vxlan", "veth", "bridge")}
        finally:
            state.close()
    assert "vxlan" in kinds.values() and all(k is not None for k in kinds.values()), kinds
    assert _link_kind(_state("ipip"), NS, "nosuchdev") is None
