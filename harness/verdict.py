"""Deprecated alias of harness.scenario.verdict (tests written against nsharness 0.1)."""

from .scenario.verdict import *  # noqa: F403
from .scenario.verdict import __all__  # noqa: F401
