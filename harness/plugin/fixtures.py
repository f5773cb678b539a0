"""The fixtures a namespace test uses: `vm`, `ssh`, `agent`, `netns`, `nsholder`,
`observe`, `fresh` (and `guest`, the 0.1 name of `ssh`). Loaded with the plugin (entry
point `nsharness`), so any project that installs nsharness can write its own tests with
them: their names are public API.

Around every test that uses `agent`: the kernel log is sliced (a WARNING/BUG/refcount
splat fails the test), the agent's steps are kept for the report, and the initial
namespaces are compared with their state when the guest was ready (a leftover fails the
test and is undone, or the guest is replaced, before the next test).
"""

from __future__ import annotations

import pytest

from ..errors import HarnessError, SetupStepFailed
from ..kernel import Kernel
from ..scenario.netns import NetNS, NsHolder, expected_empty_netns
from ..scenario.ops import Agent
from ..vm.guest import RunningGuest
from ..vm.ssh import SSHSession
from . import guestcheck, isolation
from .collector import EXTRAS
from .session import SESSION


def _session(config: pytest.Config):
    return config.stash[SESSION]


def _extras(request: pytest.FixtureRequest) -> dict:
    return request.node.stash.setdefault(EXTRAS, {})


@pytest.fixture(scope="session")
def nsh_kernel(request: pytest.FixtureRequest) -> Kernel:
    """The kernel this test instance runs on (parametrized by --kernel / --kernel-src)."""
    if not isinstance(request.param, Kernel):
        pytest.skip("kernels were not resolved (vm tests deselected)")
    return request.param


@pytest.fixture
def vm(request: pytest.FixtureRequest, nsh_kernel: Kernel) -> RunningGuest:
    """The booted guest of this test's kernel (shared by the session, replaced when it
    died or became unusable): run, succeed, put, get, stream, its agent's channel."""
    m = _session(request.config).machine(nsh_kernel)
    request.node._nsh_machine = m
    request.node.user_properties += m.properties()
    return m


@pytest.fixture
def ssh(vm: RunningGuest) -> SSHSession:
    """The guest's SSH session: run(cmd, timeout=, check=), put(), get()."""
    return vm.ssh


@pytest.fixture
def guest(ssh: SSHSession) -> SSHSession:
    """Deprecated name of `ssh` (nsharness 0.1)."""
    return ssh


@pytest.fixture
def observe(request: pytest.FixtureRequest):
    """observe(key, value): record what the kernel showed, for this test's report record."""
    store = _extras(request).setdefault("observations", {})

    def record(key: str, value):
        store[key] = value
        return value

    return record


@pytest.fixture
def agent(request: pytest.FixtureRequest, vm: RunningGuest) -> Agent:
    """The guest agent's typed operations (harness.scenario.ops.Agent)."""
    ag = vm.agent
    guestcheck.begin(ag)  # a new guest: its clean state, and where its log is
    ag.take_steps()
    yield Agent(ag)
    extras = _extras(request)
    extras["steps"] = ag.take_steps()
    if not vm.usable():
        extras["error_kind"] = "guest-died" if not vm.alive() else "harness"
        return
    checked = guestcheck.after(ag, request.config.getoption("splat_ignore") or [])
    splats, leaks = checked.splats, checked.leaks
    extras["kernel_log"] = checked.kernel_log
    extras["splats"] = [s.to_dict() for s in splats]
    if leaks:
        extras["leaks"] = leaks.parts
        if vm.snapshots:  # a restore costs a fraction of a boot: the cleanest undo
            vm.request_reset(f"the previous test left state behind: {leaks.describe()}")
        elif isolation.compare(ag.baseline, ag.call("restore_init_state", baseline=ag.baseline)):
            vm.request_reset(f"could not undo what a test left behind: {leaks.describe()}")
    ag.take_steps()  # the checks above are the harness's, not the test's
    if splats:
        s = splats[0]
        pytest.fail(
            f"kernel {s.kind} during the test: {s.headline}\n" + "\n".join(s.lines[:40]),
            pytrace=False,
        )
    if leaks:
        extras["error_kind"] = "leak"
        pytest.fail(f"the test left state behind in the guest: {leaks.describe()}", pytrace=False)


@pytest.fixture
def netns(request: pytest.FixtureRequest, agent: Agent):
    """Factory: netns() / netns("name") / netns(anonymous=True) -> NetNS in the guest.

    Teardown releases each namespace and waits (bounded poll) until the kernel really
    destroyed it; one that outlives its release fails the test."""
    made: list[NetNS] = []
    base = f"t{abs(hash(request.node.nodeid)) % 10**6}"

    def make(name: str | None = None, anonymous: bool = False) -> NetNS:
        ns = NetNS.create(agent, name or f"{base}-{len(made)}", anonymous)
        made.append(ns)
        return ns

    yield make
    problems = []
    for ns in reversed(made):
        if not ns.destroyed:
            try:
                ns.destroy()
            except (HarnessError, SetupStepFailed) as e:
                problems.append(str(e))
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture
def nsholder(agent: Agent):
    """Factory: nsholder(["uts", "ipc"], hostname=...) or nsholder(["mnt"]) -> NsHolder,
    namespaces of those types kept by a guest process; released after the test."""
    made: list[NsHolder] = []

    def make(kinds: list[str], hostname: str | None = None) -> NsHolder:
        h = NsHolder.create(agent, kinds, hostname)
        made.append(h)
        return h

    yield make
    for h in made:
        if not h.released:
            h.release()


@pytest.fixture
def fresh(agent: Agent, nsh_kernel: Kernel) -> set[str]:
    """The devices an empty netns has on this kernel — lo, plus the fallback devices of
    built-in (or loaded) tunnel drivers — as the kernel config and /proc/modules predict
    them: a reference no view under test (netlink, sysfs, procfs) produced, so a broken
    view fails the test that reads it instead of silently redefining "empty"."""
    memo = agent.channel.memo
    if "fresh_devices" not in memo:
        loaded = set(agent.loaded_modules())
        memo["fresh_devices"] = expected_empty_netns(nsh_kernel.config, loaded)
    return set(memo["fresh_devices"])
