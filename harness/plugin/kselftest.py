"""`--kselftest SPEC` in a pytest run: one item per selected program per kernel.

Items are made the way pytest's docs make non-Python tests (a Collector yielding Items),
here from the selection instead of a file: per kernel a `kselftest` collector, whose items
are `kselftest/<target>/<program>[<kernel label>]`. An item runs in the kernel's session
Machine like any VM test (xdist-grouped per kernel by the plugin), with the kernel log
sliced and checked for splats around it; its own record is the program's verdict, and its
subtests become further records (the report collector's EXTRA_RECORDS).

The targets are built for every kernel before collection ends (the kernel's own source,
cached): a target or program that no kernel's source has is one clear error before any
boot; one that only some kernels lack (new in a later release) is a skip on those.
"""

from __future__ import annotations

import pytest

from ..kernel.model import Kernel
from ..kselftest.build import InstalledTree, Program, build
from ..kselftest.guest import install, run_program
from ..kselftest.records import PREFIX, judge, message, program_observations, subtest_records
from ..kselftest.source import source_for
from ..kselftest.spec import NotInSource, TargetSpec, parse_specs
from . import guestcheck
from .collector import EXTRA_RECORDS, EXTRAS
from .session import SESSION

MARKER = "kselftest: a kernel selftest program (--kselftest)"


class ProgramFailed(Exception):
    """The program's verdict, as the item's outcome (its message is the record's)."""

    def __init__(self, text: str, error_kind: str | None = None):
        super().__init__(text)
        self.error_kind = error_kind


class KselftestPlan:
    """The session's selection, each kernel's built tree (built once), and which guest
    start has the tree installed (a restored guest starts from a disk without it)."""

    def __init__(self, specs: list[TargetSpec], timeout_scale: float = 1.0):
        self.specs = specs
        self.timeout_scale = timeout_scale
        self.trees: dict[str, InstalledTree] = {}
        self._installed: dict[str, tuple[int, int]] = {}

    @classmethod
    def from_config(cls, config: pytest.Config) -> KselftestPlan | None:
        values = config.getoption("kselftest", None) or []
        if not values:
            return None
        return cls(parse_specs(values), config.getoption("kselftest_timeout_scale", 1.0))

    def tree(self, kernel: Kernel) -> InstalledTree:
        """The selection built from *kernel*'s own source (cached across runs)."""
        if kernel.key not in self.trees:
            self.trees[kernel.key] = build(source_for(kernel), self.specs)
        return self.trees[kernel.key]

    def check(self, kernels: list[Kernel]) -> None:
        """A selected target or program that no kernel's source has is a mistake in the
        selection (exit 4); one that only older kernels lack is skipped on those."""
        absent = [{a.entry: a for a in self.tree(k).absent} for k in kernels]
        for entry, why in (absent[0] if absent else {}).items():
            if all(entry in a for a in absent):
                raise NotInSource(why.reason)

    def timeout(self, program: Program) -> int:
        return round(program.timeout * self.timeout_scale) if program.timeout > 0 else 0

    def ensure_installed(self, machine, kernel: Kernel) -> None:
        start = (id(machine), len(machine.starts))
        if self._installed.get(kernel.key) != start:
            install(machine, self.tree(kernel))
            self._installed[kernel.key] = start


class KernelKselftests(pytest.Collector):
    """The selected programs on one kernel."""

    def __init__(self, *, kernel: Kernel, label: str, plan: KselftestPlan, **kw):
        super().__init__(**kw)
        self.kernel, self.label, self.plan = kernel, label, plan

    def collect(self):
        tree = self.plan.tree(self.kernel)
        for program in tree.selected:
            yield self._item(program.id, program=program)
        for absent in tree.absent:  # skipped here, run on the kernels that have it
            yield self._item(absent.entry, absent=absent.reason)

    def _item(self, entry: str, **kw) -> KselftestItem:
        test_id = f"{PREFIX}/{entry.replace(':', '/')}"
        return KselftestItem.from_parent(
            self,
            name=f"{test_id.removeprefix(PREFIX + '/')}[{self.label}]",
            nodeid=f"{test_id}[{self.label}]",
            kernel=self.kernel,
            entry=entry,
            **kw,
        )


class KselftestItem(pytest.Item):
    """One program on one kernel (or one this kernel's source lacks: a skip)."""

    def __init__(
        self,
        *,
        kernel: Kernel,
        entry: str,
        program: Program | None = None,
        absent: str | None = None,
        **kw,
    ):
        super().__init__(**kw)
        self.nsh_kernel = kernel  # read by the session's kernel_of (report, xdist group)
        self.program, self.absent = program, absent
        target, _, name = entry.partition(":")
        self.originalname = name or target  # the record's name
        scale = self.parent.plan.timeout_scale
        self.nsh_select = f"--kselftest {entry}" + (  # the reproduce line's selection
            f" --kselftest-timeout-scale {scale:g}" if scale != 1 else ""
        )
        self.add_marker(pytest.mark.vm)
        self.add_marker(pytest.mark.kselftest)
        self.add_marker(pytest.mark.area(f"{PREFIX}:{target}"))

    @property
    def plan(self) -> KselftestPlan:
        return self.parent.plan

    def setup(self) -> None:
        """The kernel's guest, with the selftests installed (a boot that fails is an error
        of this item, as a VM fixture's would be)."""
        if self.absent:
            pytest.skip(self.absent)
        self._nsh_machine = self.config.stash[SESSION].machine(self.nsh_kernel)
        self.user_properties += self._nsh_machine.properties()
        self.plan.ensure_installed(self._nsh_machine, self.nsh_kernel)

    def runtest(self) -> None:
        machine = self._nsh_machine
        guestcheck.begin(machine.agent)
        limit = self.plan.timeout(self.program)
        result = run_program(machine, self.program, timeout=limit, kernel_log=False)
        extras = self.stash.setdefault(EXTRAS, {})
        splats = []
        if machine.usable():  # (a dead guest's console is the evidence: see the plugin)
            checked = guestcheck.after(machine.agent, self.config.getoption("splat_ignore") or [])
            result.kernel_log, splats = checked.kernel_log, checked.splats
            if checked.leaks:  # the selftest's business, not a failure; the next test
                extras["leaks"] = checked.leaks.parts  # gets a fresh guest
                machine.request_reset(
                    f"kselftest {self.program.id} left: {checked.leaks.describe()}"
                )
            machine.agent.take_steps()  # the harness's own calls, not the program's
        source = self.plan.tree(self.nsh_kernel).source.identity
        extras["observations"] = program_observations(result, source)
        extras["kernel_log"] = result.kernel_log
        extras["splats"] = [s.to_dict() for s in splats]
        self.stash[EXTRA_RECORDS] = subtest_records(result, self.parent.label, self.nsh_kernel.key)
        verdict = judge(result, splats)
        if verdict.outcome == "skipped":
            pytest.skip(verdict.reason or "skipped")
        if verdict.outcome in ("failed", "error"):
            raise ProgramFailed(message(verdict, result), verdict.error_kind)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ProgramFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, self.name


def collect(session: pytest.Session, kernels: list[tuple[Kernel, str]], plan) -> list:
    """The items of every (kernel, label), through pytest's own collection machinery."""
    items: list[pytest.Item] = []
    for kernel, label in kernels:
        col = KernelKselftests.from_parent(
            session,
            name="kselftest",
            nodeid=f"kselftest[{label}]",
            kernel=kernel,
            label=label,
            plan=plan,
        )
        items += list(session.genitems(col))
    return items
