"""Guest probes of the lifetime area, part A: what keeps a netns alive (items 20, 21) and how
its destruction is seen (22).

A netns under test is made by a short-lived *creator* process (forked from the agent): it
unshares a netns, creates a dummy TAGb and a veth TAGp whose peer TAGi goes to init, may
leave something behind (a bind mount of its ns file, an nsfs fd or a UDP socket passed to
us over SCM_RIGHTS), and exits when told. Before that, the agent gives the netns an id in
init's table (RTM_NEWNSID with an fd it closes again: a query by fd would pin the netns).

Destruction is watched on several independent channels: the id leaving init's
RTM_GETNSID table, an RTM_DELNSID event, the init-side veth peer vanishing (RTM_GETLINK by
name, and its RTM_DELLINK event), and a moved NIC coming back. Nothing here decides what
they must be: the host compares them and says which one disagrees.

"Still alive" needs a moment at which it would have died otherwise: a *sentinel* netns
(nothing pins it) is released after the event, and we wait until it is fully destroyed.
Netns cleanup is one work item (cleanup_net) that takes every netns whose last reference
dropped before it ran, so once the sentinel's nsid and veth peer are gone, any netns that
lost its last reference earlier is gone too.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time

from . import rtnl
from .nsops import (
    CLONE,
    MNT_DETACH,
    MS_BIND,
    errno_name,
    mount,
    ns_ino,
    setns,
    socket_netns_inode,
    umount2,
    unshare,
)
from .probes_setns_a import SetupError, link_names
from .procs import _close_inherited, fork_call
from .registry import op

KEEPS = ("none", "bind", "nsfs_fd", "udp_socket")


class Born:
    """A netns made by a creator process; see the module docstring."""

    def __init__(self, tag: str, keep: str = "none", path: str | None = None):
        assert keep in KEEPS
        self.tag, self.keep, self.path = tag, keep, path
        self.peer = tag + "i"
        self.held_fd: int | None = None  # what the creator passed us (nsfs fd or socket)
        self.released = False
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        go_r, go_w = os.pipe()
        self.go_w = go_w
        self.pid = os.fork()
        if self.pid == 0:  # never return into the agent's code from here
            code = 1
            try:
                a.close()
                os.close(go_w)
                _close_inherited({b.fileno(), go_r})
                code = self._creator(b, go_r)
            finally:
                os._exit(code)
        b.close()
        os.close(go_r)
        msg, anc, _fl, _ad = a.recvmsg(4096, socket.CMSG_SPACE(4))
        a.close()
        info = json.loads(msg or b'{"error": "the creator exited without a word"}')
        if "error" in info:
            self.release()
            raise SetupError(f"creating netns {tag} (keep: {keep}): {info['error']}")
        self.ino: int = info["ino"]
        if anc:
            self.held_fd = struct.unpack("i", anc[0][2][:4])[0]
        fd = os.open(f"/proc/{self.pid}/ns/net", os.O_RDONLY)
        try:
            with rtnl.Rtnl() as r:
                self.nsid = r.assign_nsid(fd)
        finally:
            os.close(fd)
        if self.nsid is None:
            self.release()
            raise SetupError(f"giving netns {tag} an id in init's table: none assigned")

    def _creator(self, sock: socket.socket, go_r: int) -> int:
        try:
            init_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
            unshare(CLONE["net"])
            with rtnl.Rtnl() as r:
                veth = r.add(self.tag + "p", "veth", peer=self.peer, peer_netns_fd=init_fd)
                for res in (r.add(self.tag + "b"), veth):
                    if res["errno"]:
                        raise OSError(f"link add: {res['errno']} {res['extack'] or ''}")
            os.close(init_fd)
            fds = []
            if self.keep == "bind":
                mount("/proc/self/ns/net", self.path, None, MS_BIND)
            elif self.keep == "nsfs_fd":
                fds = [os.open("/proc/self/ns/net", os.O_RDONLY)]
            elif self.keep == "udp_socket":
                fds = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM).detach()]
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fds[0]))] if fds else []
            sock.sendmsg([json.dumps({"ino": ns_ino("net")}).encode()], anc)
            for fd in fds:
                os.close(fd)
        except BaseException as e:  # noqa: BLE001 - reported as a setup error
            sock.send(json.dumps({"error": repr(e)}).encode())
        sock.close()
        os.read(go_r, 1)
        return 0

    def release(self) -> float:
        """Let the creator exit; returns when waitpid() did (seconds it took)."""
        t0 = time.monotonic()
        if not self.released:
            self.released = True
            os.close(self.go_w)
            os.waitpid(self.pid, 0)
        return round(time.monotonic() - t0, 4)

    def drop_held(self) -> None:
        if self.held_fd is not None:
            os.close(self.held_fd)
            self.held_fd = None

    def cleanup(self) -> None:
        """Best effort after a failure: nothing of ours may pin the netns or stay in init."""
        self.drop_held()
        self.release()
        if self.keep == "bind" and self.path and os.path.exists(self.path):
            try:
                umount2(self.path, MNT_DETACH)
            except OSError:
                pass
            os.unlink(self.path)
        if rtnl.link_present(self.peer):  # a veth that did not follow its dead netns
            with rtnl.Rtnl() as r:
                r.delete(self.peer)


def events() -> rtnl.Rtnl:
    """Init's link and netns-id events (open it before the last reference drops)."""
    return rtnl.Rtnl(groups=(rtnl.RTNLGRP_LINK, rtnl.RTNLGRP_NSID))


def state(n: Born, ev_log: list[dict]) -> dict:
    """Is netns *n* alive, seen on each channel at once?"""
    return {
        "nsid_listed": n.nsid in rtnl.nsid_table(),
        "delnsid_event": any(
            e.get("type") == "DELNSID" and e.get("nsid") == n.nsid for e in ev_log
        ),
        "peer_present": rtnl.link_present(n.peer),
        "dellink_event": any(
            e.get("type") == "DELLINK" and e.get("ifname") == n.peer for e in ev_log
        ),
    }


def watch(ev: rtnl.Rtnl, n: Born, ev_log: list[dict], nic: str | None = None,
          timeout: float = 5.0, settle: float = 2.0) -> dict:  # fmt: skip
    """Seconds (from now) until each sign of n's destruction was seen, None if it was not:
    nsid gone from init's table, RTM_DELNSID, veth peer gone (RTM_GETLINK), its RTM_DELLINK,
    and (with *nic*) that NIC back in init (RTM_GETLINK). Waits *timeout* for the first
    sign, then at most *settle* more for the others (they come within ~0.1 s of each other)."""
    t0 = time.monotonic()
    seen: dict = {
        "nsid_gone": None,
        "delnsid_event": None,
        "peer_gone": None,
        "dellink_event": None,
    }
    if nic:
        seen["nic_back"] = None
    first = None

    def now() -> float:
        return round(time.monotonic() - t0, 4)

    while None in seen.values():
        elapsed = time.monotonic() - t0
        if elapsed > timeout or (first is not None and elapsed > first + settle):
            break
        ev_log.extend(ev.events(0.005))
        st = state(n, ev_log)
        for key, done in (
            ("nsid_gone", not st["nsid_listed"]),
            ("delnsid_event", st["delnsid_event"]),
            ("peer_gone", not st["peer_present"]),
            ("dellink_event", st["dellink_event"]),
            ("nic_back", bool(nic) and rtnl.link_present(nic)),
        ):
            if done and seen.get(key, 0) is None:
                seen[key] = now()
                first = seen[key] if first is None else first
    return seen


def sentinel_gone(ev: rtnl.Rtnl, s: Born, ev_log: list[dict], timeout: float = 5.0) -> dict:
    """Release the sentinel and wait until it is fully destroyed (nsid and veth peer gone)."""
    s.release()
    return watch(ev, s, ev_log, timeout=timeout)


# ------------------------------------------------------------------ item 20


@op
def bind_mount_keepalive(path: str = "/run/nshl20") -> dict:
    """A bind mount of /proc/self/ns/net at *path* keeps the netns alive after its only
    process exited; afterwards umount2(MNT_DETACH) + unlink lets it die."""
    open(path, "a").close()  # the mount point (a file: ns files are bind-mounted on files)
    b = s = None
    ev = events()
    log: list[dict] = []
    try:
        b = Born("nshl20", "bind", path)
        s = Born("nshl20s")
        nsfs_dev = os.stat("/proc/self/ns/net").st_dev
        out = {"ino": b.ino, "nsid": b.nsid, "peer": b.peer, "sentinel_nsid": s.nsid}
        out["creator_waitpid_s"] = b.release()
        out["sentinel"] = sentinel_gone(ev, s, log)
        out["after_creator_exit"] = state(b, log)
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
        out["after_umount"] = watch(ev, b, log)
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
    ev = events()
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
        out["nsfs_fd"]["alive"] = state(f, log)
        out["nsfs_fd"]["fstat_ino"] = os.fstat(f.held_fd).st_ino
        out["udp_socket"]["alive"] = state(u, log)
        out["udp_socket"]["SIOCGSKNS_ino"] = socket_netns_inode(u.held_fd)
        for key, n in (("nsfs_fd", f), ("udp_socket", u)):
            n.drop_held()
            out[key]["after_close"] = watch(ev, n, log)
        return out
    finally:
        ev.close()
        for n in made:
            n.cleanup()
