"""Cache safety under parallel runs: one builder per entry, no half entries trusted."""

import multiprocessing
import time
from pathlib import Path

import pytest

from harness.host.cache import atomic_dir, atomic_file, locked


def _ensure(root: str, log: str) -> None:
    """What kernel/image/boot-file caching does: lock, check, build atomically."""
    dest = Path(root) / "entry"
    with locked(dest):
        if not (dest / "done").exists():
            with atomic_dir(dest) as tmp:
                with open(log, "a") as f:
                    f.write("built\n")
                time.sleep(0.3)  # a slow build: the other process must wait, not rebuild
                (tmp / "payload").write_text("x" * 1000)
                (tmp / "done").write_text("")


def test_parallel_processes_build_an_entry_once(tmp_path):
    log = tmp_path / "log"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_ensure, args=(str(tmp_path), str(log))) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert log.read_text() == "built\n"
    assert (tmp_path / "entry" / "payload").read_text() == "x" * 1000
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".entry.")] == []


def test_interrupted_build_leaves_no_entry(tmp_path):
    dest = tmp_path / "entry"
    with pytest.raises(KeyboardInterrupt), atomic_dir(dest) as tmp:
        (tmp / "half").write_text("partial")
        raise KeyboardInterrupt
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []
    target = tmp_path / "file"
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("download cut")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_cache_and_data_roots_are_private(tmp_path, monkeypatch):
    from harness.host.cache import cache_root, data_root, private_dir

    monkeypatch.delenv("NSHARNESS_CACHE", raising=False)
    monkeypatch.delenv("NSHARNESS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "d" / "share"))
    for root in (cache_root(), data_root()):
        assert root.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o700  # created parents too
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    assert private_dir(loose).stat().st_mode & 0o777 == 0o700
    with locked(tmp_path / "c" / "nsharness" / "images" / "x"):
        pass
    assert (tmp_path / "c" / "nsharness" / "images").stat().st_mode & 0o777 == 0o700
