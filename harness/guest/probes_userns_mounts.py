"""Guest probes of test_userns_mounts.py: what root of a user namespace may mount (sysfs
and procfs only where one is already fully visible: items 58, 59) and procfs's options
`subset=pid` (59) and `pidns=` (60, 6.18+).

The user namespace is made by uid 65534 (so its root has no privilege outside); a mount
that covers part of /sys or /proc is made first, as init's root in a private mount ns, so
the user namespace inherits it locked. References: the same /proc/<pid>/net/dev read
through init's own /proc; /proc/<pid>/status NSpid of a process known to be in the pid ns.
"""

from __future__ import annotations

import os
import tempfile

from .nsops import NOBODY, become, enter_own_userns, errno_name, mount, umount2, unshare
from .procs import fork_call, nspid
from .registry import op
from .scene import start_holder
from .uapi import CLONE, MNT_DETACH, MS_PRIVATE, MS_REC

MS_REMOUNT = 0x20


def _try_mount(fstype: str, data: str | None = None, flags: int = 0, where: str | None = None):
    """Mount *fstype* on a fresh directory (or *where*); None on success (unmounted again
    unless *where* is given), else the errno name."""
    t = where or tempfile.mkdtemp(prefix="nshi")
    try:
        mount(fstype, t, fstype, flags, data)
    except OSError as e:
        return errno_name(e.errno)
    finally:
        if where is None:
            try:
                umount2(t, MNT_DETACH)
            except OSError:
                pass
            os.rmdir(t)
    return None


def _private_mnt() -> None:
    unshare(CLONE["mnt"])
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def _as_userns_root(extra: int, fn, cover: str | None = None):
    """fn() as root of a new user ns made by uid 65534 (with the namespaces in *extra*),
    in a forked child; with *cover*, a tmpfs is mounted over that directory first (as init's
    root, in a private mount ns: the user ns inherits it locked)."""

    def child():
        if cover:
            _private_mnt()
            mount("tmpfs", cover, "tmpfs")
        become(NOBODY)
        enter_own_userns(CLONE["mnt"] | extra)
        if extra & CLONE["pid"]:
            return fork_call(fn)
        return fn()

    return fork_call(child)


@op
def userns_sysfs_proc_mounts() -> dict:
    """Items 58-59: root of a user ns (with a netns, a pid ns for proc) mounting sysfs and
    procfs (full and subset=pid), with /sys and /proc fully visible, and with a tmpfs over
    /sys/class or /proc/sys."""
    sysfs = lambda: _try_mount("sysfs")  # noqa: E731
    procs = lambda: {  # noqa: E731
        "proc": _try_mount("proc"),
        "subset=pid": _try_mount("proc", "subset=pid"),
    }
    net, pid = CLONE["net"], CLONE["pid"]
    return {
        "sysfs, /sys fully visible": _as_userns_root(net, sysfs),
        "sysfs, tmpfs over /sys/class": _as_userns_root(net, sysfs, cover="/sys/class"),
        "proc, /proc fully visible": _as_userns_root(pid, procs),
        "proc, tmpfs over /proc/sys": _as_userns_root(pid, procs, cover="/proc/sys"),
    }


@op
def proc_subset_pid_net() -> dict:
    """Item 59: pid 1 of a pid ns in a user ns (made by uid 65534) mounts proc subset=pid;
    it reads its own /proc/1/net/dev there, with init's netns (owned by the initial user
    ns) and with a netns of its own. Reference: the same file read by init's root through
    init's /proc."""

    def reads():
        t = tempfile.mkdtemp(prefix="nshi59")
        out = {"mount": _try_mount("proc", "subset=pid", where=t)}
        if out["mount"] is None:
            out["entries"] = sorted(os.listdir(t))
            for p in ("1/net/dev", "self/net/dev"):
                try:
                    with open(f"{t}/{p}") as f:
                        out[p] = f.readline().split("|")[0].strip()
                except OSError as e:
                    out[p] = errno_name(e.errno)
            umount2(t, MNT_DETACH)
        os.rmdir(t)
        return out

    with open("/proc/1/net/dev") as f:
        ref = f.readline().split("|")[0].strip()
    return {
        "reference: init's /proc/1/net/dev": ref,
        "init's netns": _as_userns_root(CLONE["pid"], reads),
        "its own netns": _as_userns_root(CLONE["pid"] | CLONE["net"], reads),
    }


@op
def proc_pidns_option() -> dict:
    """Item 60: proc mounted with pidns=/proc/H/ns/pid (H: pid 1 of a child pid ns) by
    init's root: what it lists and H's NSpid there; remounting it with another pidns=; a
    netns file and a regular file as pidns=; an ancestor pid ns asked for from a child pid
    ns; root of a user ns (made by uid 65534) giving H's pid ns by path and by an fd opened
    before (in a pid ns of its own, where a plain proc mount works). Reference: H's NSpid
    read through init's /proc."""
    with start_holder("hold a child pid ns P (pid 1 H)", kinds=("pid",), fork_inner=True) as h:
        path = h.ns("pid")
        out: dict = {"H NSpid (init's /proc)": nspid(h.pid)}

        def as_root():
            _private_mnt()
            t = tempfile.mkdtemp(prefix="nshi60")
            d = {"mount": _try_mount("proc", f"pidns={path}", where=t)}
            if d["mount"] is None:
                d["entries"] = sorted(x for x in os.listdir(t) if x.isdigit())
                d["1's NSpid there"] = _nspid_in(t, "1")
                d["remount with pidns=/proc/self/ns/pid"] = _try_mount(
                    "proc", "pidns=/proc/self/ns/pid", MS_REMOUNT, where=t
                )
                umount2(t, MNT_DETACH)
            d["pidns= a netns file"] = _try_mount("proc", "pidns=/proc/self/ns/net")
            d["pidns= a regular file"] = _try_mount("proc", "pidns=/etc/hostname")
            os.rmdir(t)
            return d

        def from_child_pidns():
            _private_mnt()
            unshare(CLONE["pid"])
            return fork_call(lambda: _try_mount("proc", "pidns=/proc/1/ns/pid"))

        fd = os.open(path, os.O_RDONLY)
        try:

            def userns_root():
                return {
                    "control: no pidns=": _try_mount("proc"),
                    "by path": _try_mount("proc", f"pidns={path}"),
                    "by an fd opened before": _try_mount("proc", f"pidns=/proc/self/fd/{fd}"),
                }

            out["root in init"] = fork_call(as_root)
            out["an ancestor, from a child pid ns"] = fork_call(from_child_pidns)
            out["root of a user ns (own pid ns)"] = _as_userns_root(CLONE["pid"], userns_root)
        finally:
            os.close(fd)
        return out


def _nspid_in(procdir: str, pid: str) -> list[int]:
    with open(f"{procdir}/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    return []
