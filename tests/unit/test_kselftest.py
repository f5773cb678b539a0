"""Kselftest specs, sources and program verdicts, on outputs captured in our guests
(tests/data/ktap/<release>/<target>/<program>.out + .json: exit code, timeout, kernel log)."""

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
from ktapdata import R61, R612, result

from harness import kselftest as ks
from harness.kernel.model import Provenance
from harness.kselftest import ktap

DATA = Path(__file__).resolve().parents[1] / "data"


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
    # ...but the program named is still checked against the source (a typo is an error)
    assert ks.parse_spec("nsfs,nsfs:nosuch")[0].named == ("nosuch",)
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
    with pytest.raises(ks.SpecError, match=why) as e:
        ks.parse_spec(bad)
    assert "\n" not in str(e.value) and e.value.exit_code == 2  # a usage error


def test_repeated_options_are_one_selection():
    assert ks.parse_specs(["nsfs", "pidfd:pidfd_test,nsfs:owner"]) == [
        ks.TargetSpec("nsfs"),
        ks.TargetSpec("pidfd", ("pidfd_test",)),
    ]


@pytest.mark.parametrize(
    "version, package",
    [("6.1.192-2", "linux-source-6.1"), ("6.12.117-1~deb12u1", "linux-source-6.12")],
)
def test_debian_source_package_of_a_kernel_version(version, package):
    # the versions of the Debian kernels in tests/data/report-real.json
    assert ks.debian_source_package(version) == package


def test_debian_source_needs_a_debian_version():
    with pytest.raises(ks.NotInSource, match="kernel series"):
        ks.debian_source_package("linux")


def test_source_for_a_kernel_file_without_source_says_what_to_pass(debian_kernel):
    # the real kernel image, given as a bare file: no package, no tree
    bare = dataclasses.replace(
        debian_kernel, provenance=Provenance("file", str(debian_kernel.image))
    )
    with pytest.raises(ks.NotInSource, match="--kernel-src") as e:
        ks.source_for(bare)
    assert e.value.exit_code == 4 and "\n" not in str(e.value)


def git(tree: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env |= {"GIT_COMMITTER_EMAIL": "t@t", "PATH": os.environ["PATH"]}
    res = subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_a_built_tree_is_its_own_source(tmp_path, debian_kernel):
    tree = tmp_path / "linux"
    (tree / "tools/testing/selftests/nsfs").mkdir(parents=True)
    (tree / "tools/testing/selftests/lib.mk").write_text("# lib.mk\n")
    (tree / "tools/testing/selftests/nsfs/owner.c").write_text("int main(void) { return 0; }\n")
    git(tree, "init", "-q")
    git(tree, "add", "-A")
    git(tree, "commit", "-qm", "base")
    head = git(tree, "rev-parse", "HEAD")
    built = dataclasses.replace(
        debian_kernel, provenance=Provenance("source", f"src:{tree}", tree=str(tree), commit=head)
    )
    src = ks.source_for(built)
    assert (src.origin, src.tree, src.identity) == (
        "tree",
        tree.resolve(),
        f"{tree.resolve()}@{head}",
    )
    before = src.fingerprint
    (tree / "tools/testing/selftests/nsfs/owner.c").write_text("int main(void) { return 1; }\n")
    again = ks.tree_source(tree)
    assert again.identity.endswith(f"@{head}-dirty") and again.fingerprint != before
    assert again.key == src.key  # one build directory per tree
    with pytest.raises(ks.NotInSource, match="lib.mk"):
        ks.tree_source(tmp_path)


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
    assert result(f"{release}/pidfd/pidfd_test").verdict().error_kind == "timeout"
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
    assert res.verdict().error_kind == "crash"
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


def test_long_output_is_clipped_in_the_report_keeping_head_and_tail():
    text = result(f"{R61}/pidfd/pidfd_test").output  # 56 KB
    clipped = ks.clip(text, 4096)  # harness.kselftest.records.clip
    assert len(clipped) < 4200 and "characters cut" in clipped
    assert clipped.startswith("TAP version 13\n1..8\n") and clipped.endswith(text[-1000:])
    assert ks.clip(text) == text


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
