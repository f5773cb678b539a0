"""Scenario helpers shared by the area modules."""

import pytest


def need(condition: bool, reason: str) -> None:
    """Skip when the kernel lacks a feature (found by probing it, not from the version)."""
    if not condition:
        pytest.skip(reason)


@pytest.fixture
def fresh(agent, netns) -> set[str]:
    """The devices an empty netns has on this kernel: lo, plus the fallback tunnel devices
    (sit0, ip6tnl0, gre0...) that built-in tunnel drivers create in every namespace.
    Measured once per boot, through netlink, in a throw-away namespace."""
    cached = getattr(agent, "_fresh_devices", None)
    if cached is None:
        cached = set(netns().call("views")["netlink"])
        agent._fresh_devices = cached
    return set(cached)
