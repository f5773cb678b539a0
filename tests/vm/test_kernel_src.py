"""Kernel patches in, verdict out, on a real tree: Debian's linux-source-6.1 with a small
history on top, one commit of which breaks setns()'s nstype check (EINVAL -> EPERM).

Slow: the first build of the tree takes minutes (tinyconfig + our fragment); the tree and
its build directory are cached, so later runs rebuild only what a commit touched.
"""

import json
import subprocess

import pytest

from harness.report import validate

from .childrun import nsharness
from .kernel_trees import checked_out, git, linux_tree  # noqa: F401 - shared, also by test_mutants

pytestmark = [pytest.mark.vm, pytest.mark.slow]

TEST = "test_setns_rejects_a_mismatched_nstype_and_non_namespace_fds"
CONTROL = "test_netns_switch_is_per_thread"  # another setns scenario, not broken by demo


def test_patched_tree_goes_to_report_in_one_command(linux_tree, tmp_path, request):  # noqa: F811
    out = tmp_path / "out"
    with checked_out(linux_tree["tree"], "demo"):
        res = nsharness(
            "run",
            "--kernel-src",
            str(linux_tree["tree"]),
            "--accel",
            request.config.getoption("accel"),
            "--out",
            str(out),
            "-k",
            f"{TEST} or {CONTROL}",
        )
    doc = json.loads((out / "report.json").read_text())
    validate(doc)
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-2000:]
    vm = doc["vms"][0]
    assert vm["provenance"]["commit"] == linux_tree["tip"] and vm["provenance"]["kind"] == "source"
    assert linux_tree["tip"][:12] in vm["identity"]
    outcomes = {t["name"]: t for t in doc["tests"]}
    assert outcomes[CONTROL]["outcome"] == "passed"
    broken = outcomes[TEST]
    assert broken["outcome"] == "failed" and "EPERM" in broken["message"]
    assert broken["reproduce"].startswith(f"nsharness run --kernel-src {linux_tree['tree']}")
    assert linux_tree["tip"] in broken["reproduce"]


def test_bisect_finds_the_breaking_commit(linux_tree, tmp_path, request):  # noqa: F811
    with checked_out(linux_tree["tree"], "demo"):  # bisect moves HEAD, then resets it
        res = nsharness(
            "bisect",
            "--good",
            "base",
            "--bad",
            "demo",
            "--kernel-src",
            str(linux_tree["tree"]),
            "-k",
            TEST,
            "--accel",
            request.config.getoption("accel"),
            "--out",
            str(tmp_path / "b"),
            "--json",
        )
    assert res.returncode == 0, res.stderr[-3000:]
    found = json.loads(res.stdout)
    assert found["first_bad"] == linux_tree["bad_commit"]
    assert "demo 2/3" in found["subject"]
    assert [e["test"] for e in found["evidence"]] == [TEST]
    assert "EPERM" in found["evidence"][0]["message"]
    assert (
        subprocess.run(
            ["git", "-C", str(linux_tree["tree"]), "bisect", "log"], capture_output=True
        ).returncode
        != 0
    )  # bisect was reset
