"""Kselftest results as report records, the collector taking several records from one item,
and how `nsharness run --kselftest` selects what runs — on real guest outputs and a real
pytest run of non-Python items (no VM)."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from ktapdata import DATA, R61, R612, result

from harness import kselftest as ks
from harness.cli import commands as cli
from harness.kselftest import ktap, records
from harness.plugin import collector as collect
from harness.report import Report
from harness.vm.console import ConsoleLog, find_splats


def test_subtests_become_records_keyed_by_program_and_path():
    recs = ks.subtest_records(result(f"{R61}/pidfd/pidfd_setns_test"), R61, "k61")
    assert len(recs) == 7 and {r.outcome for r in recs} == {"passed"}
    first = recs[0]
    assert first.test_id == "kselftest/pidfd/pidfd_setns_test::global.setns_einval"
    assert first.nodeid == f"{first.test_id}[{R61}]"
    assert (first.name, first.area, first.kernel_key) == (
        "global.setns_einval",
        "kselftest:pidfd",
        "k61",
    )
    assert first.observations["ktap"]["number"] == 1
    assert ks.program_test_id(ks.Program("pidfd", "pidfd_setns_test", 45, True)) == (
        "kselftest/pidfd/pidfd_setns_test"
    )


def test_failed_subtest_keeps_its_diagnostics():
    recs = ks.subtest_records(result(f"{R612}/net/so_incoming_cpu"), R612, "k612")
    red = next(r for r in recs if r.outcome == "failed")
    assert red.test_id == "kselftest/net/so_incoming_cpu::so_incoming_cpu.before_reuseport.test1"
    assert "so_incoming_cpu.c:87:test1:Expected 2 (2) <= nr_server (1)" in red.message
    assert sum(r.outcome == "failed" for r in recs) == 12


@pytest.mark.parametrize("release", [R61, R612])
def test_skipped_subtests_keep_their_reason(release):
    recs = ks.subtest_records(result(f"{release}-nobody/timens/timens"), release, "k")
    assert {(r.outcome, r.skip_reason) for r in recs} == {("skipped", "need to run as root")}


def test_script_checks_are_records_and_brackets_stay_out_of_ids():
    recs = ks.subtest_records(result(f"{R61}/net/fib_rule_tests.sh"), R61, "k")
    ids = [r.test_id for r in recs]
    assert len(ids) == len(set(ids)) and not any("[" in i or "]" in i for i in ids)
    red = next(r for r in recs if r.name == "rule6 check: ipproto match")
    assert red.outcome == "failed" and 'Invalid "ipproto" value' in red.message


def test_xfail_counts_as_passed_with_its_directive_kept():
    out = "TAP version 13\n1..2\nok 1 plain\nnot ok 2 known bug # XFAIL fixed in 6.2\n"
    prog = ks.Program("demo", "demo", 45, True)
    res = ks.ProgramResult(prog, out, 0, 0.1, 45, suite=ktap.parse(out))
    known = ks.subtest_records(res, R61, "k")[1]
    assert known.outcome == "passed"
    assert known.observations["ktap"] == {
        "outcome": "xfail",
        "directive": "XFAIL",
        "number": 2,
        "reason": "fixed in 6.2",
    }


def test_a_kernel_splat_fails_a_passing_program():
    panic = ConsoleLog(DATA / "console-6.12-panic-noroot.log").lines()  # a real splat
    res = result(f"{R61}/nsfs/owner")
    assert records.judge(res, []).outcome == "passed"
    v = records.judge(res, find_splats(panic))
    assert (v.outcome, v.reason.split(":")[0]) == ("failed", "kernel panic during the program")
    timeout = result(f"{R61}/pidfd/pidfd_test")
    assert records.judge(timeout, find_splats(panic)).error_kind == "timeout"  # stays an error


def test_program_observations_clip_a_long_output():
    res = result(f"{R61}/pidfd/pidfd_test")
    obs = records.program_observations(res, "debian:linux-source-6.1=6.1.192-2")
    assert obs["kselftest"]["rc"] == 124 and obs["kselftest"]["timed_out"]
    assert obs["kselftest"]["subtests"] == {"passed": 7}
    assert obs["output_bytes"] == len(res.output.encode())
    short = records.clip(res.output, 4096)
    assert len(short) < 4200 and short.endswith(res.output[-1000:])
    msg = records.message(res.verdict(), res)
    assert msg.startswith("timed out after 45 s after 7 of 8 planned results\n")
    red = result(f"{R612}/net/so_incoming_cpu")
    first = records.message(red.verdict(), red).splitlines()[0]
    assert first == "exit=1: # Totals: pass:0 fail:12 xfail:0 xpass:0 skip:0 error:0"


# ------------------------------------------------------------------------ the collector

CONFTEST = """
import pytest
from harness.plugin.collector import EXTRA_RECORDS
from harness.report.model import TestRecord


class Crashed(Exception):
    error_kind = "crash"


class Failed(Exception):
    error_kind = None  # a plain failure, whatever its type


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".multi":
        return MultiFile.from_parent(parent, path=file_path)


class MultiFile(pytest.File):
    def collect(self):
        for line in self.path.read_text().split():
            name, _, subs = line.partition("=")
            yield MultiItem.from_parent(self, name=name, subs=subs.split(","))


class MultiItem(pytest.Item):
    def __init__(self, *, subs, **kw):
        super().__init__(**kw)
        self.subs = subs

    def runtest(self):
        self.stash[EXTRA_RECORDS] = [
            TestRecord(
                test_id=f"{self.nodeid}::{s.split(':')[0]}",
                nodeid=f"{self.nodeid}::{s.split(':')[0]}",
                name=s.split(":")[0],
                kernel=None,
                kernel_key=None,
                outcome=s.split(":")[1],
                area="multi",
            )
            for s in self.subs
        ]
        if self.name == "crashes":
            raise Crashed("the program crashed after 1 result")
        if self.name == "fails":
            raise Failed("exit=1")

    def repr_failure(self, excinfo, style=None):
        return str(excinfo.value)
"""


def test_collector_takes_several_records_from_one_item(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "demo.multi").write_text(
        "fine=a:passed,b:skipped crashes=a:passed,b:failed fails=a:failed\n"
    )
    report = tmp_path / "report.json"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
        + ["--rootdir", str(tmp_path), "--report", str(report)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert res.returncode == 1, res.stdout[-2000:]
    rep = Report.load(report)  # schema-valid
    got = {t.test_id: (t.outcome, t.error_kind) for t in rep.tests}
    assert got == {
        "demo.multi::fine": ("passed", None),
        "demo.multi::fine::a": ("passed", None),
        "demo.multi::fine::b": ("skipped", None),
        "demo.multi::crashes": ("error", "crash"),  # the exception said what kind
        "demo.multi::crashes::a": ("passed", None),
        "demo.multi::crashes::b": ("failed", None),
        "demo.multi::fails": ("failed", None),
        "demo.multi::fails::a": ("failed", None),
    }
    crashed = next(t for t in rep.tests if t.test_id == "demo.multi::crashes")
    assert crashed.message == "the program crashed after 1 result"


def test_identity_of_an_item_that_names_its_kernel():
    item = SimpleNamespace(nodeid=f"kselftest/nsfs/owner[{R61}]")
    assert collect.test_identity(item, R61) == ("kselftest/nsfs/owner", {})
    assert collect.test_identity(item, None) == (item.nodeid, {})


def test_the_harness_ssh_session_is_no_leftover():
    """Seen after the first program of a guest: install opened SSH and SFTP."""
    from harness.plugin import isolation

    base = {"processes": ["/sbin/init", "/usr/sbin/dropbear -E -s -r /etc/k -p 22 -P /run/d.pid"]}
    ours = [
        "/usr/lib/sftp-server",
        "/usr/sbin/dropbear -E -s -r /etc/dropbear/nsharness_host_key -p 22 -P /run/dropbear.pid "
        "-2 8",
    ]
    now = {"processes": base["processes"] + ours}
    assert not isolation.compare(base, now)
    left = {"processes": now["processes"] + ["sleep 1000"]}
    assert isolation.compare(base, left).parts == {
        "processes": {"added": ["sleep 1000"], "removed": []}
    }


# ------------------------------------------------------------------------ selection


def test_selection_of_a_run():
    assert cli.selection(None, None) is None
    assert cli.selection(None, "setns") == "setns"
    assert cli.selection(["nsfs"], None) == "kselftest"
    assert cli.selection(["nsfs"], "setns or sysfs") == "kselftest or (setns or sysfs)"


def test_run_with_kselftest_passes_the_selection_to_pytest(tmp_path, monkeypatch):
    import pytest as pytest_mod

    seen = []
    monkeypatch.setattr(pytest_mod, "main", lambda argv: seen.append(argv) or 0)
    out = tmp_path / "out"
    args = cli.build_parser().parse_args(
        ["run", "--kselftest", "nsfs", "--kselftest", "pidfd:pidfd_test", "--out", str(out)]
        + ["--kselftest-timeout-scale", "8"]
    )
    assert cli.cmd_run(args) == 0
    argv = seen[0]
    assert argv[argv.index("-k") + 1] == "kselftest"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--nsh-kselftest"] == [
        "nsfs",
        "pidfd:pidfd_test",
    ]
    assert argv[argv.index("--nsh-kselftest-timeout-scale") + 1] == "8.0"
    assert argv[argv.index("--nsh-report") + 1] == str(Path(out) / "report.json")


@pytest.mark.parametrize(
    "argv, why",
    [
        (["--kselftest", "nsfs:../owner"], "bad kselftest program '../owner'"),
        (["--kselftest", ","], "no kselftest target"),
        (["--kselftest-timeout-scale", "0"], "must be between 0.1 and 100"),
    ],
)
def test_bad_kselftest_options_are_one_line_exit_2(argv, why, tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", *argv, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and why in res.stderr and res.stderr.count("\n") == 1
    assert res.stdout == "" and not (tmp_path / "o").exists()


def test_report_of_a_real_kselftest_run_keeps_subtests(tmp_path):
    doc = json.loads((DATA / "report-kselftest.json").read_text())
    rep = Report.from_dict(doc)
    areas = {t.area for t in rep.tests}
    assert {"kselftest:nsfs", "kselftest:pidfd"} <= areas
    for t in rep.tests:
        if t.area and t.area.startswith("kselftest:"):
            assert t.test_id.startswith("kselftest/") and t.nodeid == f"{t.test_id}[{t.kernel}]"


def test_a_kernel_without_known_source_is_one_error_before_any_boot(tmp_path, debian_kernel):
    """The real Debian image given as a bare file: no package, no tree, so no selftests."""
    report = tmp_path / "report.json"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
        + ["--rootdir", str(tmp_path), "--report", str(report)]
        + ["--kernel", str(debian_kernel.image), "--kselftest", "nsfs"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 4 and "Traceback" not in out, out[-3000:]
    assert out.count("kselftests need the source of kernel") == 1, out[-3000:]
    doc = json.loads(report.read_text())
    assert "--kernel-src" in doc["run"]["error"] and doc["tests"] == []
    assert doc["vms"] == []  # nothing booted
