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

VM_FIXTURES = {"vm", "guest", "nsh_kernel", "agent", "netns"}


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
    _image: image_mod.Image | None = None
    _opts: MachineOptions | None = None

    def resolve(self) -> None:
        mods = self.config.getoption("modules")
        for spec in self.specs:
            k = kernel_mod.resolve(spec, Path(mods) if mods else None)
            k.check_config()
            self.kernels.append(k)

    def options(self) -> MachineOptions:
        if self._opts is None:
            o = self.config.option
            keep = Path(o.keep_console) if o.keep_console else None
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
    state = HarnessState(config, config.getoption("kernel") or [kernel_mod.DEFAULT_SPEC])
    config.stash[STATE] = state
    if _wants_vm(config) and not config.getoption("collectonly", False):
        try:
            state.resolve()
        except HarnessError as e:
            raise pytest.UsageError(str(e)) from None


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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    rep = outcome.get_result()
    m: Machine | None = getattr(item, "_nsh_machine", None)
    if m is None or call.when != "call":
        return
    if m.qemu is not None and not m.alive():
        crash = m.qemu.console.crash() or f"QEMU exited ({m.qemu.proc.returncode})"
        rep.outcome = "failed"
        rep.longrepr = (
            f"guest {m.kernel.release} died during the test: {crash}\n"
            f"--- console tail ---\n{m.console_tail(40)}"
        )


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
    return m


@pytest.fixture
def guest(vm: Machine):
    """The guest's SSH session: run(cmd, timeout=, check=), put(), get()."""
    return vm.ssh
