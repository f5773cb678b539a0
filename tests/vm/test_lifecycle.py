"""No QEMU of ours survives a pytest session: normal end, SIGINT (Ctrl-C) or SIGTERM."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.report import validate

from .childrun import child_pytest, hears_ctrl_c, reaped

pytestmark = pytest.mark.vm
ROOT = Path(__file__).resolve().parents[2]

CHILD_TEST = """
import os, time
def test_hold(vm):
    open(os.environ["NSH_PIDFILE"], "w").write(str(vm.qemu.pid))
    time.sleep(float(os.environ.get("NSH_HOLD", "0")))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _child(tmp_path, nsh_kernel, request, hold: float) -> tuple[subprocess.Popen, Path]:
    pidfile = tmp_path / "qemu.pid"
    accel = request.config.getoption("accel")
    cmd = child_pytest(tmp_path, CHILD_TEST, str(nsh_kernel.image), accel)
    env = {**os.environ, "NSH_PIDFILE": str(pidfile), "NSH_HOLD": str(hold)}
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=hears_ctrl_c,
    )
    return proc, pidfile


def _wait_pidfile(proc, pidfile: Path) -> int:
    deadline = time.monotonic() + 180
    while not pidfile.exists() or not pidfile.read_text():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "child never booted its VM"
        time.sleep(0.2)
    return int(pidfile.read_text())


def test_normal_end_leaves_no_qemu(tmp_path, nsh_kernel, request):
    proc, pidfile = _child(tmp_path, nsh_kernel, request, hold=0)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert not _alive(int(pidfile.read_text()))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_leaves_no_qemu(tmp_path, nsh_kernel, request, sig):
    proc, pidfile = _child(tmp_path, nsh_kernel, request, hold=120)
    with reaped(proc):
        pid = _wait_pidfile(proc, pidfile)
        assert _alive(pid)
        proc.send_signal(sig)
        proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)
    # the run still left a valid report, marked interrupted, with its VM recorded
    doc = json.loads((tmp_path / "report.json").read_text())
    validate(doc)
    assert doc["run"]["interrupted"] is True and doc["run"]["partial"] is True
    assert [v["kernel_key"] for v in doc["vms"]] == [nsh_kernel.key]


CRASH_TEST = """
def test_a_crashes(vm):
    vm.run("echo 1 > /proc/sys/kernel/sysrq")
    vm.run("echo c > /proc/sysrq-trigger; sleep 30", timeout=60)

def test_b_runs_on_a_fresh_boot(vm):
    assert vm.succeed("cat /proc/sys/kernel/sysrq").strip() != "1"  # a new boot's default
"""


def test_guest_death_fails_that_test_and_the_next_gets_a_fresh_vm(tmp_path, nsh_kernel, request):
    cmd = child_pytest(
        tmp_path, CRASH_TEST, str(nsh_kernel.image), request.config.getoption("accel")
    )
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert res.returncode == 1, res.stdout[-2000:]
    doc = json.loads((tmp_path / "report.json").read_text())
    validate(doc)
    tests = {t["name"]: t for t in doc["tests"]}
    crashed = tests["test_a_crashes"]
    assert crashed["outcome"] == "failed"
    assert "died" in crashed["message"] and "sysrq" in crashed["message"].lower()
    assert "Kernel panic" in crashed["console_tail"]
    assert tests["test_b_runs_on_a_fresh_boot"]["outcome"] == "passed"
    vm = doc["vms"][0]
    # two starts, cold or from the snapshot an earlier run saved; the second after the death
    assert len(vm["starts"]) == 2, vm["starts"]


LOGGED = """
def test_views(agent):
    agent.views()
"""


def test_verbose_shows_boot_phases_and_guest_ops_with_timings(tmp_path, nsh_kernel, request):
    """-v: how the guest started (restore or boot phases, each timed) and every guest op
    with its host and guest durations — without -v none of it."""
    accel = request.config.getoption("accel")
    quiet = subprocess.run(
        child_pytest(tmp_path / "q", LOGGED, str(nsh_kernel.image), accel),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    loud = subprocess.run(
        child_pytest(tmp_path / "v", LOGGED, str(nsh_kernel.image), accel, "-vv"),  # (-q -vv = -v)
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert quiet.returncode == loud.returncode == 0, loud.stdout[-3000:]
    assert "op views" not in quiet.stdout
    out = loud.stdout
    assert "guest ready (agent answered) at" in out, out[-3000:]
    assert "restoring" in out or "kernel reached the initrd's init at" in out
    assert "op views" in out and " s (guest " in out  # host and guest durations
