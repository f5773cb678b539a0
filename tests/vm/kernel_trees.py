"""The kernel trees the slow tests share: Debian's linux-source-X.Y as a git repository
(tag `base`: the tree as shipped), with commits that break one behaviour each, built in one
build directory per tree (harness.build keys it by the tree's path) so a whole session pays
the full build once and each commit after that only an incremental rebuild.

`debian_source_tree(series)` makes the tree of any series whose Debian source package is
installed (or installable: `apt-get install linux-source-X.Y`); the fixtures name the two
the tests use:

- `linux_tree` (6.1, cache entry linux-source-6.1-demo): tag `base`; tag `demo`, three commits
  on base, the middle one breaking setns()'s nstype check; branch `nsh-nsfs-owner`: base plus
  the one-line ns_get_owner() change of docs/kselftest.md (NS_GET_USERNS answers with the
  caller's user namespace).
- `linux_tree_72` (7.2, cache entry linux-source-7.2): tag `base` only; the 7.x mutants of
  tests/vm/mutants.py are branches off it.

Whoever builds or runs a tree holds its checkout with `checked_out(tree, ref)`: a lock
(tests of other sessions, xdist workers) and the previous checkout put back afterwards.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.host.cache import cache_root, locked

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
#: kernel/user_namespace.c, the end of ns_get_owner() (fs/nsfs.c's NS_GET_USERNS)
NSFS_FILE = "kernel/user_namespace.c"
NSFS_OLD = "\treturn &get_user_ns(owner)->ns;"
NSFS_NEW = "\treturn &get_user_ns(my_user_ns)->ns;"
NSFS_BRANCH = "nsh-nsfs-owner"


def git(tree: Path, *args: str, input: str | None = None, env: dict | None = None) -> str:  # noqa: A002
    res = subprocess.run(
        ["git", "-C", str(tree), *args],
        capture_output=True,
        text=True,
        input=input,
        env={**os.environ, **GIT_ENV, **(env or {})},
    )
    assert res.returncode == 0, (args, res.stderr)
    return res.stdout.strip()


def commit_edit(tree: Path, rel: str, old: str | None, new: str, msg: str) -> None:
    f = tree / rel
    text = f.read_text()
    f.write_text(text.replace(old, new, 1) if old else text + new)
    git(tree, "commit", "-q", "-am", msg)


def one_line_commit(tree: Path, branch: str, base: str, rel: str, old: str, new: str, msg: str):
    """Branch *branch*: *base* plus *old* -> *new* in *rel* (exactly one line), committed
    without touching the work tree (someone may be building it); reused if it exists."""
    have = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "-q", "--verify", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
    )
    if have.returncode == 0:
        return have.stdout.strip()
    show = ["git", "-C", str(tree), "show", f"{base}:{rel}"]
    lines = subprocess.run(show, capture_output=True, text=True, check=True).stdout.split("\n")
    hits = [i for i, line in enumerate(lines) if line == old]
    assert len(hits) == 1, f"{rel}: the line is not there exactly once: {hits}"
    lines[hits[0]] = new
    blob = git(tree, "hash-object", "-w", "--stdin", input="\n".join(lines))
    mode = git(tree, "ls-tree", base, rel).split()[0]
    with tempfile.TemporaryDirectory() as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(tree, "read-tree", base, env=index)
        git(tree, "update-index", "--cacheinfo", f"{mode},{blob},{rel}", env=index)
        top = git(tree, "write-tree", env=index)
    commit = git(tree, "commit-tree", top, "-p", base, "-m", msg)
    git(tree, "update-ref", f"refs/heads/{branch}", commit)
    return commit


def tarball(series: str) -> Path:
    """Debian's source tarball of *series* (/usr/src/linux-source-X.Y.tar.xz), installed
    with apt-get if it is missing and we are root; a skip saying what to install otherwise."""
    path = Path(f"/usr/src/linux-source-{series}.tar.xz")
    if path.exists():
        return path
    pkg = f"linux-source-{series}"
    if os.geteuid() == 0:
        res = subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", pkg],
            capture_output=True,
            text=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if res.returncode == 0 and path.exists():
            return path
        why = (res.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"needs Debian's {pkg} ({path}); apt-get install {pkg}: {why}")
    pytest.skip(f"needs Debian's {pkg} ({path}): apt-get install {pkg}")


def debian_source_tree(series: str, name: str | None = None, extra=None) -> Path:
    """Debian's linux-source-*series* as a git tree under the cache (cache entry *name*,
    linux-source-X.Y by default), tagged `base`; *extra(tree)* adds commits once, when the
    tree is made. Made once, under a lock; reused after that."""
    tree = cache_root() / "src" / (name or f"linux-source-{series}")
    with locked(tree):
        if not (tree / ".git").exists():
            source = tarball(series)
            tree.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["tar", "-xf", str(source), "-C", str(tree), "--strip-components=1"], check=True
            )
            git(tree, "init", "-q")
            git(tree, "add", "-A", "-f")  # Debian's tarball ships a .gitignore of "/*"
            git(tree, "commit", "-q", "-m", f"base: Debian linux-source-{series}")
            git(tree, "tag", "base")
            if extra:
                extra(tree)
    return tree


def _demo_commits(tree: Path) -> None:
    doc = "Documentation/admin-guide/namespaces/compatibility-list.rst"
    commit_edit(
        tree,
        doc,
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
        doc,
        None,
        "\n.. nsharness demo: another harmless change\n",
        "Documentation: another harmless note (demo 3/3)",
    )
    git(tree, "tag", "demo")


@pytest.fixture(scope="session")
def linux_tree() -> dict:
    """linux-source-6.1 as a git tree: tags base (good) and demo (bad at the tip), branch
    nsh-nsfs-owner (NS_GET_USERNS broken); checked out at demo."""
    tree = debian_source_tree("6.1", "linux-source-6.1-demo", _demo_commits)
    with locked(tree):
        nsfs = one_line_commit(
            tree,
            NSFS_BRANCH,
            "base",
            NSFS_FILE,
            NSFS_OLD,
            NSFS_NEW,
            "userns: NS_GET_USERNS returns the caller's user namespace (breaks nsfs/owner)",
        )
    with checked_out(tree, "demo", restore=False):
        pass
    return {
        "tree": tree,
        "bad_commit": git(tree, "rev-parse", "demo~1"),
        "tip": git(tree, "rev-parse", "demo"),
        "base": git(tree, "rev-parse", "base"),
        "nsfs_broken": nsfs,
    }


@pytest.fixture(scope="session")
def linux_tree_72() -> dict:
    """linux-source-7.2 as a git tree (tag base), for the 7.x mutants."""
    tree = debian_source_tree("7.2")
    return {"tree": tree, "base": git(tree, "rev-parse", "base")}


@contextlib.contextmanager
def checked_out(tree: Path, ref: str, restore: bool = True) -> Iterator[str]:
    """Hold the tree at *ref* (its commit is yielded); put the previous checkout back."""
    with locked(tree.with_name(tree.name + ".checkout"), f"using {tree.name}"):
        before = git(tree, "rev-parse", "HEAD")
        git(tree, "checkout", "-q", ref)
        try:
            yield git(tree, "rev-parse", "HEAD")
        finally:
            if restore:
                git(tree, "checkout", "-q", before)
