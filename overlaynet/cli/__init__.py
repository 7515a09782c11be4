"""The command line: thin. Each command parses, calls one library function, formats.

Subcommands live in sibling modules and load lazily so ``overlaynet --help`` stays fast.
Exit status: 0 success, 1 when the answer is "no" (a dropped trace, a failed verify),
2 on bad input (an OverlaynetError, printed without a traceback).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from overlaynet.errors import OverlaynetError

# command name -> "module:attribute" (module relative to overlaynet.cli)
COMMANDS: dict[str, str] = {
    "validate": "topology:validate",
    "show": "topology:show",
    "graph": "topology:graph",
    "trace": "trace:trace",
    "routes": "trace:routes",
    "demo": "trace:demo",
    "rules": "netfilter:rules",
    "kube-proxy": "kubeproxy:kube_proxy",
    "iptables": "netfilter:iptables",
    "dns": "dns:dns",
    "bgp": "calico:bgp",
    "weave": "weave:weave",
    "reach": "reach:reach",
    "diff": "reach:diff",
    "overhead": "overhead:overhead",
    "materialize": "materialize:materialize",
    "kv": "kv:kv",
    "scenario": "scenario:scenario",
    "sweep": "sweep:sweep",
    "ui": "web:ui",
    "report": "web:report",
    "traffic": "traffic:traffic",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(f"overlaynet.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"overlaynet.cli.{module_name}":
                return None  # not built yet
            raise
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OverlaynetError as exc:
            click.echo(f"error: {exc}" if "\n" not in str(exc) else str(exc), err=True)
            sys.exit(2)
        except OSError as exc:
            if exc.filename is None:  # not a file the user named: a real failure, shown whole
                raise
            # a file the user named cannot be written or read (--pcap, -o, --plot…)
            click.echo(f"error: {exc.filename}: {exc.strerror or exc}", err=True)
            sys.exit(2)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="overlaynet")
def main() -> None:
    """overlaynet: where does a packet go in a Kubernetes cluster, and why?

    \b
    Examples:
      overlaynet validate --each topologies/*.yaml
      overlaynet show topologies/demo.yaml
      overlaynet trace topologies/demo.yaml --from default/frontend-dtz8lffdhv-blt7m --to default/backend-lm568x9xcq-qjb4k
    """


def run() -> None:
    """The ``overlaynet`` console script: ``main``, then a quick exit. A command on a large
    cluster holds 10^6 objects, and the interpreter's teardown frees them one by one (0.7 s
    of a 4 s second trace at 150,000 pods) just before the process ends anyway. Output is
    flushed and exit handlers run as on any exit; when another thread is still running, or
    the exit is not a plain status, the process ends the ordinary way."""
    import atexit
    import os
    import threading

    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code
    if not isinstance(code, int) or threading.active_count() > 1:
        sys.exit(code)  # type: ignore[arg-type]
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: let the ordinary exit report it
        sys.exit(code)
    atexit._run_exitfuncs()
    os._exit(code)
