"""Flannel: a faithful Python flanneld (config, subnet leases, vxlan/host-gw/udp) plus the
flannel CNI plugin delegating to the bridge plugin. Entry point ``FlannelDriver``."""

from overlaynet.drivers.flannel.config import BackendConfig, NetworkConfig
from overlaynet.drivers.flannel.driver import FlannelDriver
from overlaynet.drivers.flannel.leases import Lease, lease_key

__all__ = ["BackendConfig", "FlannelDriver", "Lease", "NetworkConfig", "lease_key"]
