"""Scenario helpers shared by the area modules."""

import pytest


def need(condition: bool, reason: str) -> None:
    """Skip when the kernel lacks a feature (found by probing it, not from the version)."""
    if not condition:
        pytest.skip(reason)
