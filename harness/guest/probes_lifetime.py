"""Guest probes of test_lifetime.py: what a namespace file is (item 19), what keeps a netns
alive — a bind mount, an nsfs fd, a socket, a held fd across `ip netns delete` (20, 21) —
and a netns's destruction seen on every channel (22).

The creators, sentinels and watching are in netns_death.py; ops return raw observations
and the host compares the channels and says which one disagrees.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import time

from . import rtnl
from .lifecycle import kmsg_mark, kmsg_since
from .netns_death import Born, init_events, liveness, sentinel_gone, watch_death
from .nsops import errno_name, libc, ns_ino, ns_ioctl, setns, socket_netns_inode, umount2
from .procs import fork_call
from .registry import SetupError, op
from .rtnl import link_names
from .scene import start_holder
from .uapi import CLONE, MNT_DETACH, NS_GET_NSTYPE

# ------------------------------------------------------------------ item 19


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
    with start_holder("hold new net+uts namespaces", kinds=("net", "uts")) as h:
        other = {k: _identity(h.ns(k)) for k in ("net", "uts")}
    return {
        "self": {k: _identity(f"/proc/self/ns/{k}") for k in kinds},
        "pid1": {k: os.stat(f"/proc/1/ns/{k}").st_ino for k in kinds},
        "holder": other,
    }


# ------------------------------------------------------------------ item 20


@op
def bind_mount_keepalive(path: str = "/run/nshl20") -> dict:
    """A bind mount of /proc/self/ns/net at *path* keeps the netns alive after its only
    process exited; afterwards umount2(MNT_DETACH) + unlink lets it die."""
    open(path, "a").close()  # the mount point (a file: ns files are bind-mounted on files)
    b = s = None
    ev = init_events()
    log: list[dict] = []
    try:
        b = Born("nshl20", "bind", path)
        s = Born("nshl20s")
        nsfs_dev = os.stat("/proc/self/ns/net").st_dev
        out = {"ino": b.ino, "nsid": b.nsid, "peer": b.peer, "sentinel_nsid": s.nsid}
        out["creator_waitpid_s"] = b.release()
        out["sentinel"] = sentinel_gone(ev, s, log)
        out["after_creator_exit"] = liveness(b, log)
        st = os.stat(path)
        out["stat"] = {"ino": st.st_ino, "nsfs_dev": st.st_dev == nsfs_dev}
        try:
            out["readlink"] = {"text": os.readlink(path)}
        except OSError as e:
            out["readlink"] = {"errno": errno_name(e.errno)}
        out["mountinfo"] = mountinfo_at(path)
        out["joined"] = _join_and_list(path)
        umount2(path, MNT_DETACH)
        os.unlink(path)
        out["after_umount"] = watch_death(ev, b, log)
        return out
    finally:
        ev.close()
        for n in (b, s):
            if n:
                n.cleanup()
        if os.path.exists(path):
            os.unlink(path)


def mountinfo_at(path: str) -> dict | None:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            if fields[4] == path:
                fstype, source = right.split()[:2]
                return {"root": fields[3], "fstype": fstype, "source": source, "dev": fields[2]}
    return None


def _join_and_list(path: str) -> dict:
    """setns() into *path* in a child: its netns inode and RTM_GETLINK names there."""

    def child():
        setns(os.open(path, os.O_RDONLY), CLONE["net"])
        return {"ino": ns_ino("net"), "netlink": link_names()}

    return fork_call(child)


# ------------------------------------------------------------------ item 21


@op
def fd_and_socket_keepalive() -> dict:
    """An nsfs fd, and an ordinary UDP socket, each the only thing left of a netns whose
    creator exited, keep it alive; closing it lets the netns die."""
    ev = init_events()
    log: list[dict] = []
    made: list[Born] = []
    try:
        for tag, keep in (("nshl21f", "nsfs_fd"), ("nshl21u", "udp_socket"), ("nshl21s", "none")):
            made.append(Born(tag, keep))
        f, u, s = made
        out = {
            k: {"ino": n.ino, "nsid": n.nsid, "peer": n.peer}
            for k, n in (("nsfs_fd", f), ("udp_socket", u))
        }
        f.release()
        u.release()
        out["sentinel"] = sentinel_gone(ev, s, log)
        out["nsfs_fd"]["alive"] = liveness(f, log)
        out["nsfs_fd"]["fstat_ino"] = os.fstat(f.held_fd).st_ino
        out["udp_socket"]["alive"] = liveness(u, log)
        out["udp_socket"]["SIOCGSKNS_ino"] = socket_netns_inode(u.held_fd)
        for key, n in (("nsfs_fd", f), ("udp_socket", u)):
            n.drop_held()
            out[key]["after_close"] = watch_death(ev, n, log)
        return out
    finally:
        ev.close()
        for n in made:
            n.cleanup()


# ------------------------------------------------------------------ item 21 (ip netns delete)


class _Named:
    def __init__(self, nsid: int, peer: str):
        self.nsid, self.peer = nsid, peer


def _sh(step: str, cmd: list[str]) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise SetupError(
            f"{step}: `{' '.join(cmd)}` exit {r.returncode}: {r.stderr.strip()[-200:]}"
        )
    return r


@op
def ip_netns_delete_keepalive(name: str = "nshl21d") -> dict:
    """`ip netns delete NAME` while we hold an fd of /run/netns/NAME: the name and its
    mount go (iproute2: umount2(MNT_DETACH) + unlink), the netns lives until the fd closes."""
    path = f"/run/netns/{name}"
    ev = init_events()
    log: list[dict] = []
    s = fd = None
    peer = name + "i"
    try:
        s = Born(name + "s")
        _sh("create the netns", ["ip", "netns", "add", name])
        fd = os.open(path, os.O_RDONLY)
        with rtnl.Rtnl() as r:
            res = r.add(peer, "veth", peer=name + "p", peer_netns_fd=fd)
            if res["errno"]:
                raise SetupError(f"veth {peer} with its peer in {name}: {res['errno']}")
            nsid = r.assign_nsid(fd)
        if nsid is None:
            raise SetupError(f"giving netns {name} an id in init's table: none assigned")
        n = _Named(nsid, peer)
        out = {"ino": os.fstat(fd).st_ino, "nsid": nsid, "peer": peer,
               "mountinfo_before": mountinfo_at(path)}  # fmt: skip
        r = subprocess.run(
            ["ip", "netns", "delete", name], capture_output=True, text=True, timeout=30
        )
        out["delete"] = {"rc": r.returncode, "stderr": r.stderr.strip()[-200:]}
        out["name_exists"] = os.path.exists(path)
        out["mountinfo_after"] = mountinfo_at(path)
        out["sentinel"] = sentinel_gone(ev, s, log)
        out["alive"] = liveness(n, log)
        out["fd_ino"] = os.fstat(fd).st_ino
        os.close(fd)
        fd = None
        out["after_close"] = watch_death(ev, n, log)
        return out
    finally:
        ev.close()
        if fd is not None:
            os.close(fd)
        if os.path.exists(path):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=30)
        if s:
            s.cleanup()
        if rtnl.link_present(peer):
            with rtnl.Rtnl() as r:
                r.delete(peer)


# ------------------------------------------------------------------ item 22

UNREGISTER_TIMEOUT = "/proc/sys/net/core/netdev_unregister_timeout_secs"


@op
def netns_destruction(nic: str = "eth1") -> dict:
    """A netns B (veth peer in init, *nic* moved in) loses its last process. Watch every
    channel until all said "destroyed"; then a sentinel netns released afterwards must be
    destroyed too — cleanup work is serialised, so that proves B's teardown returned (a
    leaked device reference would block it in netdev_run_todo). The kernel's complaint
    about such a leak comes after netdev_unregister_timeout_secs: lowered to 1 s here."""
    if not rtnl.link_present(nic):
        raise SetupError(f"the spare NIC {nic} is not in init_net")
    ev = init_events()
    log: list[dict] = []
    b = s = None
    old_timeout = None
    try:
        b = Born("nshl22")
        s = Born("nshl22s")
        fd = os.open(f"/proc/{b.pid}/ns/net", os.O_RDONLY)
        try:
            with rtnl.Rtnl() as r:
                res = r.set(nic, netns_fd=fd)
        finally:
            os.close(fd)
        if res["errno"] or rtnl.link_present(nic):
            raise SetupError(f"moving {nic} into netns B: {res['errno'] or 'still in init'}")
        if os.path.exists(UNREGISTER_TIMEOUT):
            with open(UNREGISTER_TIMEOUT) as f:
                old_timeout = f.read().strip()
            with open(UNREGISTER_TIMEOUT, "w") as f:
                f.write("1")
        ev.events()  # the move's own events are not part of what we watch
        mark = kmsg_mark()
        out = {"nsid": b.nsid, "peer": b.peer, "nic": nic, "sentinel_nsid": s.nsid}
        out["waitpid_s"] = b.release()
        out["right_after_waitpid"] = liveness(b, log)  # a race: observed, never judged
        out["B"] = watch_death(ev, b, log, nic=nic)
        out["sentinel"] = sentinel_gone(ev, s, log)
        if out["sentinel"]["nsid_gone"] is None:  # stuck: give the kernel time to say why
            time.sleep(2.5)
        out["kmsg"] = [ln for ln in kmsg_since(mark) if "unregister_netdevice" in ln]
        out["order"] = [
            e for e in log if e.get("nsid") == b.nsid or e.get("ifname") in (b.peer, nic)
        ]
        return out
    finally:
        ev.close()
        if old_timeout is not None:
            with open(UNREGISTER_TIMEOUT, "w") as f:
                f.write(old_timeout)
        for n in (b, s):
            if n:
                n.cleanup()
