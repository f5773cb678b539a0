"""Guest probes of test_pidfd_info.py: PIDFD_GET_INFO (item 61), the pidfd namespace
ioctls' argument and dead-task answers (62), setns() with the PIDFD_SELF sentinels and
racing the target's exit (63).

References come from other interfaces: getpid/getppid/getresuid and /proc/<pid>/status,
waitpid()'s status for the exit code, /proc/self/ns/* inodes for the namespace fds.
"""

from __future__ import annotations

import ctypes
import os
import struct
import time

from .nsops import NOBODY, errno_name, libc, setns, unshare
from .procs import fork_call
from .registry import op
from .scene import start_holder
from .uapi import (
    CLONE,
    PIDFD_GET_NS,
    PIDFD_INFO_EXIT,
    PIDFD_INFO_SUPPORTED_MASK,
    PIDFD_SELF,
    PIDFD_SELF_PROCESS,
)

FIELDS = ("mask", "cgroupid", "pid", "tgid", "ppid", "ruid", "rgid", "euid", "egid", "suid",
          "sgid", "fsuid", "fsgid", "exit_code", "coredump_mask", "coredump_signal",
          "coredump_code", "coredump_pad", "supported_mask")  # fmt: skip
SYS_PIDFD_SEND_SIGNAL = 424


def _get_info_cmd(size: int) -> int:
    return (3 << 30) | (size << 16) | (0xFF << 8) | 11  # _IOWR(0xFF, 11, size)


def pidfd_info(pfd: int, size: int = 88, mask: int = 0) -> dict:
    """PIDFD_GET_INFO with a struct of *size* bytes and request *mask*: the fields the
    kernel filled (as far as *size* reaches), or {"errno"}."""
    buf = ctypes.create_string_buffer(max(size, 88))
    struct.pack_into("Q", buf, 0, mask)
    if libc.ioctl(pfd, ctypes.c_ulong(_get_info_cmd(size)), buf) < 0:
        return {"errno": errno_name(ctypes.get_errno())}
    vals = dict(zip(FIELDS, struct.unpack_from("QQ11Ii4IQ", buf.raw), strict=True))
    return {k: v for k, v in vals.items() if k in ("mask", "pid", "ppid", "exit_code") or v}


def _ns_ioctl(pfd: int, kind: str, arg: int = 0) -> dict:
    r = libc.ioctl(pfd, ctypes.c_ulong(0xFF00 | PIDFD_GET_NS[kind]), ctypes.c_ulong(arg))
    if r < 0:
        return {"errno": errno_name(ctypes.get_errno())}
    try:
        return {"ino": os.fstat(r).st_ino}
    finally:
        os.close(r)


@op
def pidfd_get_info() -> dict:
    """Item 61: PIDFD_GET_INFO on our own pidfd (every struct size, and too small), asking
    for the supported mask; on a child that exited (7) before and after it is reaped; on
    a holder running as uid 65534; on our pidfd used from inside a child pid ns."""
    pfd = os.pidfd_open(os.getpid())
    try:
        me = {"pid": os.getpid(), "ppid": os.getppid(), "uids": list(os.getresuid())}
        sizes = {str(n): pidfd_info(pfd, n) for n in (64, 72, 80, 88, 96, 32)}
        supported = pidfd_info(pfd, 88, PIDFD_INFO_SUPPORTED_MASK)
        c = os.fork()
        if c == 0:
            os._exit(7)
        cfd = os.pidfd_open(c)
        while not _zombie(c):
            time.sleep(0.005)
        exited = {"exited, not reaped, EXIT asked": pidfd_info(cfd, 88, PIDFD_INFO_EXIT)}
        _, status = os.waitpid(c, 0)
        exited["reaped"] = pidfd_info(cfd, 88)
        exited["reaped, EXIT asked"] = pidfd_info(cfd, 88, PIDFD_INFO_EXIT)
        exited["waitpid status"] = status
        os.close(cfd)
        with start_holder("hold a process running as uid 65534", kinds=(), as_uid=NOBODY) as h:
            hfd = os.pidfd_open(h.pid)
            try:
                other = {"info": pidfd_info(hfd), "pid": h.pid, "status uids": _uids(h.pid)}
            finally:
                os.close(hfd)

        def inside():
            unshare(CLONE["pid"])
            return fork_call(lambda: pidfd_info(pfd, 64))

        return {"me": me, "sizes": sizes, "supported": supported, "child": exited,
                "uid 65534 holder": other, "from a child pid ns": fork_call(inside)}  # fmt: skip
    finally:
        os.close(pfd)


def _zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"


def _uids(pid: int) -> list[int]:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:4]]
    return []


@op
def pidfd_ns_ioctl_args() -> dict:
    """Item 62: PIDFD_GET_<TYPE>_NAMESPACE on our own pidfd for all ten types (vs
    /proc/self/ns/*), and with a non-zero argument on a live task; on the pidfd of a reaped
    child, with argument 0 and 1."""
    pfd = os.pidfd_open(os.getpid())
    try:
        own = {k: _ns_ioctl(pfd, k) | {"ref": os.stat(f"/proc/self/ns/{k}").st_ino}
               for k in PIDFD_GET_NS}  # fmt: skip
        live = _ns_ioctl(pfd, "net", 1)
    finally:
        os.close(pfd)
    c = os.fork()
    if c == 0:
        os._exit(0)
    cfd = os.pidfd_open(c)
    os.waitpid(c, 0)
    try:
        reaped = {"arg 0": _ns_ioctl(cfd, "net"), "arg 1": _ns_ioctl(cfd, "net", 1)}
    finally:
        os.close(cfd)
    return {"own": own, "live, arg 1": live, "reaped child": reaped}


def _setns_errno(fd: int, nstype: int):
    try:
        setns(fd, nstype)
        return None
    except OSError as e:
        return errno_name(e.errno)


@op
def setns_pidfd_self(rounds: int = 12) -> dict:
    """Item 63: setns(PIDFD_SELF), setns(PIDFD_SELF_PROCESS), a real pidfd of ourselves
    (control), pidfd_send_signal(PIDFD_SELF, 0) (where PIDFD_SELF is a pidfd); setns to
    the netns of a child through its pidfd while it exits, *rounds* times (the results,
    and the kernel log is checked by the harness after the test)."""
    pfd = os.pidfd_open(os.getpid())
    try:
        out = {
            "setns(PIDFD_SELF, CLONE_NEWNET)": fork_call(_setns_errno, PIDFD_SELF, CLONE["net"]),
            "setns(PIDFD_SELF, 0)": fork_call(_setns_errno, PIDFD_SELF, 0),
            "setns(PIDFD_SELF_PROCESS, CLONE_NEWNET)": fork_call(
                _setns_errno, PIDFD_SELF_PROCESS, CLONE["net"]
            ),
            "setns(own pidfd, CLONE_NEWNET)": fork_call(_setns_errno, pfd, CLONE["net"]),
        }
    finally:
        os.close(pfd)
    r = libc.syscall(SYS_PIDFD_SEND_SIGNAL, PIDFD_SELF, 0, None, 0)
    out["pidfd_send_signal(PIDFD_SELF, 0)"] = errno_name(ctypes.get_errno()) if r < 0 else None

    def race():
        seen = []
        for _ in range(rounds):
            c = os.fork()
            if c == 0:
                os._exit(0)
            try:
                cfd = os.pidfd_open(c)
            except OSError as e:
                seen.append(errno_name(e.errno))
                os.waitpid(c, 0)
                continue
            seen.append(_setns_errno(cfd, CLONE["net"] | CLONE["uts"]))
            os.waitpid(c, 0)
            seen.append(_setns_errno(cfd, CLONE["net"]))
            os.close(cfd)
        return sorted({str(x) for x in seen})

    out["setns via the pidfd of an exiting child"] = fork_call(race)
    return out
