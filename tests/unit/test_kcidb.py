"""KCIDB export of real reports, validated with KernelCI's own schema package (kcidb-io)."""

import copy
import json
from pathlib import Path

import pytest

from harness import kcidb, ktap
from harness import kselftest as ks

kcidb_io = pytest.importorskip("kcidb_io")

DATA = Path(__file__).resolve().parents[1] / "data"
R61, R612 = "6.1.0-56-cloud-amd64", "6.12.117+deb12-cloud-amd64"


def real_report() -> dict:
    return json.loads((DATA / "report-real.json").read_text())


def with_kselftests(report: dict) -> dict:
    """The real report plus kselftest records made from real guest runs of the same kernels."""
    report = copy.deepcopy(report)
    for rel, kernel in (
        (f"{R61}/pidfd/pidfd_setns_test", R61),
        (f"{R61}/nsfs/owner", R61),
        (f"{R612}/net/tun", R612),
        (f"{R612}-nobody/timens/timens", R612),
    ):
        base = DATA / "ktap" / rel
        meta = json.loads(base.with_name(base.name + ".json").read_text())
        out = base.with_name(base.name + ".out").read_text()
        prog = ks.Program(base.parent.name, base.name, meta["timeout"], True)
        res = ks.ProgramResult(
            prog, out, meta["rc"], meta["duration_s"], meta["timeout"], suite=ktap.parse(out)
        )
        report["tests"] += ks.report_tests(res, kernel)
    return report


def test_real_report_is_valid_kcidb():
    data = kcidb.to_kcidb(with_kselftests(real_report()))
    kcidb_io.schema.LATEST.validate(data)
    assert data["version"]["major"] == kcidb_io.schema.LATEST.major
    assert len(data["checkouts"]) == 2 and len(data["builds"]) == 2  # one per Debian kernel
    paths = {t["path"] for t in data["tests"]}
    assert "nsharness.setns.test_setns_argument_errors" in paths
    assert "kselftest.nsfs.owner" in paths
    assert "kselftest.pidfd.pidfd_setns_test.current_nsset_pidfd_incremental_setns" in paths
    assert "kselftest.timens.timens.2" in paths
    # a test without a scenario area is named after its file
    assert "nsharness.child.test_warns" in paths


def test_statuses_and_links():
    data = kcidb.to_kcidb(with_kselftests(real_report()))
    builds = {b["id"]: b for b in data["builds"]}
    checkouts = {c["id"] for c in data["checkouts"]}
    assert all(b["checkout_id"] in checkouts for b in builds.values())
    by_path: dict[str, list[dict]] = {}
    for t in data["tests"]:
        assert t["build_id"] in builds and t["origin"] == "nsharness"
        by_path.setdefault(t["path"], []).append(t)
    (red,) = by_path["kselftest.net.tun.tun_delete_detach_close"]
    assert red["status"] == "FAIL"
    assert builds[red["build_id"]]["misc"]["release"] == R612
    assert "Expected self->fd (-1) >= 0 (0)" in red["log_excerpt"]
    (skip,) = by_path["kselftest.timens.timens.2"]
    assert (skip["status"], skip["log_excerpt"]) == ("SKIP", "need to run as root")
    warns = by_path["nsharness.child.test_warns"]
    assert {t["status"] for t in warns} == {"FAIL"} and len(warns) == 2
    co = {c["git_commit_name"] for c in data["checkouts"]}
    assert co == {"6.1.192-2", "6.12.117-1~deb12u1"}


def test_ids_are_stable_and_unique():
    report = with_kselftests(real_report())
    a, b = kcidb.to_kcidb(report), kcidb.to_kcidb(copy.deepcopy(report))
    assert a == b
    ids = [t["id"] for t in a["tests"]]
    assert len(ids) == len(set(ids)) == len(report["tests"])
    later = copy.deepcopy(report)
    later["run"]["start"] = "2026-11-24T08:00:00Z"
    c = kcidb.to_kcidb(later)
    assert not set(ids) & {t["id"] for t in c["tests"]}  # another run: other test ids
    assert [x["id"] for x in a["builds"]] == [x["id"] for x in c["builds"]]  # same kernels


def test_upcoming_record_fields_name_and_params():
    report = real_report()
    t = next(t for t in report["tests"] if "test_setns_argument_errors" in t["nodeid"])
    t["name"] = "test_setns_argument_errors"
    t["params"] = {"kernel": t["kernel"], "kind": "veth"}
    data = kcidb.to_kcidb({**report, "tests": [t]})
    kcidb_io.schema.LATEST.validate(data)
    assert data["tests"][0]["path"] == "nsharness.setns.test_setns_argument_errors-veth"


def test_kcidb_main_writes_a_file(tmp_path, capsys):
    out = tmp_path / "kcidb.json"
    assert kcidb.kcidb_main([str(DATA / "report-real.json"), "-o", str(out)]) == 0
    kcidb_io.schema.LATEST.validate(json.loads(out.read_text()))
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "content, why",
    [(None, "cannot read"), ("{not json", "is not JSON"), ('{"tests": []}', "not an nsharness")],
)
def test_kcidb_main_bad_input_is_one_line(tmp_path, capsys, content, why):
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    assert kcidb.kcidb_main([str(path)]) == 2
    err = capsys.readouterr().err
    assert why in err and err.count("\n") == 1
