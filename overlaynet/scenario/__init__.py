"""Clusters over time: a scenario of timed steps (scale, rolling updates, probes, deletions,
node loss, apply) run over a loaded topology by simulated controllers and kubelets, with
the network (endpoints, kube-proxy's rules and probabilities, affinity, DNS) asked at every
change.

    >>> from overlaynet.topology import load_cluster
    >>> from overlaynet.scenario import read_scenario, run
    >>> sc = read_scenario('''
    ... kind: Scenario
    ... spec:
    ...   steps:
    ...     - scale: {kind: rc, name: node-js, replicas: 4}
    ... ''')
    >>> timeline = run(load_cluster(["topologies/node-js.yaml"]), sc)
    >>> [w.ready for w in timeline.steps[-1].workloads[-1]]
    [4]
"""

from overlaynet.scenario.engine import Engine, StepReport, Timeline, network_at, run
from overlaynet.scenario.reader import load_scenario, read_scenario
from overlaynet.scenario.spec import Scenario, Step

__all__ = ["Engine", "Scenario", "Step", "StepReport", "Timeline", "load_scenario", "network_at", "read_scenario", "run"]
