"""Staging trees of the image build: reachable by the namespace root, never left behind."""

import fcntl
import os
import subprocess

import pytest

from harness.image import staging, userns


def _idmap():
    if os.geteuid() == 0:
        return None
    try:
        return userns.subid_map()
    except userns.UsernsError as e:
        pytest.skip(str(e))


def _killed_build(base, idmap, hold_lock: bool):
    """What a build leaves when SIGKILLed: a tree owned by subordinate ids, its lock file."""
    d = base / (staging.STAGING_PREFIX + ("live" if hold_lock else "dead"))
    d.mkdir()
    fd = os.open(d / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
    if hold_lock:
        fcntl.flock(fd, fcntl.LOCK_EX)
    else:
        os.close(fd)
    script = f"mkdir -p {d}/rootfs/etc && touch {d}/rootfs/etc/f && chown -R 42:42 {d}/rootfs"
    res = subprocess.run(userns.command(["sh", "-c", script], idmap), capture_output=True)
    assert res.returncode == 0, res.stderr
    return d, fd


def test_sweep_removes_dead_builds_trees_and_spares_live_ones(tmp_path):
    idmap = _idmap()
    dead, _ = _killed_build(tmp_path, idmap, hold_lock=False)
    live, fd = _killed_build(tmp_path, idmap, hold_lock=True)
    if idmap is not None:  # the user alone cannot delete what subordinate ids own
        with pytest.raises(PermissionError):
            (dead / "rootfs" / "etc" / "f").unlink()
    staging.sweep_stale_staging(tmp_path, idmap, min_age_s=0)
    assert not dead.exists()
    assert (live / "rootfs" / "etc" / "f").exists()
    os.close(fd)
    staging.sweep_stale_staging(tmp_path, idmap, min_age_s=0)
    assert not live.exists()


def test_staging_dir_is_traversable_only_and_removed(tmp_path, monkeypatch):
    idmap = _idmap()
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    tmp_path.chmod(0o755)
    monkeypatch.setattr(staging.tempfile, "tempdir", None)  # re-read TMPDIR
    with staging.staging_dir(idmap) as d:
        assert d.parent in (tmp_path, staging.staging_base())
        assert d.stat().st_mode & 0o777 == 0o711
        script = f"mkdir {d}/rootfs && touch {d}/rootfs/f && chown 42 {d}/rootfs/f"
        subprocess.run(userns.command(["sh", "-c", script], idmap), check=True)
    assert not d.exists()
