from __future__ import annotations

from collections.abc import Iterator

import pytest

import overlaynet.drivers as drivers
from overlaynet.drivers import available_drivers, get_driver, register, unregister
from overlaynet.drivers.fake import FakeDriver
from overlaynet.drivers.flannel import FlannelDriver
from overlaynet.errors import OverlaynetError, UnknownDriver


@pytest.fixture
def scratch() -> Iterator[str]:
    name = "test-scratch-driver"
    yield name
    unregister(name)


def test_entry_points_resolve() -> None:
    assert {"fake", "flannel"} <= set(available_drivers())
    assert available_drivers() == sorted(available_drivers())
    assert get_driver("flannel") is FlannelDriver
    assert get_driver("fake") is FakeDriver
    assert get_driver("flannel") is get_driver("flannel")  # cached


def test_unknown_driver_lists_the_known_ones() -> None:
    with pytest.raises(UnknownDriver) as info:
        get_driver("flanel")
    assert isinstance(info.value, OverlaynetError) and isinstance(info.value, LookupError)
    message = str(info.value)
    assert "'flanel'" in message
    for name in available_drivers():
        assert name in message


def test_register_and_unregister(scratch: str) -> None:
    class Mine(FakeDriver):
        name = "mine"

    register(scratch, Mine)
    assert scratch in available_drivers()
    assert get_driver(scratch) is Mine
    unregister(scratch)
    assert scratch not in available_drivers()
    with pytest.raises(UnknownDriver):
        get_driver(scratch)


def test_register_rejects_non_drivers(scratch: str) -> None:
    with pytest.raises(TypeError):
        register(scratch, dict)  # type: ignore[arg-type]


def test_public_api() -> None:
    assert set(drivers.__all__) == {"Driver", "available_drivers", "check_network", "get_driver", "register", "unregister"}
    for name in drivers.__all__:
        assert getattr(drivers, name) is not None
