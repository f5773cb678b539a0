"""Guest probes of the sockets area, part B: abstract AF_UNIX names per netns (item 27),
/proc/self/net vs /proc/thread-self/net (28), netlink events per netns and netns ids (29).

Targets are held by processes started in them (probes_devices_common.hold); references are
their /proc/<pid>/net tables, sockets they made themselves and their nsfs inodes. Ops return
raw observations; the host decides.
"""

from __future__ import annotations

import os
import random
import select
import socket
import struct
import threading

from . import rtnl
from .nsops import in_ns, ns_ino, try_errno
from .probes_devices_common import (
    delete_if_present,
    hold,
    need,
    netns_fd,
    proc_dev,
    rtnl_here,
    rtnl_in,
    sock_in,
    uevents_in,
)
from .probes_sockets_a import refs, sock_ns
from .procs import fork_call
from .registry import SetupError, op

# ------------------------------------------------------------------ item 27


def _unix_table(where: str | int, needle: str) -> dict:
    """Entries of /proc/<where>/net/unix whose path is *needle*: how many, how many listen."""
    n = listening = 0
    with open(f"/proc/{where}/net/unix") as f:
        for ln in f.read().splitlines()[1:]:
            v = ln.split()
            if len(v) >= 8 and v[7] == needle:
                n += 1
                listening += v[3] == "00010000"  # __SO_ACCEPTCON
    return {"entries": n, "listening": listening}


@op
def unix_names_per_netns() -> dict:
    """An abstract name bound in B: connect from B, C, init; the same name bound in C and
    again in B; each netns's /proc/<holder>/net/unix. A path name bound in B: connect from C,
    data through it, and where the server's accepted socket lives (cookie, SIOCGSKNS)."""
    tag = f"nsh27-{random.randint(0, 1 << 30)}"
    abstract, path = "\0" + tag, f"/tmp/{tag}.sock"
    with hold("hold netns B") as B, hold("hold netns C") as C:
        out: dict = {"refs": refs(B=B, C=C)}
        srv = sock_in(B, socket.AF_UNIX)
        srv.bind(abstract)
        srv.listen()
        a: dict = {}
        for who, h in (("B", B), ("C", C), ("init", None)):
            x = sock_in(h, socket.AF_UNIX)
            x.settimeout(2)
            a[f"connect from {who}"] = try_errno(x.connect, abstract)
            x.close()
        clash = sock_in(C, socket.AF_UNIX)
        a["bind the same name in C"] = try_errno(clash.bind, abstract)
        again = sock_in(B, socket.AF_UNIX)
        a["bind the same name again in B"] = try_errno(again.bind, abstract)
        again.close()
        for who, where in (("B", B.pid), ("C", C.pid), ("init", 1)):
            a[f"listed in {who}'s /proc/net/unix"] = _unix_table(where, "@" + tag)["entries"]
        clash.close()
        srv.close()
        out["abstract"] = a

        p: dict = {}
        srv = sock_in(B, socket.AF_UNIX)
        srv.bind(path)
        srv.listen()
        try:
            cli = sock_in(C, socket.AF_UNIX)
            cli.settimeout(2)
            p["connect from C"] = try_errno(cli.connect, path)
            if p["connect from C"] is None:
                conn, _ = srv.accept()
                cli.sendall(b"nsh27")
                p["data"] = conn.recv(16).decode()
                p["accepted socket"] = sock_ns(conn)
                p["client socket"] = sock_ns(cli)
                conn.close()
            for who, where in (("B", B.pid), ("C", C.pid)):
                p[f"listening in {who}'s /proc/net/unix"] = _unix_table(where, path)["listening"]
            cli.close()
        finally:
            srv.close()
            os.unlink(path)
        out["path"] = p
    return out


# ------------------------------------------------------------------ item 28


def _proc_net_dev_path(path: str) -> list[str]:
    with open(path) as f:
        return sorted(ln.split(":")[0].strip() for ln in f.read().splitlines()[2:])


def _look() -> dict:
    """What this thread sees: the procfs paths, a netlink dump from a socket it makes now,
    and its own and its process's netns inodes."""
    with rtnl_here() as r:
        nl = r.names()
    return {
        "/proc/self/net/dev": proc_dev("self"),
        "/proc/net/dev": _proc_net_dev_path("/proc/net/dev"),
        "/proc/thread-self/net/dev": proc_dev("thread-self"),
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

    with hold("hold netns B (with dummy nsh28b)", setup=setup) as B:
        out = fork_call(_leader_vs_thread, B.ns())
        for case, seen in out.items():
            if isinstance(seen, dict) and "error" in seen:
                raise SetupError(f"looking from the {case}: {seen['error']}")
        if "exception" in out:
            raise SetupError(f"the threaded process: {out['exception']}")
        out["B reference"] = {"devices": proc_dev(B.pid), "inode": B.ino()}
        out["init reference"] = {"devices": proc_dev(1), "inode": ns_ino("net", "1")}
    return out


# ------------------------------------------------------------------ item 29


def _all_nsid_events(mon: rtnl.Rtnl, timeout: float) -> list[list]:
    """[ifname, nsid from the NETLINK_LISTEN_ALL_NSID cmsg] of the link events received."""
    out = []
    while select.select([mon.s], [], [], timeout)[0]:
        timeout = 0.0
        data, anc, _fl, _ad = mon.s.recvmsg(1 << 16, socket.CMSG_SPACE(4))
        nsid = None
        for lvl, typ, d in anc:
            if lvl == rtnl.SOL_NETLINK and typ == rtnl.NETLINK_LISTEN_ALL_NSID:
                nsid = struct.unpack("i", d[:4])[0]
        off = 0
        while off + 16 <= len(data):
            ln, t, _f, _s, _p = struct.unpack_from("IHHII", data, off)
            if t in (rtnl.RTM_NEWLINK, rtnl.RTM_DELLINK):
                out.append([rtnl.parse_link(data[off + 16 : off + ln]).get("ifname"), nsid])
            off += (ln + 3) & ~3
    return out


def _names(mon: rtnl.Rtnl, timeout: float = 0.2) -> list[str]:
    return sorted({e["ifname"] for e in mon.events(timeout) if e.get("ifname")})


@op
def netlink_events_and_nsids(nsid: int = 42) -> dict:
    """Link events (rtnetlink and uevents) of a dummy made in init and one made in B, seen
    by listeners in each; an all-nsid listener before and after B has an id; B given id
    *nsid* with RTM_NEWNSID (what `ip netns set B 42` sends): the event, GETNSID, the id
    dump (`ip netns list-id`), changing and reusing it; a veth init<->B and its
    IFLA_LINK_NETNSID on both sides."""
    with hold("hold netns B") as B, hold("hold netns C") as C:
        fd_b, fd_c, fd_i = netns_fd(B), netns_fd(C), netns_fd(None)
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
            _all_nsid_events(mon_all, 0.0)  # (drops init's own events so far)
            nl.delete("nsh29i")
            nlb.delete("nsh29b")
            need(nlb.add("nsh29x"), "create dummy nsh29x in B")
            out["all-nsid listener, B without an id"] = _all_nsid_events(mon_all, 0.1)
            used = set(nl.nsids())
            n = next(i for i in range(nsid, nsid + 1000) if i not in used)
            out["nsid"] = n
            out["set"] = nl.set_nsid(fd_b, n)
            out["NEWNSID events in init"] = [e for e in ids_i.events(0.2) if "nsid" in e]
            need(nlb.add("nsh29y"), "create dummy nsh29y in B")
            out["all-nsid listener, B with an id"] = _all_nsid_events(mon_all, 0.2)
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
