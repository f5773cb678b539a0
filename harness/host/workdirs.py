"""Each VM's private directory (its QEMU sockets, disk layer, initrd with keys), owned by
the run that made it. A run killed with SIGKILL cannot clean up after itself, so the next
run — and `nsharness doctor --clean` — removes directories whose owner is gone."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "nsh-vm-"


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def make() -> Path:
    """A fresh private directory (0700) recording its owner (pid and start time)."""
    d = Path(tempfile.mkdtemp(prefix=PREFIX))
    me = os.getpid()
    (d / "owner").write_text(f"{me} {_start_time(me)}\n")
    return d


def stale(base: Path | None = None) -> list[Path]:
    """This user's VM directories whose owning process is gone (or was reused)."""
    base = base or Path(tempfile.gettempdir())
    out = []
    for d in base.glob(f"{PREFIX}*"):
        try:
            if d.stat().st_uid != os.getuid() or not d.is_dir():
                continue
            pid, started = (d / "owner").read_text().split()
        except (OSError, ValueError):
            continue  # not ours, or being created right now
        if _start_time(int(pid)) != started:
            out.append(d)
    return out


def clean_stale(base: Path | None = None) -> list[Path]:
    gone = stale(base)
    for d in gone:
        shutil.rmtree(d, ignore_errors=True)
    return gone
