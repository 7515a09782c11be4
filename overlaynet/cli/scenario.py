"""``overlaynet scenario run|trace``: a cluster over time, step by step."""

from __future__ import annotations

import json
import sys

import click

from overlaynet.cli._common import load_cluster
from overlaynet.errors import ScenarioError

EXAMPLES = """
\b
Examples:
  overlaynet scenario run topologies/ab-test.yaml topologies/scenarios/ab-shift.yaml
  overlaynet scenario run topologies/scenarios/deployment.yaml topologies/scenarios/deployment-rollout.yaml --plot shares.png
  overlaynet scenario trace topologies/scenarios/probes.yaml topologies/scenarios/readiness-outage.yaml \\
      --at 1 --from default/client --to default/web --all-branches
"""


@click.group(epilog=EXAMPLES)
def scenario() -> None:
    """Clusters over time: run a Scenario (scale, rolling updates, probes, deletions, node
    loss) over a topology and see the network at every step."""


@scenario.command(epilog=EXAMPLES)
@click.argument("topology", type=click.Path(exists=True))
@click.argument("scenario_file", metavar="SCENARIO", type=click.Path(exists=True, dir_okay=False))
@click.option("--seed", type=int, help="Seed for names and sampled choices (default: the scenario's, else 0).")
@click.option("--json", "as_json", is_flag=True, help="Every step's frames, endpoints, shares, clients and events as JSON.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Draw the share of new connections per version over time.")
def run(topology: str, scenario_file: str, seed: int | None, as_json: bool, plot: str | None) -> None:
    """Run SCENARIO over TOPOLOGY: a table per step (workloads, endpoints ready/serving/
    terminating, share of new connections per version), then kube-proxy's chains with
    each endpoint's probability, the sample clients' backends and broken connections."""
    from overlaynet.scenario import load_scenario
    from overlaynet.scenario import run as run_scenario
    from overlaynet.scenario.render import plot_shares, render_text

    sc = load_scenario(scenario_file)
    timeline = run_scenario(load_cluster([topology]), sc, seed=seed)
    if plot:
        plot_shares(timeline, plot)
    if as_json:
        click.echo(json.dumps(timeline.to_dict(), indent=2))
    else:
        click.echo(render_text(timeline), nl=False)


@scenario.command(epilog=EXAMPLES)
@click.argument("topology", type=click.Path(exists=True))
@click.argument("scenario_file", metavar="SCENARIO", type=click.Path(exists=True, dir_okay=False))
@click.option("--at", "at_step", required=True, type=click.IntRange(0), help="Trace as the cluster is when step N ends (0: before the first step).")
@click.option("--from", "source", required=True, help="NS/POD, a node name, or an IP.")
@click.option("--to", "target", required=True, help="NS/POD, NS/SERVICE, a node, an IP, IP:PORT or NAME[:PORT].")
@click.option("--port", type=click.IntRange(1, 65535), help="Destination port (default: the target's, else 80).")
@click.option("--proto", type=click.Choice(["tcp", "udp", "icmp"]), default="tcp", show_default=True)
@click.option("--all-branches", is_flag=True, help="Follow every load-balancing branch, with probabilities.")
@click.option("--seed", type=int, help="Seed (default: the scenario's, else 0).")
@click.option("--json", "as_json", is_flag=True)
def trace(topology: str, scenario_file: str, at_step: int, source: str, target: str, port: int | None, proto: str,
          all_branches: bool, seed: int | None, as_json: bool) -> None:
    """Trace one packet through the cluster as it is when step --at ends. Exit 0 when
    delivered, 1 when not, 2 on bad input."""
    from overlaynet.scenario import load_scenario, network_at
    from overlaynet.trace.render import render_result

    try:
        network = network_at(load_cluster([topology]), load_scenario(scenario_file), at_step, seed=seed)
    except ScenarioError as exc:
        if exc.diagnostics[0].message.startswith("expected a step number"):
            raise click.BadParameter(exc.diagnostics[0].message, param_hint="--at") from exc
        raise
    report = network.trace(source, target, port=port, proto=proto, all_branches=all_branches,  # type: ignore[arg-type]
                           seed=seed or 0)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(render_result(report.forward), nl=False)
    sys.exit(0 if report.success else 1)
