"""Apply a dataplane IR to real Linux network namespaces (pyroute2 + iptables-restore).

``materialize(dp)`` creates one namespace per IR namespace and one per underlay segment
(a bridge connecting every phys port), then interfaces, sysctls, addresses, routes,
neighbours, FDB and netfilter, in that order. Any refusal raises ``MaterializeError`` after
everything created so far is removed. The result is a context manager that tears it down.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from overlaynet.dataplane.ir import Dataplane, NetNamespace, NsRef
from overlaynet.dataplane.netfilter import IpSet
from overlaynet.errors import MaterializeError
from overlaynet.materialize import _netns
from overlaynet.materialize._state import ApplyState, Skipped, agent_cmd, netns_argv, run_in_ns
from overlaynet.materialize.links import configure_links, create_links, create_segments
from overlaynet.materialize.naming import (
    NameMap,
    check_run_id,
    list_namespaces,
    namespace_label,
    new_run_id,
    remove_namespaces,
    run_prefix,
    segment_label,
)
from overlaynet.materialize.tables import apply_addresses, apply_fdb, apply_neighbors, apply_routes
from overlaynet.materialize.xfrm import apply_xfrm
from overlaynet.model.base import IPAddress

__all__ = ["Materialized", "Skipped", "materialize"]

LOOPBACK_IFINDEX = 1  # a new namespace's lo (the kernel's LOOPBACK_IFINDEX)


class Materialized:
    """Namespaces created from an IR. Use as a context manager, or call ``teardown()``."""

    def __init__(self, state: ApplyState) -> None:
        self.run_id = state.run_id
        self.dataplane = state.dp
        self.skipped: tuple[Skipped, ...] = tuple(state.skipped)
        self._ns_names = dict(state.ns_names)
        self._segment_ns = dict(state.segment_ns)
        self._ifnames = {ref: dict(m) for ref, m in state.ifnames.items()}
        self._created = list(state.created)
        self.skipped_interfaces: frozenset[tuple[NsRef, str]] = frozenset(state.skipped_ifaces)
        #: (host, remote tunnel end): tunnel packets from that host to that end are not built
        #: as the IR says (``Skipped.remote``), so their frames are not comparable
        self.unlike_wire: frozenset[tuple[str, IPAddress]] = frozenset(
            (s.namespace.split("/")[0], s.remote) for s in state.skipped if s.remote is not None)

    # --- names ---------------------------------------------------------------------------
    @property
    def namespaces(self) -> list[str]:
        """Every kernel namespace this run created, in creation order."""
        return list(self._created)

    @property
    def refs(self) -> list[NsRef]:
        return list(self._ns_names)

    def namespace_name(self, ref: NsRef) -> str:
        """The kernel namespace (``ip netns``) name of an IR namespace."""
        try:
            return self._ns_names[ref]
        except KeyError:
            raise MaterializeError(f"namespace {ref} was not materialized (run {self.run_id})") from None

    def segment_namespace(self, segment: str) -> str:
        """The kernel namespace holding the bridge (``br0``) of an underlay segment."""
        try:
            return self._segment_ns[segment]
        except KeyError:
            raise MaterializeError(f"segment {segment!r} was not materialized (run {self.run_id})") from None

    def ifname(self, ref: NsRef, ir_name: str) -> str:
        """The kernel name of an IR interface (the IR's name unless it had to be shortened)."""
        return self._ifnames.get(ref, {}).get(ir_name, ir_name)

    def _target(self, target: NsRef | str) -> str:
        if isinstance(target, NsRef):
            return self.namespace_name(target)
        if target not in self._created:
            raise MaterializeError(f"{target!r} is not a namespace of run {self.run_id}")
        return target

    # --- running things inside ---------------------------------------------------------
    def exec(self, target: NsRef | str, argv: list[str], timeout: float = 10.0, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside a namespace (``ip netns exec``); never raises on exit status."""
        return run_in_ns(self._target(target), argv, timeout=timeout, input=input)

    def agent(self, target: NsRef | str, command: str, args: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Run one command of the in-namespace agent and return its JSON answer."""
        name = self._target(target)
        try:
            proc = subprocess.run([*netns_argv(name), *agent_cmd(command, json.dumps(args))], capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise MaterializeError(f"namespace {name}: agent {command} timed out after {timeout}s") from exc
        lines = proc.stdout.strip().splitlines()
        if proc.returncode not in (0, 1) or not lines:
            raise MaterializeError(f"namespace {name}: agent {command} failed: {proc.stderr.strip()}")
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    def agent_popen(self, target: NsRef | str | None, command: str, args: dict[str, Any]) -> subprocess.Popen[str]:
        """Start a long-running agent command (``listen``, ``capture``); waits for ``ready``.
        With ``target`` None the agent starts outside and enters the run's namespaces itself
        (``capture`` across several segments)."""
        name = self._target(target) if target is not None else None
        argv = agent_cmd(command, json.dumps(args))
        proc = subprocess.Popen([*netns_argv(name), *argv] if name else argv, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line or not json.loads(line).get("ready"):
            proc.kill()
            _, err = proc.communicate()
            raise MaterializeError(f"namespace {name or 'of run ' + self.run_id}: agent {command} did not start: {err.strip()}")
        return proc

    # --- lifecycle -----------------------------------------------------------------------
    def teardown(self) -> list[str]:
        """Remove every namespace of this run (and so every interface in them)."""
        leftovers = [n for n in list_namespaces(run_prefix(self.run_id)) if n not in self._created]
        removed = remove_namespaces([*reversed(self._created), *leftovers])
        self._created = []
        return removed

    def __enter__(self) -> Materialized:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.teardown()

    def __repr__(self) -> str:
        return f"Materialized(run_id={self.run_id!r}, namespaces={len(self._created)}, skipped={len(self.skipped)})"


def materialize(dp: Dataplane, *, hosts: Iterable[str] | None = None, run_id: str | None = None) -> Materialized:
    """Apply ``dp`` to new network namespaces named ``onet-<run_id>-…``.

    ``hosts``: build (``dp.ensure_host``) and apply only these hosts' namespaces; None
    applies every namespace the dataplane holds. Raises ``MaterializeError`` (naming the
    namespace, the object and the kernel's message) after removing everything it created.
    """
    rid = check_run_id(run_id) if run_id is not None else new_run_id()
    if list_namespaces(run_prefix(rid)):
        raise MaterializeError(f"run {rid} already has namespaces; take it down first (materialize down --run-id {rid})")
    if hosts is not None:
        wanted = list(dict.fromkeys(hosts))
        for host in wanted:
            dp.ensure_host(host)
        refs = [ref for ref in dp.namespaces if ref.host in set(wanted)]
    else:
        refs = list(dp.namespaces)
    from overlaynet.materialize.frames import kernel_view

    dp, stand_ins = kernel_view(dp, refs)
    state = ApplyState(dp=dp, run_id=rid, refs=refs)
    state.skipped.extend(stand_ins)
    try:
        _apply(state)
    except BaseException as exc:
        state.close()
        try:
            remove_namespaces([*reversed(state.created), *list_namespaces(run_prefix(rid))])
        except MaterializeError as cleanup:
            raise MaterializeError(f"{exc} (and cleaning up failed: {cleanup})") from exc
        raise
    state.close()
    return Materialized(state)


def _apply(state: ApplyState) -> None:
    _create_namespaces(state)
    create_segments(state)
    create_links(state)
    configure_links(state)
    _interface_sysctls(state)
    apply_addresses(state)
    apply_routes(state)
    apply_neighbors(state)
    apply_fdb(state)
    _apply_netfilter(state)
    apply_xfrm(state)  # after the ruleset: its mark rules append to the restored mangle table
    _note_forwarders(state)


def _create_namespaces(state: ApplyState) -> None:
    prefix = run_prefix(state.run_id)
    taken = NameMap(200)
    for ref in state.refs:
        state.ns_names[ref] = prefix + taken.take(namespace_label(ref))
    segments = {i.segment for r in state.refs for i in state.ns(r).interfaces.values() if i.kind == "phys" and i.segment}
    segments |= {s.name for s in state.dp.segments.values() if any(r in state.ns_names for r, _ in s.ports)}
    for seg in sorted(s for s in segments if s in state.dp.segments):
        state.segment_ns[seg] = prefix + taken.take(segment_label(seg))
    # made in this process (no `ip netns add` per namespace); each new namespace gets its
    # netlink socket and its first sysctls while the creating thread is inside it
    sysctls = _initial_sysctls(state)
    names = [*state.ns_names.values(), *state.segment_ns.values()]
    fds = _netns.create(names, state.created, lambda name: _netns.write_sysctls(sysctls.get(name, {}), name))
    state.adopt_sockets(fds)
    for name in state.created:
        state.indexes[(name, "lo")] = LOOPBACK_IFINDEX
        lo_up = state.batch(name)
        lo_up.link_set("lo up", LOOPBACK_IFINDEX, up=True)
        lo_up.flush()


def _uses_ipv6(dp: Dataplane) -> bool:
    return any(a.ip.version == 6 for ns in dp.namespaces.values() for _, a in ns.addresses())


def _sysctl_path(key: str, ifnames: dict[str, str]) -> str:
    """``net.ipv4.conf.flannel.1.rp_filter`` → ``net/ipv4/conf/flannel.1/rp_filter`` (the
    interface part may hold dots, and is renamed to its kernel name)."""
    for family in ("net.ipv4.conf.", "net.ipv6.conf.", "net.ipv4.neigh.", "net.ipv6.neigh."):
        if key.startswith(family):
            dev, _, leaf = key[len(family):].rpartition(".")
            return f"{family.replace('.', '/')}{ifnames.get(dev, dev)}/{leaf}"
    return key.replace(".", "/")


def _write_sysctls(batches: dict[str, dict[str, str]]) -> None:
    """Write sysctls in several namespaces from one thread that enters each in turn."""
    batches = {name: values for name, values in batches.items() if values}
    if batches:
        _netns.enter_each(list(batches), lambda name: _netns.write_sysctls(batches[name], name))


def _initial_sysctls(state: ApplyState) -> dict[str, dict[str, str]]:
    """Before any interface exists: Linux's own defaults (a new namespace otherwise inherits
    the host's tuned all/default values), no IPv6 unless the IR uses it, no ICMP rate limit
    (probes send several errors quickly), then the IR's namespace-wide sysctls."""
    v6 = _uses_ipv6(state.dp)
    batches = {name: _base_sysctls(v6, {}) for name in state.segment_ns.values()}
    for ref in state.refs:
        ns = state.ns(ref)
        values = _base_sysctls(v6, ns.sysctls)
        values.update({_sysctl_path(k, {}): v for k, v in ns.sysctls.items() if not _per_interface(k, ns)})
        batches[state.ns_names[ref]] = values
    return batches


def _base_sysctls(v6: bool, ir: dict[str, str]) -> dict[str, str]:
    values = {
        "net/ipv4/ip_forward": ir.get("net.ipv4.ip_forward", "0"),
        "net/ipv4/conf/all/rp_filter": "0",
        "net/ipv4/conf/default/rp_filter": "0",
        "net/ipv4/icmp_ratelimit": "0",
    }
    if not v6:
        values["net/ipv6/conf/all/disable_ipv6"] = "1"
        values["net/ipv6/conf/default/disable_ipv6"] = "1"
    return values


def _per_interface(key: str, ns: NetNamespace) -> bool:
    for family in ("net.ipv4.conf.", "net.ipv6.conf.", "net.ipv4.neigh.", "net.ipv6.neigh."):
        if key.startswith(family):
            return key[len(family):].rpartition(".")[0] not in ("all", "default")
    return False


def _interface_sysctls(state: ApplyState) -> None:
    """Per-interface sysctls (rp_filter, proxy_arp…) once the interfaces exist."""
    batches: dict[str, dict[str, str]] = {}
    for ref in state.refs:
        ns = state.ns(ref)
        names = state.ifnames.get(ref, {})
        values: dict[str, str] = {}
        for iface in ns.interfaces.values():
            if iface.proxy_arp and (ref, iface.name) not in state.skipped_ifaces:
                values[_sysctl_path(f"net.ipv4.conf.{iface.name}.proxy_arp", names)] = "1"
        for key, value in ns.sysctls.items():
            if _per_interface(key, ns):
                dev = key.split(".", 3)[3].rpartition(".")[0]
                if (ref, dev) in state.skipped_ifaces:
                    state.skip(ref, f"sysctl {key}", f"dev {dev} was not created")
                    continue
                values[_sysctl_path(key, names)] = value
        batches[state.ns_names[ref]] = values
    _write_sysctls(batches)


def _apply_netfilter(state: ApplyState) -> None:
    """Load each non-empty ruleset with ``iptables-restore`` inside its namespace."""
    from overlaynet.dataplane import netfilter

    render = getattr(netfilter, "render_save", None)
    for ref in state.refs:
        ruleset = state.ns(ref).netfilter
        if ruleset.is_empty():
            continue
        if render is None:
            state.skip(ref, "netfilter ruleset", "no iptables-save renderer (netfilter.render_save) is available yet")
            continue
        text = render(ruleset)
        name = state.ns_names[ref]
        _apply_ipsets(state, ref)
        result = run_in_ns(name, ["iptables-restore"], timeout=30, input=text)
        if result.returncode != 0:
            raise MaterializeError(f"namespace {name}: netfilter ruleset: iptables-restore refused it: {result.stderr.strip()}")


def ipset_restore_text(ipsets: Mapping[str, IpSet]) -> str:
    """``ipset restore`` input creating every set of a namespace with its members.

    >>> from ipaddress import ip_network
    >>> from overlaynet.dataplane.netfilter import IpSet
    >>> print(ipset_restore_text({"s": IpSet("s", "hash:ip", frozenset({(ip_network("10.0.0.1/32"),)}))}), end="")
    create s hash:ip
    add s 10.0.0.1
    """
    lines: list[str] = []
    for name, ipset in sorted(ipsets.items()):
        lines.append(f"create {name} {ipset.type}")
        for member in sorted(ipset.members, key=str):
            parts = []
            for element in member:
                if isinstance(element, tuple):
                    parts.append(f"{element[0]}:{element[1]}")
                elif ipset.type.startswith("hash:ip") and element.prefixlen == element.max_prefixlen:
                    parts.append(str(element.network_address))
                else:
                    parts.append(str(element))
            lines.append(f"add {name} {','.join(parts)}")
    return "".join(line + "\n" for line in lines)


def _apply_ipsets(state: ApplyState, ref: NsRef) -> None:
    """Create the namespace's ipsets (``ipset restore``) before the rules that name them."""
    ipsets = state.ns(ref).ipsets
    if not ipsets:
        return
    name = state.ns_names[ref]
    result = run_in_ns(name, ["ipset", "restore"], timeout=30, input=ipset_restore_text(ipsets))
    if result.returncode != 0:
        raise MaterializeError(f"namespace {name}: ipsets: ipset restore refused them: {result.stderr.strip()}")


def _note_forwarders(state: ApplyState) -> None:
    for ref in state.refs:
        for fwd in state.ns(ref).forwarders.values():
            state.skip(ref, f"userspace forwarder {fwd.name} (UDP {fwd.port})",
                       "a userspace datapath (flannel udp, Weave sleeve) is emulated by the tracer only")
