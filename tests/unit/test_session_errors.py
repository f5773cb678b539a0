"""A failure that concerns the whole session — no image recipe, no QEMU, an unusable
--kernel, --accel kvm where KVM does not work — is one clear error and a non-zero exit,
reported once, never the same traceback on every test; the report still says why."""

import json
import os
import subprocess
import sys

import pytest

from harness.vm.accel import probe_kvm

TESTS = """
def test_one(vm):
    pass

def test_two(agent):
    pass
"""


def _child(tmp_path, *args, env=None):
    (tmp_path / "test_child.py").write_text(TESTS)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        str(tmp_path),
        "--rootdir",
        str(tmp_path),
        "--report",
        str(tmp_path / "report.json"),
        *args,
    ]
    return subprocess.run(
        cmd,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def _one_error(res, needle: str) -> None:
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "Traceback" not in out, out[-3000:]
    assert out.count(needle) == 1, out[-3000:]


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--image", "nope"], None, "no image recipe 'nope'"),
        ([], {"NSHARNESS_QEMU": "/nonexistent/qemu-system-x86_64"}, "QEMU not found"),
        (["--kernel", "/nonexistent/bzImage"], None, "no such file"),
    ],
    ids=["no image recipe", "no QEMU", "no kernel"],
)
def test_session_failure_is_one_error(tmp_path, args, env, needle):
    res = _child(tmp_path, *args, env=env)
    _one_error(res, needle)
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["run"]["error"] and needle.lower() in doc["run"]["error"].lower()
    assert doc["tests"] == []  # no test ran, so none is reported as broken


def test_accel_kvm_where_kvm_does_not_work_fails_before_any_image_work(tmp_path):
    works, why = probe_kvm()
    if works:
        pytest.skip("KVM works on this machine")
    cache = tmp_path / "cache"
    res = _child(tmp_path, "--accel", "kvm", env={"NSHARNESS_CACHE": str(cache)})
    _one_error(res, "--accel kvm")
    assert not (cache / "images").exists()  # detected before the image was built
