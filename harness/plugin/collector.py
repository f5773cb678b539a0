"""Collecting a pytest run into a Report: one record per test, written as the run goes.

Registered by the main plugin as its own plugin object. The report file is written at
session start (so an unwritable destination fails before anything ran), refreshed as
tests finish (so a crash or SIGKILL leaves a partial report), and completed at the end.
Under pytest-xdist each worker writes a part; the controller merges them with the same
merge `nsharness report merge` uses.

An item may stand for several results (a kselftest program and its KTAP subtests): its own
record comes from its pytest outcome like any test's, and whatever records it puts in its
EXTRA_RECORDS stash go into the report beside it. An item that is not parametrized by
pytest names its kernel with an `nsh_kernel` attribute, its reproduction with `nsh_select`,
and an exception may say what kind of error it is with an `error_kind` attribute.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from ..errors import InputError
from ..host.resources import scenarios
from ..report.html import render
from ..report.merge import merge
from ..report.model import NOT_PASSED, Report, RunInfo, TestRecord, now
from ..report.terminal import print_summary
from ..scenario.verdict import BehaviourChanged
from . import outcomes

#: What the fixtures learnt about a test, for its record (observations, kernel log, steps).
EXTRAS = pytest.StashKey[dict]()
#: More records from one item (a kselftest program's subtests), added to the report as given.
EXTRA_RECORDS = pytest.StashKey[list[TestRecord]]()
#: Error kinds that make a record an error (the test could not judge), not a failure.
ERROR_KINDS = ("setup-step", "harness", "crash", "timeout")
FLUSH_EVERY_S = 2.0


def test_identity(item: pytest.Item, kernel_label: str | None) -> tuple[str, dict[str, str]]:
    """(test_id, params): the node id without the kernel's part of the brackets, and the
    other parameters by name, so variants stay distinct across kernels and runs."""
    cs = getattr(item, "callspec", None)
    base = _stable_base(item)
    if cs is None:
        if kernel_label and item.nodeid.endswith(f"[{kernel_label}]"):
            return item.nodeid[: -len(kernel_label) - 2], {}
        return item.nodeid, {}
    params = {k: _param_text(v) for k, v in cs.params.items() if k != "nsh_kernel"}
    ident = cs.id
    if kernel_label and "nsh_kernel" in cs.params:
        for cand in (f"-{kernel_label}", f"{kernel_label}-", kernel_label):
            if cand in ident:
                ident = ident.replace(cand, "", 1)
                break
    return (f"{base}[{ident}]" if ident else base), params


def _stable_base(item: pytest.Item) -> str:
    """The node id without its brackets, made independent of pytest's rootdir for the
    shipped scenario suite: `scenarios/test_x.py::test_y` whether the suite ran from a
    checkout (tests/scenarios), from an installed wheel, through `nsharness run` or plain
    pytest — so `report diff` pairs the same test across all of them."""
    base = item.nodeid.split("[", 1)[0]
    try:
        rel = Path(str(item.path)).resolve().relative_to(scenarios().resolve())
    except (AttributeError, ValueError, OSError):
        return base
    return f"scenarios/{rel.as_posix()}::{base.split('::', 1)[1]}" if "::" in base else base


def _param_text(v) -> str:
    return v if isinstance(v, str) else getattr(v, "__name__", None) or repr(v)[:80]


def reproduce_line(kernel, name: str, select: str | None = None) -> str:
    """One command that re-runs test *name* (or what *select* selects) on exactly this
    kernel build."""
    p = kernel.provenance
    sel = select or f"-k '{name}'"
    if p.kind == "debian":
        return f"nsharness run --kernel debian:{p.package_version} {sel}"
    if p.kind == "source":
        state = f"commit {p.commit}{' (dirty)' if p.dirty else ''}" if p.commit else "no git"
        return f"nsharness run --kernel-src {p.tree} {sel}  # {state}, kernel {kernel.key}"
    mods = f" --modules {kernel.modules}" if kernel.modules else ""
    return f"nsharness run --kernel {kernel.image}{mods} {sel}  # kernel {kernel.key}"


def _error_kind(exc: BaseException) -> str | None:
    """What kind of error an exception is: its own `error_kind` if it has one (None: a
    plain failure), else by its type."""
    from ..errors import GuestDied, GuestOpError, HarnessError, SetupStepFailed

    if hasattr(exc, "error_kind"):
        return exc.error_kind
    for cls, kind in (
        (SetupStepFailed, "setup-step"),
        (GuestDied, "guest-died"),
        (GuestOpError, "probe"),
        (HarnessError, "harness"),
    ):
        if isinstance(exc, cls):
            return kind
    return None if isinstance(exc, (AssertionError, pytest.fail.Exception)) else "crash"


def _message(call: pytest.CallInfo, rep: pytest.TestReport) -> tuple[str, str | None]:
    """The record's message — the exception's own first line (a behaviour named, both
    sides shown) before pytest's source dump — and the error kind it implies."""
    text = str(rep.longrepr)[-3000:]
    exc = call.excinfo.value if call.excinfo else None
    if exc is None:
        return text, None
    head = str(exc).strip() or type(exc).__name__
    kind = _error_kind(exc)
    if head in text[:400]:
        return text, kind
    return f"{head}\n\n{text}", kind


class ReportCollector:
    """The pytest plugin object that turns test phases into TestRecords."""

    def __init__(self, config: pytest.Config, vm_records, kernel_of):
        self.config = config
        self.path = (
            Path(config.getoption("report")).resolve() if config.getoption("report") else None
        )
        self.vm_records = vm_records  # () -> list[VmRecord]
        self.kernel_of = kernel_of  # item -> (Kernel | None, label | None)
        self.records: dict[str, TestRecord] = {}
        self.run = RunInfo.begin(sys.argv, "")
        self.final: Report | None = None
        self._flushed = 0.0
        wi = getattr(config, "workerinput", None)
        self.worker = wi.get("workerid") if wi else None

    # ----------------------------------------------------------------- destinations
    @property
    def parts(self) -> Path | None:
        return self.path.with_name(self.path.name + ".parts") if self.path else None

    def _target(self) -> Path | None:
        if self.path is None:
            return None
        return self.parts / f"{self.worker}.json" if self.worker else self.path

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from ..vm.qemu import qemu_version

        self.run.qemu_version = qemu_version()
        if self.path is None:
            return
        if self.path.is_dir():
            raise pytest.UsageError(f"--report {self.path} is a directory; give a file name")
        if self.path.suffix == ".html":
            raise pytest.UsageError(f"--report {self.path}: the JSON report cannot be .html")
        if not self.worker and self.parts.is_dir():  # an earlier run's leftovers
            for stale in self.parts.glob("*.json"):
                stale.unlink()
        try:
            self.flush(force=True)
        except (OSError, InputError) as e:
            raise pytest.UsageError(f"cannot write the report at {self.path}: {e}") from None

    def report(self) -> Report:
        return Report(self.run, self.vm_records(), list(self.records.values()))

    def flush(self, force: bool = False) -> None:
        target = self._target()
        if target is None or (not force and time.monotonic() - self._flushed < FLUSH_EVERY_S):
            return
        self.run.partial = True  # until the session ends cleanly
        self.report().write(target)
        self._flushed = time.monotonic()

    # ----------------------------------------------------------------- per test
    def record_for(self, item: pytest.Item) -> TestRecord:
        rec = self.records.get(item.nodeid)
        if rec is None:
            kernel, label = self.kernel_of(item)
            test_id, params = test_identity(item, label)
            area = item.get_closest_marker("area")
            behaviours = [str(b) for m in item.iter_markers("behaviour") for b in m.args]
            rec = self.records[item.nodeid] = TestRecord(
                test_id=test_id,
                nodeid=item.nodeid,
                name=getattr(item, "originalname", item.name),
                kernel=label,
                kernel_key=kernel.key if kernel else None,
                outcome="passed",
                area=area.args[0] if area and area.args else None,
                params=params,
                behaviours=sorted(set(behaviours), key=lambda b: (len(b), b)),
            )
        return rec

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        rep = outcome.get_result()
        rec = self.record_for(item)
        rec.duration_s = round(rec.duration_s + rep.duration, 3)
        ours = getattr(rep, outcomes.ATTR, None)
        if ours:  # not-judged / kernel-finding (plugin/outcomes.py): pytest may call it skipped
            exc = call.excinfo.value
            rec.outcome = ours
            rec.message = f"{str(exc).strip()}\n\n{rep.nsh_text}"
            rec.blocked_by = list(getattr(exc, "blocked_by", []))
            rec.finding = getattr(exc, "finding", None)
            self._evidence(item, rec)
        elif rep.skipped and rec.outcome == "passed":
            rec.outcome = "skipped"
            lr = rep.longrepr
            rec.skip_reason = lr[2] if isinstance(lr, tuple) else str(lr)
        elif rep.failed:
            message, kind = _message(call, rep)
            extras = item.stash.get(EXTRAS, {})
            if extras.get("error_kind") == "guest-died":
                kind = "guest-died"
            verdict = call.excinfo is not None and isinstance(call.excinfo.value, BehaviourChanged)
            if rep.when == "call" or verdict:  # a verdict in a fixture is a verdict too
                rec.outcome = "error" if kind in ERROR_KINDS else "failed"
            elif extras.get("splats") and rep.when == "teardown":
                rec.outcome = "failed"  # the kernel complained during the test
            elif rec.outcome != "failed":
                rec.outcome = "error"
            rec.error_kind = rec.error_kind or extras.get("error_kind") or kind
            rec.message = f"{rec.message}\n{message}" if rec.message else message
            self._evidence(item, rec)
        if rep.when == "teardown":
            extras = item.stash.get(EXTRAS, {})
            for k in ("observations", "kernel_log", "splats", "steps", "leaks"):
                if k in extras:
                    setattr(rec, k, extras[k])
            self.add_extra_records(item, rec)
            self.flush()

    def _evidence(self, item: pytest.Item, rec: TestRecord) -> None:
        """What a record that is not a pass carries: the console tail and a reproduction."""
        machine = getattr(item, "_nsh_machine", None)
        if machine is not None:
            rec.console_tail = machine.console_tail(40)
        kernel, _ = self.kernel_of(item)
        if kernel is not None:
            rec.reproduce = reproduce_line(kernel, rec.name, getattr(item, "nsh_select", None))

    def add_extra_records(self, item: pytest.Item, own: TestRecord) -> None:
        """The item's further records, on its kernel; a failed one gets the item's
        reproduction (re-running the item re-runs it)."""
        kernel, _ = self.kernel_of(item)
        for extra in item.stash.get(EXTRA_RECORDS, []):
            extra.kernel = extra.kernel or own.kernel
            extra.kernel_key = extra.kernel_key or own.kernel_key
            if extra.outcome in NOT_PASSED and not extra.reproduce and kernel:
                extra.reproduce = reproduce_line(
                    kernel, own.name, getattr(item, "nsh_select", None)
                )
            self.records[extra.nodeid] = extra

    # ----------------------------------------------------------------- end of session
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.run.end = now()
        exitstatus = session.exitstatus  # (as the plugin's own outcomes left it)
        self.run.exit_status = int(exitstatus)
        self.run.interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
        vms = self.vm_records()
        self.run.partial = (
            self.run.interrupted or bool(self.run.error) or any(v.boot_error for v in vms)
        )
        report = Report(self.run, vms, list(self.records.values()))
        target = self._target()
        if target is None:
            self.final = report
            return
        if self.worker:
            report.write(target)
            return
        if self.parts.is_dir():
            parts = [Report.load(f) for f in sorted(self.parts.glob("*.json"))]
            if parts:
                merged = merge([report, *parts])
                merged.run = self.run
                merged.run.partial = self.run.partial or any(p.run.partial for p in parts)
                report = merged
            for f in self.parts.glob("*.json"):
                f.unlink()
            self.parts.rmdir()
        report.write(self.path)
        self.path.with_suffix(".html").write_text(render(report))
        self.final = report

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config) -> None:
        rep = self.final
        if rep is None or self.path is None or not rep.tests:
            return  # (a session error before any test was printed by pytest.exit)
        paths = [str(self.path), str(self.path.with_suffix(".html"))]
        junit = config.getoption("xmlpath", None)
        if junit:
            paths.append(str(Path(junit).resolve()))
        print_summary(rep, paths, file=terminalreporter._tw._file)
