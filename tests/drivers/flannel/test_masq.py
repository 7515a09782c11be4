from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from overlaynet.dataplane.ir import NsRef
from overlaynet.dataplane.netfilter import render_save
from overlaynet.drivers.flannel import FlannelDriver

from ..helpers import assemble, cluster

NAT = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:FLANNEL-POSTRTG - [0:0]
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
COMMIT
"""
FILTER = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:FLANNEL-FWD - [0:0]
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
COMMIT
"""


def rules(**options: object) -> str:
    c = cluster(nodes=(("node-1", "192.168.10.11", "10.244.1.0/24"),), options=options)
    _, dp = assemble(FlannelDriver(c, c.network.options))
    return render_save(dp.namespaces[NsRef("node-1")].netfilter)


def test_rules_as_flanneld_writes_them() -> None:
    assert rules() == FILTER + NAT


def test_ip_masq_off_keeps_only_forward_rules() -> None:
    assert rules(ipMasq=False) == FILTER


@contextmanager
def throwaway_netns() -> Iterator[str]:
    name = f"onet-h4-masq-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.mark.root
@pytest.mark.iptables
def test_kernel_loads_and_lists_them_identically() -> None:
    text = rules()
    with throwaway_netns() as ns:
        subprocess.run(["ip", "netns", "exec", ns, "iptables-restore"], input=text, text=True,
                       check=True, capture_output=True)
        saved = subprocess.run(["ip", "netns", "exec", ns, "iptables-save"], text=True,
                               check=True, capture_output=True).stdout
    kernel = "".join(line + "\n" for line in saved.splitlines() if not line.startswith("#"))
    assert kernel == text
