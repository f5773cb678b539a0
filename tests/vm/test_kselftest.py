"""Kernel selftests built from each kernel's own source and run in its guest: records per
subtest, and every way a program can stop (exit, timeout, signal, guest death) named."""

import pytest

from harness import kselftest as ks

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def tree(nsh_kernel):
    source = ks.source_for(nsh_kernel)
    return ks.build(source, ks.parse_spec("nsfs,pidfd:pidfd_setns_test,pidfd:pidfd_test"))


@pytest.fixture
def installed(vm, tree):
    if vm.run(f"test -x {ks.GUEST_ROOT}/pidfd/pidfd_test").rc != 0:
        ks.install(vm, tree)
    return {p.id: p for p in tree.selected}


def test_source_is_the_kernels_own(nsh_kernel, tree):
    assert tree.source.identity.endswith(f"={nsh_kernel.package_version}")
    assert [p.id for p in tree.selected] == [
        "nsfs:owner",
        "nsfs:pidns",
        "pidfd:pidfd_setns_test",
        "pidfd:pidfd_test",
    ]


def test_programs_pass_with_one_record_per_subtest(vm, installed, nsh_kernel):
    owner = ks.run_program(vm, installed["nsfs:owner"])
    assert [(r.path, r.outcome) for r in owner.records()] == [(("nsfs", "owner"), "passed")]
    setns = ks.run_program(vm, installed["pidfd:pidfd_setns_test"])
    recs = setns.records()
    assert recs[0].outcome == "passed" and setns.rc == 0
    assert len(recs) >= 8 and {r.outcome for r in recs[1:]} == {"passed"}
    assert ("pidfd", "pidfd_setns_test", "current_nsset.pidfd_incremental_setns") in {
        r.path for r in recs
    }
    tests = ks.report_tests(setns, nsh_kernel.release)
    assert tests[0]["nodeid"] == f"kselftest/pidfd/pidfd_setns_test[{nsh_kernel.release}]"


def test_timeout_keeps_output_and_names_what_is_missing(vm, installed):
    res = ks.run_program(vm, installed["pidfd:pidfd_test"], timeout=4)
    assert res.timed_out and res.rc == ks.TIMEOUT_RC
    assert res.output.startswith("TAP version 13\n1..8\n")
    prog = res.records()[0]
    assert prog.outcome == "error" and prog.reason.startswith("timed out after 4 s after ")
    assert "planned results" in prog.reason


def test_program_killed_by_a_signal_is_a_crash_record(vm, installed):
    # like the OOM killer or a fault: the program dies mid-run, its output so far is kept
    vm.run("nohup sh -c 'sleep 5; pkill -SEGV -x pidfd_test' >/dev/null 2>&1 &")
    res = ks.run_program(vm, installed["pidfd:pidfd_test"], timeout=60)
    prog = res.records()[0]
    assert res.rc == 128 + 11, res.output[-500:]
    assert prog.outcome == "error" and prog.reason.startswith("crashed: killed by SIGSEGV")
    assert res.output.startswith("TAP version 13\n1..8\n")
