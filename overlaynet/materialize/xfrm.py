"""IPsec policies of the IR (``NetNamespace.xfrm``) → ``ip xfrm`` in the namespaces.

Per policy: the outbound SA and SP in the sender (the SP carries the mark 0xd0c4e3, set by
an iptables mangle rule matching the policy's VNI with u32, as libnetwork's
``encryption.go`` does), and the inbound SA in the namespace owning the destination. A
kernel without the AEAD (``rfc4106(gcm(aes))``) refuses the SA: then nothing of that
policy is installed and it is reported as skipped, so the tunnel stays in clear there.
"""

from __future__ import annotations

import hashlib

from overlaynet.dataplane.ir import NsRef, XfrmPolicy
from overlaynet.materialize._state import ApplyState, run_in_ns

__all__ = ["apply_xfrm"]

MARK = "0xd0c4e3"


def _key(policy: XfrmPolicy) -> str:
    # 16-byte AES key + 4-byte salt; fixed per SA so both ends agree (keys are the swarm's in Docker)
    return "0x" + hashlib.sha256(f"{policy.src}>{policy.dst}:{policy.spi}".encode()).hexdigest()[:40]


def _owner(state: ApplyState, ip: object) -> NsRef | None:
    for ref in state.refs:
        if any(a.ip == ip for _, a in state.ns(ref).addresses()):
            return ref
    return None


def _state_cmd(policy: XfrmPolicy) -> list[str]:
    return ["ip", "xfrm", "state", "add", "src", str(policy.src), "dst", str(policy.dst), "proto", "esp",
            "spi", f"{policy.spi:#x}", "reqid", "1", "mode", "transport",
            "aead", "rfc4106(gcm(aes))", _key(policy), str(policy.icv * 8)]


def apply_xfrm(state: ApplyState) -> None:
    for ref in state.refs:
        for policy in state.ns(ref).xfrm:
            _apply_one(state, ref, policy)


def _apply_one(state: ApplyState, ref: NsRef, policy: XfrmPolicy) -> None:
    name = state.ns_names[ref]
    obj = f"xfrm policy to {policy.dst}" + (f" VNI {policy.vni}" if policy.vni is not None else "")
    if policy.src is None:
        state.skip(ref, obj, "no source address in the IR to bind the SA to", policy.dst)
        return
    out = run_in_ns(name, _state_cmd(policy), timeout=10)
    if out.returncode != 0:
        state.skip(ref, obj, f"the kernel refused the SA ({out.stderr.strip()}): the tunnel stays in clear here", policy.dst)
        return
    peer = _owner(state, policy.dst)
    if peer is not None:
        back = run_in_ns(state.ns_names[peer], _state_cmd(policy), timeout=10)
        if back.returncode != 0:
            state.skip(peer, obj, f"the kernel refused the inbound SA: {back.stderr.strip()}")
    selector = ["src", f"{policy.src}/32", "dst", f"{policy.dst}/32", "proto", "udp"]
    if policy.dport is not None:
        selector += ["dport", str(policy.dport)]
    sp = ["ip", "xfrm", "policy", "add", *selector, "dir", "out"]
    if policy.vni is not None:
        sp += ["mark", MARK, "mask", "0xffffffff"]
        # libnetwork's programMangle: mark the VXLAN packets of this VNI (u32 on the VNI field)
        rule = ["iptables", "-t", "mangle", "-A", "OUTPUT", "-p", "udp", "--dport", str(policy.dport or 4789),
                "-m", "u32", "--u32", f"0>>22&0x3C@12&0xFFFFFF00={policy.vni << 8:#x}", "-j", "MARK", "--set-mark", MARK]
        marked = run_in_ns(name, rule, timeout=10)
        if marked.returncode != 0:
            state.skip(ref, obj, f"iptables refused the mark rule: {marked.stderr.strip()}", policy.dst)
            return
    sp += ["tmpl", "src", str(policy.src), "dst", str(policy.dst), "proto", "esp", "reqid", "1", "mode", "transport"]
    done = run_in_ns(name, sp, timeout=10)
    if done.returncode != 0:
        state.skip(ref, obj, f"the kernel refused the policy: {done.stderr.strip()}", policy.dst)
