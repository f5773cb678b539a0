"""The nsharness plugin is a pytest11 entry point (pyproject.toml): installing the package
loads it. From a checkout that is not installed, load it from here instead."""

from importlib.metadata import entry_points

pytest_plugins = (
    [] if any(e.name == "nsharness" for e in entry_points(group="pytest11")) else ["harness.plugin"]
)
