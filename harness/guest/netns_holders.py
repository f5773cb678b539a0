"""Network namespaces held by processes STARTED in them, and the sockets a probe makes in
them, checked to live there: what the sockets and devices probes build their scenes on.

A netns under test is made by a Holder that unshare()s it (never by setns, never by the
agent): its /proc/<pid>/ns/net inode, /proc/<pid>/net/* tables and the cookie of a socket
it made itself are references independent of any setns/socket path a probe exercises.
With `sysfs` it also mounts a sysfs from inside its netns, so /proc/<pid>/root/sys/class/net
is that netns's own sysfs view, readable from anywhere (outside_views.py reads them).
"""

from __future__ import annotations

import os
import socket

from . import rtnl
from .nsops import netns_cookie, ns_ino, socket_in, socket_netns_inode
from .procs import Holder
from .registry import SetupError
from .uevents import Uevents


def netns_holder(
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


def open_netns(h: Holder | None) -> int:
    """An fd of h's netns file (init's for None), e.g. for IFLA_NET_NS_FD: close it."""
    return os.open(h.ns("net") if h else "/proc/1/ns/net", os.O_RDONLY)


# ------------------------------------------------------------------ references


def sock_ns(s) -> dict:
    """Where a socket lives, two ways: SO_NETNS_COOKIE and SIOCGSKNS (the nsfs inode)."""
    return {"cookie": netns_cookie(s), "skns": socket_netns_inode(s)}


def refs(**holders) -> dict:
    """Reference identities: init's (pid 1, a socket made here), and each holder's (a
    socket it made itself: cookie and SIOCGSKNS; its /proc/<pid>/ns/net inode)."""
    s = socket.socket()
    out = {
        "init": {
            "cookie": netns_cookie(s),
            "inode": ns_ino("net", "1"),
            "skns": socket_netns_inode(s),
        }
    }
    s.close()
    for k, h in holders.items():
        out[k] = {"cookie": h.info["cookie"], "inode": h.ino(), "skns": h.info["skns"]}
    return out


_INIT_COOKIE: list = []


def init_cookie():
    """The netns cookie of a socket made in init (cached)."""
    if not _INIT_COOKIE:
        x = socket_in("/proc/1/ns/net")
        _INIT_COOKIE.append(netns_cookie(x))
        x.close()
    return _INIT_COOKIE[0]


# ------------------------------------------------------------------ sockets of the scene


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
    """A uevent listener made in h's netns (init for None), checked to live there."""
    ue = Uevents(h.ns("net") if h else None)
    placed(ue.s, h, f"a uevent socket made in {'netns ' + str(h.pid) if h else 'init'}")
    return ue
