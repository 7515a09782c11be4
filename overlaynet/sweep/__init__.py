"""Whole-cluster sweeps: every source class × every Service port, traced with all branches,
embedded or on Dask; and the difference between two sweeps.

>>> from overlaynet.sweep import run_sweep
>>> result = run_sweep(["topologies/demo.yaml"], flow_filter=FlowFilter(services=("web",)))
>>> {r.verdict for r in result.results}
{'DELIVERED'}
"""

from overlaynet.sweep.diff import Change, SweepDiff, diff_results
from overlaynet.sweep.engine import run_sweep
from overlaynet.sweep.flows import Flow, FlowFilter, SourceClass, plan
from overlaynet.sweep.result import SweepResult, read_results
from overlaynet.sweep.task import Branch, FlowResult, TopologySource

__all__ = [
    "Branch",
    "Change",
    "Flow",
    "FlowFilter",
    "FlowResult",
    "SourceClass",
    "SweepDiff",
    "SweepResult",
    "TopologySource",
    "diff_results",
    "plan",
    "read_results",
    "run_sweep",
]
