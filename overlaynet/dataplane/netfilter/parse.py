"""The iptables-save / iptables-restore reader: text → Ruleset, errors with line numbers.

Handles ``*table`` … ``COMMIT``, ``:CHAIN POLICY [p:b]`` (``-`` keeps a built-in chain's
policy), ``-A/-I/-N/-X/-F/-P``, ``#`` comments, shell-like quoting, ``!`` before an option
(and the legacy form after it) and ``-m`` extensions (option tables in ``extensions.py``). Unknown extensions raise
``UnsupportedExtension`` naming them; nothing is silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from overlaynet.dataplane.netfilter import extensions as ext
from overlaynet.dataplane.netfilter import matches as m
from overlaynet.dataplane.netfilter.rules import BUILTIN_CHAINS, Rule, Ruleset, Table
from overlaynet.dataplane.netfilter.targets import Goto, Jump, Target
from overlaynet.dataplane.netfilter.validate import check_table
from overlaynet.errors import IptablesSyntaxError, UnsupportedExtension

_COUNTERS = re.compile(r"^\[(\d+):(\d+)\]$")
_PROTO_EXT = {"tcp": "tcp", "udp": "udp", "sctp": "sctp", "icmp": "icmp", "ipv6-icmp": "icmp6"}
_LONG = {"--source": "-s", "--src": "-s", "--destination": "-d", "--dst": "-d", "--in-interface": "-i",
         "--out-interface": "-o", "--protocol": "-p", "--fragment": "-f", "--match": "-m", "--jump": "-j",
         "--goto": "-g", "--set-counters": "-c", "--append": "-A", "--insert": "-I", "--new-chain": "-N",
         "--delete-chain": "-X", "--flush": "-F", "--policy": "-P"}


class _LineError(ValueError):
    """A problem in the current line; becomes IptablesSyntaxError with file and line."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


@dataclass
class _Pending:
    """Undefined jump targets of the open table, checked at COMMIT: name → first line."""

    jumps: dict[str, int] = field(default_factory=dict)


def parse_save(text: str, *, file: str = "<input>", strict: bool = True,
               implicit_table: str | None = None) -> Ruleset:
    """Parse iptables-save / iptables-restore text into a Ruleset.

    >>> rs = parse_save("*filter\\n:INPUT DROP [0:0]\\n-A INPUT -p tcp --dport 22 -j ACCEPT\\nCOMMIT\\n")
    >>> rs.tables["filter"].chains["INPUT"].policy
    'DROP'

    ``strict=False`` skips the kernel's commit-time checks of targets per table and hook
    (``validate.py``); undefined chains and chain loops are always errors.

    ``implicit_table`` reads ``iptables -S`` (``--list-rules``) output of that table: ``-P``,
    ``-N`` and ``-A`` lines without a ``*table`` header or ``COMMIT`` (see ``is_list_rules``).
    """
    ruleset = Ruleset()
    table: Table | None = None
    table_line = 0
    pending = _Pending()
    implicit = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if implicit_table is not None and table is None and not implicit:
                if implicit_table not in BUILTIN_CHAINS:
                    raise _LineError(f"unknown table {implicit_table!r}; expected one of {', '.join(BUILTIN_CHAINS)}")
                table, table_line, implicit = ruleset.table(implicit_table), number, True
            if implicit and (line.startswith("*") or line == "COMMIT" or line.startswith(":")):
                raise _LineError(f"expected iptables -S lines (-P, -N, -A), found {line.split()[0]!r}")
            if line.startswith("*"):
                if table is not None:
                    raise _LineError(f"expected COMMIT before {line} (table {table.name} opened at line {table_line})")
                name = line[1:].strip()
                if name not in BUILTIN_CHAINS:
                    raise _LineError(f"unknown table {name!r}; expected one of {', '.join(BUILTIN_CHAINS)}",
                                     unsupported=name in ("security",))
                table, table_line = ruleset.table(name), number
                pending = _Pending()
            elif table is None:
                raise _LineError(f"expected a table header like *filter before {line.split()[0]!r}")
            elif line == "COMMIT":
                _check_jumps(table, pending, file, strict)
                table = None
            elif line.startswith(":"):
                _declare(table, line)
            else:
                _command(table, line, number, pending)
        except _LineError as exc:
            cls = UnsupportedExtension if exc.unsupported else IptablesSyntaxError
            raise cls(str(exc), line=number, file=file, text=raw) from None
    if table is not None and implicit:
        _check_jumps(table, pending, file, strict)
    elif table is not None:
        raise IptablesSyntaxError(f"expected COMMIT to close table {table.name} opened at line {table_line}",
                                  line=len(text.splitlines()), file=file)
    return ruleset


def is_list_rules(text: str) -> bool:
    """Is ``text`` ``iptables -S`` output (its first command ``-P``/``-N``/``-A``, no ``*table``)?"""
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            return line.split()[0] in ("-P", "-N", "-A")
    return False


def _check_jumps(table: Table, pending: _Pending, file: str, strict: bool) -> None:
    for name, line in pending.jumps.items():
        if name not in table.chains:
            raise UnsupportedExtension(f"unsupported target or undefined chain {name!r} in table {table.name}",
                                       line=line, file=file)
    loop = find_loop(table)
    if loop is not None:
        chain, rule = loop
        raise IptablesSyntaxError(f"chain loop in table {table.name}: {chain} jumps back into itself "
                                  "(the kernel refuses loops)", line=rule.source_line or 0, file=file)
    refused = check_table(table) if strict else None
    if refused is not None:
        bad, reason = refused
        raise IptablesSyntaxError(f"{reason} (the kernel refuses this rule)", line=bad.source_line or 0, file=file)


def find_loop(table: Table) -> tuple[str, Rule] | None:
    """A (chain, jumping rule) on a cycle of jumps/gotos, if there is one."""
    state: dict[str, int] = {}  # 1 on the DFS stack, 2 done

    def visit(name: str) -> tuple[str, Rule] | None:
        state[name] = 1
        for rule in table.chains[name].rules:
            target = rule.target
            if isinstance(target, Jump | Goto) and target.chain in table.chains:
                seen = state.get(target.chain)
                if seen == 1:
                    return name, rule
                if seen is None and (found := visit(target.chain)) is not None:
                    return found
        state[name] = 2
        return None

    for name in table.chains:
        if name not in state and (found := visit(name)) is not None:
            return found
    return None


def _declare(table: Table, line: str) -> None:
    parts = line[1:].split()
    if len(parts) not in (2, 3):
        raise _LineError(f"expected ':CHAIN POLICY [packets:bytes]', found {line!r}")
    name, policy = parts[0], parts[1]
    counters = _counters(parts[2]) if len(parts) == 3 else (0, 0)
    if name in BUILTIN_CHAINS[table.name]:
        if policy not in ("ACCEPT", "DROP", "-"):
            raise _LineError(f"policy of built-in chain {name} must be ACCEPT, DROP or '-', found {policy!r}")
        chain = table.chains[name]
        if policy != "-":  # '-' keeps the chain's current policy (ACCEPT in a fresh table)
            chain.policy = policy
    else:
        if policy != "-":
            raise _LineError(f"user chain {name} takes policy '-', found {policy!r}")
        _check_chain_name(name)
        chain = table.ensure_chain(name)
        chain.rules.clear()
    chain.packets, chain.bytes = counters


def _check_chain_name(name: str) -> None:
    if len(name) > 28 or name.startswith("-") or name == "!" or not name:
        raise _LineError(f"invalid chain name {name!r} (at most 28 characters, not starting with '-')")


def _counters(text: str) -> tuple[int, int]:
    got = _COUNTERS.match(text)
    if not got:
        raise _LineError(f"expected counters [packets:bytes], found {text!r}")
    return int(got.group(1)), int(got.group(2))


_TOKEN = re.compile(r"""(?:[^\s"'\\]+|"(?:[^"\\]|\\.)*"|'[^']*'|\\.)+""")
_PIECE = re.compile(r""""((?:[^"\\]|\\.)*)"|'([^']*)'|\\(.)|([^"'\\]+)""")
_DQ_ESCAPE = re.compile(r"""\\([\\"$`])""")


_QUOTED = re.compile(r"""("(?:[^"\\]|\\.)*"|'[^']*')""")


def _tokens(line: str) -> list[str]:
    """Split like a POSIX shell (double/single quotes, backslash escapes), fast for plain lines."""
    if '"' not in line and "'" not in line and "\\" not in line:
        return line.split()
    parts = _QUOTED.split(line)
    if any("\\" in part or '"' in part or "'" in part for part in parts[::2]):
        return _tokens_slow(line)  # escapes or stray quotes outside quoted strings
    tokens: list[str] = []
    glue = False  # the next piece continues the last token (no space in between)
    for i, part in enumerate(parts):
        if i % 2:
            text = part[1:-1]
            if part[0] == '"' and "\\" in text:
                text = _DQ_ESCAPE.sub(r"\1", text)
            if glue:
                tokens[-1] += text
            else:
                tokens.append(text)
            glue = True
        elif part:
            words = part.split()
            if glue and words and not part[0].isspace():
                tokens[-1] += words.pop(0)
            tokens.extend(words)
            glue = not part[-1].isspace()
    return tokens


def _tokens_slow(line: str) -> list[str]:
    tokens = []
    end = 0
    for got in _TOKEN.finditer(line):
        if line[end:got.start()].strip():
            break
        end = got.end()
        tokens.append("".join(_unquote(p) for p in _PIECE.finditer(got.group())))
    if line[end:].strip():
        raise _LineError(f"bad quoting: unterminated quote or escape near {line[end:].strip()[:20]!r}")
    return tokens


def _unquote(piece: re.Match[str]) -> str:
    double, single, escaped, plain = piece.groups()
    if double is not None:
        return _DQ_ESCAPE.sub(r"\1", double)
    if single is not None:
        return single
    return escaped if escaped is not None else plain


def _chain(table: Table, name: str) -> str:
    if name not in table.chains:
        raise _LineError(f"chain {name!r} does not exist in table {table.name} (declare it with ':{name} - [0:0]')")
    return name


def _command(table: Table, line: str, number: int, pending: _Pending) -> None:
    tokens = _tokens(line)
    counters = None
    if tokens and tokens[0].startswith("["):
        counters = _counters(tokens.pop(0))
    if not tokens:
        raise _LineError("expected a command")
    cmd = _LONG.get(tokens[0], tokens[0])
    args = tokens[1:]
    if cmd in ("-A", "-I"):
        if not args:
            raise _LineError(f"{cmd} needs a chain name")
        chain = table.chains.get(_chain(table, args[0]))
        assert chain is not None
        rest = args[1:]
        position = len(chain.rules) + 1
        if cmd == "-I":
            position = 1
            if rest and rest[0].isdigit():
                position = int(rest.pop(0))
                if not 1 <= position <= len(chain.rules) + 1:
                    raise _LineError(f"index of insertion {position} is out of range for chain {chain.name}")
        rule = _parse_rule(rest, table=table, line=number, counters=counters, pending=pending)
        chain.rules.insert(position - 1, rule)
    elif cmd == "-N":
        if len(args) != 1:
            raise _LineError("-N takes one chain name")
        _check_chain_name(args[0])
        if args[0] in table.chains:
            raise _LineError(f"chain {args[0]!r} already exists")
        table.ensure_chain(args[0])
    elif cmd == "-X":
        names = args or [c.name for c in table.user_chains()]
        for name in names:
            if _chain(table, name) in BUILTIN_CHAINS[table.name]:
                raise _LineError(f"cannot delete built-in chain {name}")
            del table.chains[name]
    elif cmd == "-F":
        for name in args or list(table.chains):
            table.chains[_chain(table, name)].rules.clear()
    elif cmd == "-P":
        if len(args) != 2 or args[1] not in ("ACCEPT", "DROP"):
            raise _LineError("expected -P CHAIN ACCEPT|DROP")
        if args[0] not in BUILTIN_CHAINS[table.name]:
            raise _LineError(f"-P needs a built-in chain, found {args[0]!r}")
        table.chains[args[0]].policy = args[1]
    else:
        raise _LineError(f"expected -A, -I, -N, -X, -F or -P, found {tokens[0]!r}")


def parse_rule(tokens: list[str], *, table: Table | None = None, line: int = 0, file: str = "<rule>") -> Rule:
    """The options of one rule (everything after ``-A CHAIN``, already split) → a Rule.

    Raises ``IptablesSyntaxError`` / ``UnsupportedExtension`` (both ``ValueError``s).
    Jump targets are not checked (there is no table to check them against).

    >>> parse_rule(["-p", "tcp", "--dport", "80", "-j", "ACCEPT"]).target
    Verdict_(verdict='ACCEPT')
    """
    try:
        return _RuleParser(tokens, table, None).parse(line, None)
    except _LineError as exc:
        cls = UnsupportedExtension if exc.unsupported else IptablesSyntaxError
        raise cls(str(exc), line=line, file=file, text=" ".join(tokens)) from None


def _parse_rule(tokens: list[str], *, table: Table, line: int, counters: tuple[int, int] | None,
                pending: _Pending) -> Rule:
    return _RuleParser(tokens, table, pending).parse(line, counters)


class _RuleParser:
    def __init__(self, tokens: list[str], table: Table | None, pending: _Pending | None) -> None:
        self.tokens = tokens
        self.pos = 0
        self.table = table
        self.pending = pending
        self.basic: list[m.Match] = []
        self.exts: list[ext.Options] = []
        self.target_name: str | None = None
        self.target_opts: ext.Options | None = None
        self.goto: str | None = None
        self.proto: str | None = None
        self.counters: tuple[int, int] | None = None

    def next(self, what: str) -> str:
        if self.pos >= len(self.tokens):
            raise _LineError(f"expected {what} at the end of the line")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self, line: int, counters: tuple[int, int] | None) -> Rule:
        self.counters = counters
        negated = False
        while self.pos < len(self.tokens):
            token = self.next("an option")
            if token == "!":
                if negated:
                    raise _LineError("'!' given twice")
                negated = True
                continue
            self.option(_LONG.get(token, token), negated)
            negated = False
        if negated:
            raise _LineError("'!' at the end of the line negates nothing")
        return Rule(tuple(self.basic) + tuple(self.build_matches()), self.build_target(line),
                    counters=self.counters, source_line=line or None)

    def legacy_negation(self) -> bool:
        if self.pos < len(self.tokens) and self.tokens[self.pos] == "!":
            self.pos += 1
            return True
        return False

    def option(self, opt: str, negated: bool) -> None:
        if opt in ("-s", "-d", "-i", "-o", "-p"):
            negated = self.legacy_negation() or negated
            value = self.next(f"a value for {opt}")
            self.basic_match(opt, value, negated)
        elif opt == "-f":
            self.basic.append(m.Fragment(negated))
        elif opt == "-m":
            self.no_neg(negated, opt)
            name = self.next("an extension name after -m")
            if name not in ext.MATCHES:
                raise _LineError(f"unsupported match extension {name!r}", unsupported=True)
            self.exts.append(ext.Options(name))
        elif opt in ("-j", "-g"):
            self.no_neg(negated, opt)
            if self.target_name is not None or self.goto is not None:
                raise _LineError("only one -j/-g per rule")
            name = self.next(f"a target after {opt}")
            if opt == "-g":
                self.goto = name
            else:
                self.target_name = name
                if name in ext.TARGETS:
                    self.target_opts = ext.Options(name)
        elif opt == "-c":
            try:
                self.counters = (ext.parse_int(self.next("packets"), "a packet count", 0, 2**64 - 1),
                                 ext.parse_int(self.next("bytes"), "a byte count", 0, 2**64 - 1))
            except ValueError as exc:
                raise _LineError(f"-c: {exc}") from None
        elif opt.startswith("--"):
            self.ext_option(opt[2:], negated)
        else:
            raise _LineError(f"unknown option {opt!r}")

    @staticmethod
    def no_neg(negated: bool, opt: str) -> None:
        if negated:
            raise _LineError(f"'!' cannot negate {opt}")

    def basic_match(self, opt: str, value: str, negated: bool) -> None:
        try:
            if opt == "-s":
                self.basic.append(m.Source(ext.parse_net(value), negated))
            elif opt == "-d":
                self.basic.append(m.Destination(ext.parse_net(value), negated))
            elif opt in ("-i", "-o"):
                if len(value) > 15:
                    raise ValueError(f"interface name {value!r} is longer than 15 characters")
                self.basic.append(m.InIface(value, negated) if opt == "-i" else m.OutIface(value, negated))
            else:
                self.protocol(value, negated)
        except ValueError as exc:
            raise _LineError(f"{opt}: {exc}") from None

    def protocol(self, value: str, negated: bool) -> None:
        name = value.lower()
        if name in ("all", "0"):
            if negated:
                raise ValueError("'! -p all' matches nothing")
            self.proto = None
            return
        number = m.PROTO_NUMBERS.get(name)
        if number is None:
            number = ext.parse_int(value, "a protocol name or number", 0, 255)
        self.proto = None if negated else m.PROTO_NAMES.get(number)
        self.basic.append(m.Protocol_(number, negated))

    def ext_option(self, name: str, negated: bool) -> None:
        owner: ext.Options | None = None
        spec: dict[str, int] = {}
        if self.target_opts is not None and name in ext.TARGETS[self.target_opts.ext][0]:
            owner, spec = self.target_opts, ext.TARGETS[self.target_opts.ext][0]
        else:
            for opts in reversed(self.exts):
                if name in ext.MATCHES[opts.ext][0]:
                    owner, spec = opts, ext.MATCHES[opts.ext][0]
                    break
        if owner is None and self.proto in _PROTO_EXT and name in ext.MATCHES[_PROTO_EXT[self.proto]][0]:
            # iptables loads the protocol's match implicitly (-p tcp --dport 80 → -m tcp)
            owner = ext.Options(_PROTO_EXT[self.proto])
            self.exts.append(owner)
            spec = ext.MATCHES[owner.ext][0]
        if owner is None:
            known = [o.ext for o in self.exts] + ([self.target_opts.ext] if self.target_opts else [])
            for name_ext in [*known, _PROTO_EXT.get(self.proto or "", "")]:
                if name in ext.UNSUPPORTED_OPTIONS.get(name_ext, ()):
                    raise _LineError(f"option --{name} of {name_ext} is not supported", unsupported=True)
            if self.target_name is not None and self.target_opts is None and not self.is_chain(self.target_name):
                raise _LineError(f"unsupported target {self.target_name!r} (option --{name})", unsupported=True)
            loaded = ", ".join(o.ext for o in self.exts) or "none"
            raise _LineError(f"unknown option --{name} (loaded matches: {loaded}; target: {self.target_name or 'none'})")
        nargs = spec[name]
        if nargs:  # the legacy form puts '!' after an option that takes a value
            negated = self.legacy_negation() or negated
        pos = self.pos
        if pos + nargs > len(self.tokens):
            raise _LineError(f"expected an argument for --{name} at the end of the line")
        args = self.tokens[pos:pos + nargs]
        self.pos = pos + nargs
        try:
            owner.add(name, args, negated)
        except ValueError as exc:
            raise _LineError(str(exc)) from None

    def is_chain(self, name: str) -> bool:
        return self.table is not None and name in self.table.chains

    def build_matches(self) -> list[m.Match]:
        built = []
        for opts in self.exts:
            if opts.ext in ("tcp", "udp", "sctp", "icmp", "icmp6") and _PROTO_EXT.get(self.proto or "") != opts.ext:
                raise _LineError(f"-m {opts.ext} needs -p {'ipv6-icmp' if opts.ext == 'icmp6' else opts.ext}")
            try:
                built.append(ext.MATCHES[opts.ext][1](opts))
            except ValueError as exc:
                raise _LineError(f"-m {opts.ext}: {exc}") from None
        return built

    def build_target(self, line: int) -> Target | None:
        if self.goto is not None:
            self.note_jump(self.goto, line)
            return Goto(self.goto)
        if self.target_name is None:
            return None
        if self.target_opts is not None:
            try:
                return ext.TARGETS[self.target_name][1](self.target_opts)
            except ValueError as exc:
                raise _LineError(f"-j {self.target_name}: {exc}") from None
        if self.target_name in ext.KNOWN_UNSUPPORTED_TARGETS:
            raise _LineError(f"unsupported target {self.target_name!r}", unsupported=True)
        self.note_jump(self.target_name, line)
        return Jump(self.target_name)

    def note_jump(self, name: str, line: int) -> None:
        if name in BUILTIN_CHAINS.get(self.table.name if self.table else "", ()):
            raise _LineError(f"cannot jump to built-in chain {name}")
        if self.pending is not None and not self.is_chain(name):
            self.pending.jumps.setdefault(name, line)
