"""Faults, each in a run of its own: QEMU killed mid-test, a guest frozen until commands
time out, a guest op that times out followed by another op, the runner itself killed
with SIGKILL, two runs on one cache at once. Every run must end with a valid report that
names what happened, and leave no QEMU and no VM directory behind."""

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness.host.workdirs import PREFIX
from harness.report import validate

from .childrun import child_pytest

pytestmark = pytest.mark.vm

FAULTS = """
import os, signal, time
import pytest
from harness.errors import CommandTimeout, GuestDied

def test_a_qemu_killed(vm, agent):
    os.kill(vm.qemu.pid, signal.SIGKILL)
    agent.call("views")

def test_b_after_kill(agent):
    assert agent.call("ns_inodes")["net"]

def test_c_frozen(vm, agent):
    os.kill(vm.qemu.pid, signal.SIGSTOP)
    with pytest.raises(CommandTimeout):
        agent.call("views", wait=3)
    with pytest.raises(GuestDied, match="unusable"):  # the late answer is never read
        agent.call("views")

def test_d_after_freeze(agent):
    assert "lo" in agent.class_net()

def test_e_op_timeout(agent):
    with pytest.raises(CommandTimeout, match="sh"):
        agent.call("sh", cmd="sleep 5", wait=1)
    agent.call("views")

def test_f_after_timeout(agent):
    assert agent.sh("echo fine").out == "fine\\n"
"""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _run(tmp_path: Path, source: str, kernel, request, *extra, env=None, timeout=600):
    cmd = child_pytest(
        tmp_path, source, str(kernel.image), request.config.getoption("accel"), *extra
    )
    return subprocess.run(
        cmd,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _tests(doc: dict) -> dict:
    return {t["name"]: t for t in doc["tests"]}


def test_qemu_killed_frozen_guest_and_op_timeout_each_fail_one_test(tmp_path, nsh_kernel, request):
    before = _workdirs()
    res = _run(tmp_path, FAULTS, nsh_kernel, request)
    doc = json.loads((tmp_path / "report.json").read_text())
    validate(doc)
    t = _tests(doc)
    killed = t["test_a_qemu_killed"]
    assert killed["outcome"] == "failed" and killed["error_kind"] == "guest-died", killed
    assert "died" in killed["message"] and "QEMU exited" in killed["message"]
    for after in ("test_b_after_kill", "test_d_after_freeze", "test_f_after_timeout"):
        assert t[after]["outcome"] == "passed", (after, t[after]["message"], res.stdout[-2000:])
    assert t["test_c_frozen"]["outcome"] == "passed"  # the timeouts raised as the test expects
    assert t["test_e_op_timeout"]["outcome"] == "failed"  # the op after a timeout must not pass
    assert "unusable" in t["test_e_op_timeout"]["message"]
    starts = doc["vms"][0]["starts"]
    whys = " | ".join(s["why"] for s in starts)
    assert len(starts) == 4, whys  # first use, after the kill, the freeze, the timeout
    assert "QEMU exited" in whys and "timed out" in whys
    assert res.returncode == 1
    assert not _left_workdirs(before), "the run left VM directories behind"


def _workdirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob(f"{PREFIX}*"))


def _left_workdirs(before: set[Path]) -> set[Path]:
    return _workdirs() - before


HOLD = """
import os, time
def test_hold(vm, agent):
    open(os.environ["NSH_PIDFILE"], "w").write(f"{vm.qemu.pid} {vm.workdir}")
    time.sleep(300)
"""


def test_runner_killed_with_sigkill_leaves_nothing_after_the_next_run(
    tmp_path, nsh_kernel, request
):
    pidfile = tmp_path / "qemu.pid"
    cmd = child_pytest(
        tmp_path / "a", HOLD, str(nsh_kernel.image), request.config.getoption("accel")
    )
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env={**os.environ, "NSH_PIDFILE": str(pidfile)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not (pidfile.exists() and pidfile.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, "child never booted"
        time.sleep(0.2)
    qemu_pid, workdir = pidfile.read_text().split()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while _alive(int(qemu_pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(int(qemu_pid)), "QEMU outlived its SIGKILLed runner (PDEATHSIG)"
    partial = json.loads((tmp_path / "a" / "report.json").read_text())
    validate(partial)
    assert partial["run"]["partial"] is True  # written at session start, never completed
    assert Path(workdir).exists()  # nobody could clean it: the runner was SIGKILLed
    res = _run(
        tmp_path / "b", "def test_ok(agent):\n    assert agent.class_net()\n", nsh_kernel, request
    )
    assert res.returncode == 0, res.stdout[-2000:]
    assert not Path(workdir).exists(), "the next run did not remove the dead run's VM directory"


def test_two_runs_on_one_fresh_cache_at_once(tmp_path, nsh_kernel, request):
    """Both build the same entries (kernel boot files, image, snapshot) under locks: one
    builds, the other waits and reuses; both pass."""
    cache = tmp_path / "cache"
    src = "def test_ok(agent):\n    assert 'lo' in agent.class_net()\n"
    env = {"NSHARNESS_CACHE": str(cache), "NSHARNESS_DATA": str(tmp_path / "data")}
    procs = []
    for name in ("one", "two"):
        cmd = child_pytest(
            tmp_path / name, src, str(nsh_kernel.image), request.config.getoption("accel")
        )
        out = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
        procs.append(subprocess.Popen(cmd, cwd=tmp_path, env={**os.environ, **env}, **out))
    outs = [p.communicate(timeout=900)[0] for p in procs]
    for name, p, out in zip(("one", "two"), procs, outs, strict=True):
        assert p.returncode == 0, out[-3000:]
        doc = json.loads((tmp_path / name / "report.json").read_text())
        validate(doc)
        assert _tests(doc)["test_ok"]["outcome"] == "passed"
    assert len(list((cache / "images").glob("*/root.ext4"))) == 1
    assert (
        len([d for d in (cache / "boot").iterdir() if d.is_dir() and not d.name.startswith(".")])
        == 1
    )
