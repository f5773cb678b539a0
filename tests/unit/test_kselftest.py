"""Kselftest specs, source naming and result records, on outputs captured in our guests
(tests/data/ktap/<release>/<target>/<program>.out + .json: exit code, timeout, kernel log)."""

import json
from pathlib import Path

import jsonschema
import pytest

from harness import kselftest as ks
from harness import ktap

DATA = Path(__file__).resolve().parents[1] / "data"
R61, R612 = "6.1.0-56-cloud-amd64", "6.12.117+deb12-cloud-amd64"


def result(rel: str) -> ks.ProgramResult:
    """A ProgramResult as run_program built it, from a saved real run."""
    base = DATA / "ktap" / rel
    meta = json.loads(base.with_name(base.name + ".json").read_text())
    output = base.with_name(base.name + ".out").read_text()
    target = base.parent.name
    prog = ks.Program(target, base.name, meta["timeout"], True, None)
    return ks.ProgramResult(
        program=prog,
        output=output,
        rc=meta["rc"],
        duration_s=meta["duration_s"],
        timeout=meta["timeout"],
        timed_out=meta["timed_out"],
        guest_died=meta["guest_died"],
        kernel_log=meta["kernel_log"],
        suite=ktap.parse(output),
    )


# ------------------------------------------------------------------------ specs


def test_spec_targets_and_single_programs():
    specs = ks.parse_spec("nsfs, pidfd,net:rtnetlink.sh,net:netdevice.sh,net:rtnetlink.sh")
    assert specs == [
        ks.TargetSpec("nsfs"),
        ks.TargetSpec("pidfd"),
        ks.TargetSpec("net", ("rtnetlink.sh", "netdevice.sh")),
    ]
    assert str(specs[2]) == "net:rtnetlink.sh,net:netdevice.sh"
    # naming the whole target wins over single programs, in either order
    assert ks.parse_spec("net:veth.sh,net") == [ks.TargetSpec("net")]
    assert ks.parse_spec("net/forwarding:router.sh") == [
        ks.TargetSpec("net/forwarding", ("router.sh",))
    ]


@pytest.mark.parametrize(
    "bad, why",
    [
        ("", "no kselftest target"),
        (" , ", "no kselftest target"),
        ("../etc", "bad kselftest target"),
        ("net/../../x", "bad kselftest target"),
        ("nsfs:../owner", "bad kselftest program"),
        ("net:rtnetlink.sh;reboot", "bad kselftest program"),
    ],
)
def test_bad_spec_is_one_clear_line(bad, why):
    with pytest.raises(ks.KselftestError, match=why) as e:
        ks.parse_spec(bad)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "version, package",
    [("6.1.192-2", "linux-source-6.1"), ("6.12.117-1~deb12u1", "linux-source-6.12")],
)
def test_debian_source_package_of_a_kernel_version(version, package):
    # the versions of the Debian kernels in tests/data/report-real.json
    assert ks.debian_source_package(version) == package


def test_debian_source_needs_a_debian_version():
    with pytest.raises(ks.KselftestError, match="kernel series"):
        ks.debian_source_package("linux")


def test_source_for_a_kernel_file_without_source_says_what_to_pass():
    class FileKernel:  # a kernel given as a bzImage path: no package, no tree
        origin, package, package_version, release = "file", None, None, "6.13.0"

    with pytest.raises(ks.KselftestError, match="--kernel-src"):
        ks.source_for(FileKernel())


def test_settings_timeout(tmp_path):
    assert ks.settings_timeout(tmp_path) == ks.DEFAULT_TIMEOUT == 45
    for name, want in (("net-settings-6.1", 1500), ("net-settings-6.12", 3600)):
        (tmp_path / "settings").write_text((DATA / "kselftest" / name).read_text())
        assert ks.settings_timeout(tmp_path) == want


# ------------------------------------------------------------------------ records


def test_passing_program_record_and_subtests():
    res = result(f"{R61}/pidfd/pidfd_setns_test")
    recs = res.records()
    assert recs[0].path == ("pidfd", "pidfd_setns_test")
    assert (recs[0].outcome, recs[0].reason) == ("passed", None)
    assert [r.outcome for r in recs[1:]] == ["passed"] * 7
    assert recs[1].path == ("pidfd", "pidfd_setns_test", "global.setns_einval")


def test_program_without_ktap_is_one_record_from_its_exit_code():
    recs = result(f"{R61}/nsfs/owner").records()
    assert [(r.path, r.outcome) for r in recs] == [(("nsfs", "owner"), "passed")]


@pytest.mark.parametrize("release", [R61, R612])
def test_timeout_mid_run_is_an_error_naming_the_missing_results(release):
    recs = result(f"{release}/pidfd/pidfd_test").records()
    prog = recs[0]
    assert prog.outcome == "error"
    assert prog.reason == "timed out after 45 s after 7 of 8 planned results"
    assert len(prog.diagnostics) <= 40  # the output's tail: where it stopped
    assert [r.outcome for r in recs[1:]] == ["passed"] * 7


def test_program_killed_by_a_signal_is_a_crash_not_silence():
    # pidfd_test got SIGSEGV (pkill) 8 s into its run: 2 results of 8 were printed
    res = result(f"{R61}-segv/pidfd/pidfd_test")
    assert res.rc == 139
    recs = res.records()
    assert (recs[0].outcome, recs[0].reason) == (
        "error",
        "crashed: killed by SIGSEGV after 2 of 8 planned results",
    )
    assert recs[0].diagnostics[-1] == res.output.rstrip("\n").splitlines()[-1]
    assert [r.outcome for r in recs[1:]] == ["passed", "passed"]


@pytest.mark.parametrize("release", [R61, R612])
def test_whole_program_skip_keeps_the_reason(release):
    recs = result(f"{release}-nobody/timens/timens").records()
    assert (recs[0].outcome, recs[0].reason) == ("skipped", "need to run as root")
    assert recs[1].path == ("timens", "timens", "2") and recs[1].outcome == "skipped"


def test_failing_program_and_subtests():
    recs = result(f"{R612}/net/so_incoming_cpu").records()
    assert (recs[0].outcome, recs[0].reason) == ("failed", "exit=1")
    assert ktap.counts(recs[1:])["failed"] == 12
    assert recs[1].path[-1] == "so_incoming_cpu.before_reuseport.test1"
    assert "# so_incoming_cpu.c:87:test1:Expected 2 (2) <= nr_server (1)" in recs[1].diagnostics


def test_net_script_checks_become_records():
    recs = result(f"{R61}/net/netdevice.sh").records()
    assert [(r.path[-1], r.outcome) for r in recs[1:]] == [
        ("eth0: interface already up", "skipped"),
        ("eth0: ethtool list features", "passed"),
        ("eth0: ethtool dump not supported", "skipped"),
        ("eth0: ethtool stats", "passed"),
        ("eth0: interface kept up", "skipped"),
    ]
    skipped = recs[3]
    assert skipped.diagnostics == ("Cannot get register dump: Operation not supported",)


def test_lib_sh_test_lines_with_failures():
    # without iputils-ping in the guest every "assign and ping" check fails
    recs = result(f"{R61}/net/unicast_extensions.sh").records()
    assert (recs[0].outcome, recs[0].reason) == ("failed", "exit=1")
    counts = ktap.counts(recs[1:])
    assert (counts["passed"], counts["failed"]) == (6, 11)
    assert recs[1].path[-1] == "assign and ping within 240/4 (1 of 2) (is allowed)"
    fib = result(f"{R61}/net/fib_rule_tests.sh").records()
    assert ktap.counts(fib[1:])["failed"] == 8
    red = next(r for r in fib if r.outcome == "failed" and len(r.path) == 3)
    assert red.path[-1] == "rule6 check: ipproto match"
    assert 'Error: argument "tcp" is wrong: Invalid "ipproto" value' in red.diagnostics


def test_not_built_program_is_an_error_record_naming_the_log(tmp_path):
    prog = ks.Program("net", "tls", 1500, False, tmp_path / "build.log")
    res = ks.ProgramResult(prog, "", None, 0.0, 1500)
    (rec,) = res.records()
    assert rec.outcome == "error" and str(tmp_path / "build.log") in rec.reason


def test_report_tests_fit_the_report_schema():
    schema = json.loads((Path(ks.__file__).parent / "data" / "report.schema.json").read_text())
    tests = []
    for rel in (
        f"{R61}/pidfd/pidfd_test",
        f"{R61}/nsfs/owner",
        f"{R612}-nobody/timens/timens",
        f"{R612}/net/tun",
    ):
        kernel = R612 if rel.startswith(R612) else R61
        tests += ks.report_tests(result(rel), kernel)
    report = {
        "schema_version": 1,
        "run": {
            "harness_version": "0.1.0",
            "start": "2026-11-23T21:40:00Z",
            "end": "2026-11-23T21:50:00Z",
            "host": "vm",
            "qemu_version": "7.2.22",
            "command_line": ["nsharness", "run"],
            "exit_status": 1,
            "interrupted": False,
        },
        "vms": [],
        "tests": tests,
    }
    jsonschema.validate(report, schema)
    ids = [t["nodeid"] for t in tests]
    assert len(ids) == len(set(ids))
    assert f"kselftest/pidfd/pidfd_test[{R61}]" in ids
    assert f"kselftest/net/tun::tun.delete_detach_close[{R612}]" in ids
    by_id = {t["nodeid"]: t for t in tests}
    prog = by_id[f"kselftest/pidfd/pidfd_test[{R61}]"]
    assert prog["area"] == "kselftest:pidfd" and prog["outcome"] == "error"
    assert prog["message"].startswith("timed out after 45 s")
    assert prog["observations"]["rc"] == 124
    assert prog["observations"]["output_bytes"] == len(result(f"{R61}/pidfd/pidfd_test").output)

    skip = by_id[f"kselftest/timens/timens::2[{R612}]"]
    assert (skip["outcome"], skip["skip_reason"]) == ("skipped", "need to run as root")


def test_long_output_is_clipped_in_the_report_keeping_head_and_tail():
    text = result(f"{R61}/pidfd/pidfd_test").output  # 56 KB
    clipped = ks.clip(text, 4096)
    assert len(clipped) < 4200 and "characters cut" in clipped
    assert clipped.startswith("TAP version 13\n1..8\n") and clipped.endswith(text[-1000:])
    assert ks.clip(text) == text


def test_kselftest_run_bad_spec_is_one_line_before_any_work(tmp_path, capsys):
    from harness import kselftest_run

    out = tmp_path / "out"
    assert kselftest_run.main(["--kselftest", "nsfs:../x", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nsharness: bad kselftest program") and err.count("\n") == 1
    assert not out.exists()


def test_net_scripts_with_their_tools_installed():
    rt = result(f"{R61}-pkgs/net/rtnetlink.sh").records()
    assert (rt[0].outcome, rt[0].reason) == ("failed", "exit=1")
    counts = ktap.counts(rt[1:])
    assert (counts["passed"], counts["failed"], counts["skipped"]) == (19, 1, 2)
    (red,) = [r for r in rt[1:] if r.outcome == "failed"]
    assert red.path == ("net", "rtnetlink.sh", "set interface alias test-dummy0 to")
    assert "./rtnetlink.sh: line 366: uuidgen: command not found" in red.diagnostics
    skip = {r.path[-1] for r in rt[1:] if r.outcome == "skipped"}
    assert skip == {"ipsec_offload can't load netdevsim", "bridge_parent_id can't load netdevsim"}
    uni = result(f"{R61}-pkgs/net/unicast_extensions.sh").records()
    assert uni[0].outcome == "passed" and ktap.counts(uni[1:])["passed"] == 17
