"""The pytest plugin: kernels as a test dimension, booted guests as fixtures.

Every test that uses the `vm` (or `guest`) fixture runs once per `--kernel`, its id
showing the kernel release. One VM per kernel serves the whole session; a VM that dies
in a test fails that test with the console's evidence and the next test gets a fresh
boot of the same kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from . import image as image_mod
from . import kernel as kernel_mod
from .errors import HarnessError
from .keys import installation_keys
from .machine import Machine, MachineOptions
from .qemu import choose_accel, kill_all

VM_FIXTURES = {"vm", "guest", "nsh_kernel", "agent", "netns", "nsholder"}


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("nsharness", "nsharness: real kernels under QEMU")
    g.addoption(
        "--kernel",
        action="append",
        default=[],
        metavar="SPEC",
        help="kernel to test: a bzImage path, a kernel tree, debian:6.1, debian:6.12 or "
        "an exact Debian version (repeatable; default debian:6.12)",
    )
    g.addoption(
        "--modules",
        default=None,
        metavar="DIR",
        help="modules directory for a --kernel path (default: found beside it)",
    )
    g.addoption(
        "--accel",
        default="auto",
        choices=("auto", "kvm", "tcg"),
        help="QEMU accelerator (auto: KVM only if a probe guest runs under it)",
    )
    g.addoption(
        "--kernel-src",
        action="append",
        default=[],
        metavar="DIR",
        help="build this kernel source tree (our config fragment on tinyconfig) and test "
        "it (repeatable)",
    )
    g.addoption("--vm-memory", type=int, default=256, metavar="MB", help="guest memory")
    g.addoption("--vm-smp", type=int, default=1, metavar="N", help="guest CPUs")
    g.addoption(
        "--boot-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds from QEMU launch to a working SSH session",
    )
    g.addoption(
        "--keep-console",
        default=None,
        metavar="DIR",
        help="keep every boot's serial console log in DIR",
    )
    g.addoption("--image", default="bookworm", metavar="RECIPE", help="guest image recipe")
    g.addoption("--report", default=None, metavar="PATH", help="write the JSON run report here")
    g.addoption(
        "--splat-ignore",
        action="append",
        default=[],
        metavar="TEXT",
        help="kernel splats whose headline contains TEXT do not fail tests",
    )


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


@dataclass
class HarnessState:
    """Per-session state: resolved kernels, the image, and one Machine per kernel."""

    config: pytest.Config
    specs: list[str]
    kernels: list[kernel_mod.Kernel] = field(default_factory=list)
    machines: dict[str, Machine] = field(default_factory=dict)
    boot_failures: dict[str, str] = field(default_factory=dict)
    records: dict = field(default_factory=dict)
    merged: object = None  # the Report written at session end (for the summary)
    run: dict = field(default_factory=dict)
    _image: image_mod.Image | None = None
    _opts: MachineOptions | None = None

    def resolve(self) -> None:
        """Resolve --kernel specs and build --kernel-src trees. An xdist worker takes the
        controller's resolved kernels instead (no apt queries, no make per worker)."""
        handed = getattr(self.config, "workerinput", {}).get("nsh_kernels")
        if handed is not None:
            self.kernels = [kernel_mod.Kernel.from_dict(d) for d in handed]
            return
        mods = self.config.getoption("modules")
        for spec in self.specs:
            k = kernel_mod.resolve(spec, Path(mods) if mods else None)
            k.check_config()
            self.kernels.append(k)
        for src in self.config.getoption("kernel_src") or []:
            from .build import build

            k = build(Path(src))
            k.check_config()
            self.kernels.append(k)

    def options(self) -> MachineOptions:
        if self._opts is None:
            o = self.config.option
            keep = Path(o.keep_console) if o.keep_console else None
            if keep is None and o.report:  # a report must point at consoles that still exist
                keep = Path(o.report).resolve().parent / "consoles"
            self._opts = MachineOptions(
                accel=choose_accel(o.accel),
                memory_mb=o.vm_memory,
                smp=o.vm_smp,
                boot_timeout=o.boot_timeout,
                console_dir=keep,
            )
        return self._opts

    def image(self) -> image_mod.Image:
        if self._image is None:
            self._image = image_mod.ensure(self.config.getoption("image"))
        return self._image

    def machine(self, k: kernel_mod.Kernel) -> Machine:
        """The kernel's running VM, booting (or re-booting a dead one) as needed."""
        if k.release in self.boot_failures:
            pytest.fail(
                f"kernel {k.release} did not boot earlier in this session:\n"
                f"{self.boot_failures[k.release]}",
                pytrace=False,
            )
        m = self.machines.get(k.release)
        if m is not None and m.alive() and m.ssh is not None:
            return m
        if m is None:
            m = Machine(k, self.image(), installation_keys(), self.options())
            self.machines[k.release] = m
        else:
            m.stop()
        try:
            m.start()
        except HarnessError as e:
            self.boot_failures[k.release] = str(e)
            pytest.fail(f"kernel {k.release} did not boot: {e}", pytrace=False)
        return m

    def close(self) -> None:
        for m in self.machines.values():
            m.close()
        kill_all()


STATE = pytest.StashKey[HarnessState]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vm: needs a booted guest VM (QEMU)")
    config.addinivalue_line("markers", "xdist_group(name): pytest-xdist loadgroup (one kernel)")
    config.addinivalue_line("markers", "area(name): scenario area (" + ", ".join(AREAS) + ")")
    specs = config.getoption("kernel") or (
        [] if config.getoption("kernel_src") else [kernel_mod.DEFAULT_SPEC]
    )
    state = HarnessState(config, specs)
    config.stash[STATE] = state
    if _wants_vm(config) and not config.getoption("collectonly", False):
        try:
            state.resolve()
        except HarnessError as e:
            raise pytest.UsageError(str(e)) from None


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown when xdist is not installed
def pytest_configure_node(node) -> None:
    """xdist: hand workers the kernels the controller resolved (and built)."""
    node.workerinput["nsh_kernels"] = [k.to_dict() for k in node.config.stash[STATE].kernels]


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "nsh_kernel" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash[STATE]
    if state.kernels:
        params, ids = state.kernels, [k.release for k in state.kernels]
    else:  # vm tests deselected: don't fetch kernels just to name them
        params, ids = state.specs, [s.replace("/", "_") for s in state.specs]
    metafunc.parametrize("nsh_kernel", params, ids=ids, indirect=True, scope="session")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if VM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.vm)
        k = item.callspec.params.get("nsh_kernel") if hasattr(item, "callspec") else None
        if k is not None:  # xdist --dist loadgroup: a kernel's tests share one worker's VM
            item.add_marker(pytest.mark.xdist_group(getattr(k, "release", str(k))))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    rep = outcome.get_result()
    m: Machine | None = getattr(item, "_nsh_machine", None)
    if m is not None and call.when == "call" and m.qemu is not None and not m.alive():
        crash = m.qemu.console.crash() or f"QEMU exited ({m.qemu.proc.returncode})"
        rep.outcome = "failed"
        rep.longrepr = (
            f"guest {m.kernel.release} died during the test: {crash}\n"
            f"--- console tail ---\n{m.console_tail(40)}"
        )
    _record(item, rep)


def _record(item: pytest.Item, rep: pytest.TestReport) -> None:
    """Fold one phase's result into the test's report record."""
    from .report import TestRecord

    state = item.config.stash[STATE]
    k = item.callspec.params.get("nsh_kernel") if hasattr(item, "callspec") else None
    rec = state.records.get(item.nodeid)
    if rec is None:
        rec = state.records[item.nodeid] = TestRecord(
            nodeid=item.nodeid,
            kernel=getattr(k, "release", None),
            area=area_of(item),
            outcome="passed",
        )
    rec.duration_s = round(rec.duration_s + rep.duration, 3)
    if rep.skipped and rec.outcome == "passed":
        rec.outcome = "skipped"
        lr = rep.longrepr
        rec.skip_reason = lr[2] if isinstance(lr, tuple) else str(lr)
    elif rep.failed:
        splat = rep.when == "teardown" and bool(item.stash.get(KMSG, {}).get("splats"))
        rec.outcome = "failed" if rep.when == "call" or splat else "error"
        text = str(rep.longrepr)[-3000:]
        rec.message = f"{rec.message}\n{text}" if rec.message else text
        m = getattr(item, "_nsh_machine", None)
        if m is not None:
            rec.console_tail = m.console_tail(40)
        if isinstance(k, kernel_mod.Kernel):
            rec.reproduce = reproduce_line(k, item.name.split("[")[0])
    if rep.when == "teardown":
        rec.observations = item.stash.get(OBS, {})
        log = item.stash.get(KMSG, {})
        rec.kernel_log = log.get("lines", [])
        rec.splats = log.get("splats", [])


def pytest_sessionstart(session: pytest.Session) -> None:
    import sys

    from .qemu import qemu_version
    from .report import run_info

    session.config.stash[STATE].run = run_info(sys.argv, qemu_version())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the JSON report: also on Ctrl-C/SIGTERM (marked interrupted) and boot failures."""
    path = session.config.getoption("report")
    if not path:
        return
    from .report import Report, TestRecord, now

    state = session.config.stash[STATE]
    run = dict(state.run)
    run["end"] = now()
    run["exit_status"] = int(exitstatus)
    run["interrupted"] = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
    run["partial"] = run["interrupted"] or bool(state.boot_failures)
    vms = [vm_record(m) for m in state.machines.values() if m.record is not None]
    report = Report(run, vms, list(state.records.values()))
    parts = Path(str(path) + ".parts")
    worker = getattr(session.config, "workerinput", {}).get("workerid")
    if worker:  # an xdist worker writes its part; the controller merges them
        report.write(parts / f"{worker}.json")
        return
    if parts.is_dir():
        import json
        import shutil

        for f in sorted(parts.glob("*.json")):
            doc = json.loads(f.read_text())
            report.vms += doc["vms"]
            report.tests += [TestRecord(**t) for t in doc["tests"]]
            run["partial"] = run["partial"] or doc["run"]["partial"]
        shutil.rmtree(parts)
    report.write(Path(path))
    state.merged = report
    # The human view, next to the machine one: a self-contained page of the same run.
    from .report_cli import render_html

    Path(path).with_suffix(".html").write_text(render_html(report.to_dict()))


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    """A compact per-kernel table and the report paths, when a report was asked for."""
    path = config.getoption("report")
    state = config.stash.get(STATE, None)
    if not path or state is None or state.merged is None or not state.merged.tests:
        return
    from dataclasses import asdict

    from .report_cli import print_summary

    paths = [str(Path(path).resolve()), str(Path(path).with_suffix(".html").resolve())]
    junit = config.getoption("xmlpath", None)
    if junit:
        paths.append(str(Path(junit).resolve()))
    rep = state.merged
    print_summary([asdict(r) for r in rep.tests], rep.vms, paths, file=terminalreporter._tw._file)


def reproduce_line(k: kernel_mod.Kernel, test: str) -> str:
    """One command that re-runs *test* on exactly this kernel build."""
    if k.package_version:
        return f"nsharness run --kernel debian:{k.package_version} -k '{test}'"
    if k.origin == "build":
        src = k.spec[4:] if k.spec.startswith("src:") else k.spec
        return f"nsharness run --kernel-src {src} -k '{test}'  # {k.identity}"
    return f"nsharness run --kernel {k.image} -k '{test}'  # {k.identity}"


def vm_record(m: Machine) -> dict:
    k, r = m.kernel, m.record
    return {
        "release": r.release,
        "spec": r.spec,
        "accel": r.accel,
        "accel_reason": r.accel_reason,
        "boot_s": r.boot_s,
        "ssh_s": r.ssh_s,
        "boots": m.boots,
        "console_log": r.console_log,
        "cmdline": r.cmdline,
        "kernel_path": str(k.image),
        "kernel_version": k.version,
        "kernel_identity": k.identity,
        "config_hash": k.config_hash,
        "modules": str(k.modules) if k.modules else None,
        "image_hash": m.image.hash,
    }


@pytest.fixture(scope="session")
def nsh_kernel(request: pytest.FixtureRequest) -> kernel_mod.Kernel:
    """The kernel this test instance runs on (parametrized by --kernel)."""
    if not isinstance(request.param, kernel_mod.Kernel):
        pytest.skip("kernels were not resolved (vm tests deselected)")
    return request.param


@pytest.fixture
def vm(request: pytest.FixtureRequest, nsh_kernel: kernel_mod.Kernel) -> Machine:
    """The booted guest of this test's kernel (shared by the session, re-booted if it died)."""
    state = request.config.stash[STATE]
    m = state.machine(nsh_kernel)
    request.node._nsh_machine = m
    request.node.user_properties += [
        ("kernel", nsh_kernel.release),
        ("accel", m.record.accel),
        ("boot_s", m.record.boot_s),
    ]
    return m


@pytest.fixture
def guest(vm: Machine):
    """The guest's SSH session: run(cmd, timeout=, check=), put(), get()."""
    return vm.ssh


# ------------------------------------------------------------------ scenario fixtures

AREAS = ("sysfs-views", "setns", "persistence", "sockets", "devices")
KMSG = pytest.StashKey[dict]()


def area_of(item: pytest.Item) -> str | None:
    m = item.get_closest_marker("area")
    return m.args[0] if m and m.args else None


@pytest.fixture
def observe(request: pytest.FixtureRequest):
    """observe(key, value): record what the kernel showed, for this test's report record."""
    store: dict = {}
    request.node.stash[OBS] = store

    def record(key: str, value):
        store[key] = value
        return value

    return record


OBS = pytest.StashKey[dict]()


@pytest.fixture
def agent(request: pytest.FixtureRequest, vm: Machine):
    """The guest agent of this test's VM. Around the test it slices the kernel log, and
    a WARNING/BUG/Oops/refcount splat in the slice fails the test (with the splat)."""
    from .console import find_splats

    ag = vm.agent
    mark = ag.call("kmsg_mark")
    yield ag
    if not vm.alive():
        return
    lines = ag.call("kmsg_since", seq=mark)
    ignore = request.config.getoption("splat_ignore") or []
    splats = [s for s in find_splats(lines) if not any(i in s.headline for i in ignore)]
    request.node.stash[KMSG] = {"lines": lines, "splats": [s.to_dict() for s in splats]}
    if splats:
        s = splats[0]
        pytest.fail(
            f"kernel {s.kind} during the test: {s.headline}\n" + "\n".join(s.lines[:40]),
            pytrace=False,
        )


@pytest.fixture
def netns(request: pytest.FixtureRequest, agent):
    """Factory: netns() / netns("name") / netns(anonymous=True) -> NetNS in the guest.

    Teardown releases each namespace and waits (bounded poll) until the kernel has really
    destroyed it; one that outlives its release fails the test.
    """
    from .agent import NetNS

    made: list[NetNS] = []
    base = f"t{abs(hash(request.node.nodeid)) % 10**6}"

    def make(name: str | None = None, anonymous: bool = False) -> NetNS:
        h = agent.call("netns_create", name=name or f"{base}-{len(made)}", anonymous=anonymous)
        ns = NetNS(agent, h)
        made.append(ns)
        return ns

    yield make
    leftover = []
    for ns in reversed(made):
        if not ns.destroyed:
            try:
                ns.destroy()
            except HarnessError as e:
                leftover.append(str(e))
    if leftover:
        pytest.fail("; ".join(leftover), pytrace=False)


@pytest.fixture
def nsholder(agent):
    """Factory: nsholder(["uts", "ipc"], hostname=...) or nsholder(["mnt"]) -> NsHolder,
    namespaces of those types kept by a guest process; released after the test."""
    from .agent import NsHolder

    made: list[NsHolder] = []

    def make(kinds: list[str], hostname: str | None = None) -> NsHolder:
        h = NsHolder(agent, agent.call("ns_hold", kinds=list(kinds), hostname=hostname))
        made.append(h)
        return h

    yield make
    for h in made:
        if not h.released:
            h.release()
