"""Guest probes of test_setns.py, the rules of a setns() call: argument checks (item 11),
the capabilities a netns join needs (12), setns() with a pidfd (13).

Each op builds its own scene (holders that *unshare* into the target namespaces, marker
content created from inside them), runs every setns attempt in a forked child and returns
raw observations (setns_attempts.py); the host decides what they must be. A step that
only sets the scene raises SetupError, which the host reports as a setup error.
"""

from __future__ import annotations

import ctypes
import os
import socket
import time

from .nsops import (
    NOBODY,
    become,
    drop_effective_caps,
    in_ns,
    libc,
    ns_ino,
    pidfd_open,
    setns,
    try_errno,
)
from .procs import fork_call
from .registry import op
from .rtnl import link_names
from .scene import start_holder
from .setns_attempts import attempt, make_dummy, with_thread
from .uapi import CLONE, CLONE_VM

IPC_CREAT = 0o1000


def msg_queue_exists(key: int) -> bool:
    """Is there a SysV message queue *key* in this IPC namespace (msgget without IPC_CREAT)?"""
    return libc.msgget(key, 0) >= 0


# ------------------------------------------------------------------ item 11


@op
def setns_type_and_fd_errors() -> dict:
    """setns() with an nstype that does not match the fd's namespace, with non-namespace
    fds and bad fds; and, as controls, with matching types (0 or the own CLONE flag).
    Targets: a holder's net (dummy nshs11), uts (hostname nshs11), ipc (SysV queue KEY)."""
    key = 0x4E530B11

    def setup():
        make_dummy("nshs11")()
        if libc.msgget(key, IPC_CREAT | 0o600) < 0:
            raise OSError(ctypes.get_errno(), "msgget(IPC_CREAT)")

    views = {
        "net": lambda: "nshs11" in link_names(),
        "uts": lambda: socket.gethostname() == "nshs11",
        "ipc": lambda: msg_queue_exists(key),
    }
    with start_holder("hold net+uts+ipc namespaces", kinds=("net", "uts", "ipc"), hostname="nshs11",
              setup=setup) as h:  # fmt: skip
        target = {k: h.ino(k) for k in views}

        def failures():
            out = {}
            for kind, wrong in (("net", "uts"), ("uts", "ipc"), ("ipc", "net")):
                fd = os.open(h.ns(kind), os.O_RDONLY)
                out[f"{kind} fd, CLONE_NEW{wrong.upper()}"] = attempt(
                    fd, CLONE[wrong], kind, views[kind]
                )
                os.close(fd)
            net = views["net"]
            fd = os.open(h.ns("net"), os.O_RDONLY)
            out["net fd, CLONE_NEWNET|CLONE_NEWUTS"] = attempt(
                fd, CLONE["net"] | CLONE["uts"], "net", net
            )
            os.close(fd)
            reg = os.open("/etc/hostname", os.O_RDONLY)
            memfd = os.memfd_create("nshs11")
            nsdir = os.open("/proc/self/ns", os.O_RDONLY)
            opath = os.open(h.ns("net"), os.O_PATH)
            closed = os.open(h.ns("net"), os.O_RDONLY)
            os.close(closed)
            out["regular file, 0"] = attempt(reg, 0, "net", net)
            out["memfd, CLONE_NEWNET"] = attempt(memfd, CLONE["net"], "net", net)
            out["/proc/self/ns directory fd, 0"] = attempt(nsdir, 0, "net", net)
            out["O_PATH fd of the netns file, CLONE_NEWNET"] = attempt(
                opath, CLONE["net"], "net", net
            )
            out["closed fd, 0"] = attempt(closed, 0, "net", net)
            out["fd -1, 0"] = attempt(-1, 0, "net", net)
            return out

        def joins():
            out = {}
            for kind, flag in (("net", CLONE["net"]), ("uts", 0), ("ipc", CLONE["ipc"])):
                fd = os.open(h.ns(kind), os.O_RDONLY)
                out[f"{kind} fd, {f'CLONE_NEW{kind.upper()}' if flag else '0'}"] = attempt(
                    fd, flag, kind, views[kind]
                )
                os.close(fd)
            return out

        return {"target": target, "failures": fork_call(failures), "joins": fork_call(joins)}


# ------------------------------------------------------------------ item 12


@op
def setns_net_caps() -> dict:
    """setns(netns) needs CAP_SYS_ADMIN over the netns owner's user ns AND in the caller's
    own user ns. B: netns owned by init_user_ns (dummy nshs12b). U: user+net ns made by
    uid 65534 (dummy nshs12u, created by U's root)."""
    b = start_holder("hold netns B", kinds=("net",), setup=make_dummy("nshs12b"))
    try:
        u = start_holder("hold uid 65534's user+net ns U", kinds=("user", "net"), as_uid=NOBODY,
                 setup=make_dummy("nshs12u"))  # fmt: skip
    except BaseException:
        b.release()
        raise
    with b, u:
        sees = {
            b.ns(): lambda: "nshs12b" in link_names(),
            u.ns(): lambda: "nshs12u" in link_names(),
        }

        def try_net(path, prepare=None):
            fd = os.open(path, os.O_RDONLY)
            if prepare:
                prepare()
            return attempt(fd, CLONE["net"], "net", sees[path])

        def userns_root():  # root of U: capable in U, not over init_user_ns
            fd_b, fd_u = os.open(b.ns(), os.O_RDONLY), os.open(u.ns(), os.O_RDONLY)
            become(NOBODY)
            in_ns(u.ns("user"), "user")
            return {
                "into B": attempt(fd_b, CLONE["net"], "net", sees[b.ns()]),
                "into U's netns": attempt(fd_u, CLONE["net"], "net", sees[u.ns()]),
            }

        ur = fork_call(userns_root)
        cases = {
            "root into B": fork_call(try_net, b.ns()),
            "seteuid(65534) into B": fork_call(try_net, b.ns(), lambda: os.seteuid(NOBODY)),
            "root without CAP_SYS_ADMIN into B": fork_call(
                try_net, b.ns(), lambda: drop_effective_caps(["CAP_SYS_ADMIN"])
            ),
            "root into U's netns": fork_call(try_net, u.ns()),
            "root of U into B": ur.get("into B", ur),
            "root of U into U's netns": ur.get("into U's netns", ur),
            "uid 65534 (owner of U, outside U) into U's netns": fork_call(
                try_net, u.ns(), lambda: become(NOBODY)
            ),
        }
        return {"B": b.ino(), "U_net": u.ino(), "cases": cases}


# ------------------------------------------------------------------ item 13


def _snapshot(kinds, marker: str) -> dict:
    out = {k: ns_ino(k) for k in kinds}
    out["hostname"] = socket.gethostname()
    out["sees_dummy"] = marker in link_names()
    return out


@op
def pidfd_setns_rules(parts: list[str], with_time: bool = True) -> dict:
    """setns(pidfd, flags): invalid flag sets, a pidfd of an exited process, and
    all-or-nothing: validate_nsset() checks the types in the order user, mnt, uts, ipc,
    pid, cgroup, net, time (kernel/nsproxy.c, 6.1 and 6.12), so from a caller with a
    second thread NET|UTS|TIME stages net and uts and then fails on time (EUSERS,
    timens_install); nothing may have changed. Target: a holder with new net (dummy
    nshs13), uts (hostname nshs13) and, with *with_time*, time. *parts*: any of bad_flags,
    exited, partial (needs with_time), whole."""
    kinds = ("net", "uts", "time") if with_time else ("net", "uts")
    h = start_holder("hold net+uts(+time) namespaces", kinds=kinds, fork_inner=with_time,
             hostname="nshs13", setup=make_dummy("nshs13"))  # fmt: skip
    with h:
        target = {k: h.ino(k) for k in kinds}

        def pidfd_try(pfd, flags):
            before = _snapshot(kinds, "nshs13")
            err = try_errno(setns, pfd, flags)
            return {"errno": err, "before": before, "after": _snapshot(kinds, "nshs13")}

        def bad_flags():
            pfd = pidfd_open(h.pid)
            net = CLONE["net"]
            return {
                "0": pidfd_try(pfd, 0),
                "-1": pidfd_try(pfd, -1),
                "CLONE_VM": pidfd_try(pfd, CLONE_VM),
                "CLONE_NEWNET|CLONE_VM": pidfd_try(pfd, net | CLONE_VM),
            }

        def exited():
            p = os.fork()
            if p == 0:
                os._exit(0)
            zfd = pidfd_open(p)
            state = None
            for _ in range(400):  # until the child is a zombie (bounded: 2 s)
                with open(f"/proc/{p}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                if state == "Z":
                    break
                time.sleep(0.005)
            out = {"zombie_state": state, "zombie": pidfd_try(zfd, CLONE["net"])}
            os.waitpid(p, 0)
            out["reaped"] = pidfd_try(zfd, CLONE["net"])
            out["living holder"] = pidfd_try(pidfd_open(h.pid), CLONE["net"])
            return out

        flags_all = 0
        for k in kinds:
            flags_all |= CLONE[k]

        def partial():  # two threads: time must fail after net and uts were staged
            pfd = pidfd_open(h.pid)
            return with_thread(
                lambda: {
                    "all": pidfd_try(pfd, flags_all),
                    "net+uts": pidfd_try(pfd, CLONE["net"] | CLONE["uts"]),
                }
            )

        def whole():
            return pidfd_try(pidfd_open(h.pid), flags_all)

        run = {"bad_flags": bad_flags, "exited": exited, "partial": partial, "whole": whole}
        out = {"target": target, "kinds": list(kinds)}
        for part in parts:
            out[part] = fork_call(run[part])
        return out
