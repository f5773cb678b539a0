"""Long build steps (mmdebstrap, make) with a live status line and a bounded log on disk.

The step runs as a registered child (host/children.py): cancelled with the harness,
never left writing into a build directory; a step past its time limit is killed and named.
The log keeps at most LOG_LIMIT bytes (a runaway build's output does not fill the disk).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import deque
from pathlib import Path

from . import children

LOG_LIMIT = 64 << 20


def run_logged(
    cmd: list[str], label: str, log: Path, keep: int = 40, timeout: float = 3600.0
) -> tuple[int, list[str]]:
    """Run *cmd*, appending its output to *log* and showing the latest line as a status.

    Returns the exit code (-9 when killed at *timeout*) and the last *keep* output lines,
    for the caller's error message."""
    from rich.console import Console

    tail: deque[str] = deque(maxlen=keep)
    start = time.monotonic()
    written = 0
    with open(log, "a", buffering=1) as logf, Console(stderr=True).status(label) as status:
        logf.write(f"$ {' '.join(cmd)}\n")
        proc = children.spawn(
            cmd,
            graceful=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        timer = threading.Timer(timeout, children.kill, args=(proc,))
        timer.daemon = True
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if written < LOG_LIMIT:
                    logf.write(line)
                    written += len(line)
                    if written >= LOG_LIMIT:
                        logf.write(f"[log truncated at {LOG_LIMIT} bytes]\n")
                tail.append(line.rstrip())
                status.update(f"{label} [{time.monotonic() - start:4.0f}s] {line.strip()[:80]}")
            rc = proc.wait()
        except BaseException:  # Ctrl-C, a signal, a write error: stop it, do not orphan it
            timer.cancel()
            children.kill(proc)
            raise
        finally:
            timer.cancel()
            children.forget(proc)
        if time.monotonic() - start >= timeout:
            tail.append(f"[killed after {timeout:.0f} s]")
        return rc, list(tail)
