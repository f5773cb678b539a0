"""A run cancelled while it builds a --kernel-src tree (Ctrl-C at a terminal, SIGTERM from a
cancelled CI job): make and its compilers stop with it, the build directory's lock is free
for the next run, and the report says the run was interrupted and during what."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.host.cache import locked
from harness.report import validate

from .childrun import hears_ctrl_c, reaped
from .kernel_trees import checked_out, linux_tree  # noqa: F401 - the shared tree

pytestmark = [pytest.mark.vm, pytest.mark.slow]


def _ours(build_dir: Path) -> list[str]:
    """Processes working in *build_dir* (cwd or arguments): make, gcc, ld of that build."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cwd = os.readlink(d / "cwd")
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(build_dir)) or str(build_dir) in cmd:
            found.append(f"{d.name}: {cmd[:120]}")
    return found


def _compiling(log: Path) -> bool:
    """make is past configuration and compiling objects."""
    try:
        return log.read_text(errors="replace").count("  CC ") >= 20
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_cancelled_during_a_kernel_build(linux_tree, tmp_path, sig):  # noqa: F811
    # a cache of its own: a build directory nobody has built, so a full build surely runs
    env = {
        **os.environ,
        "NSHARNESS_CACHE": str(tmp_path / "cache"),
        "NSHARNESS_DATA": str(tmp_path / "data"),
    }
    out = tmp_path / "out"
    tree = linux_tree["tree"]
    with checked_out(tree, "base"):
        cmd = [sys.executable, "-m", "harness.cli", "run", "--kernel-src", str(tree)]
        proc = subprocess.Popen(
            [*cmd, "--out", str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=hears_ctrl_c,
        )
        with reaped(proc):
            builds = tmp_path / "cache" / "builds"
            deadline = time.monotonic() + 300
            while not any(_compiling(d / "build.log") for d in builds.glob("*/")):
                assert proc.poll() is None, proc.communicate()[0][-3000:]
                assert time.monotonic() < deadline, "make never started compiling"
                time.sleep(0.5)
            (build_dir,) = [d for d in builds.iterdir() if d.is_dir()]
            assert _ours(build_dir), "no make or compiler seen in the build directory"
            proc.send_signal(sig)
            text = proc.communicate(timeout=120)[0]
    assert proc.returncode == 2 and "Traceback" not in text, text[-3000:]  # interrupted
    assert f"nsharness: interrupted while building the kernel of --kernel-src {tree}" in text
    # make had GRACE seconds to stop, then its whole process group was killed
    assert _ours(build_dir) == [], "make or its jobs outlived the cancelled run"
    with locked(build_dir, timeout=1):  # free: the next run builds at once
        pass
    doc = json.loads((out / "report.json").read_text())
    validate(doc)
    assert doc["run"]["interrupted"] is True and doc["run"]["partial"] is True
    assert doc["run"]["error"] == f"interrupted while building the kernel of --kernel-src {tree}"
    assert doc["tests"] == []
    assert "make" in (build_dir / "build.log").read_text()  # the log of what ran is kept
