"""The plugin's hooks: kernels as a test dimension.

Every test that uses a VM fixture (`vm`, `ssh`, `agent`, `netns`, ...) runs once per
kernel, its id showing the kernel's label. The hooks only wire things up: the options
(options.py), the session's kernels and Machines (session.py), the fixtures (fixtures.py),
the `--kselftest` items (kselftest.py) and the report collector (collector.py).
"""

from __future__ import annotations

import logging

import pytest

from ..errors import HarnessError
from . import kselftest as kselftest_items
from . import options, outcomes
from .collector import EXTRAS, ReportCollector
from .session import SESSION, HarnessSession

VM_FIXTURES = {"vm", "ssh", "guest", "nsh_kernel", "agent", "netns", "nsholder", "fresh"}
AREAS = ("sysfs-views", "setns", "lifetime", "sockets", "devices", "nsfs-ids", "nstree",
         "netns-links", "userns-mounts", "pidfd", "pidns", "mntns")  # fmt: skip
KSELFTESTS = pytest.StashKey["kselftest_items.KselftestPlan | None"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_to_pytest(parser)


def _wants_vm(config: pytest.Config) -> bool:
    """Would a test marked `vm` survive the -m expression? (No kernel fetch otherwise.)"""
    expr = config.option.markexpr
    if not expr:
        return True
    from _pytest.mark.expression import Expression

    try:
        return Expression.compile(expr).evaluate(lambda name, **kw: name == "vm")
    except Exception:  # noqa: BLE001 - let pytest report a bad expression itself
        return True


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "vm: needs a booted guest VM (QEMU)",
        "xdist_group(name): pytest-xdist loadgroup (one kernel)",
        "area(name): scenario area (" + ", ".join(AREAS) + ")",
        "behaviour(*ids): the catalogue behaviours this test observes (report coverage)",
        kselftest_items.MARKER,
    ):
        config.addinivalue_line("markers", line)
    old = options.deprecated_flags(list(config.invocation_params.args))
    if old and not hasattr(config, "workerinput"):  # (nsharness run passes the new names)
        config.issue_config_time_warning(
            pytest.PytestDeprecationWarning(
                "nsharness: " + ", ".join(f"{f} is deprecated, use --nsh-{f[2:]}" for f in old)
            ),
            stacklevel=2,
        )
    try:
        config.stash[outcomes.KNOWN] = outcomes.read_known(config.getoption("known_findings"))
    except HarnessError as e:
        raise pytest.UsageError(str(e)) from None
    session = config.stash[SESSION] = HarnessSession(config)
    config.stash[KSELFTESTS] = kselftest_items.KselftestPlan.from_config(config)
    collector = ReportCollector(config, session.vm_records, session.kernel_of)
    config.pluginmanager.register(collector, "nsharness-report")
    if config.option.verbose >= 1 and config.getoption("log_cli_level", None) is None:
        config.option.log_cli_level = "INFO"  # -v shows boot phases and guest ops, timed
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)  # QMP to a dead QEMU: ours


def fatal(config: pytest.Config, message: str, code: int = 4) -> None:
    """Stop the run with one clear error (kept in the report as the session's error)."""
    config.stash[SESSION].error = message
    collector = config.pluginmanager.get_plugin("nsharness-report")
    if collector is not None:
        collector.run.error = message
    pytest.exit(f"nsharness: {message}", returncode=code)


def _resolve(config: pytest.Config) -> HarnessSession:
    """Resolve the kernels once. A failure is kept and reported by collection_finish: an
    exit raised during collection would read as a collection error of every module."""
    session = config.stash[SESSION]
    if not session.resolved:
        try:
            session.resolve()
        except HarnessError as e:
            session.error = str(e).splitlines()[0]
            session.error_code = e.exit_code
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM (a cancelled CI job): say during what
            session.error = f"interrupted while {session.doing or 'resolving the kernels'}"
            session.interrupted = True
            collector = config.pluginmanager.get_plugin("nsharness-report")
            if collector is not None:
                collector.run.error = session.error
            raise  # (pytest's collection may keep it as a collection error: see below)
    return session


def _kselftests_built(config: pytest.Config, session: HarnessSession):
    """The --kselftest selection built for every kernel (cached), or one clear error."""
    plan = config.stash[KSELFTESTS]
    if plan is not None:
        try:
            plan.check(session.kernels)
        except HarnessError as e:
            fatal(config, str(e).splitlines()[0], e.exit_code)
    return plan


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown when xdist is not installed
def pytest_configure_node(node) -> None:
    """xdist: hand workers the kernels the controller resolved (and built), and build the
    selftests here too, so a bad selection fails once and workers find the builds cached."""
    session = _resolve(node.config)
    _kselftests_built(node.config, session)
    node.workerinput["nsh_kernels"] = [k.to_dict() for k in session.kernels]


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION, None)
    if session is not None:
        session.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "nsh_kernel" not in metafunc.fixturenames:
        return
    config = metafunc.config
    if _wants_vm(config) and not config.getoption("collectonly", False):
        session = _resolve(config)
        params = session.kernels or ["unresolved"]
        ids = [session.label(k) for k in session.kernels] or ["unresolved"]
    else:  # vm tests deselected: don't fetch kernels just to name them
        specs = config.stash[SESSION].specs + list(config.option.kernel_src or [])
        params, ids = specs, [s.replace("/", "_") for s in specs]
    metafunc.parametrize("nsh_kernel", params, ids=ids, indirect=True, scope="session")


def _uses_vm(item: pytest.Item) -> bool:
    """A test that needs a guest: through a VM fixture, or as an item naming its kernel."""
    fixtures = set(getattr(item, "fixturenames", ()))
    return bool(VM_FIXTURES & fixtures) or getattr(item, "nsh_kernel", None) is not None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add the --kselftest items (before -k/-m deselection, which applies to them as to any
    test), mark VM tests, and group each kernel's tests on one xdist worker."""
    hs = config.stash[SESSION]
    if config.stash[KSELFTESTS] is not None and _wants_vm(config):
        _resolve(config)
        if not hs.error:  # (kernels that did not resolve are reported by collection_finish)
            plan = _kselftests_built(config, hs)
            kernels = [(k, hs.label(k)) for k in hs.kernels]
            items += kselftest_items.collect(session, kernels, plan)
    for item in items:
        if _uses_vm(item):
            item.add_marker(pytest.mark.vm)
        k, label = hs.kernel_of(item)
        if k is not None:  # xdist --dist loadgroup: a kernel's tests share one worker's VM
            item.add_marker(pytest.mark.xdist_group(k.key))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Prepare what the whole run needs before the first test, once: a missing QEMU, a
    broken --accel kvm or an image that cannot be built is one clear error, not a
    traceback per test."""
    config = session.config
    hs = config.stash[SESSION]
    if hs.interrupted:  # pytest's INTERRUPTED (2): the report says interrupted, and when
        fatal(config, hs.error or "interrupted", int(pytest.ExitCode.INTERRUPTED))
    if hs.error:
        fatal(config, hs.error, getattr(hs, "error_code", 4))
    if config.getoption("collectonly", False) or hasattr(config, "workerinput"):
        return
    if not any(_uses_vm(i) for i in session.items):
        return
    if not hs.kernels:
        return
    try:
        hs.prepare()
    except HarnessError as e:
        fatal(config, str(e).splitlines()[0], e.exit_code)


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A guest that died during the test fails it with the console's evidence (innermost
    wrapper: the report collector, outermost, sees the result)."""
    outcome = yield
    rep = outcome.get_result()
    outcomes.translate(item, call, rep)
    m = getattr(item, "_nsh_machine", None)
    if m is not None and call.when == "call" and m.started and not m.alive():
        item.stash.setdefault(EXTRAS, {})["error_kind"] = "guest-died"
        rep.outcome = "failed"
        rep.longrepr = (
            f"guest {m.label} died during the test: {m.dead_reason()}\n"
            f"--- console tail ---\n{m.console_tail(40)}"
        )


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report, config):
    return outcomes.teststatus(report)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    collector = session.config.pluginmanager.get_plugin("nsharness-report")
    if collector is not None:
        outcomes.exit_status(session, collector.records.values())
