"""Seeing a network namespace die: the machinery of the lifetime probes, and the devices
probes' DeathWatch.

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

DeathWatch is the devices probes' lighter witness for a netns held by a Holder: "B was
destroyed" told apart from "a device did not follow it", by B's id alone.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time

from . import rtnl
from .nsops import mount, ns_ino, umount2, unshare
from .procs import Holder, close_inherited
from .registry import SetupError
from .uapi import CLONE, MNT_DETACH, MS_BIND

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
                close_inherited({b.fileno(), go_r})
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


def init_events() -> rtnl.Rtnl:
    """Init's link and netns-id events (open it before the last reference drops)."""
    return rtnl.Rtnl(groups=(rtnl.RTNLGRP_LINK, rtnl.RTNLGRP_NSID))


def liveness(n: Born, ev_log: list[dict]) -> dict:
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


def watch_death(ev: rtnl.Rtnl, n: Born, ev_log: list[dict], nic: str | None = None,
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
        st = liveness(n, ev_log)
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
    return watch_death(ev, s, ev_log, timeout=timeout)


class DeathWatch:
    """Tells "netns B was destroyed" apart from "a device did not follow it": B gets an id
    in init's table, and its destruction shows as that id's RTM_DELNSID event or the id
    leaving the table (cleanup_net's unhash_nsid) — not through any device."""

    def __init__(self, h: Holder):
        fd = os.open(h.ns("net"), os.O_RDONLY)
        try:
            with rtnl.Rtnl() as r:
                self.nsid = r.assign_nsid(fd)  # None: B's death cannot be told apart (said)
        finally:
            os.close(fd)
        self.mon = rtnl.Rtnl(groups=(rtnl.RTNLGRP_NSID,))
        self.died_s: float | None = None
        self.t0 = 0.0

    def start(self) -> None:
        self.t0 = time.monotonic()

    def poll(self) -> bool:
        if self.died_s is None and self.nsid is not None:
            ev = any(
                e.get("type") == "DELNSID" and e.get("nsid") == self.nsid for e in self.mon.events()
            )
            if ev or self.nsid not in rtnl.nsid_table():
                self.died_s = round(time.monotonic() - self.t0, 4)
        return self.died_s is not None

    def close(self) -> None:
        self.mon.close()
