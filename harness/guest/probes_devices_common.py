"""What the sockets and devices probes share: namespaces held by processes STARTED in them,
and views of such a netns from outside that never go through the path under test.

A netns under test is made by a Holder that unshare()s it (never by setns, never by the
agent): its /proc/<pid>/ns/net inode, /proc/<pid>/net/* tables and the cookie of a socket
it made itself are references independent of any setns/socket path a probe exercises.
With `sysfs` it also mounts a sysfs from inside its netns, so /proc/<pid>/root/sys/class/net
is that netns's own sysfs view, readable from anywhere.

Views of "is device X in netns N" come from three kernel interfaces: rtnetlink
(RTM_GETLINK by name, from a socket made in N), procfs (/proc/<pid>/net/dev of a process
living in N) and sysfs (a /sys mounted in N). SIOCGIFINDEX is used only for names known to
exist: for an absent name the kernel runs modprobe twice (0.2-1 s).
"""

from __future__ import annotations

import os
import socket
import struct
import time

from . import rtnl
from .nsops import netns_cookie, ns_ino, socket_in, socket_netns_inode
from .procs import Holder
from .registry import SetupError
from .uevents import Uevents

IFA_LOCAL, IFA_ADDRESS = 2, 1
RTM_NEWADDR, RTM_DELLINKPROP = 20, 109


def hold(
    what: str, sysfs: bool = False, lo_up: bool = False, setup=None, mnt: bool = False
) -> Holder:
    """A netns held by a process started in it (with *mnt* or *sysfs*, in a mount ns of its
    own too); `info` carries the netns cookie and SIOCGSKNS inode of a socket that process
    made ({"cookie", "skns"}) and what *setup* (run inside) returned. Failing to set it up
    is a SetupError naming *what*."""

    def inside():
        if lo_up:
            with rtnl_here() as r:
                res = r.set("lo", up=True)
            if res["errno"]:
                raise OSError(f"lo up: {res['errno']} {res['extack'] or ''}")
        s = socket.socket()
        info = {"cookie": netns_cookie(s), "skns": socket_netns_inode(s)}
        s.close()
        if setup:
            info["setup"] = setup()
        return info

    kinds = ("net", "mnt") if sysfs or mnt else ("net",)
    try:
        h = Holder(kinds=kinds, sysfs=sysfs, setup=inside)
    except OSError as e:
        raise SetupError(f"{what}: {e}") from None
    h.has_sysfs = sysfs
    return h


# ------------------------------------------------------------------ sockets of the scene


_INIT_COOKIE: list = []


def init_cookie():
    """The netns cookie of a socket made in init (cached)."""
    if not _INIT_COOKIE:
        x = socket_in("/proc/1/ns/net")
        _INIT_COOKIE.append(netns_cookie(x))
        x.close()
    return _INIT_COOKIE[0]


def placed(s, h: Holder | None, what: str, want: int | None = None):
    """*s* if it lives in h's netns (init's for None; inode *want* if given), else a
    SetupError: a probe whose own sockets land elsewhere would misread every behaviour it
    observes (where sockets land is item 25's verdict, not this probe's). Either witness is
    enough — SIOCGSKNS against the nsfs inode, or the netns cookie against one the holder's
    own socket has (if that differs from init's) — so one broken witness alone is no
    setup failure here."""
    if want is None:
        want = h.ino() if h else ns_ino("net", "1")
    got = socket_netns_inode(s)
    if got == want:
        return s
    own = h.info.get("cookie") if h is not None else None
    if isinstance(own, int) and netns_cookie(s) == own != init_cookie():
        return s
    s.close()
    raise SetupError(
        f"{what}: the socket lives in netns {got}, not in {want} where it was made "
        "(SIOCGSKNS, netns cookie): setns() or socket() does not honour the thread's netns "
        "(items 14 and 25 judge that)"
    )


def sock_in(h: Holder | None, family=socket.AF_INET, kind=socket.SOCK_STREAM, proto=0, what=""):
    """A socket made in h's netns (setns -> socket -> setns back), checked to live there."""
    s = socket_in(h.ns("net") if h else None, family, kind, proto)
    return placed(s, h, what or f"a socket made in {'B' if h else 'init'}")


def rtnl_in(h: Holder | None, groups: tuple[int, ...] = ()) -> rtnl.Rtnl:
    """An rtnetlink socket made in h's netns (init for None), checked to live there (by
    rtnl.Rtnl itself: nsops.check_placed)."""
    return rtnl.Rtnl(h.ns("net") if h else "/proc/1/ns/net", groups)


def rtnl_here() -> rtnl.Rtnl:
    """An rtnetlink socket in this thread's netns (e.g. inside a holder), checked."""
    return rtnl.Rtnl()


def uevents_in(h: Holder | None) -> Uevents:
    ue = Uevents(h.ns("net") if h else None)
    placed(ue.s, h, f"a uevent socket made in {'netns ' + str(h.pid) if h else 'init'}")
    return ue


def need(res: dict, step: str) -> dict:
    """A netlink reply of a step that only sets the scene: its error is a SetupError."""
    if res.get("errno"):
        raise SetupError(f"{step}: {res['errno']} {res.get('extack') or ''}".rstrip())
    return res


def netns_fd(h: Holder | None) -> int:
    return os.open(h.ns("net") if h else "/proc/1/ns/net", os.O_RDONLY)


# ------------------------------------------------------------------ views


def proc_dev(where: str | int) -> list[str]:
    """procfs: device names in /proc/<where>/net/dev."""
    with open(f"/proc/{where}/net/dev") as f:
        return sorted(ln.split(":")[0].strip() for ln in f.read().splitlines()[2:])


def proc_stats(where: str | int, name: str) -> dict | None:
    with open(f"/proc/{where}/net/dev") as f:
        for ln in f.read().splitlines()[2:]:
            dev, _, rest = ln.partition(":")
            if dev.strip() == name:
                v = rest.split()
                return {"rx_packets": int(v[1]), "tx_packets": int(v[9])}
    return None


def sysfs_of(h: Holder | None) -> str:
    """The class/net directory of the sysfs mounted in h's netns (init's /sys for None)."""
    return f"/proc/{h.pid}/root/sys/class/net" if h else "/sys/class/net"


def read_attr(h: Holder | None, name: str, attr: str):
    try:
        with open(f"{sysfs_of(h)}/{name}/{attr}") as f:
            return f.read().strip()
    except OSError as e:
        return f"errno {e.errno}"


def settled(h: Holder | None, name: str, want: bool, timeout: float = 1.0) -> dict:
    """present(h, name) once every view agrees on *want* (or after *timeout*): views that
    are updated one after another (netlink first, sysfs later) are read once settled."""
    p: dict = {}

    def agree() -> bool:
        p.clear()
        p.update(present(h, name))
        return all(v == want for v in p.values())

    wait_for(agree, timeout, step=0.02)
    return p


def present(h: Holder | None, name: str) -> dict:
    """Is *name* a device of h's netns (init for None): per rtnetlink, procfs and sysfs."""
    with rtnl_in(h) as r:
        nl = r.link(name) is not None
    out = {"netlink": nl, "procfs": name in proc_dev(h.pid if h else 1)}
    if h is None or getattr(h, "has_sysfs", False):
        out["sysfs"] = os.path.exists(f"{sysfs_of(h)}/{name}")
    return out


def link_in(h: Holder | None, name: str) -> dict | None:
    with rtnl_in(h) as r:
        return r.link(name)


def ioctl_index(name: str) -> int | None:
    """SIOCGIFINDEX in this thread's netns — only after RTM_GETLINK found the name."""
    if not rtnl.link_present(name):
        return None
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def add_addr(r: rtnl.Rtnl, index: int, ip: str, plen: int) -> dict:
    raw = socket.inet_aton(ip)
    body = struct.pack("BBBBI", socket.AF_INET, plen, 0, 0, index)
    body += rtnl.attr(IFA_LOCAL, raw) + rtnl.attr(IFA_ADDRESS, raw)
    res = r.req(RTM_NEWADDR, rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL, body)
    return {"errno": res["errno"], "extack": res["extack"]}


def del_altname(r: rtnl.Rtnl, index: int, altname: str) -> dict:
    body = rtnl.ifinfo(index) + rtnl.nest(
        rtnl.IFLA_PROP_LIST, rtnl.astr(rtnl.IFLA_ALT_IFNAME, altname)
    )
    res = r.req(RTM_DELLINKPROP, 0, body)
    return {"errno": res["errno"], "extack": res["extack"]}


def delete_if_present(*names: str) -> None:
    """Cleanup in init: delete each device that is (still) there."""
    with rtnl.Rtnl() as r:
        for n in names:
            if r.link(n) is not None:
                r.delete(n)


def events_of(mon: rtnl.Rtnl, name: str, timeout: float = 0.0) -> list[str]:
    """Link event types (NEWLINK/DELLINK) a monitor got for device *name*."""
    return [e["type"] for e in mon.events(timeout) if e.get("ifname") == name]


def uevents_of(ue, name: str, timeout: float = 0.0) -> list[str]:
    return [e["action"] for e in ue.read(timeout) if e.get("interface") == name]


# ------------------------------------------------------------------ a netns's death, seen apart


class DeathWatch:
    """Tells "netns B was destroyed" apart from "a device did not follow it": B gets an id
    in init's table, and its destruction shows as that id's RTM_DELNSID event or the id
    leaving the table (cleanup_net's unhash_nsid) — not through any device."""

    def __init__(self, h: Holder):
        fd = netns_fd(h)
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


def wait_for(pred, timeout: float, step: float = 0.01, also=None) -> float | None:
    """Seconds until pred() held (polling *also* meanwhile), None if not within *timeout*."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if also:
            also()
        if pred():
            return round(time.monotonic() - t0, 4)
        time.sleep(step)
    return None
