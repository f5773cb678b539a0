"""Warm start: a ready guest (agent up, pyroute2 imported) saved once, restored in a
fraction of a boot.

A snapshot is QEMU's migration stream of the paused machine plus the qcow2 layer its root
disk had written, and the exact initrd it booted. It is keyed by everything that shapes
the machine — kernel identity and boot files, image, keys and agent code (all inside the
initrd), QEMU version, memory, CPUs, accelerator, command line — so a stale or
incompatible snapshot is never used: its key simply does not match. Snapshots hold guest
RAM, which holds the guest's SSH host key: they live under the private data directory
(0700), never in the cache that CI uploads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..host.cache import data_root, locked
from .accel import QEMU

KEEP = 6  # snapshots kept (least recently used go first)


@dataclass(frozen=True)
class Snapshot:
    key: str
    dir: Path

    @property
    def state(self) -> Path:
        return self.dir / "state.mig"

    @property
    def disk(self) -> Path:
        return self.dir / "disk.qcow2"

    @property
    def initrd(self) -> Path:
        return self.dir / "initrd.cpio"

    def complete(self) -> bool:
        return all(p.is_file() for p in (self.state, self.disk, self.initrd, self.dir / "meta"))


def root() -> Path:
    d = data_root() / "snapshots"
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    return d


def _qemu_identity() -> str:
    path = shutil.which(QEMU) or QEMU
    try:
        st = os.stat(path)
        return f"{path}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return path


def key_for(machine_args: list[str], identities: dict[str, str]) -> str:
    """A digest of the machine: its QEMU arguments with each file path replaced by what
    identifies the file's content (the paths differ per VM, the contents must not)."""
    args = [identities.get(a, a) for a in machine_args]
    basis = json.dumps(
        {"qemu": _qemu_identity(), "args": args, "ids": sorted(identities.values())},
        sort_keys=True,
    )
    return hashlib.sha256(basis.encode()).hexdigest()[:20]


def find(key: str) -> Snapshot | None:
    snap = Snapshot(key, root() / key)
    if not snap.complete():
        return None
    os.utime(snap.dir / "meta")  # recently used
    return snap


def store(key: str, state: Path, disk: Path, initrd: Path, meta: dict) -> Snapshot:
    """Move a saved machine into place (atomically, under a lock), evicting old ones."""
    final = root() / key
    with locked(final, "saving a snapshot"):
        if Snapshot(key, final).complete():  # another run saved it first: never replace a
            state.unlink(missing_ok=True)  # snapshot that run may be restoring from
            disk.unlink(missing_ok=True)
            return Snapshot(key, final)
        tmp = root() / f".{key}.{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=0o700)
        shutil.move(state, tmp / "state.mig")
        shutil.move(disk, tmp / "disk.qcow2")
        shutil.copy(initrd, tmp / "initrd.cpio")
        (tmp / "meta").write_text(json.dumps({**meta, "saved": time.time()}))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    _evict()
    return Snapshot(key, final)


def discard(snap: Snapshot) -> None:
    """A snapshot that failed to restore is never tried again."""
    with locked(snap.dir):
        shutil.rmtree(snap.dir, ignore_errors=True)


def _evict() -> None:
    snaps = sorted(
        (p for p in root().iterdir() if (p / "meta").is_file()),
        key=lambda p: (p / "meta").stat().st_mtime,
        reverse=True,
    )
    for old in snaps[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
