"""Where mmdebstrap builds the guest's tree: outside the private cache, and cleaned up.

In unshare mode the tree's root is one of the user's subordinate ids, which cannot reach
into the user's 0700 cache; so the tree is built in a temporary directory any id can
traverse (0711: names reachable, listing refused), on a file system that allows running
programs (it is chrooted into). Its files belong to subordinate ids, which the user cannot
delete by hand: it is removed from inside the build namespace, and a build that was
killed outright has its tree swept by the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import ImageError
from . import userns

STAGING_PREFIX = "nsharness-image-"


def _usable_staging(path: Path) -> bool:
    """Can any id reach *path* (mmdebstrap's namespace root is nobody the user knows),
    and may programs run from it (the tree is chrooted into)?"""
    try:
        if not all(os.stat(p).st_mode & 0o001 for p in (path, *path.parents)):
            return False
        return not os.statvfs(path).f_flag & os.ST_NOEXEC
    except OSError:
        return False


def staging_base() -> Path:
    for cand in (tempfile.gettempdir(), "/var/tmp", "/tmp"):
        if _usable_staging(Path(cand)):
            return Path(cand)
    raise ImageError(
        "no temporary directory every user can traverse and run programs from (TMPDIR, "
        "/var/tmp, /tmp): mmdebstrap's namespace root must reach and chroot into its tree"
    )


def remove_tree(path: Path, idmap: userns.IdMap | None) -> None:
    """Remove a build tree whose files belong to subordinate ids (needs their namespace)."""
    if not path.exists():
        return
    cmd = userns.command(["rm", "-rf", "--one-file-system", str(path)], idmap)
    subprocess.run(cmd, capture_output=True, check=False)


def _lock_held(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def sweep_stale_staging(base: Path, idmap: userns.IdMap | None, min_age_s: float = 60) -> None:
    """Remove staging trees of builds that died (SIGKILL, power loss) without cleaning up.

    The user cannot delete them by hand (their files belong to subordinate ids), so the
    next build does: any of ours whose lock no live build holds.
    """
    for d in base.glob(STAGING_PREFIX + "*"):
        try:
            st = d.lstat()
        except OSError:
            continue
        if st.st_uid != os.getuid() or time.time() - st.st_mtime < min_age_s:
            continue
        if not _lock_held(d / ".lock"):
            remove_tree(d / "rootfs", idmap)
            shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def staging_dir(idmap: userns.IdMap | None) -> Iterator[Path]:
    """A directory for mmdebstrap's tree, outside the private cache (mode 0711: the
    namespace root can reach names in it but not list it), removed afterwards."""
    base = staging_base()
    sweep_stale_staging(base, idmap)
    d = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=base))
    lock = os.open(d / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        d.chmod(0o711)
        yield d
    finally:
        remove_tree(d / "rootfs", idmap)
        os.close(lock)
        shutil.rmtree(d, ignore_errors=True)
