"""Guest probes of test_sockets_per_netns.py: what each netns has of its own — a fresh
netns's loopback and what bind/connect/sendto do there (item 26), the same port bound in
two netns (26), /proc/self/net vs /proc/thread-self/net (28), netlink events per netns and
netns ids (29).

Targets are held by processes started in them (netns_holders.py); references are their
/proc/<pid>/net tables, sockets they made themselves and their nsfs inodes. Ops return
raw observations; the host decides.
"""

from __future__ import annotations

import os
import random
import select
import socket
import threading

from . import rtnl
from .netns_holders import netns_holder, open_netns, rtnl_here, rtnl_in, sock_in, uevents_in
from .nsops import in_ns, ns_ino, try_errno
from .outside_views import delete_if_present, link_in, ports, read_attr
from .procs import fork_call
from .registry import SetupError, op
from .scene import need
from .views import net_dev_names, parse_net_dev

# ------------------------------------------------------------------ item 26


def _attempts(h, port: int) -> dict:
    """bind/connect/sendto on the loopback addresses, each with a socket made in h's netns
    (checked to live there: where sockets land is item 25's verdict, not this one's)."""

    def mk(family=socket.AF_INET, kind=socket.SOCK_STREAM):
        return sock_in(h, family, kind)

    res = {}
    for label, fam, kind, call, addr in (
        ("bind 127.0.0.1", socket.AF_INET, socket.SOCK_STREAM, "bind", ("127.0.0.1", port)),
        (
            "bind 10.99.0.1 (no device has it)",
            socket.AF_INET,
            socket.SOCK_STREAM,
            "bind",
            ("10.99.0.1", port),
        ),
        ("bind ::1", socket.AF_INET6, socket.SOCK_STREAM, "bind", ("::1", port)),
        (
            "TCP connect 127.0.0.1",
            socket.AF_INET,
            socket.SOCK_STREAM,
            "connect",
            ("127.0.0.1", port),
        ),
        ("UDP sendto 127.0.0.1", socket.AF_INET, socket.SOCK_DGRAM, "sendto", ("127.0.0.1", port)),
    ):
        s = mk(fam, kind)
        s.settimeout(2.0)
        fn = (lambda s=s, a=addr: s.sendto(b"x", a)) if call == "sendto" else getattr(s, call)
        res[label] = try_errno(fn) if call == "sendto" else try_errno(fn, addr)
        s.close()
    return res


@op
def fresh_netns_loopback(port: int = 0) -> dict:
    """A netns nobody configured: lo's state (netlink IFF_UP from a socket in B, B's own
    sysfs flags/operstate, /proc/<holder>/net/fib_trie) and what bind/connect/sendto do
    there — then the same after setting lo up."""
    port = port or random.randint(40000, 49999)
    with netns_holder("hold a fresh netns B", sysfs=True) as B:

        def state() -> dict:
            lo = link_in(B, "lo")
            with open(f"/proc/{B.pid}/net/fib_trie") as f:
                fib = f.read()
            return {
                "netlink IFF_UP": lo["up"] if lo else None,
                "sysfs flags": read_attr(B, "lo", "flags"),
                "sysfs operstate": read_attr(B, "lo", "operstate"),
                "fib_trie has 127.0.0.1": "127.0.0.1" in fib,
            }

        out = {"port": port, "before": {**state(), **_attempts(B, port)}}
        with rtnl_in(B) as r:
            need(r.set("lo", up=True), "set lo up in B")
        out["after_lo_up"] = {**state(), **_attempts(B, port)}
    return out


@op
def same_port_in_two_netns(port: int = 0) -> dict:
    """127.0.0.1:PORT bound in B, C (lo up, by their holders) and init at once; a second
    bind in B; each holder's /proc/<pid>/net/tcp; and which listener a connect from B
    reaches."""
    port = port or random.randint(40000, 49999)
    with (
        netns_holder("hold netns B", lo_up=True) as B,
        netns_holder("hold netns C", lo_up=True) as C,
    ):
        lis = {"B": sock_in(B), "C": sock_in(C), "init": sock_in(None)}
        out: dict = {"port": port}
        try:
            for k, s in lis.items():
                out[f"bind in {k}"] = try_errno(s.bind, ("127.0.0.1", port))
                if out[f"bind in {k}"] is None:
                    s.listen()
                s.setblocking(False)
            again = sock_in(B)
            out["second bind in B"] = try_errno(again.bind, ("127.0.0.1", port))
            again.close()
            out["listed in B's tcp"] = ports(B.pid).count(port)
            out["listed in C's tcp"] = ports(C.pid).count(port)
            cli = sock_in(B)
            cli.settimeout(3)
            out["connect from B"] = try_errno(cli.connect, ("127.0.0.1", port))
            select.select([lis["B"]], [], [], 1.0)
            out["accepted by"] = []
            for k, s in lis.items():
                try:
                    conn, _ = s.accept()
                    out["accepted by"].append(k)
                    conn.close()
                except OSError:
                    pass
            cli.close()
        finally:
            for s in lis.values():
                s.close()
    return out


# ------------------------------------------------------------------ item 28


def _look() -> dict:
    """What this thread sees: the procfs paths, a netlink dump from a socket it makes now,
    and its own and its process's netns inodes."""
    with rtnl_here() as r:
        nl = r.names()
    with open("/proc/net/dev") as f:
        proc_net = sorted(parse_net_dev(f.read()))
    return {
        "/proc/self/net/dev": net_dev_names("self"),
        "/proc/net/dev": proc_net,
        "/proc/thread-self/net/dev": net_dev_names("thread-self"),
        "RTM_GETLINK dump": nl,
        "/proc/thread-self/ns/net": ns_ino("net"),
        "/proc/self/ns/net": ns_ino("net", "self"),
    }


def _looked(box: dict, key: str) -> None:
    try:
        box[key] = _look()
    except Exception as e:  # noqa: BLE001 - a SetupError of the dump socket, carried out
        box[key] = {"error": str(e)}


def _leader_vs_thread(bpath: str) -> dict:
    """In a forked process: a non-leader thread joins B; then the leader joins B while a
    second thread stays home."""
    res: dict = {"readlink /proc/net": os.readlink("/proc/net")}
    box: dict = {}

    def worker():
        in_ns(bpath)
        _looked(box, "t")

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    res["non-leader thread in B"] = box.get("t", {"error": "the thread did not report"})
    go, done = threading.Event(), threading.Event()

    def stayer():
        go.wait()
        _looked(box, "s")
        done.set()

    t = threading.Thread(target=stayer)
    t.start()
    in_ns(bpath)  # the leader switches
    go.set()
    done.wait()
    t.join()
    res["thread staying home while the leader is in B"] = box["s"]
    _looked(box, "l")
    res["leader in B"] = box["l"]
    return res


@op
def proc_net_follows_leader() -> dict:
    """/proc/self/net (and /proc/net) against /proc/thread-self/net, both ways round, in a
    forked process; references: B's holder /proc/<pid>/net/dev (B has dummy nsh28b) and
    init's /proc/1/net/dev, with their nsfs inodes."""

    def setup():
        with rtnl_here() as r:
            res = r.add("nsh28b")
        if res["errno"]:
            raise OSError(f"creating dummy nsh28b in B: {res['errno']}")

    with netns_holder("hold netns B (with dummy nsh28b)", setup=setup) as B:
        out = fork_call(_leader_vs_thread, B.ns())
        for case, seen in out.items():
            if isinstance(seen, dict) and "error" in seen:
                raise SetupError(f"looking from the {case}: {seen['error']}")
        if "exception" in out:
            raise SetupError(f"the threaded process: {out['exception']}")
        out["B reference"] = {"devices": net_dev_names(B.pid), "inode": B.ino()}
        out["init reference"] = {"devices": net_dev_names(1), "inode": ns_ino("net", "1")}
    return out


# ------------------------------------------------------------------ item 29


def _names(mon: rtnl.Rtnl, timeout: float = 0.2) -> list[str]:
    return sorted({e["ifname"] for e in mon.events(timeout) if e.get("ifname")})


@op
def netlink_events_and_nsids(nsid: int = 42) -> dict:
    """Link events (rtnetlink and uevents) of a dummy made in init and one made in B, seen
    by listeners in each; an all-nsid listener before and after B has an id; B given id
    *nsid* with RTM_NEWNSID (what `ip netns set B 42` sends): the event, GETNSID, the id
    dump (`ip netns list-id`), changing and reusing it; a veth init<->B and its
    IFLA_LINK_NETNSID on both sides."""
    with netns_holder("hold netns B") as B, netns_holder("hold netns C") as C:
        fd_b, fd_c, fd_i = open_netns(B), open_netns(C), open_netns(None)
        mon_i = rtnl_in(None, groups=(rtnl.RTNLGRP_LINK,))
        mon_b = rtnl_in(B, groups=(rtnl.RTNLGRP_LINK,))
        ids_i = rtnl_in(None, groups=(rtnl.RTNLGRP_NSID,))
        ids_b = rtnl_in(B, groups=(rtnl.RTNLGRP_NSID,))
        ue_i, ue_b = uevents_in(None), uevents_in(B)
        mon_all = rtnl_in(None, groups=(rtnl.RTNLGRP_LINK,))
        mon_all.s.setsockopt(rtnl.SOL_NETLINK, rtnl.NETLINK_LISTEN_ALL_NSID, 1)
        nl, nlb = rtnl_in(None), rtnl_in(B)
        out: dict = {}
        try:
            need(nl.add("nsh29i"), "create dummy nsh29i in init")
            need(nlb.add("nsh29b"), "create dummy nsh29b in B")
            out["events"] = {
                "rtnetlink listener in init": _names(mon_i),
                "rtnetlink listener in B": _names(mon_b),
                "uevent listener in init": sorted({e.get("interface") for e in ue_i.read(0.2)}),
                "uevent listener in B": sorted({e.get("interface") for e in ue_b.read(0.2)}),
            }
            mon_all.events_with_nsid(0.0)  # (drops init's own events so far)
            nl.delete("nsh29i")
            nlb.delete("nsh29b")
            need(nlb.add("nsh29x"), "create dummy nsh29x in B")
            out["all-nsid listener, B without an id"] = mon_all.events_with_nsid(0.1)
            used = set(nl.nsids())
            n = next(i for i in range(nsid, nsid + 1000) if i not in used)
            out["nsid"] = n
            out["set"] = nl.set_nsid(fd_b, n)
            out["NEWNSID events in init"] = [e for e in ids_i.events(0.2) if "nsid" in e]
            need(nlb.add("nsh29y"), "create dummy nsh29y in B")
            out["all-nsid listener, B with an id"] = mon_all.events_with_nsid(0.2)
            out["plain init listener meanwhile"] = _names(mon_i, 0.0)
            out["GETNSID B"] = nl.get_nsid(fd_b)
            out["id dump"] = nl.nsids()
            out["change"] = nl.set_nsid(fd_b, n + 1)
            out["GETNSID B after change"] = nl.get_nsid(fd_b)
            out["reuse for C"] = nl.set_nsid(fd_c, n)
            out["GETNSID C"] = nl.get_nsid(fd_c)
            ids_b.events(0.0)
            need(
                nl.add("nsh29v", "veth", peer="nsh29w", peer_netns_fd=fd_b),
                "create veth nsh29v (init) with peer nsh29w in B",
            )
            out["veth init side"] = nl.link("nsh29v")
            out["veth B side"] = nlb.link("nsh29w")
            out["GETNSID init, asked in B"] = nlb.get_nsid(fd_i)
            out["NEWNSID events in B"] = [e for e in ids_b.events(0.2) if "nsid" in e]
        finally:
            for x in (mon_i, mon_b, ids_i, ids_b, ue_i, ue_b, mon_all, nl, nlb):
                x.close()
            for fd in (fd_b, fd_c, fd_i):
                os.close(fd)
            delete_if_present("nsh29i", "nsh29v")
    return out
