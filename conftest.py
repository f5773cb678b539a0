"""Load the nsharness pytest plugin for every test under this tree."""

pytest_plugins = ["harness.plugin"]
