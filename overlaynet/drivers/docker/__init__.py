"""Docker's overlay driver (libnetwork) over a KV store: see docs/docker.md."""

from overlaynet.drivers.docker.driver import DockerOverlayDriver

__all__ = ["DockerOverlayDriver"]
