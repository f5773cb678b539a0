"""Guest probes of the lifetime area, part B: namespace identity (item 19) and the nsfs
ioctls NS_GET_USERNS / NS_GET_PARENT / NS_GET_NSTYPE / NS_GET_OWNER_UID (23)."""

from __future__ import annotations

import ctypes
import json
import os
import socket
import struct

from .nsops import (
    CLONE,
    NOBODY,
    NS_GET_NSTYPE,
    NS_GET_OWNER_UID,
    NS_GET_PARENT,
    NS_GET_USERNS,
    become,
    errno_name,
    in_ns,
    libc,
    ns_ioctl,
    ns_ioctl_fd,
    ns_ioctl_out,
    pidfd_open,
    setns,
)
from .probes_setns_a import hold
from .procs import fork_call
from .registry import op

NSFS_MAGIC = 0x6E736673


class _Statfs(ctypes.Structure):
    _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_long * 15)]


def fs_type(path: str) -> int | str:
    buf = _Statfs()
    if libc.statfs(path.encode(), ctypes.byref(buf)) < 0:
        return errno_name(ctypes.get_errno())
    return buf.f_type & 0xFFFFFFFF


def _identity(path: str) -> dict:
    st, lst = os.stat(path), os.lstat(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        fst = os.fstat(fd)
        nstype = ns_ioctl(fd, NS_GET_NSTYPE)
    finally:
        os.close(fd)
    return {
        "readlink": os.readlink(path),
        "stat": [st.st_dev, st.st_ino],
        "fstat": [fst.st_dev, fst.st_ino],
        "lstat": [lst.st_dev, lst.st_ino],
        "nstype": nstype.get("ret", nstype.get("errno")),
        "fs_type": fs_type(path),
    }


@op
def nsfs_identity() -> dict:
    """Every /proc/self/ns link: readlink text, stat/fstat/lstat (dev, ino), NS_GET_NSTYPE,
    statfs type; pid 1's inodes; and the same for a holder's new net and uts namespaces."""
    kinds = sorted(os.listdir("/proc/self/ns"))
    with hold("hold new net+uts namespaces", kinds=("net", "uts")) as h:
        other = {k: _identity(h.ns(k)) for k in ("net", "uts")}
    return {
        "self": {k: _identity(f"/proc/self/ns/{k}") for k in kinds},
        "pid1": {k: os.stat(f"/proc/1/ns/{k}").st_ino for k in kinds},
        "holder": other,
    }


# ------------------------------------------------------------------ item 23


def _owner_uid(fd: int) -> dict:
    r = ns_ioctl_out(fd, NS_GET_OWNER_UID, 4)
    if "errno" in r:
        return r
    return {"uid": struct.unpack("I", bytes.fromhex(r["data"]))[0]}


def _all(fd: int) -> dict:
    t = ns_ioctl(fd, NS_GET_NSTYPE)
    return {
        "NS_GET_USERNS": ns_ioctl_fd(fd, NS_GET_USERNS),
        "NS_GET_PARENT": ns_ioctl_fd(fd, NS_GET_PARENT),
        "NS_GET_NSTYPE": t.get("ret", t),
        "NS_GET_OWNER_UID": _owner_uid(fd),
    }


def _table(where: str, kinds) -> dict:
    out = {}
    for k in kinds:
        fd = os.open(f"/proc/{where}/ns/{k}", os.O_RDONLY)
        try:
            out[k] = _all(fd)
        finally:
            os.close(fd)
    return out


@op
def nsfs_owner_ioctls() -> dict:
    """The four nsfs ioctls on init's namespaces, on U (user+net+uts made by uid 65534,
    map 0 65534 1), on a child pid ns P; as seen from inside U and inside P; and on fds
    that are not namespaces. References (procfs): /proc/<pid>/ns/* inodes, U's uid_map."""
    out = {"init": _table("self", ("user", "net", "uts", "ipc", "mnt", "cgroup", "pid", "time"))}
    out["ref"] = {"init_user": os.stat("/proc/self/ns/user").st_ino,
                  "init_pid": os.stat("/proc/self/ns/pid").st_ino}  # fmt: skip
    u = hold("hold uid 65534's user+net+uts ns U", kinds=("user", "net", "uts"), as_uid=NOBODY)
    try:
        p = hold("hold a child pid ns P", kinds=("pid",), fork_inner=True)
    except BaseException:
        u.release()
        raise
    with u, p:
        with open(f"/proc/{u.pid}/uid_map") as f:
            out["ref"]["U_uid_map"] = " ".join(f.read().split())
        out["ref"]["U_user"], out["ref"]["P_pid"] = u.ino("user"), p.ino("pid")
        out["U"] = _table(str(u.pid), ("user", "net", "uts"))
        out["P"] = _table(str(p.pid), ("pid",))

        def inside_u():
            fds = {k: os.open(f"/proc/1/ns/{k}", os.O_RDONLY) for k in ("net", "user")}
            ufd = os.open(u.ns("user"), os.O_RDONLY)
            become(NOBODY)
            in_ns(u.ns("user"), "user")
            return {"init net": _all(fds["net"]), "init user": _all(fds["user"]), "U": _all(ufd)}

        def inside_p():
            fd = os.open(p.ns("pid"), os.O_RDONLY)
            setns(fd, CLONE["pid"])
            rp, wp = os.pipe()
            c = os.fork()
            if c == 0:  # pid_for_children only: the child is in P
                try:
                    os.write(wp, json.dumps(ns_ioctl_fd(fd, NS_GET_PARENT)).encode())
                finally:
                    os._exit(0)
            os.close(wp)
            v = json.loads(os.read(rp, 4096) or b"{}")
            os.waitpid(c, 0)
            return {"P": {"NS_GET_PARENT": v}}

        out["inside U"] = fork_call(inside_u)
        out["inside P"] = fork_call(inside_p)
    out["not nsfs"] = _not_nsfs()
    return out


def _not_nsfs() -> dict:
    """fds that are not namespace files, an unknown nsfs ioctl, an O_PATH nsfs fd."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fds = {
        "regular file": os.open("/etc/hostname", os.O_RDONLY),
        "/proc/self/ns directory": os.open("/proc/self/ns", os.O_RDONLY),
        "memfd": os.memfd_create("nshl23"),
        "pidfd": pidfd_open(os.getpid()),
        "UDP socket": s.fileno(),
    }
    out = {
        n: {
            "NS_GET_USERNS": ns_ioctl(fd, NS_GET_USERNS),
            "NS_GET_NSTYPE": ns_ioctl(fd, NS_GET_NSTYPE),
        }
        for n, fd in fds.items()
    }
    for n, fd in fds.items():
        if n != "UDP socket":
            os.close(fd)
    s.close()
    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    out["netns fd"] = {"unknown nr 0xb7ff": ns_ioctl(fd, 0xB7FF)}
    os.close(fd)
    fd = os.open("/proc/self/ns/net", os.O_PATH)
    out["O_PATH netns fd"] = {"NS_GET_NSTYPE": ns_ioctl(fd, NS_GET_NSTYPE),
                              "NS_GET_USERNS": ns_ioctl(fd, NS_GET_USERNS)}  # fmt: skip
    os.close(fd)
    return out
