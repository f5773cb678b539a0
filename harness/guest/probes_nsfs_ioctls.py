"""Guest probes of test_nsfs_ioctls.py: the nsfs ioctls NS_GET_USERNS / NS_GET_PARENT /
NS_GET_NSTYPE / NS_GET_OWNER_UID (item 23), those new in 6.11/6.12 — mount ns ids and
NS_MNT_GET_*, pid translation (24) — and the pidfd namespace ioctls (v4).

Every call is made whatever the kernel: the host knows from the version which ones must
exist, and compares the ones that must with references from other interfaces
(statmount/listmount, /proc/<pid>/mountinfo, NSpid, /proc/<pid>/ns, uid_map).
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import struct
import threading
import time

from .mntns_ids import listmount_count, mnt_ns_info, mntns_id, mountinfo_lines, statmount_ns_id
from .nsops import (
    NOBODY,
    become,
    errno_name,
    in_ns,
    libc,
    mount,
    ns_ioctl,
    ns_ioctl_fd,
    ns_ioctl_out,
    pidfd_open,
    setns,
)
from .procs import fork_call, nspid
from .registry import op
from .scene import start_holder
from .uapi import (
    CLONE,
    NS_GET_NSTYPE,
    NS_GET_OWNER_UID,
    NS_GET_PARENT,
    NS_GET_PID_FROM_PIDNS,
    NS_GET_PID_IN_PIDNS,
    NS_GET_TGID_FROM_PIDNS,
    NS_GET_TGID_IN_PIDNS,
    NS_GET_USERNS,
    NS_MNT_GET_INFO,
    NS_MNT_GET_NEXT,
    NS_MNT_GET_PREV,
)

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
    u = start_holder(
        "hold uid 65534's user+net+uts ns U", kinds=("user", "net", "uts"), as_uid=NOBODY
    )
    try:
        p = start_holder("hold a child pid ns P", kinds=("pid",), fork_inner=True)
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


# ------------------------------------------------------------------ item 24


@op
def nsfs_mntns_ioctls() -> dict:
    """NS_GET_MNTNS_ID and NS_MNT_GET_INFO/NEXT/PREV on our mount ns and on a holder's new
    one (an extra tmpfs on /mnt); references: statmount(STATMOUNT_MNT_NS_ID) of "/",
    listmount(LSMT_ROOT) counts, /proc/<pid>/mountinfo line counts."""

    def setup():
        mount("nshl24", "/mnt", "tmpfs")

    with start_holder("hold a mount ns with a tmpfs on /mnt", kinds=("mnt",), setup=setup) as h:
        own = os.open("/proc/self/ns/mnt", os.O_RDONLY)
        hfd = os.open(h.ns("mnt"), os.O_RDONLY)
        net = os.open("/proc/self/ns/net", os.O_RDONLY)
        try:
            ids = {"own": mntns_id(own), "holder": mntns_id(hfd), "netns fd": mntns_id(net)}
            out = {
                "NS_GET_MNTNS_ID": ids,
                "statmount_ns_id_of_root": statmount_ns_id("/"),
                "NS_MNT_GET_INFO": {
                    "own": mnt_ns_info(own, NS_MNT_GET_INFO),
                    "holder": mnt_ns_info(hfd, NS_MNT_GET_INFO),
                    "netns fd": mnt_ns_info(net, NS_MNT_GET_INFO),
                },  # fmt: skip
                "NS_MNT_GET_NEXT(own)": mnt_ns_info(own, NS_MNT_GET_NEXT),
                "NS_MNT_GET_PREV(holder)": mnt_ns_info(hfd, NS_MNT_GET_PREV),
                "mountinfo_lines": {
                    "own": mountinfo_lines("self"),
                    "holder": mountinfo_lines(str(h.pid)),
                },
                "listmount": {
                    k: listmount_count(v["id"]) if "id" in v else None
                    for k, v in ids.items()
                    if k != "netns fd"
                },  # fmt: skip
            }

            def unprivileged():
                become(NOBODY)
                return {
                    "NS_MNT_GET_NEXT": mnt_ns_info(own, NS_MNT_GET_NEXT),
                    "NS_GET_MNTNS_ID": mntns_id(own),
                }

            out["as uid 65534"] = fork_call(unprivileged)
            return out
        finally:
            for fd in (own, hfd, net):
                os.close(fd)


@op
def nsfs_pidns_ioctls() -> dict:
    """NS_GET_{PID,TGID}_{FROM,IN}_PIDNS on a pid ns P whose pid 1 (a holder) runs a
    second thread; reference: /proc/<pid>/task/<tid>/status NSpid (global, in-P)."""

    def second_thread():
        threading.Thread(target=time.sleep, args=(600,), daemon=True).start()

    with start_holder("hold a pid ns P with a 2-thread pid 1", kinds=("pid",), fork_inner=True,
              setup=second_thread) as h:  # fmt: skip
        tids = []
        for _ in range(200):  # the thread may take a moment to show up (bounded: 1 s)
            tids = sorted(int(t) for t in os.listdir(f"/proc/{h.pid}/task"))
            if len(tids) == 2:
                break
            time.sleep(0.005)
        thread = next((t for t in tids if t != h.pid), None)
        nspids = {"leader": nspid(h.pid, h.pid), "thread": nspid(h.pid, thread) if thread else []}
        fd = os.open(h.ns("pid"), os.O_RDONLY)
        net = os.open("/proc/self/ns/net", os.O_RDONLY)
        in_p = nspids["thread"][-1] if nspids["thread"] else 2
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
        return {"leader": h.pid, "thread": thread, "NSpid": nspids, "calls": calls}


PIDFD_GET = {"cgroup": 1, "ipc": 2, "mnt": 3, "net": 4, "pid": 5, "time": 7, "user": 9, "uts": 10}


@op
def pidfd_ns_ioctls() -> dict:
    """PIDFD_GET_<TYPE>_NAMESPACE (_IO(0xFF, n)) on a pidfd of a holder with new net, uts
    and ipc namespaces: the returned fd's inode, vs /proc/<pid>/ns/<type>."""
    with start_holder("hold new net+uts+ipc namespaces", kinds=("net", "uts", "ipc")) as h:
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
