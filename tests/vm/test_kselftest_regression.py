"""The kselftest regression story of docs/kselftest.md, for real: Debian's linux-source-6.1
without and with a one-line change to ns_get_owner() (NS_GET_USERNS then answers with the
caller's user namespace), each built with --kernel-src and run with `--kselftest nsfs`, and
`report diff` naming the one selftest that regressed — nothing else.

Slow: builds the shared tree (tests/vm/kernel_trees.py; the first build takes minutes, each
commit after that an incremental rebuild of one file and a relink).
"""

import json
import subprocess
from pathlib import Path

import pytest

from harness.report import Report

from .childrun import nsharness
from .kernel_trees import NSFS_BRANCH, checked_out, linux_tree  # noqa: F401 - the fixture

pytestmark = [pytest.mark.vm, pytest.mark.slow]


def nsfs_run(
    tree: Path, ref: str, out: Path, accel: str
) -> tuple[subprocess.CompletedProcess, str]:
    with checked_out(tree, ref) as commit:
        res = nsharness(
            *("run", "--kernel-src", str(tree), "--kselftest", "nsfs"),
            *("--accel", accel, "--out", str(out)),
        )
    assert (out / "report.json").is_file(), res.stdout[-3000:] + res.stderr[-2000:]
    return res, commit


def test_nsfs_regression_is_named_by_report_diff(linux_tree, tmp_path, request):  # noqa: F811
    tree, accel = linux_tree["tree"], request.config.getoption("accel")
    good, base = nsfs_run(tree, "base", tmp_path / "base", accel)
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-2000:]
    bad, broken = nsfs_run(tree, NSFS_BRANCH, tmp_path / "broken", accel)
    assert bad.returncode == 1, bad.stdout[-3000:] + bad.stderr[-2000:]
    assert broken == linux_tree["nsfs_broken"]

    before, after = (
        Report.load(tmp_path / "base/report.json"),
        Report.load(tmp_path / "broken/report.json"),
    )
    for rep, commit in ((before, base), (after, broken)):
        (vm,) = rep.vms
        assert vm.provenance["kind"] == "source" and vm.provenance["commit"] == commit
        assert {t.test_id for t in rep.tests} == {"kselftest/nsfs/owner", "kselftest/nsfs/pidns"}
        for t in rep.tests:  # built from the same tree, at the same commit
            assert t.observations["kselftest"]["source"] == f"{tree}@{commit}"
    assert {t.outcome for t in before.tests} == {"passed"}
    owner = next(t for t in after.tests if t.name == "owner")
    assert owner.outcome == "failed" and owner.observations["kselftest"]["rc"] == 1
    assert "NS_GET_USERNS returned a wrong namespace" in owner.message
    assert owner.reproduce.startswith(f"nsharness run --kernel-src {tree} --kselftest nsfs:owner")
    assert broken in owner.reproduce
    assert before.vms[0].kernel_key != after.vms[0].kernel_key  # two builds of one release
    assert before.vms[0].release == after.vms[0].release

    res = nsharness(
        "report", "diff", "--json", str(tmp_path / "base/report.json"),
        str(tmp_path / "broken/report.json"),
    )  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr
    d = json.loads(res.stdout)
    assert [(r["test"], r["base"], r["new"]) for r in d["regressions"]] == [
        ("kselftest/nsfs/owner", "passed", "failed")
    ]
    assert "NS_GET_USERNS returned a wrong namespace" in d["regressions"][0]["message"]
    assert d["fixes"] == d["new"] == d["vanished"] == d["changed"] == []
    text = nsharness(
        "report", "diff", str(tmp_path / "base/report.json"), str(tmp_path / "broken/report.json")
    )  # fmt: skip
    assert "kselftest/nsfs/owner: passed -> failed" in text.stdout
