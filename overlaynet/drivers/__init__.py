"""Network drivers (Python CNI plugins + node agents) and the registry that finds them.

``get_driver("flannel")`` resolves a driver through the ``overlaynet.drivers`` entry-point
group on first use; driver modules themselves are imported only then, so importing this
package stays cheap.
"""

from overlaynet.drivers.base import Driver
from overlaynet.drivers.registry import (
    available_drivers,
    check_network,
    get_driver,
    register,
    unregister,
)

__all__ = ["Driver", "available_drivers", "check_network", "get_driver", "register", "unregister"]
