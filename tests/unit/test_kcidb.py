"""KCIDB export of real reports (the scenario suite's, and a run with kernel selftests),
validated with KernelCI's own schema package (kcidb-io)."""

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.report import Report, kcidb
from harness.report.kcidb import path_part, to_kcidb

kcidb_io = pytest.importorskip("kcidb_io")

DATA = Path(__file__).resolve().parents[1] / "data"
R61, R612 = "6.1.0-56-cloud-amd64", "6.12.117+deb12-cloud-amd64"


def suite() -> Report:
    return Report.load(DATA / "report-real.json")


def kselftests() -> Report:
    return Report.load(DATA / "report-kselftest.json")


@pytest.mark.parametrize("load", [suite, kselftests])
def test_real_reports_are_valid_kcidb(load):
    rep = load()
    data = to_kcidb(rep)
    kcidb_io.schema.LATEST.validate(data)
    assert data["version"]["major"] == kcidb_io.schema.LATEST.major == 5
    kernels = rep.kernels()
    assert len(data["builds"]) == len(kernels)  # one per kernel identity
    assert len(data["checkouts"]) == len(
        {v.provenance.get("package_version") or v.provenance.get("commit") for v in rep.vms}
    )
    assert len(data["tests"]) == len(rep.tests)  # every record ran on a described kernel


def test_paths_of_scenarios_and_kselftest_subtests():
    paths = {t["path"] for t in to_kcidb(suite())["tests"]}
    assert "nsharness.setns.test_setns_rejects_a_mismatched_nstype_and_non_namespace_fds" in paths
    ks = {t["path"] for t in to_kcidb(kselftests())["tests"]}
    assert {"kselftest.nsfs.owner", "kselftest.pidfd.pidfd_test"} <= ks
    assert "kselftest.pidfd.pidfd_setns_test.current_nsset_pidfd_incremental_setns" in ks
    assert "kselftest.net.netdevice_sh.eth0_interface_already_up" in ks
    assert any(p.startswith("nsharness.setns.") for p in ks)


def test_parameters_name_the_variant():
    rep = suite()
    name = "test_setns_rejects_a_mismatched_nstype_and_non_namespace_fds"
    t = next(t for t in rep.tests if t.name == name)
    veth = dataclasses.replace(t, test_id=t.test_id + "[veth]", params={"kind": "veth"})
    assert ".".join(map(path_part, kcidb.test_path(veth))) == f"nsharness.setns.{name}-veth"
    nested = dataclasses.replace(
        t, area="kselftest:net/forwarding", test_id="kselftest/net/forwarding/router.sh::a::b"
    )
    assert kcidb.test_path(nested) == ["kselftest", "net", "forwarding", "router.sh", "a", "b"]


def test_statuses_builds_and_checkouts():
    rep = kselftests()
    data = to_kcidb(rep)
    builds = {b["id"]: b for b in data["builds"]}
    checkouts = {c["id"]: c for c in data["checkouts"]}
    assert all(b["checkout_id"] in checkouts for b in builds.values())
    assert {c["git_commit_name"] for c in checkouts.values()} == {"6.1.192-2", "6.12.117-1~deb12u1"}
    by = {(builds[t["build_id"]]["misc"]["release"], t["path"]): t for t in data["tests"]}
    timeout = by[(R61, "kselftest.pidfd.pidfd_test")]
    assert timeout["status"] == "ERROR" and timeout["misc"]["error_kind"] == "timeout"
    assert timeout["log_excerpt"].startswith("timed out after 4 s")
    red = by[(R612, "kselftest.net.so_incoming_cpu.so_incoming_cpu_before_reuseport_test1")]
    assert red["status"] == "FAIL" and "Expected 2 (2) <= nr_server (1)" in red["log_excerpt"]
    absent = by[(R61, "kselftest.net.so_incoming_cpu")]  # new in 6.12: skipped on 6.1
    assert absent["status"] == "SKIP" and "has no kselftest program" in absent["log_excerpt"]
    assert by[(R612, "kselftest.net.so_incoming_cpu")]["status"] == "FAIL"
    for t in data["tests"]:
        assert t["misc"]["kernel"] == builds[t["build_id"]]["misc"]["release"]


def test_a_tree_build_is_a_checkout_at_its_commit():
    rep = kselftests()
    vm = rep.vms[0]
    commit = "0ee4aeeee" + "0" * 31
    vm.provenance = {"kind": "source", "spec": "src:/t", "tree": "/t", "commit": commit}
    data = to_kcidb(rep)
    kcidb_io.schema.LATEST.validate(data)
    co = next(c for c in data["checkouts"] if c["tree_name"] == "local")
    assert co["git_commit_hash"] == commit
    vm.provenance = {**vm.provenance, "commit": None, "dirty": True}  # no git: no hash
    kcidb_io.schema.LATEST.validate(to_kcidb(rep))


def test_ids_are_stable_and_unique():
    rep = kselftests()
    a, b = to_kcidb(rep), to_kcidb(copy.deepcopy(rep))
    assert a == b
    ids = [t["id"] for t in a["tests"]]
    assert len(ids) == len(set(ids)) == len(rep.tests)
    later = copy.deepcopy(rep)
    later.run.start = "2026-11-24T08:00:00Z"
    c = to_kcidb(later)
    assert not set(ids) & {t["id"] for t in c["tests"]}  # another run: other test ids
    assert [x["id"] for x in a["builds"]] == [x["id"] for x in c["builds"]]  # same kernels


def nsharness(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True
    )


def test_report_kcidb_writes_a_file(tmp_path):
    out = tmp_path / "k" / "kcidb.json"
    res = nsharness("report", "kcidb", str(DATA / "report-kselftest.json"), "-o", str(out))
    assert res.returncode == 0 and res.stderr == "" and res.stdout == f"{out}\n"
    kcidb_io.schema.LATEST.validate(json.loads(out.read_text()))
    stdout = nsharness("report", "kcidb", str(DATA / "report-real.json"))
    assert stdout.returncode == 0
    kcidb_io.schema.LATEST.validate(json.loads(stdout.stdout))


@pytest.mark.parametrize(
    "content, why",
    [
        (None, "no such report"),
        ("{not json", "is not a JSON report"),
        ('{"tests": []}', "report schema version None"),
        ('{"schema_version": 2, "run": {}, "vms": [], "tests": []}', "not a valid nsharness"),
    ],
)
def test_report_kcidb_bad_input_is_one_line_exit_4(tmp_path, content, why):
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    res = nsharness("report", "kcidb", str(path), "-o", str(tmp_path / "out.json"))
    assert res.returncode == 4 and why in res.stderr and res.stderr.count("\n") == 1
    assert not (tmp_path / "out.json").exists()
