"""A separate pytest process running a small test file with the nsharness plugin: for
checking what a whole run does (reports, signals, cleanup) from the outside."""

import contextlib
import signal
import subprocess
import sys
from pathlib import Path


def nsharness(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    """The `nsharness` command in a child process, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def hears_ctrl_c() -> None:
    """Popen preexec_fn: SIGINT as at a terminal. A run started in the background by a
    non-interactive shell (nohup-like CI wrappers, `cmd &`) inherits SIGINT ignored, and a
    Python started so never turns SIGINT into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def child_pytest(d: Path, source: str, kernel: str, accel: str, *extra: str) -> list[str]:
    """Write *source* as a test file in *d*; return the command that runs it on *kernel*."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "test_child.py").write_text(source)
    return [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        str(d),
        "--rootdir",
        str(d),
        "--kernel",
        kernel,
        "--accel",
        accel,
        "--report",
        str(d / "report.json"),
        *extra,
    ]


@contextlib.contextmanager
def reaped(proc: subprocess.Popen):
    """Whatever the test's verdict, its child run is over when the test is: SIGTERM (the
    harness then stops its QEMU or make), SIGKILL if it does not end."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
