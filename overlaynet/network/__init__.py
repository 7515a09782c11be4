"""The composition layer: topology files or a model become a programmed ``Network``
(driver, kube-proxy, underlay, lazily per host), and user words (``"default/web-0"``,
``"web:80"``, an IP) become packets to trace through it. It sits above every library room
(drivers, kube-proxy, DNS, the tracer, the analyses) and below the CLI; it owns what a
network shares between its hosts.
"""

from overlaynet.network.network import Network, assemble, load, traced_routing

__all__ = ["Network", "assemble", "load", "traced_routing"]
