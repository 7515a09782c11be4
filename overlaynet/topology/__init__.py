"""Topology files → Cluster: safe YAML with line numbers, validation, defaults, controllers.

    load(paths) -> LoadResult(cluster, warnings)      raises TopologyError (all errors)
    load_cluster(paths) -> Cluster
    load_text(text, filename) -> LoadResult
    without_system(cluster) -> Cluster                 what the files wrote, without kubernetes/kube-dns/CoreDNS
"""

from overlaynet.errors import TopologyError
from overlaynet.topology.loader import LoadResult, load, load_cluster, load_text
from overlaynet.topology.system import without_system

__all__ = ["LoadResult", "TopologyError", "load", "load_cluster", "load_text", "without_system"]
