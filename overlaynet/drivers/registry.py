"""The driver registry: names → Driver classes, from the ``overlaynet.drivers`` entry points.

Entry points are read on first use and cached; ``register`` adds a class by hand (tests,
plugins that are not installed as distributions). A name registered by hand wins over an
entry point of the same name.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from overlaynet.errors import UnknownDriver

if TYPE_CHECKING:
    from overlaynet.drivers.base import Driver

__all__ = ["ENTRY_POINT_GROUP", "available_drivers", "check_network", "get_driver", "register", "unregister"]

ENTRY_POINT_GROUP = "overlaynet.drivers"

_lock = threading.Lock()
_entry_points: dict[str, EntryPoint] | None = None
_loaded: dict[str, type[Driver]] = {}
_registered: dict[str, type[Driver]] = {}


def _discover() -> dict[str, EntryPoint]:
    global _entry_points
    with _lock:
        if _entry_points is None:
            _entry_points = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        return _entry_points


def available_drivers() -> list[str]:
    """Every driver name known, sorted: installed entry points plus ``register``ed classes.

    >>> "flannel" in available_drivers() and "fake" in available_drivers()
    True
    """
    return sorted(set(_discover()) | set(_registered))


def get_driver(name: str) -> type[Driver]:
    """The Driver class registered under ``name``; ``UnknownDriver`` lists the known ones.

    >>> get_driver("fake").__name__
    'FakeDriver'
    """
    from overlaynet.drivers.base import Driver

    if name in _registered:
        return _registered[name]
    if name in _loaded:
        return _loaded[name]
    eps = _discover()
    if name not in eps:
        raise UnknownDriver(name, available_drivers())
    cls = eps[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise TypeError(f"entry point {name} = {eps[name].value} is not a Driver subclass")
    _loaded[name] = cls
    return cls


def check_network(driver: str, options: Mapping[str, Any]) -> None:
    """Raise ``UnknownDriver`` or ``DriverOptionError`` unless ``driver`` exists and takes
    ``options``: what ``overlaynet.topology.load(..., network_check=check_network)`` asks so
    that a bad driver is reported at its place in the file.

    >>> check_network("flannel", {"backend": "host-gw"})
    """
    get_driver(driver).validate_options(options)


def register(name: str, cls: type[Driver]) -> None:
    """Register ``cls`` under ``name`` (replacing any earlier registration of that name)."""
    from overlaynet.drivers.base import Driver

    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise TypeError(f"{cls!r} is not a Driver subclass")
    _registered[name] = cls


def unregister(name: str) -> None:
    """Forget a ``register``ed name (entry points stay); a no-op for unknown names."""
    _registered.pop(name, None)
