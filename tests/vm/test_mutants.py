"""The harness's verdicts on kernels broken on purpose: Debian's linux-source-6.1 and -7.2
with one one-line change each (tests/vm/mutants.py), built with --kernel-src and run
through the whole scenario suite. Exactly the intended tests go red — each with a first
message line that names the broken behaviour — and everything else stays as it was: no
cascade from another test's leftovers, no crashed setup step, no wrong green. The unmutated
base is the control: all green on 6.1; on 7.2 whatever the suite finds on the unmutated
tree stays exactly that (the 7.2 mutants are judged by what they add).

Slow: the tree's first build takes minutes; each mutant then rebuilds one file and
relinks (about a minute), sharing the build directory with test_kernel_src.py.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.report import validate

from .kernel_trees import checked_out, git, linux_tree, linux_tree_72, one_line_commit  # noqa: F401
from .mutants import MUTANTS, MUTANTS_72, SOCKETS_IN_INIT, Mutant

pytestmark = [pytest.mark.vm, pytest.mark.slow]


def apply(tree: Path, m: Mutant) -> str:
    """A branch off `base` with the mutant's one-line change committed; its commit."""
    return one_line_commit(
        tree, f"nsh-mutant-{m.name}", "base", m.file, m.old, m.new, f"mutant: {m.breaks}"
    )


def run_cli(out: Path, *args: str, timeout: float = 3600) -> dict:
    """`nsharness run ... --out OUT`: its validated report, with the exit code and output
    tail kept as `_exit` and `_stdout`."""
    res = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    doc = json.loads((out / "report.json").read_text())
    validate(doc)
    doc["_exit"], doc["_stdout"] = res.returncode, res.stdout[-3000:] + res.stderr[-2000:]
    return doc


def run_suite(tree: Path, out: Path, accel: str) -> dict:
    return run_cli(out, "--kernel-src", str(tree), "--accel", accel, "--", "-q")


def red(doc: dict) -> dict[str, dict]:
    return {t["name"]: t for t in doc["tests"] if t["outcome"] in ("failed", "error")}


@pytest.fixture(scope="module")
def base_run(linux_tree, tmp_path_factory, request) -> dict:  # noqa: F811
    tree = linux_tree["tree"]
    with checked_out(tree, "base"):
        return run_suite(tree, tmp_path_factory.mktemp("base"), request.config.getoption("accel"))


def test_the_unmutated_kernel_is_all_green(base_run):
    assert red(base_run) == {}, {n: t["message"][:300] for n, t in red(base_run).items()}
    assert base_run["_exit"] == 0, base_run["_stdout"]
    assert len(base_run["tests"]) >= 40


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_a_mutant_turns_exactly_its_behaviours_tests_red(
    mutant,
    linux_tree,  # noqa: F811 - the fixture imported above
    base_run,
    tmp_path,
    request,  # noqa: F811
):
    tree = linux_tree["tree"]
    commit = apply(tree, mutant)
    with checked_out(tree, commit):
        doc = run_suite(tree, tmp_path / mutant.name, request.config.getoption("accel"))
    got = red(doc)
    detail = {
        n: (t["error_kind"], (t["message"] or "").splitlines()[0][:240]) for n, t in got.items()
    }
    assert set(got) == set(mutant.red), f"{mutant.name} ({mutant.breaks}): red {detail}"
    for name, t in got.items():
        assert t["outcome"] == "failed" and t["error_kind"] in (None, "probe"), (name, detail[name])
        first = (t["message"] or "").splitlines()[0].lower()
        assert any(w.lower() in first for w in mutant.words), (name, first)
        assert commit in (t["reproduce"] or ""), t["reproduce"]
    # the same release, two identities: `report diff` is the A/B of one patch
    base = tmp_path / "base.json"
    base.write_text(json.dumps({k: v for k, v in base_run.items() if not k.startswith("_")}))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "report",
            "diff",
            "--json",
            str(base),
            str(tmp_path / mutant.name / "report.json"),
        ],
        capture_output=True,
        text=True,
    )
    regressed = {
        r["test"].split("::")[-1].split("[")[0] for r in json.loads(res.stdout)["regressions"]
    }
    assert regressed == set(mutant.red) and res.returncode == 1


def test_sockets_made_in_init_fail_their_tests_and_stop_the_rest_as_named_setup_steps(
    linux_tree,  # noqa: F811 - the fixture imported above
    tmp_path,
    request,
):
    """sock_create() into init_net breaks what nearly every scene rests on: its sockets
    (rtnetlink above all: the netlink view) would act on init and every other behaviour
    would be misread through them. So each scene's sockets are checked where they are made
    (nsfs inode vs SIOCGSKNS, or init's netns cookie where SIOCGSKNS is not permitted): the
    tests of behaviours 25 and 30 fail naming it, every other red test is a setup step that
    names it, and none is a wrong verdict on a behaviour that did not change."""
    m = SOCKETS_IN_INIT
    tree = linux_tree["tree"]
    with checked_out(tree, apply(tree, m)):
        doc = run_suite(tree, tmp_path / m.name, request.config.getoption("accel"))
    got = red(doc)
    detail = {
        n: (t["outcome"], t["error_kind"], (t["message"] or "").splitlines()[0][:240])
        for n, t in got.items()
    }
    failed = {n for n, t in got.items() if t["outcome"] == "failed"}
    assert failed == set(m.red), f"{m.name}: red {detail}"
    for name, t in got.items():
        first = (t["message"] or "").splitlines()[0]
        assert "socket" in first.lower(), detail[name]
        if t["outcome"] != "failed":
            assert t["error_kind"] == "setup-step" and "judge that" in first, detail[name]


@pytest.fixture(scope="module")
def base_run_72(linux_tree_72, tmp_path_factory, request) -> dict:  # noqa: F811
    tree = linux_tree_72["tree"]
    with checked_out(tree, "base"):
        return run_suite(tree, tmp_path_factory.mktemp("base72"), request.config.getoption("accel"))


@pytest.mark.parametrize("mutant", MUTANTS_72, ids=[m.name for m in MUTANTS_72])
def test_a_72_mutant_turns_exactly_its_behaviours_tests_red(
    mutant,
    linux_tree_72,  # noqa: F811 - the fixture imported above
    base_run_72,
    tmp_path,
    request,
):
    """A 7.2 mutant adds exactly its tests to what is red on the unmutated 7.2 tree (each
    failing with a message naming the broken behaviour), and every other test ends as it
    did there — the base's own red tests red the same way, its kernel findings the same."""
    tree = linux_tree_72["tree"]
    base = {t["name"]: t["outcome"] for t in base_run_72["tests"]}
    commit = apply(tree, mutant)
    with checked_out(tree, commit):
        doc = run_suite(tree, tmp_path / mutant.name, request.config.getoption("accel"))
    now = {t["name"]: t for t in doc["tests"]}
    changed = {
        n: (t["outcome"], t["error_kind"], (t["message"] or "").splitlines()[0][:240])
        for n, t in now.items()
        if t["outcome"] != base.get(n)
    }
    assert set(changed) == set(mutant.red), f"{mutant.name} ({mutant.breaks}): changed {changed}"
    for name in mutant.red:
        t = now[name]
        assert t["outcome"] == "failed" and t["error_kind"] in (None, "probe"), changed[name]
        first = (t["message"] or "").splitlines()[0].lower()
        assert any(w.lower() in first for w in mutant.words), (name, first)
        assert commit in (t["reproduce"] or ""), t["reproduce"]


def _kept_build(tree: Path, dest: Path) -> Path:
    """A copy of the current build's bzImage and .config (a build-tree layout of its own),
    so two builds of one tree can run side by side."""
    from harness.kernel.build import build

    k = build(tree)
    boot = dest / "arch" / "x86" / "boot"
    boot.mkdir(parents=True)
    shutil.copy(k.image, boot / "bzImage")
    shutil.copy(k.image.parents[3] / ".config", dest / ".config")
    return boot / "bzImage"


def test_ab_of_two_builds_of_one_release_gives_two_columns_and_names_the_regression(
    linux_tree,  # noqa: F811 - the fixture imported above
    tmp_path,
    request,
):
    """The commonest thing a kernel developer does: the same tree without and with a patch,
    in one run. Same release string, two kernels everywhere (ids, JSON, HTML, JUnit), and
    `report diff` between the two columns names exactly what the patch broke. The kernels
    are given by path: no modules (everything is built in), which must boot too."""
    tree = linux_tree["tree"]
    mutant = next(m for m in MUTANTS if m.name == "setns-skips-caller-caps")
    with checked_out(tree, "base"):
        good = _kept_build(tree, tmp_path / "good")
    with checked_out(tree, apply(tree, mutant)):
        bad = _kept_build(tree, tmp_path / "bad")
    out = tmp_path / "out"
    accel = request.config.getoption("accel")
    doc = run_cli(out, "--kernel", str(good), "--kernel", str(bad), "--accel", accel,
                  "-k", "caller or mismatched", timeout=1800)  # fmt: skip
    keys = [v["kernel_key"] for v in doc["vms"]]
    labels = [v["label"] for v in doc["vms"]]
    assert len(set(keys)) == 2 and len({v["release"] for v in doc["vms"]}) == 1, labels
    assert all(v["modules"] is None and len(v["starts"]) >= 1 for v in doc["vms"])
    assert all(lbl in (out / "report.html").read_text() for lbl in labels)
    junit = (out / "junit.xml").read_text()
    assert all(f'value="{lbl}"' in junit for lbl in labels)
    assert doc["_exit"] == 1, doc["_stdout"]
    d = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "report",
            "diff",
            "--json",
            str(out / "report.json"),
            str(out / "report.json"),
            "--base-kernel",
            keys[0],
            "--new-kernel",
            keys[1],
        ],
        capture_output=True,
        text=True,
    )
    regressed = [r["test"] for r in json.loads(d.stdout)["regressions"]]
    assert [t.split("::")[-1] for t in regressed] == sorted(mutant.red), regressed
