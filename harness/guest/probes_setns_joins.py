"""Guest probes of test_setns.py, joining each kind of namespace: a netns switch is per
thread (item 14), joining mount (15), user (16), pid (17) and time (18) namespaces — by a
single-threaded root, with a second thread, without a capability, as another user.

As in probes_setns_rules: every attempt runs in a forked child and returns raw
observations (setns_attempts.py); a step that only sets the scene raises SetupError.
"""

from __future__ import annotations

import ctypes
import json
import os
import time

from .nsops import NOBODY, become, drop_effective_caps, in_ns, libc, mount, ns_ino, setns, try_errno
from .procs import fork_call, nspid, run_threads
from .registry import op
from .rtnl import link_names
from .scene import start_holder
from .setns_attempts import attempt, make_dummy, with_thread
from .uapi import CLONE, CLONE_FS
from .views import proc_net_dev

# ------------------------------------------------------------------ item 14


@op
def setns_per_thread() -> dict:
    """Two threads of one process setns() into netns B and C at once; the main thread
    stays. Each reports both nsfs links (thread-self, self), its RTM_GETLINK list and both
    procfs net/dev lists."""
    b = start_holder("hold netns B", kinds=("net",), setup=make_dummy("nshs14b"))
    try:
        c = start_holder("hold netns C", kinds=("net",), setup=make_dummy("nshs14c"))
    except BaseException:
        b.release()
        raise
    with b, c:

        def child():
            def worker(path):
                def run():
                    err = try_errno(in_ns, path)
                    return {
                        "errno": err,
                        "thread_self_ns": ns_ino("net", "thread-self"),
                        "self_ns": ns_ino("net", "self"),
                        "netlink": link_names(),
                        "thread_self_net_dev": sorted(proc_net_dev("thread-self")),
                        "self_net_dev": sorted(proc_net_dev("self")),
                    }

                return run

            threads = run_threads([worker(b.ns()), worker(c.ns())])
            threads = [t if isinstance(t, dict) else {"exception": repr(t)} for t in threads]
            return {
                "threads": threads,
                "main": {"thread_self_ns": ns_ino("net", "thread-self"), "netlink": link_names()},
            }

        return {"B": b.ino(), "C": c.ino(), "init": ns_ino("net", "1"), **fork_call(child)}


# ------------------------------------------------------------------ item 15


@op
def setns_mnt_rules() -> dict:
    """Joining a mount ns: a holder's mount ns with a tmpfs on /mnt holding a marker file
    (visible only there). Single-threaded root; with a second thread; sharing fs_struct
    with a clone(CLONE_FS) sibling; without CAP_SYS_CHROOT."""
    marker = "/mnt/nshs15-marker"

    def setup():
        mount("nshs15", "/mnt", "tmpfs")
        open(marker, "w").close()

    with start_holder("hold a mount ns with a tmpfs on /mnt", kinds=("mnt",), setup=setup) as h:

        def sees():
            return os.path.exists(marker)

        def go(prepare=None):
            fd = os.open(h.ns("mnt"), os.O_RDONLY)
            if prepare:
                prepare()
            return attempt(fd, CLONE["mnt"], "mnt", sees)

        def clone_fs_sibling():
            fd = os.open(h.ns("mnt"), os.O_RDONLY)
            rp, wp = os.pipe()
            pid = libc.syscall(56, ctypes.c_ulong(CLONE_FS | 17), 0, 0, 0, 0)  # clone(), SIGCHLD
            if pid == 0:
                try:
                    os.read(rp, 1)
                finally:
                    os._exit(0)
            if pid < 0:
                return {"exception": f"clone(CLONE_FS) failed: errno {ctypes.get_errno()}"}
            try:
                return attempt(fd, CLONE["mnt"], "mnt", sees)
            finally:
                os.write(wp, b"x")
                os.waitpid(pid, 0)

        return {
            "target": h.ino("mnt"),
            "marker_here": sees(),
            "single-threaded root": fork_call(go),
            "root with a second thread": fork_call(lambda: with_thread(go)),
            "root sharing fs_struct with a clone(CLONE_FS) sibling": fork_call(clone_fs_sibling),
            "root without CAP_SYS_CHROOT": fork_call(
                go, lambda: drop_effective_caps(["CAP_SYS_CHROOT"])
            ),
        }


# ------------------------------------------------------------------ item 16


def _uid_view() -> dict:
    with open("/proc/self/uid_map") as f:
        return {"uid": os.getuid(), "uid_map": " ".join(f.read().split())}


@op
def setns_user_rules() -> dict:
    """Joining a user ns. U: made by uid 65534 (map 0 65534 1); R: made by root."""
    nob = start_holder("hold uid 65534's user ns U", kinds=("user",), as_uid=NOBODY)
    try:
        roots = start_holder("hold root's user ns R", kinds=("user",))
    except BaseException:
        nob.release()
        raise
    with nob, roots:

        def go(path, uid=None, threaded=False):
            fd = os.open(path, os.O_RDONLY)
            if uid is not None:
                become(uid)
            run = lambda: attempt(fd, CLONE["user"], "user", _uid_view)  # noqa: E731
            return with_thread(run) if threaded else run()

        return {
            "U": nob.ino("user"),
            "R": roots.ino("user"),
            "init_uid_map": _uid_view()["uid_map"],
            "root into its own user ns": fork_call(go, "/proc/self/ns/user"),
            "root into U": fork_call(go, nob.ns("user")),
            "root with a second thread into U": fork_call(go, nob.ns("user"), None, True),
            "uid 65534 into U (which it created)": fork_call(go, nob.ns("user"), NOBODY),
            "uid 65534 into R (created by root)": fork_call(go, roots.ns("user"), NOBODY),
            "uid 1234 into U": fork_call(go, nob.ns("user"), 1234),
        }


# ------------------------------------------------------------------ item 17


@op
def setns_pid_rules() -> dict:
    """Joining a pid ns P (a holder is its pid 1): getpid() and /proc/self/ns/pid stay,
    pid_for_children changes; a child forked afterwards is in P (its getpid, its NSpid
    line, its /proc/self/ns/pid); from inside P, setns to the ancestor pid ns -> EINVAL."""
    with start_holder("hold a pid ns P", kinds=("pid",), fork_inner=True) as h:
        init_pid_ns = ns_ino("pid", "self")

        def child():
            pid0 = os.getpid()
            fd = os.open(h.ns("pid"), os.O_RDONLY)
            r = attempt(fd, CLONE["pid"], "pid", lambda: ns_ino("pid_for_children", "self"))
            r["getpid_before"], r["getpid_after"] = pid0, os.getpid()
            rp, wp = os.pipe()
            go_r, go_w = os.pipe()
            c = os.fork()
            if c == 0:  # in P; never return into the caller's code from here
                try:
                    os.close(go_w)
                    os.close(rp)
                    kid = {"getpid": os.getpid(), "pid_ns": ns_ino("pid", "self")}
                    own = os.open("/proc/self/ns/pid", os.O_RDONLY)  # P, its active pid ns
                    kid["to its own active pid ns"] = try_errno(setns, own, CLONE["pid"])
                    kid["to the ancestor (init) pid ns"] = try_errno(setns, init_fd, CLONE["pid"])
                    os.write(wp, json.dumps(kid).encode())
                    os.read(go_r, 1)  # stay alive until the parent has read our NSpid
                finally:
                    os._exit(0)
            os.close(wp)
            r["forked"] = json.loads(os.read(rp, 4096) or b"{}")
            r["forked"]["fork_returned"] = c
            r["forked"]["NSpid"] = nspid(c)
            os.write(go_w, b"x")
            os.waitpid(c, 0)
            return r

        init_fd = os.open("/proc/self/ns/pid", os.O_RDONLY)
        try:
            res = fork_call(child)
        finally:
            os.close(init_fd)
        return {"P": h.ino("pid"), "init": init_pid_ns, "holder_NSpid": nspid(h.pid), **res}


# ------------------------------------------------------------------ item 18

CLOCK_MONOTONIC, CLOCK_BOOTTIME, SYS_CLOCK_GETTIME = 1, 7, 228


class _TS(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _clocks() -> dict:
    """CLOCK_MONOTONIC through the vDSO (Python's clock_gettime), CLOCK_BOOTTIME through the
    raw syscall (no vDSO), and /proc/uptime (procfs, time-namespace aware)."""
    ts = _TS()
    libc.syscall(SYS_CLOCK_GETTIME, CLOCK_BOOTTIME, ctypes.byref(ts))
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return {
        "monotonic (vDSO)": time.clock_gettime(CLOCK_MONOTONIC),
        "boottime (syscall)": ts.tv_sec + ts.tv_nsec / 1e9,
        "/proc/uptime": uptime,
    }


@op
def setns_time_rules(offset_s: int = 100000) -> dict:
    """Joining a time ns T whose monotonic and boottime offsets are +offset_s (set by its
    holder before any task entered it: T is the holder's time_for_children)."""

    def offsets():
        with open("/proc/self/timens_offsets", "w") as f:
            f.write(f"monotonic {offset_s} 0\nboottime {offset_s} 0\n")

    with start_holder("hold a time ns with offsets", kinds=("time",), setup=offsets) as h:
        path = h.ns("time_for_children")
        target = os.stat(path).st_ino

        def go(prepare=None, threaded=False):
            fd = os.open(path, os.O_RDONLY)
            if prepare:
                prepare()
            before = _clocks()

            def run():
                r = attempt(fd, CLONE["time"], "time", lambda: ns_ino("time_for_children"))
                after = _clocks()
                r["jump_s"] = {k: round(after[k] - before[k], 1) for k in after}
                return r

            return with_thread(run) if threaded else run()

        return {
            "T": target,
            "init": ns_ino("time", "self"),
            "single-threaded root": fork_call(go),
            "root with a second thread": fork_call(go, None, True),
            "uid 65534": fork_call(go, lambda: become(NOBODY)),
        }
