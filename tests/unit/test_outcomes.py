"""nsharness's own outcomes through a real pytest run (no VM): a test that could not be
judged and a behaviour broken as a known kernel regression are recorded as such, counted
apart, shown in JUnit as skipped with an `nsharness.outcome` property, and the run's exit
status stays 1 for them — except for the kernel findings listed in --known-findings."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

from harness.report import Report

TESTS = """
from harness.scenario import KernelFinding, NotJudged


def test_ok():
    pass


def test_blocked():
    raise NotJudged("SIOCGSKNS and SO_NETNS_COOKIE disagree on the scene socket", ["25b", "25c"])


def test_regression_as_known():
    raise KernelFinding("demo-finding", "queue files keep owner 0 after the move")
"""


def _run(tmp_path, *extra: str):
    (tmp_path / "test_demo.py").write_text(TESTS)
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path)]
        + ["--rootdir", str(tmp_path), "--nsh-report", str(report), "--junitxml", str(junit)]
        + list(extra),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    return res, Report.load(report), cases


def _prop(case, name):
    return next((p.get("value") for p in case.iter("property") if p.get("name") == name), None)


def test_not_judged_and_kernel_findings_are_outcomes_of_their_own(tmp_path):
    res, rep, cases = _run(tmp_path)
    got = {t.name: t for t in rep.tests}
    assert got["test_ok"].outcome == "passed"
    blocked = got["test_blocked"]
    assert blocked.outcome == "not-judged" and blocked.blocked_by == ["25b", "25c"]
    assert blocked.message.startswith("not judged: blocked by behaviour 25b, 25c: SIOCGSKNS")
    found = got["test_regression_as_known"]
    assert found.outcome == "kernel-finding" and found.finding == "demo-finding"
    assert res.returncode == 1, res.stdout[-2000:]  # nothing hides them
    assert "1 not judged" in res.stdout and "1 kernel finding" in res.stdout
    assert cases["test_blocked"].find("skipped") is not None
    assert _prop(cases["test_blocked"], "nsharness.outcome") == "not-judged"
    assert cases["test_regression_as_known"].find("failure") is not None  # not listed: red
    assert _prop(cases["test_regression_as_known"], "nsharness.outcome") == "kernel-finding"


def test_listed_kernel_findings_do_not_fail_the_run_but_stay_reported(tmp_path):
    known = tmp_path / "known"
    known.write_text("# ours\ndemo-finding  # the queue owner one\n")
    res, rep, cases = _run(tmp_path, "-k", "not blocked", "--nsh-known-findings", str(known))
    assert res.returncode == 0, res.stdout[-2000:]
    found = next(t for t in rep.tests if t.name == "test_regression_as_known")
    assert found.outcome == "kernel-finding"
    assert "1 kernel finding" in res.stdout
    assert cases["test_regression_as_known"].find("skipped") is not None
    cells = rep.to_dict()["behaviours"]["summary"]
    assert all(isinstance(v, dict) for v in cells.values())


def test_a_missing_known_findings_file_is_one_usage_error(tmp_path):
    (tmp_path / "test_demo.py").write_text(TESTS)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path)]
        + ["--nsh-known-findings", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert (
        res.returncode == 4 and "--known-findings" in res.stderr and "Traceback" not in res.stderr
    )
