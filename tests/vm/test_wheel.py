"""nsharness as another project uses it: a wheel built from this tree, installed in a fresh
virtualenv outside the repository, and a test file of the user's own that uses the `agent`
and `netns` fixtures (loaded through the pytest11 entry point) against a real kernel —
plus `nsharness run` running the shipped scenario suite from the installed package."""

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from harness.report import validate

pytestmark = [pytest.mark.vm, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]

USER_TEST = """
import pytest


@pytest.mark.behaviour(8)
def test_my_dummy_is_seen_by_sysfs_inside_its_namespace(agent, netns):
    b = netns()
    b.sh("ip link add mydummy type dummy")
    assert "mydummy" in agent.class_net(b.sysfs_ctx)
    assert "mydummy" not in agent.class_net()
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(d), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    wheel = next(d.glob("nsharness-*.whl"))
    env = d / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    res = subprocess.run(
        [str(env / "bin/pip"), "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return env


def test_wheel_carries_the_guest_recipe_init_and_suite(installed):
    site = next((installed / "lib").glob("python3*/site-packages"))
    pkg = site / "harness"
    for rel in (
        "_shipped/vm-images/bookworm/recipe.toml",
        "_shipped/vm-images/initrd/init",
        "_shipped/scenarios/test_devices.py",
        "data/nsharness.config",
        "data/report.schema.json",
        "guest/agent.py",
    ):
        assert (pkg / rel).is_file(), rel
    eps = subprocess.run(
        [
            str(installed / "bin/python"),
            "-c",
            "from importlib.metadata import entry_points as e;"
            "print([x.value for x in e(group='pytest11')])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "harness.plugin" in eps


def test_a_users_own_test_file_runs_against_a_real_kernel(installed, tmp_path, nsh_kernel):
    (tmp_path / "test_mine.py").write_text(USER_TEST)
    spec = (
        f"debian:{nsh_kernel.provenance.package_version}"
        if nsh_kernel.provenance.kind == "debian"
        else str(nsh_kernel.image)
    )
    res = subprocess.run(
        [
            str(installed / "bin/pytest"),
            "-q",
            "-p",
            "no:cacheprovider",
            str(tmp_path),
            "--rootdir",
            str(tmp_path),
            "--kernel",
            spec,
            "--report",
            str(tmp_path / "r.json"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    doc = json.loads((tmp_path / "r.json").read_text())
    validate(doc)
    [t] = doc["tests"]
    assert t["outcome"] == "passed" and t["behaviours"] == ["8"] and t["name"].startswith("test_my")


def test_installed_nsharness_runs_its_shipped_suite(installed, tmp_path, nsh_kernel):
    res = subprocess.run(
        [
            str(installed / "bin/nsharness"),
            "run",
            "--kernel",
            str(nsh_kernel.image),
            "--out",
            str(tmp_path / "out"),
            "-k",
            "test_fresh or same_name",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    doc = json.loads((tmp_path / "out/report.json").read_text())
    assert doc["tests"] and all(t["outcome"] == "passed" for t in doc["tests"])
    assert all(
        "_shipped/scenarios" in t["nodeid"] or "scenarios" in t["nodeid"] for t in doc["tests"]
    )
