"""The shapes of the rules kube-proxy writes for one service port, and the two ways a shape
is written down: as a typed netfilter ``Rule`` with its spelling (``TypedRules``, what the IR
and ``render_payload`` get) or straight as payload text (``TextRules``, what ``generate``
prints: one f-string a rule, no objects, as proxier.go writes its byte buffers).

``fragment.py`` decides which rules a service port has (one generator, written against
``RuleWriter``); each method of ``RuleWriter`` is one shape, with its spelling, and the two
writers below give its typed form and its text form, method for method in the same order.
tests/kubeproxy/test_shapes.py holds them equal: the text of every shape is
``written.render`` of its typed rule, byte for byte, and every shape is checked.
"""

from __future__ import annotations

from overlaynet.dataplane.netfilter.matches import Comment, Match
from overlaynet.dataplane.netfilter.rules import Rule
from overlaynet.dataplane.netfilter.targets import Jump, Target
from overlaynet.kubeproxy import written as w
from overlaynet.kubeproxy.endpoints import EndpointInfo
from overlaynet.kubeproxy.local import LocalDetector
from overlaynet.model.base import IPAddress, IPNetwork

Run = tuple[str, str, int, int]  # table, chain, first rule index, end index (exclusive)

VERDICTS = frozenset({"ACCEPT", "DROP", "REJECT", "RETURN"})


class RuleWriter:
    """Collects one service port's rules in write order. A method per shape; the
    docstrings give the spelling (C a comment, P the protocol, T the target: a chain to
    jump to, a verdict, or none). ``nat``/``filter`` is the table."""

    __slots__ = ()

    def capture(self, table: str, chain: str, comment: str, proto: str, dst: IPAddress, port: int,
                target: str) -> None:
        """``-m comment --comment C -m P -p P -d DST --dport PORT -j T``"""
        raise NotImplementedError

    def capture_not_local(self, chain: str, comment: str, proto: str, dst: IPAddress, port: int,
                          target: str) -> None:
        """``capture`` plus the local detector's ``IfNotLocal`` (``! -s CIDR``/``! -i IF``), nat."""
        raise NotImplementedError

    def nodeport(self, table: str, chain: str, comment: str, proto: str, port: int, target: str) -> None:
        """``-m comment --comment C -m P -p P --dport PORT -j T``"""
        raise NotImplementedError

    def nodeport_localhost(self, chain: str, comment: str, proto: str, port: int, target: str) -> None:
        """``… -m P -p P -d 127.0.0.0/8 --dport PORT -m nfacct --nfacct-name
        localhost_nps_accepted_pkts -j T``, nat"""
        raise NotImplementedError

    def nodeport_reject(self, chain: str, comment: str, proto: str, port: int, target: str) -> None:
        """``-m comment --comment C -m addrtype --dst-type LOCAL -m P -p P --dport PORT -j T``, filter"""
        raise NotImplementedError

    def commented(self, chain: str, comment: str, target: str | None) -> None:
        """``-m comment --comment C [-j T]``, nat"""
        raise NotImplementedError

    def commented_local(self, chain: str, comment: str, target: str) -> None:
        """``-m comment --comment C`` plus the detector's ``IfLocal``, ``-j T``, nat"""
        raise NotImplementedError

    def commented_src_local(self, chain: str, comment: str, target: str) -> None:
        """``-m comment --comment C -m addrtype --src-type LOCAL -j T``, nat"""
        raise NotImplementedError

    def bare(self, chain: str, target: str) -> None:
        """``-j T``, nat"""
        raise NotImplementedError

    def from_net(self, chain: str, comment: str, cidr: IPNetwork, target: str) -> None:
        """``-m comment --comment C -s CIDR -j T``, nat"""
        raise NotImplementedError

    def from_host(self, chain: str, comment: str | None, ip: IPAddress, target: str) -> None:
        """``[-m comment --comment C] -s IP -j T`` (a host without /32), nat"""
        raise NotImplementedError

    def affinity_check(self, chain: str, comment: str | None, sep: str, seconds: int) -> None:
        """``[-m comment --comment C] -m recent --name SEP --rcheck --seconds S --reap -j SEP``, nat"""
        raise NotImplementedError

    def cascade(self, chain: str, comment: str | None, remaining: int, sep: str) -> None:
        """``[-m comment --comment C] -m statistic --mode random --probability 1/REMAINING
        -j SEP``; the last (remaining 1) without the statistic match, nat"""
        raise NotImplementedError

    def endpoint(self, chain: str, comment: str | None, proto: str, ep: EndpointInfo, affinity: bool) -> None:
        """An endpoint's chain, two rules: ``[-m comment --comment C] -s IP -j KUBE-MARK-MASQ``
        (a pod reaching itself) and ``[-m comment --comment C] [-m recent --name CHAIN --set]
        -m P -p P -j DNAT --to-destination IP:PORT``, nat"""
        raise NotImplementedError


# --- typed ------------------------------------------------------------------------------------

_COMMENT_SRC = {True: w.COMMENT_SRC, False: w.SRC}
_RECENT = {c: w.with_comment((w.Arg.COMMENT, *w.RECENT), c) for c in (True, False)}
_STATISTIC = {c: w.with_comment((w.Arg.COMMENT, *w.STATISTIC), c) for c in (True, False)}
_LAST = {c: w.with_comment(w.COMMENT_ONLY, c) for c in (True, False)}
_DNAT = {(c, a): w.with_comment((w.Arg.COMMENT, *(w.SEP_DNAT_AFFINITY if a else w.SEP_DNAT)), c)
         for c in (True, False) for a in (True, False)}


class TypedRules(RuleWriter):
    """Each shape as a typed ``Rule`` (matches in normal form) and its ``Spelling``; host
    addresses come from ``nets``, shared by every rule that names them."""

    __slots__ = ("local", "nets", "rules", "runs", "spellings")

    def __init__(self, nets: w.HostNets, local: LocalDetector | None) -> None:
        self.nets = nets
        self.local = local
        self.rules: list[Rule] = []
        self.spellings: list[w.Spelling] = []
        self.runs: list[Run] = []  # consecutive rules of one chain

    def write(self, table: str, chain: str, rule: Rule, spelling: w.Spelling) -> None:
        runs, n = self.runs, len(self.rules)
        if runs and runs[-1][1] == chain and runs[-1][0] == table:
            runs[-1] = (table, chain, runs[-1][2], n + 1)
        else:
            runs.append((table, chain, n, n + 1))
        self.rules.append(rule)
        self.spellings.append(spelling)

    @staticmethod
    def _target(name: str) -> Target:
        if name in VERDICTS:
            return w.verdict(name)
        return w.MARK_MASQ if name == w.MARK_MASQ.chain else Jump(name)

    def capture(self, table: str, chain: str, comment: str, proto: str, dst: IPAddress, port: int,
                target: str) -> None:
        dst_match, number, ports = w.service_dst(proto, self.nets[dst], port)
        # in normal form (-d, -p, then extensions as written), so Rule need not reorder
        matches = (dst_match, number, Comment(comment), ports)
        self.write(table, chain, Rule(matches, self._target(target)), w.CAPTURE)

    def capture_not_local(self, chain: str, comment: str, proto: str, dst: IPAddress, port: int,
                          target: str) -> None:
        local = self.local
        assert local is not None
        matches = (Comment(comment), *w.service_dst(proto, self.nets[dst], port), local.if_not_local)
        self.write("nat", chain, Rule(matches, self._target(target)), (*w.CAPTURE, local.arg))

    def nodeport(self, table: str, chain: str, comment: str, proto: str, port: int, target: str) -> None:
        number, ports = w.service_dst(proto, None, port)
        matches = (number, Comment(comment), ports)  # in normal form
        self.write(table, chain, Rule(matches, self._target(target)), w.NODEPORT)

    def nodeport_localhost(self, chain: str, comment: str, proto: str, port: int, target: str) -> None:
        matches = (Comment(comment), *w.service_dst(proto, w.LOOPBACK_NET, port), w.NFACCT_LOCALHOST_NODEPORTS)
        self.write("nat", chain, Rule(matches, self._target(target)), w.NODEPORT_LOCALHOST)

    def nodeport_reject(self, chain: str, comment: str, proto: str, port: int, target: str) -> None:
        matches = (Comment(comment), w.ADDRTYPE_DST_LOCAL, *w.service_dst(proto, None, port))
        self.write("filter", chain, Rule(matches, self._target(target)), w.NODEPORT_REJECT)

    def commented(self, chain: str, comment: str, target: str | None) -> None:
        rule = Rule((Comment(comment),), None if target is None else self._target(target))
        self.write("nat", chain, rule, w.COMMENT_ONLY)

    def commented_local(self, chain: str, comment: str, target: str) -> None:
        local = self.local
        assert local is not None
        self.write("nat", chain, Rule((Comment(comment), local.if_local), self._target(target)),
                   (w.Arg.COMMENT, local.arg))

    def commented_src_local(self, chain: str, comment: str, target: str) -> None:
        self.write("nat", chain, Rule((Comment(comment), w.ADDRTYPE_SRC_LOCAL), self._target(target)),
                   w.COMMENT_ADDRTYPE)

    def bare(self, chain: str, target: str) -> None:
        self.write("nat", chain, Rule((), self._target(target)), w.BARE)

    def from_net(self, chain: str, comment: str, cidr: IPNetwork, target: str) -> None:
        self.write("nat", chain, Rule((Comment(comment), w.source(cidr)), self._target(target)), w.COMMENT_SRC_NET)

    def from_host(self, chain: str, comment: str | None, ip: IPAddress, target: str) -> None:
        src = w.source(self.nets[ip])
        matches: tuple[Match, ...] = (src,) if comment is None else (src, Comment(comment))
        self.write("nat", chain, Rule(matches, self._target(target)), _COMMENT_SRC[comment is not None])

    def affinity_check(self, chain: str, comment: str | None, sep: str, seconds: int) -> None:
        recent = w.recent_check(sep, seconds)
        matches: tuple[Match, ...] = (recent,) if comment is None else (Comment(comment), recent)
        self.write("nat", chain, Rule(matches, Jump(sep)), _RECENT[comment is not None])

    def cascade(self, chain: str, comment: str | None, remaining: int, sep: str) -> None:
        if remaining > 1:
            matches = w.statistic_only(remaining) if comment is None else (Comment(comment), w.statistic(remaining))
            self.write("nat", chain, Rule(matches, Jump(sep)), _STATISTIC[comment is not None])
        else:
            self.write("nat", chain, Rule(() if comment is None else (Comment(comment),), Jump(sep)),
                       _LAST[comment is not None])

    def endpoint(self, chain: str, comment: str | None, proto: str, ep: EndpointInfo, affinity: bool) -> None:
        self.from_host(chain, comment, ep.ip, w.MARK_MASQ.chain)
        number, ports = w.proto(proto)
        # in normal form (-p first, extensions in the order written), so Rule need not reorder
        cmt = () if comment is None else (Comment(comment),)
        matches = (number, *cmt, w.recent_set(chain), ports) if affinity else (number, *cmt, ports)
        self.write("nat", chain, Rule(matches, w.dnat(ep.ip, ep.port)), _DNAT[comment is not None, affinity])


# --- text -------------------------------------------------------------------------------------

address = w.address
_MARK_MASQ = w.MARK_MASQ.chain
probability_text = w.probability_text
_NFACCT_LOCALHOST = w.render_arg(w.Arg.NFACCT, w.NFACCT_LOCALHOST_NODEPORTS)
_DST_LOCAL = w.render_arg(w.Arg.ADDRTYPE, w.ADDRTYPE_DST_LOCAL)
_SRC_LOCAL = w.render_arg(w.Arg.ADDRTYPE, w.ADDRTYPE_SRC_LOCAL)
_LOOPBACK = w.render_arg(w.Arg.DST_NET, w.destination(w.LOOPBACK_NET))


def local_texts(local: LocalDetector | None) -> tuple[str, str]:
    """The detector's IfLocal and IfNotLocal arguments, as printed."""
    if local is None:
        return "", ""
    return w.render_arg(local.arg, local.if_local), w.render_arg(local.arg, local.if_not_local)


def _c(comment: str) -> str:
    return f'-m comment --comment "{comment}" ' if " " in comment else f"-m comment --comment {comment} "


Block = tuple[str, str, str]  # table, chain, consecutive payload lines of that chain


class TextRules(RuleWriter):
    """Each shape as its payload line (``-A CHAIN …``), in kube-proxy's spelling; ``blocks``
    joins the lines of each run of one chain."""

    __slots__ = ("_chain", "_lines", "_table", "if_local", "if_not_local", "runs")

    def __init__(self, local: tuple[str, str]) -> None:
        """``local``: the local detector's IfLocal and IfNotLocal as printed (``local_texts``)."""
        self.runs: list[tuple[str, str, list[str]]] = []
        self._table = self._chain = ""
        self._lines: list[str] = []
        self.if_local, self.if_not_local = local

    def write(self, table: str, chain: str, line: str) -> None:
        if chain == self._chain and table == self._table:
            self._lines.append(line)
        else:
            self._table, self._chain, self._lines = table, chain, [line]
            self.runs.append((table, chain, self._lines))

    def blocks(self) -> tuple[Block, ...]:
        return tuple((table, chain, "\n".join(lines)) for table, chain, lines in self.runs)

    def capture(self, table: str, chain: str, comment: str, proto: str, dst: IPAddress, port: int,
                target: str) -> None:
        self.write(table, chain,
                   f"-A {chain} {_c(comment)}-m {proto} -p {proto} -d {address(dst)} --dport {port} -j {target}")

    def capture_not_local(self, chain: str, comment: str, proto: str, dst: IPAddress, port: int,
                          target: str) -> None:
        self.write("nat", chain, f"-A {chain} {_c(comment)}-m {proto} -p {proto} -d {address(dst)} --dport {port} "
                                 f"{self.if_not_local} -j {target}")

    def nodeport(self, table: str, chain: str, comment: str, proto: str, port: int, target: str) -> None:
        self.write(table, chain, f"-A {chain} {_c(comment)}-m {proto} -p {proto} --dport {port} -j {target}")

    def nodeport_localhost(self, chain: str, comment: str, proto: str, port: int, target: str) -> None:
        self.write("nat", chain, f"-A {chain} {_c(comment)}-m {proto} -p {proto} {_LOOPBACK} --dport {port} "
                                 f"{_NFACCT_LOCALHOST} -j {target}")

    def nodeport_reject(self, chain: str, comment: str, proto: str, port: int, target: str) -> None:
        self.write("filter", chain, f"-A {chain} {_c(comment)}{_DST_LOCAL} "
                                    f"-m {proto} -p {proto} --dport {port} -j {target}")

    def commented(self, chain: str, comment: str, target: str | None) -> None:
        line = f"-A {chain} {_c(comment)}"
        self.write("nat", chain, line[:-1] if target is None else f"{line}-j {target}")

    def commented_local(self, chain: str, comment: str, target: str) -> None:
        self.write("nat", chain, f"-A {chain} {_c(comment)}{self.if_local} -j {target}")

    def commented_src_local(self, chain: str, comment: str, target: str) -> None:
        self.write("nat", chain, f"-A {chain} {_c(comment)}{_SRC_LOCAL} -j {target}")

    def bare(self, chain: str, target: str) -> None:
        self.write("nat", chain, f"-A {chain} -j {target}")

    def from_net(self, chain: str, comment: str, cidr: IPNetwork, target: str) -> None:
        self.write("nat", chain, f"-A {chain} {_c(comment)}-s {cidr} -j {target}")

    def from_host(self, chain: str, comment: str | None, ip: IPAddress, target: str) -> None:
        cmt = "" if comment is None else _c(comment)
        self.write("nat", chain, f"-A {chain} {cmt}-s {address(ip)} -j {target}")

    def affinity_check(self, chain: str, comment: str | None, sep: str, seconds: int) -> None:
        cmt = "" if comment is None else _c(comment)
        self.write("nat", chain, f"-A {chain} {cmt}-m recent --name {sep} --rcheck --seconds {seconds} --reap -j {sep}")

    def cascade(self, chain: str, comment: str | None, remaining: int, sep: str) -> None:
        cmt = "" if comment is None else _c(comment)
        if remaining > 1:
            self.write("nat", chain, f"-A {chain} {cmt}-m statistic --mode random --probability "
                                     f"{probability_text(remaining)} -j {sep}")
        else:
            self.write("nat", chain, f"-A {chain} {cmt}-j {sep}")

    def endpoint(self, chain: str, comment: str | None, proto: str, ep: EndpointInfo, affinity: bool) -> None:
        cmt = "" if comment is None else _c(comment)
        recent = f"-m recent --name {chain} --set " if affinity else ""
        self.write("nat", chain, f"-A {chain} {cmt}-s {ep.host} -j {_MARK_MASQ}\n"  # two lines, one write
                                 f"-A {chain} {cmt}{recent}-m {proto} -p {proto} -j DNAT --to-destination {ep.string}")
