"""Kernel selftests built from each kernel's own source and run under the harness: programs
as pytest items, subtests as report records, and every way a program can stop (exit,
timeout, signal, guest death) named in its record. Kept small: nsfs and two pidfd programs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import kselftest as ks
from harness.report import Report
from harness.report.kcidb import to_kcidb

pytestmark = pytest.mark.vm


def spec_of(kernel) -> str:
    return f"debian:{kernel.provenance.package_version}"


@pytest.fixture(scope="module")
def tree(nsh_kernel):
    if nsh_kernel.provenance.kind != "debian":
        pytest.skip("these tests build from Debian's linux-source of the kernel's version")
    return ks.build(ks.source_for(nsh_kernel), ks.parse_spec("nsfs,pidfd:pidfd_test"))


def run(*args: str, cwd: Path | None = None, env: dict | None = None):
    return subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        timeout=900,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def test_source_is_the_kernels_own(nsh_kernel, tree):
    version = nsh_kernel.provenance.package_version
    assert tree.source.identity == f"debian:{ks.debian_source_package(version)}={version}"
    assert [p.id for p in tree.selected] == ["nsfs:owner", "nsfs:pidns", "pidfd:pidfd_test"]
    assert all(p.built for p in tree.selected)


def test_a_target_no_kernel_has_is_one_error_before_any_boot(nsh_kernel, tree, tmp_path):
    out = tmp_path / "out"
    res = run(
        *(sys.executable, "-m", "harness.cli", "run", "--kernel", spec_of(nsh_kernel)),
        *("--kselftest", "nsfs,nsfs:nosuch", "--out", str(out)),
    )
    text = res.stdout + res.stderr
    assert res.returncode == 4 and "Traceback" not in text, text[-3000:]
    assert text.count("has no kselftest program 'nosuch' in nsfs (programs: owner, pidns)") == 1
    doc = json.loads((out / "report.json").read_text())
    assert doc["vms"] == [] and doc["tests"] == [] and "nosuch" in doc["run"]["error"]


def test_programs_are_items_and_subtests_records(nsh_kernel, tree, tmp_path, request):
    """`nsharness run --kselftest`: only the selftests run; pidfd_test, given a tenth of its
    45 s, times out mid-run and says after how many of its results."""
    out = tmp_path / "out"
    res = run(
        *(sys.executable, "-m", "harness.cli", "run", "--kernel", spec_of(nsh_kernel)),
        *("--accel", request.config.getoption("accel"), "--out", str(out)),
        *("--kselftest", "nsfs,pidfd:pidfd_setns_test,pidfd:pidfd_test"),
        *("--kselftest-timeout-scale", "0.1"),
    )
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-2000:]
    rep = Report.load(out / "report.json")
    assert {t.area for t in rep.tests} == {"kselftest:nsfs", "kselftest:pidfd"}  # no scenario
    by = {t.test_id: t for t in rep.tests}
    label = nsh_kernel.release
    for prog in ("nsfs/owner", "nsfs/pidns", "pidfd/pidfd_setns_test"):
        t = by[f"kselftest/{prog}"]
        assert (t.outcome, t.kernel, t.nodeid) == ("passed", label, f"kselftest/{prog}[{label}]")
        assert t.observations["kselftest"]["rc"] == 0
    subs = [t for t in rep.tests if t.test_id.startswith("kselftest/pidfd/pidfd_setns_test::")]
    assert len(subs) >= 7 and {t.outcome for t in subs} == {"passed"}
    assert "kselftest/pidfd/pidfd_setns_test::current_nsset.pidfd_incremental_setns" in by
    slow = by["kselftest/pidfd/pidfd_test"]
    assert (slow.outcome, slow.error_kind) == ("error", "timeout")
    assert slow.message.startswith("timed out after 4 s after ")
    assert "of 8 planned results" in slow.message.splitlines()[0]
    assert slow.reproduce == (
        f"nsharness run --kernel {spec_of(nsh_kernel)} --kselftest pidfd:pidfd_test "
        "--kselftest-timeout-scale 0.1"
    )
    junit = (out / "junit.xml").read_text()
    assert f'name="kselftest.nsfs.owner[{label}]"' in junit
    assert f'<property name="kernel" value="{label}" />' in junit
    kcidb_io = pytest.importorskip("kcidb_io")
    kcidb_io.schema.LATEST.validate(to_kcidb(rep))


def test_program_killed_by_a_signal_is_a_crash_record(vm, tree):
    # like the OOM killer or a fault: the program dies mid-run, its output so far is kept
    ks.install(vm, tree)
    vm.run("nohup sh -c 'sleep 5; pkill -SEGV -x pidfd_test' >/dev/null 2>&1 &")
    res = ks.run_program(vm, next(p for p in tree.selected if p.name == "pidfd_test"), timeout=60)
    prog = res.records()[0]
    assert res.rc == 128 + 11, res.output[-500:]
    assert prog.outcome == "error" and prog.reason.startswith("crashed: killed by SIGSEGV")
    assert res.verdict().error_kind == "crash"
    assert res.output.startswith("TAP version 13\n1..8\n")


CRASHER = '''
import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    """Crash the guest 3 s into pidfd_test, as a kernel bug hit by the program would."""
    if getattr(item, "originalname", "") == "pidfd_test":
        item._nsh_machine.run(
            "nohup sh -c 'sleep 3; echo c > /proc/sysrq-trigger' >/dev/null 2>&1 &"
        )
'''


def test_a_program_that_kills_the_guest_is_named_and_the_next_runs(nsh_kernel, tree, tmp_path):
    """The guest dies under pidfd_test: its record says so with the console's evidence and
    the output so far; the next program gets a fresh guest and passes."""
    d = tmp_path / "child"
    d.mkdir()
    (d / "conftest.py").write_text(CRASHER)
    res = run(
        *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(d)),
        *("--rootdir", str(d), "--kernel", spec_of(nsh_kernel)),
        *("--kselftest", "pidfd:pidfd_test,nsfs:owner", "--report", str(d / "report.json")),
        cwd=d,
    )
    rep = Report.load(d / "report.json")
    by = {t.test_id: t for t in rep.tests}
    died = by["kselftest/pidfd/pidfd_test"]
    assert (died.outcome, died.error_kind) == ("failed", "guest-died"), res.stdout[-3000:]
    assert died.message.startswith("guest died while the program ran")
    assert "sysrq" in died.message.lower() and died.console_tail
    assert died.observations["output"].startswith("TAP version 13\n1..8\n")
    assert by["kselftest/nsfs/owner"].outcome == "passed"
    (vm,) = rep.vms
    assert len(vm.starts) >= 2 and vm.starts[-1]["why"] != "first use"
    json.dumps(rep.to_dict())  # the whole report stays plain JSON


def test_kernels_are_grouped_per_xdist_worker(tmp_path, request):
    """`-n 2`: each kernel's programs run on one worker's guest; the parts merge."""
    out = tmp_path / "out"
    res = run(
        *(sys.executable, "-m", "harness.cli", "run", "--kernel", "debian:6.1"),
        *("--kernel", "debian:6.12", "--accel", request.config.getoption("accel")),
        *("--kselftest", "nsfs", "-n", "2", "--out", str(out)),
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    rep = Report.load(out / "report.json")
    assert len(rep.kernels()) == 2 and len(rep.tests) == 4
    assert {t.outcome for t in rep.tests} == {"passed"}
    assert all(len(v.starts) == 1 for v in rep.vms)  # one guest start per kernel
