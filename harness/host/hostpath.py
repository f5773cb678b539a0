"""Host tools Debian keeps in /usr/sbin (mkfs.ext4, debugfs, depmod, chroot).

They all work unprivileged, but an ordinary user's PATH on Debian lacks the sbin
directories, so looking them up by name fails for exactly the users who need them.
"""

from __future__ import annotations

import os
import shutil

SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def with_sbin(path: str) -> str:
    """*path* with the sbin directories appended where missing (order otherwise kept)."""
    parts = [p for p in path.split(os.pathsep) if p]
    return os.pathsep.join(parts + [d for d in SBIN_DIRS if d not in parts])


def ensure_sbin_on_path() -> None:
    """Make child processes (and the harness's own look-ups) find the sbin tools."""
    os.environ["PATH"] = with_sbin(os.environ.get("PATH", os.defpath))


def which(cmd: str) -> str | None:
    return shutil.which(cmd, path=with_sbin(os.environ.get("PATH", os.defpath)))
