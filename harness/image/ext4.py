"""An ext4 file system image packed from a directory, without mounting and without root:
the guest's root image and every kernel's modules disk are made this way."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..errors import ImageError
from ..host.hostpath import which
from . import userns


def _dir_size_mb(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total // (1 << 20)


def make_ext4(src: Path, out: Path, label: str, free_mb: int) -> None:
    """Pack a directory into an ext4 image file (mkfs.ext4 -d: no mounting, no root).

    mkfs.ext4 records the owners it sees. As root (or root of the build namespace) those
    are the tree's real owners; an ordinary user's own tree (a kernel's modules) is packed
    in a namespace where that user is root, so the guest sees root's files, as it would
    had root built them.
    """
    size = int(_dir_size_mb(src) * 1.25) + free_mb + 16
    mkfs = which("mkfs.ext4") or "mkfs.ext4"
    cmd = [mkfs, "-q", "-F", "-L", label, "-d", str(src), "-E", "root_owner=0:0", str(out)]
    cmd.append(f"{size}M")
    if os.geteuid() != 0:
        cmd = userns.command(cmd, userns.self_as_root(os.getuid(), os.getgid()))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    except subprocess.TimeoutExpired:
        raise ImageError(f"mkfs.ext4 took over 600 s making {out}") from None
    if res.returncode != 0:
        raise ImageError(f"mkfs.ext4 failed: {res.stderr.strip()}")
