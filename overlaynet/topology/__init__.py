"""Topology files → Cluster: safe YAML with line numbers, validation, defaults, controllers.

    load(paths) -> LoadResult(cluster, warnings)      raises TopologyError (all errors)
    load_cluster(paths) -> Cluster
    load_text(text, filename) -> LoadResult
"""

from overlaynet.errors import TopologyError
from overlaynet.topology.loader import LoadResult, load, load_cluster, load_text

__all__ = ["LoadResult", "TopologyError", "load", "load_cluster", "load_text"]
