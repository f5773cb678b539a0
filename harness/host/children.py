"""Every long-lived child the harness starts (QEMU, make, mmdebstrap): in its own process
group, killed with it — on normal exit, an exception, SIGINT/SIGTERM, and by the kernel
itself if the harness dies first (PR_SET_PDEATHSIG) — and bounded in the file sizes it
may write (RLIMIT_FSIZE), so neither a cancelled CI job nor a flooding guest leaves a
process or an unbounded file behind.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import resource
import signal
import subprocess
import threading

#: libc is loaded here, at import: the code between fork and exec must not import or load
#: anything while other threads (paramiko's) may hold the import lock or malloc's.
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
#: No child of ours writes a file larger than this (QEMU's console and disk layers, a
#: saved guest of 256 MB RAM, build logs): a runaway writer is stopped, not the disk filled.
FILE_LIMIT = 4 << 30

#: Seconds a graceful child (make) gets after SIGTERM before SIGKILL: make deletes the
#: targets it was writing (a half-written .o would look up to date to the next build).
GRACE = 10.0

_live: dict[int, subprocess.Popen] = {}
_graceful: set[int] = set()
_lock = threading.Lock()
_handlers_installed = False


def _child_setup() -> None:
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the harness
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def spawn(cmd: list[str], graceful: bool = False, **kw) -> subprocess.Popen:
    """Popen in its own process group, registered for killing, PDEATHSIG set. A *graceful*
    child is stopped with SIGTERM first (GRACE seconds), then SIGKILL."""
    install_handlers()
    proc = subprocess.Popen(cmd, process_group=0, preexec_fn=_child_setup, **kw)
    with _lock:
        _live[proc.pid] = proc
        if graceful:
            _graceful.add(proc.pid)
    return proc


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill(proc: subprocess.Popen) -> None:
    """Stop the child's whole process group and reap it (SIGTERM first if graceful)."""
    termed = proc.poll() is None and proc.pid in _graceful
    if termed:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            pass
    # after a SIGTERM, SIGKILL the group even if its leader (make) exited: its jobs may not
    # have (pids are handed out cyclically: the group's id is not reused within a moment)
    if termed or proc.poll() is None:
        _signal_group(proc, signal.SIGKILL)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    forget(proc)


def forget(proc: subprocess.Popen) -> None:
    with _lock:
        _live.pop(proc.pid, None)
        _graceful.discard(proc.pid)


def kill_all() -> None:
    """Kill every child this process started and has not stopped yet."""
    with _lock:
        procs = list(_live.values())
        _live.clear()
    for p in procs:
        kill(p)


def live() -> list[int]:
    with _lock:
        return [pid for pid, p in _live.items() if p.poll() is None]


def _on_signal(signum, frame):  # noqa: ARG001
    """SIGTERM: kill our children, then unwind like Ctrl-C so reports are still written."""
    kill_all()
    signal.signal(signum, signal.SIG_DFL)
    raise KeyboardInterrupt


def install_handlers() -> None:
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(kill_all)
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_signal)
