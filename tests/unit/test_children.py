"""children.kill on real processes: a graceful child (make) hears SIGTERM first and may clean
up; then nothing of its process group survives, not even jobs its leader left behind."""

import time
from pathlib import Path

from harness.host import children

SCRIPT = 'trap "touch {flag}; exit 0" TERM; sleep 300 & sleep 300 & wait'


def _group(pgid: int) -> list[int]:
    members = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(d.name))
    return members


def _started(pgid: int, n: int) -> None:
    deadline = time.monotonic() + 10
    while len(_group(pgid)) < n:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_graceful_child_hears_sigterm_then_its_group_is_killed(tmp_path):
    flag = tmp_path / "term"
    proc = children.spawn(["sh", "-c", SCRIPT.format(flag=flag)], graceful=True)
    _started(proc.pid, 3)  # sh and its two sleeps
    children.kill(proc)
    assert flag.exists(), "the graceful child was not given SIGTERM first"
    assert _group(proc.pid) == [], "jobs of the group outlived it"
    assert proc.pid not in children.live()


def test_other_children_are_killed_at_once(tmp_path):
    flag = tmp_path / "term"
    proc = children.spawn(["sh", "-c", SCRIPT.format(flag=flag)])
    _started(proc.pid, 3)
    start = time.monotonic()
    children.kill(proc)
    assert time.monotonic() - start < 5
    assert not flag.exists() and _group(proc.pid) == []
