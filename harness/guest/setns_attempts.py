"""What the setns probes observe a join with: one setns() attempt seen from the thread that
made it, a second thread to make it a multi-threaded caller, and holder setups that mark a
namespace's content so a join can be told by what it shows.

An attempt reports the errno (None = success), the thread's ns inode before and after, and
an independent view of the joined namespace's content (netlink device list, hostname, a
SysV queue, a marker file, uid map): inodes alone cannot tell a join from a lie.
"""

from __future__ import annotations

import threading

from .nsops import ns_ino, setns, try_errno
from .rtnl import Rtnl


def make_dummy(name: str):
    """Holder setup: create dummy *name* from inside the holder's (unshared) netns."""

    def setup():
        with Rtnl() as r:
            res = r.add(name)
        if res["errno"]:
            raise OSError(f"creating dummy {name}: {res['errno']} {res['extack'] or ''}")

    return setup


def attempt(fd: int, nstype: int, kind: str, view) -> dict:
    """One setns(fd, nstype): errno name (None = success), this thread's *kind* ns inode
    before and after, and view() (the joined namespace's content, seen another way) after."""
    before = ns_ino(kind)
    err = try_errno(setns, fd, nstype)
    return {"errno": err, "before": before, "after": ns_ino(kind), "view": view()}


def with_thread(fn):
    """fn() while a second thread of this process exists (it waits, doing nothing)."""
    ev = threading.Event()
    t = threading.Thread(target=ev.wait)
    t.start()
    try:
        return fn()
    finally:
        ev.set()
        t.join()
