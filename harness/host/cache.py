"""Where the harness keeps downloads, builds and keys, and how it writes them safely.

Several runs (pytest-xdist workers, parallel CI jobs) share one cache: every entry is
built in a temporary sibling and renamed into place under a file lock, so an
interrupted download or build never leaves a half-written entry that a later run trusts.

Both roots live under the invoking user's XDG directories and are private to that user
(directories 0700): the data root holds SSH keys, and the cache holds what the user's
guests boot, which nobody else should be able to swap.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import HarnessError


def private_dir(path: Path) -> Path:
    """Create *path* and any missing parents with mode 0700; tighten *path* if it is ours
    and open to others (a cache made before this rule, or under a loose umask)."""
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:  # a concurrent run made it
            pass
    st = path.stat()
    if st.st_uid == os.geteuid() and st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def cache_root() -> Path:
    """Downloads and builds: re-creatable, safe to delete."""
    env = os.environ.get("NSHARNESS_CACHE")
    if env:
        return private_dir(Path(env))
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return private_dir(Path(base) / "nsharness")


def data_root() -> Path:
    """Per-installation secrets (SSH keys): never shared, never in the cache."""
    env = os.environ.get("NSHARNESS_DATA")
    if env:
        return private_dir(Path(env))
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return private_dir(Path(base) / "nsharness")


LOCK_TIMEOUT = 3600.0


@contextlib.contextmanager
def locked(path: Path, what: str | None = None, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an inter-process lock named after *path* (the lock file sits beside it).

    A lock held by another run is waited for with a message saying who holds it; past
    *timeout* it is an error. The lock is an flock: a run that died holds nothing."""
    private_dir(path.parent)
    lock = FileLock(str(path) + ".lock")
    owner = Path(str(path) + ".lock.owner")
    try:
        lock.acquire(timeout=0.5)
    except Timeout:
        holder = owner.read_text().strip() if owner.exists() else "another run"
        doing = what or path.name
        print(
            f"nsharness: waiting for {holder} to finish {doing} ({lock.lock_file})", file=sys.stderr
        )
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise HarnessError(
                f"{what or path} still locked by {holder} after {timeout:.0f} s "
                f"(lock {lock.lock_file})"
            ) from None
    try:
        owner.write_text(f"pid {os.getpid()}\n")
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory that becomes *final* only if the block succeeds."""
    private_dir(final.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(final: Path, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path that replaces *final* atomically if the block succeeds."""
    private_dir(final.parent)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if mode is not None:
            tmp.chmod(mode)
        tmp.replace(final)
    finally:
        if tmp.exists():
            tmp.unlink()


def _held(lock_file: Path) -> bool:
    lock = FileLock(str(lock_file))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def stale_locks(root: Path | None = None) -> list[Path]:
    """What killed runs left in the cache: owner records of locks nobody holds (a lock
    itself dies with its process) and half-built entries (atomic_dir's .NAME.* siblings)
    whose entry's lock nobody holds."""
    base = root or cache_root()
    out: list[Path] = []
    if not base.is_dir():
        return out
    for owner in base.rglob("*.lock.owner"):
        if not _held(owner.with_suffix("")):
            out.append(owner)
    for tmp in base.rglob(".*.*"):
        name = tmp.name[1:].rsplit(".", 1)[0]
        if tmp.is_dir() and not _held(tmp.parent / f"{name}.lock"):
            out.append(tmp)
    return out
