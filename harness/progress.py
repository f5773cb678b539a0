"""Long build steps (mmdebstrap, make) with a live status line and a full log on disk."""

from __future__ import annotations

import subprocess
import time
from collections import deque
from pathlib import Path


def run_logged(cmd: list[str], label: str, log: Path, keep: int = 40) -> tuple[int, list[str]]:
    """Run *cmd*, appending its output to *log* and showing the latest line as a status.

    Returns the exit code and the last *keep* output lines, for the caller's error message.
    """
    from rich.console import Console

    tail: deque[str] = deque(maxlen=keep)
    start = time.monotonic()
    with open(log, "a", buffering=1) as logf, Console(stderr=True).status(label) as status:
        logf.write(f"$ {' '.join(cmd)}\n")
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            logf.write(line)
            tail.append(line.rstrip())
            status.update(f"{label} [{time.monotonic() - start:4.0f}s] {line.strip()[:80]}")
        return proc.wait(), list(tail)
