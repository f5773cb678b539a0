"""Kernel patches in, verdict out, on a real tree: Debian's linux-source-6.1 with a small
history on top, one commit of which breaks setns()'s nstype check (EINVAL -> EPERM).

Slow: the first build of the tree takes minutes (tinyconfig + our fragment); the tree and
its build directory are cached, so later runs rebuild only what a commit touched.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cache import cache_root, locked
from harness.report import validate

pytestmark = [pytest.mark.vm, pytest.mark.slow]

TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "nsharness",
    "GIT_AUTHOR_EMAIL": "nsharness@example.invalid",
    "GIT_COMMITTER_NAME": "nsharness",
    "GIT_COMMITTER_EMAIL": "nsharness@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}
BREAK_OLD = "\t\tif (flags && (ns->ops->type != flags))\n\t\t\terr = -EINVAL;"
BREAK_NEW = "\t\tif (flags && (ns->ops->type != flags))\n\t\t\terr = -EPERM;"
TEST = "test_setns_rejects_a_mismatched_nstype_and_non_namespace_fds"


def git(tree: Path, *args: str) -> str:
    res = subprocess.run(
        ["git", "-C", str(tree), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    )
    assert res.returncode == 0, (args, res.stderr)
    return res.stdout.strip()


def commit_edit(tree: Path, rel: str, old: str | None, new: str, msg: str) -> None:
    f = tree / rel
    text = f.read_text()
    f.write_text(text.replace(old, new, 1) if old else text + new)
    git(tree, "commit", "-q", "-am", msg)


@pytest.fixture(scope="session")
def linux_tree() -> dict:
    """linux-source-6.1 as a git tree with tags base (good) and demo (bad at the tip)."""
    if not TARBALL.exists():
        if os.geteuid() != 0:
            pytest.skip("needs Debian's linux-source-6.1 (apt-get install linux-source-6.1)")
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "linux-source-6.1"],
            check=True,
            capture_output=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    tree = cache_root() / "src" / "linux-source-6.1-demo"
    with locked(tree):
        if not (tree / ".git").exists():
            tree.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["tar", "-xf", str(TARBALL), "-C", str(tree), "--strip-components=1"], check=True
            )
            git(tree, "init", "-q")
            git(tree, "add", "-A", "-f")  # Debian's tarball ships a .gitignore of "/*"
            git(tree, "commit", "-q", "-m", "base: Debian linux-source-6.1")
            git(tree, "tag", "base")
            commit_edit(
                tree,
                "Documentation/admin-guide/namespaces/compatibility-list.rst",
                None,
                "\n.. nsharness demo: a harmless documentation change\n",
                "Documentation: harmless note (demo 1/3)",
            )
            commit_edit(
                tree,
                "kernel/nsproxy.c",
                BREAK_OLD,
                BREAK_NEW,
                "nsproxy: report an nstype mismatch as EPERM (demo 2/3, breaks setns)",
            )
            commit_edit(
                tree,
                "Documentation/admin-guide/namespaces/compatibility-list.rst",
                None,
                "\n.. nsharness demo: another harmless change\n",
                "Documentation: another harmless note (demo 3/3)",
            )
            git(tree, "tag", "demo")
        git(tree, "checkout", "-q", "demo")
    return {
        "tree": tree,
        "bad_commit": git(tree, "rev-parse", "demo~1"),
        "tip": git(tree, "rev-parse", "demo"),
    }


def nsharness(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_patched_tree_goes_to_report_in_one_command(linux_tree, tmp_path, request):
    out = tmp_path / "out"
    res = nsharness(
        "run",
        "--kernel-src",
        str(linux_tree["tree"]),
        "--accel",
        request.config.getoption("accel"),
        "--out",
        str(out),
        "-k",
        f"{TEST} or test_same_name_in_two_netns_is_two_devices_each_view_its_own",
    )
    doc = json.loads((out / "report.json").read_text())
    validate(doc)
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-2000:]
    vm = doc["vms"][0]
    assert vm["provenance"]["commit"] == linux_tree["tip"] and vm["provenance"]["kind"] == "source"
    assert linux_tree["tip"][:12] in vm["identity"]
    outcomes = {t["name"]: t for t in doc["tests"]}
    assert (
        outcomes["test_same_name_in_two_netns_is_two_devices_each_view_its_own"]["outcome"]
        == "passed"
    )
    broken = outcomes[TEST]
    assert broken["outcome"] == "failed" and "EPERM" in broken["message"]
    assert broken["reproduce"].startswith(f"nsharness run --kernel-src {linux_tree['tree']}")
    assert linux_tree["tip"] in broken["reproduce"]


def test_bisect_finds_the_breaking_commit(linux_tree, tmp_path, request):
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
