"""Guest probes of the lifetime area, part C: the nsfs ioctls new in 6.11/6.12 (item 24) and
the pidfd namespace ioctls (v4). Every call is made whatever the kernel: the host knows
from the version which ones must exist, and compares the ones that must with references
from other interfaces (statmount/listmount, /proc/<pid>/mountinfo, NSpid, /proc/<pid>/ns)."""

from __future__ import annotations

import ctypes
import os
import struct
import threading
import time

from .nsops import (
    NOBODY,
    NS_GET_MNTNS_ID,
    NS_GET_NSTYPE,
    NS_GET_PID_FROM_PIDNS,
    NS_GET_PID_IN_PIDNS,
    NS_GET_TGID_FROM_PIDNS,
    NS_GET_TGID_IN_PIDNS,
    NS_MNT_GET_INFO,
    NS_MNT_GET_NEXT,
    NS_MNT_GET_PREV,
    become,
    errno_name,
    libc,
    mount,
    ns_ioctl,
    pidfd_open,
)
from .probes_setns_a import hold
from .procs import fork_call
from .registry import op

SYS_STATX, SYS_STATMOUNT, SYS_LISTMOUNT = 332, 457, 458
STATX_MNT_ID_UNIQUE, STATMOUNT_MNT_NS_ID, LSMT_ROOT = 0x4000, 0x40, 0xFFFFFFFFFFFFFFFF


def _mntns_id(fd: int) -> dict:
    buf = ctypes.create_string_buffer(8)
    if libc.ioctl(fd, ctypes.c_ulong(NS_GET_MNTNS_ID), buf) < 0:
        return {"errno": errno_name(ctypes.get_errno())}
    return {"id": struct.unpack("Q", buf.raw)[0]}


def _mnt_info(fd: int, req: int) -> dict:
    """NS_MNT_GET_INFO / _NEXT / _PREV: the struct mnt_ns_info (and, for NEXT/PREV, the
    returned mount ns fd's own NS_GET_MNTNS_ID and NS_GET_NSTYPE)."""
    buf = ctypes.create_string_buffer(16)
    struct.pack_into("I", buf, 0, 16)
    r = libc.ioctl(fd, ctypes.c_ulong(req), buf)
    if r < 0:
        return {"errno": errno_name(ctypes.get_errno())}
    out = dict(zip(("size", "nr_mounts", "mnt_ns_id"), struct.unpack("IIQ", buf.raw), strict=True))
    if req != NS_MNT_GET_INFO:
        out["fd_mntns_id"] = _mntns_id(r).get("id")
        out["fd_nstype"] = ns_ioctl(r, NS_GET_NSTYPE).get("ret")
        os.close(r)
    return out


def _statmount_ns_id(path: str):
    """statx(STATX_MNT_ID_UNIQUE) of *path*, then statmount(STATMOUNT_MNT_NS_ID) of it."""
    sx = ctypes.create_string_buffer(256)
    if libc.syscall(SYS_STATX, -100, path.encode(), 0, STATX_MNT_ID_UNIQUE, sx) < 0:
        return {"errno": errno_name(ctypes.get_errno())}
    if not struct.unpack_from("I", sx, 0)[0] & STATX_MNT_ID_UNIQUE:
        return {"errno": "no STATX_MNT_ID_UNIQUE"}
    mnt_id = struct.unpack_from("Q", sx, 0x90)[0]
    req = struct.pack("IIQQ", 24, 0, mnt_id, STATMOUNT_MNT_NS_ID)
    buf = ctypes.create_string_buffer(4096)
    if libc.syscall(SYS_STATMOUNT, req, buf, 4096, 0) < 0:
        return {"errno": errno_name(ctypes.get_errno())}
    if not struct.unpack_from("Q", buf, 8)[0] & STATMOUNT_MNT_NS_ID:
        return {"errno": "no STATMOUNT_MNT_NS_ID"}
    return {"id": struct.unpack_from("Q", buf, 112)[0]}


def _listmount_count(mnt_ns_id: int):
    req = struct.pack("IIQQQ", 32, 0, LSMT_ROOT, 0, mnt_ns_id)
    ids = (ctypes.c_uint64 * 1024)()
    r = libc.syscall(SYS_LISTMOUNT, req, ids, 1024, 0)
    return {"errno": errno_name(ctypes.get_errno())} if r < 0 else {"count": r}


def _mountinfo_lines(pid: str) -> int:
    with open(f"/proc/{pid}/mountinfo") as f:
        return sum(1 for _ in f)


@op
def nsfs_mntns_ioctls() -> dict:
    """NS_GET_MNTNS_ID and NS_MNT_GET_INFO/NEXT/PREV on our mount ns and on a holder's new
    one (an extra tmpfs on /mnt); references: statmount(STATMOUNT_MNT_NS_ID) of "/",
    listmount(LSMT_ROOT) counts, /proc/<pid>/mountinfo line counts."""

    def setup():
        mount("nshl24", "/mnt", "tmpfs")

    with hold("hold a mount ns with a tmpfs on /mnt", kinds=("mnt",), setup=setup) as h:
        own = os.open("/proc/self/ns/mnt", os.O_RDONLY)
        hfd = os.open(h.ns("mnt"), os.O_RDONLY)
        net = os.open("/proc/self/ns/net", os.O_RDONLY)
        try:
            ids = {"own": _mntns_id(own), "holder": _mntns_id(hfd), "netns fd": _mntns_id(net)}
            out = {
                "NS_GET_MNTNS_ID": ids,
                "statmount_ns_id_of_root": _statmount_ns_id("/"),
                "NS_MNT_GET_INFO": {
                    "own": _mnt_info(own, NS_MNT_GET_INFO),
                    "holder": _mnt_info(hfd, NS_MNT_GET_INFO),
                    "netns fd": _mnt_info(net, NS_MNT_GET_INFO),
                },  # fmt: skip
                "NS_MNT_GET_NEXT(own)": _mnt_info(own, NS_MNT_GET_NEXT),
                "NS_MNT_GET_PREV(holder)": _mnt_info(hfd, NS_MNT_GET_PREV),
                "mountinfo_lines": {
                    "own": _mountinfo_lines("self"),
                    "holder": _mountinfo_lines(str(h.pid)),
                },
                "listmount": {
                    k: _listmount_count(v["id"]) if "id" in v else None
                    for k, v in ids.items()
                    if k != "netns fd"
                },  # fmt: skip
            }

            def unprivileged():
                become(NOBODY)
                return {
                    "NS_MNT_GET_NEXT": _mnt_info(own, NS_MNT_GET_NEXT),
                    "NS_GET_MNTNS_ID": _mntns_id(own),
                }

            out["as uid 65534"] = fork_call(unprivileged)
            return out
        finally:
            for fd in (own, hfd, net):
                os.close(fd)


def _nspid(pid: int, tid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    return []


@op
def nsfs_pidns_ioctls() -> dict:
    """NS_GET_{PID,TGID}_{FROM,IN}_PIDNS on a pid ns P whose pid 1 (a holder) runs a
    second thread; reference: /proc/<pid>/task/<tid>/status NSpid (global, in-P)."""

    def second_thread():
        threading.Thread(target=time.sleep, args=(600,), daemon=True).start()

    with hold("hold a pid ns P with a 2-thread pid 1", kinds=("pid",), fork_inner=True,
              setup=second_thread) as h:  # fmt: skip
        tids = []
        for _ in range(200):  # the thread may take a moment to show up (bounded: 1 s)
            tids = sorted(int(t) for t in os.listdir(f"/proc/{h.pid}/task"))
            if len(tids) == 2:
                break
            time.sleep(0.005)
        thread = next((t for t in tids if t != h.pid), None)
        nspid = {"leader": _nspid(h.pid, h.pid), "thread": _nspid(h.pid, thread) if thread else []}
        fd = os.open(h.ns("pid"), os.O_RDONLY)
        net = os.open("/proc/self/ns/net", os.O_RDONLY)
        in_p = nspid["thread"][-1] if nspid["thread"] else 2
        try:
            calls = {
                "PID_FROM_PIDNS(1)": ns_ioctl(fd, NS_GET_PID_FROM_PIDNS, 1),
                "TGID_FROM_PIDNS(1)": ns_ioctl(fd, NS_GET_TGID_FROM_PIDNS, 1),
                "PID_FROM_PIDNS(thread)": ns_ioctl(fd, NS_GET_PID_FROM_PIDNS, in_p),
                "TGID_FROM_PIDNS(thread)": ns_ioctl(fd, NS_GET_TGID_FROM_PIDNS, in_p),
                "PID_IN_PIDNS(leader)": ns_ioctl(fd, NS_GET_PID_IN_PIDNS, h.pid),
                "PID_IN_PIDNS(thread)": ns_ioctl(fd, NS_GET_PID_IN_PIDNS, thread or 0),
                "TGID_IN_PIDNS(thread)": ns_ioctl(fd, NS_GET_TGID_IN_PIDNS, thread or 0),
                "PID_IN_PIDNS(caller, not in P)": ns_ioctl(fd, NS_GET_PID_IN_PIDNS, os.getpid()),
                "PID_FROM_PIDNS on a netns fd": ns_ioctl(net, NS_GET_PID_FROM_PIDNS, 1),
            }
        finally:
            os.close(fd)
            os.close(net)
        return {"leader": h.pid, "thread": thread, "NSpid": nspid, "calls": calls}


PIDFD_GET = {"cgroup": 1, "ipc": 2, "mnt": 3, "net": 4, "pid": 5, "time": 7, "user": 9, "uts": 10}


@op
def pidfd_ns_ioctls() -> dict:
    """PIDFD_GET_<TYPE>_NAMESPACE (_IO(0xFF, n)) on a pidfd of a holder with new net, uts
    and ipc namespaces: the returned fd's inode, vs /proc/<pid>/ns/<type>."""
    with hold("hold new net+uts+ipc namespaces", kinds=("net", "uts", "ipc")) as h:
        pfd = pidfd_open(h.pid)
        out = {}
        try:
            for kind, nr in PIDFD_GET.items():
                r = libc.ioctl(pfd, ctypes.c_ulong(0xFF00 | nr), ctypes.c_ulong(0))
                if r < 0:
                    out[kind] = {"errno": errno_name(ctypes.get_errno()), "ref": h.ino(kind)}
                    continue
                out[kind] = {"ino": os.fstat(r).st_ino, "ref": h.ino(kind)}
                os.close(r)
        finally:
            os.close(pfd)
        return {"holder": h.pid, "fresh": ["net", "uts", "ipc"], "ioctls": out}
