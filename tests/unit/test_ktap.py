"""KTAP parsing on real output: kselftest programs run in our guests (tests/data/ktap/<release>/,
captured with harness.kselftest.run_program) and the kernel's own KUnit test logs
(tools/testing/kunit/test_data of linux-source-6.12) for nesting, which no selftest we run
prints."""

from pathlib import Path

import pytest

from harness.kselftest import ktap

DATA = Path(__file__).resolve().parents[1] / "data" / "ktap"
R61, R612 = "6.1.0-56-cloud-amd64", "6.12.117+deb12-cloud-amd64"


def out(rel: str) -> str:
    return (DATA / rel).read_text()


def test_harness_program_all_pass_keeps_names_and_diagnostics():
    suite = ktap.parse(out(f"{R61}/pidfd/pidfd_setns_test.out"))
    assert (suite.version, suite.plan, suite.problem()) == ("TAP version 13", 7, None)
    recs = ktap.flatten(suite, ("pidfd", "pidfd_setns_test"))
    assert [r.path[-1] for r in recs][:3] == [
        "global.setns_einval",
        "current_nsset.invalid_flags",
        "current_nsset.pidfd_exited_child",
    ]
    assert ktap.counts(recs)["passed"] == 7
    inc = recs[3]
    assert inc.path == ("pidfd", "pidfd_setns_test", "current_nsset.pidfd_incremental_setns")
    # the lines kselftest_harness printed for that test, between its RUN and its result
    assert inc.diagnostics[0] == "#  RUN           current_nsset.pidfd_incremental_setns ..."
    assert any("setns to time namespace" in d for d in inc.diagnostics)
    assert suite.trailing[-1].startswith("# Totals: pass:7 fail:0")


def test_6_12_has_one_more_setns_subtest():
    names61 = [t.name for t in ktap.parse(out(f"{R61}/pidfd/pidfd_setns_test.out")).tests]
    names612 = [t.name for t in ktap.parse(out(f"{R612}/pidfd/pidfd_setns_test.out")).tests]
    assert set(names61) < set(names612) and len(names612) == 8


@pytest.mark.parametrize("release", [R61, R612])
def test_failing_subtests_are_red_with_their_assertion(release):
    recs = ktap.flatten(ktap.parse(out(f"{release}/net/tun.out")), ("net", "tun"))
    assert [r.outcome for r in recs] == ["failed"] * 5
    first = recs[0]
    assert first.path == ("net", "tun", "tun.delete_detach_close")
    assert first.number == 1 and first.reason is None
    # the program's stderr line and the harness's assertion both belong to the subtest
    assert "can't open tun: No such file or directory" in first.diagnostics
    assert any("Expected self->fd (-1) >= 0 (0)" in d for d in first.diagnostics)


def test_skip_without_description_is_named_by_number_with_its_reason():
    suite = ktap.parse(out(f"{R612}-nobody/timens/timens.out"))
    (t,) = suite.tests
    assert (t.number, t.description, t.directive, t.reason) == (
        2,
        "",
        "SKIP",
        "need to run as root",
    )
    (rec,) = ktap.flatten(suite, ("timens", "timens"))
    assert rec.path == ("timens", "timens", "2")
    assert (rec.outcome, rec.reason) == ("skipped", "need to run as root")
    assert suite.problem() == "1 of 10 planned results"


def test_program_killed_mid_run_is_incomplete_not_silent():
    # kselftest's 45 s timeout killed pidfd_test under TCG during its 8th test
    suite = ktap.parse(out(f"{R61}/pidfd/pidfd_test.out"))
    assert suite.plan == 8 and len(suite.tests) == 7
    assert suite.problem() == "7 of 8 planned results"
    assert suite.trailing[-1] == "# waitpid !WIFEXITED, WIFSIGNALED=1, WTERMSIG=15"
    # repeated descriptions stay distinct records
    paths = [r.path[-1] for r in ktap.flatten(suite)]
    assert len(paths) == len(set(paths)) == 7
    assert paths[1].endswith("#2")


def test_plan_without_version_line_and_missing_plan():
    timens = ktap.parse(out(f"{R61}/timens/timens.out"))
    assert timens.version is None and timens.plan == 10 and len(timens.tests) == 10
    poll = ktap.parse(out(f"{R61}/pidfd/pidfd_poll_test.out"))
    assert poll.plan is None and poll.problem() is None
    assert [t.description for t in poll.tests] == ["pidfd poll test: pass"]
    assert poll.tests[0].diagnostics == ["# running pidfd poll test for 10000 iterations"]


def test_no_output_and_non_ktap_output_are_not_ktap():
    assert not ktap.parse(out(f"{R61}/nsfs/owner.out")).is_ktap
    script = ktap.parse(out(f"{R61}/net/netdevice.sh.out"))
    assert not script.is_ktap and "PASS: eth0: ethtool stats" in script.trailing


def test_nested_kunit_output_keeps_paths():
    suite = ktap.parse(out("kunit-test-data-6.12/test_is_test_passed-all_passed_nested.log"))
    recs = ktap.flatten(suite, ("kunit",))
    paths = [r.path for r in recs]
    assert ("kunit", "sysctl_test") in paths
    assert ("kunit", "sysctl_test", "example", "example_simple_test") in paths
    assert ("kunit", "example", "example_mock_test") in paths
    assert all(r.outcome == "passed" for r in recs) and len(recs) == 10
    # a parent comes before its subtests
    assert paths.index(("kunit", "sysctl_test")) < paths.index(
        ("kunit", "sysctl_test", "sysctl_test_dointvec_null_tbl_data")
    )


def test_nested_failure_is_red_at_leaf_and_parent():
    suite = ktap.parse(out("kunit-test-data-6.12/test_is_test_passed-failure.log"))
    recs = {r.path: r for r in ktap.flatten(suite)}
    leaf = recs[("example", "example_simple_test")]
    assert leaf.outcome == "failed"
    assert "# example_simple_test: EXPECTATION FAILED at lib/kunit/example-test.c:30" in (
        leaf.diagnostics
    )
    assert recs[("example",)].outcome == "failed"
    assert recs[("sysctl_test",)].outcome == "passed"


def test_ktap_v1_two_space_nesting_and_skip_reason():
    suite = ktap.parse(out("kunit-test-data-6.12/test_parse_ktap_output.log"))
    assert [r.path for r in ktap.flatten(suite)] == [
        ("suite",),
        ("suite", "case_1"),
        ("suite", "case_2"),
        ("suite", "case_3"),
    ]
    skip = {
        r.path: r for r in ktap.flatten(ktap.parse(out("kunit-test-data-6.12/test_skip_tests.log")))
    }
    rec = skip[("example", "example_skip_test")]
    assert (rec.outcome, rec.directive, rec.reason) == (
        "skipped",
        "SKIP",
        "this test should be skipped",
    )


def test_truncated_real_output_reports_what_is_missing():
    """A program that stops mid-line: cut a real output and the parser says what is missing."""
    text = out(f"{R612}/net/so_incoming_cpu.out")
    cut = text[: text.index("not ok 5")]  # the 5th result was never printed
    suite = ktap.parse(cut)
    assert len(suite.tests) == 4 and suite.problem() == "4 of 12 planned results"
    assert suite.trailing[-1] == "#          FAIL  so_incoming_cpu.before_listen.test2"


def test_every_saved_output_parses_and_flattens():
    for f in sorted(DATA.rglob("*.out")) + sorted(DATA.rglob("*.log")):
        recs = ktap.flatten(ktap.parse(f.read_text()), ("t",))
        assert all(r.outcome in ktap.OUTCOMES for r in recs), f
        assert len({r.path for r in recs}) == len(recs), f


@pytest.mark.parametrize("rel", [f"{R61}/pidfd/pidfd_setns_test.out", f"{R612}/net/tun.out"])
def test_cut_anywhere_never_silent(rel):
    """Wherever a real run stops, the suite either holds every planned result or says which
    part is missing: no prefix of the output parses as a complete run."""
    lines = out(rel).splitlines(keepends=True)
    full = ktap.parse("".join(lines))
    for n in range(2, len(lines)):  # from just after the plan line
        suite = ktap.parse("".join(lines[:n]))
        if len(suite.tests) < full.plan:
            assert suite.problem() == f"{len(suite.tests)} of {full.plan} planned results"
        else:
            assert suite.problem() is None
