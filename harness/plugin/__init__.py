"""The pytest plugin (entry point `nsharness`): kernels as a test dimension.

The entry point loads this package: its hooks (hooks.py) and fixtures (fixtures.py). Below
them: the options table (options), one session's kernels and Machines (session), the
checks around a test in a guest (guestcheck, isolation), the report collector (collector)
and the `--kselftest` items (kselftest)."""

from .hooks import (
    pytest_addoption,
    pytest_collection_finish,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_configure_node,
    pytest_generate_tests,
    pytest_report_teststatus,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    pytest_unconfigure,
)

pytest_plugins = ["harness.plugin.fixtures"]

__all__ = [
    "pytest_addoption",
    "pytest_collection_finish",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_configure_node",
    "pytest_generate_tests",
    "pytest_report_teststatus",
    "pytest_runtest_makereport",
    "pytest_sessionfinish",
    "pytest_unconfigure",
]
