"""Guest probes of test_netns_links.py: network namespaces as sockets and links show them
since 6.12 (catalogue items 53-57): SO_NETNS_COOKIE equal to the netns id, the
IFLA_NETNS_IMMUTABLE attribute, creating a device in another netns under a name or ifindex
only the caller's netns has, the link netns of a device created with IFLA_LINK_NETNSID (and
the events its creation sends), and the nsid a NETLINK_LISTEN_ALL_NSID listener is told.

Other netns are held by processes started in them (netns_holders.py); where a device is
afterwards is read from a socket made in that netns, from /proc/<pid>/net/dev and sysfs
(outside_views.py). Ops return raw observations; the host decides.
"""

from __future__ import annotations

import os
import socket

from . import rtnl
from .netns_holders import netns_holder, open_netns, rtnl_in, sock_ns
from .nsids import handle_of, listns, ns_id
from .nsops import check_placed, unshare
from .outside_views import delete_if_present, link_in, present
from .registry import op
from .scene import in_child, need
from .uapi import CLONE, SIOCGSKNS

# ------------------------------------------------------------------ item 53


def _cookie_and_ids() -> dict:
    """This thread's netns: the cookie of a UDP and of a UNIX socket, NS_GET_ID of the
    netns file, of the socket's SIOCGSKNS fd, and the netns file handle's ns_id."""
    import fcntl

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    unx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        check_placed(udp, None, "a UDP socket made in this netns")
        fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            out = {"NS_GET_ID": ns_id(fd), "handle ns_id": handle_of(fd).get("ns_id")}
        finally:
            os.close(fd)
        out["cookie UDP"] = sock_ns(udp)["cookie"]
        out["cookie UNIX"] = sock_ns(unx)["cookie"]
        try:
            sk = fcntl.ioctl(udp.fileno(), SIOCGSKNS)
            out["SIOCGSKNS fd NS_GET_ID"] = ns_id(sk)
            os.close(sk)
        except OSError as e:
            out["SIOCGSKNS fd NS_GET_ID"] = e.strerror
        return out
    finally:
        udp.close()
        unx.close()


@op
def netns_cookie_ids() -> dict:
    """Item 53: init's netns and two new ones (each made by a child that unshares it)."""

    def fresh():
        unshare(CLONE["net"])
        return _cookie_and_ids()

    lst = listns(ns_type=CLONE["net"])
    new = "a child that unshared a netns"
    return {"init": _cookie_and_ids(), "new 1": in_child(new, fresh), "new 2": in_child(new, fresh),
            "listns NET (before the new ones)": lst.get("ids", lst.get("errno"))}  # fmt: skip


# ------------------------------------------------------------------ item 54


@op
def netns_immutable_attr() -> dict:
    """Item 54: IFLA_NETNS_IMMUTABLE of lo, a dummy, a veth and a bridge (RTM_GETLINK);
    sending it in RTM_NEWLINK and RTM_SETLINK; then moving each of them to a netns B (what
    the attribute describes). The veth's peer stays in init and is deleted here: nothing is
    left to B's teardown."""
    names = {"dummy": "nshi54d", "veth": "nshi54v", "bridge": "nshi54b"}
    with netns_holder("hold netns B") as B, rtnl_in(None) as nl:
        fd = open_netns(B)
        try:
            need(nl.add(names["dummy"]), "create dummy nshi54d")
            need(nl.add(names["veth"], "veth", peer="nshi54p"), "create veth nshi54v/nshi54p")
            need(nl.add(names["bridge"], "bridge"), "create bridge nshi54b")
            devs = {"lo": "lo", **names}
            attr = {k: (nl.link(n) or {}).get("netns_immutable", "absent") for k, n in devs.items()}
            idx = nl.index_of(names["dummy"])
            sent = {}
            for v in (1, 0):
                extra = rtnl.attr(rtnl.IFLA_NETNS_IMMUTABLE, bytes([v]))
                for mt, mname in (
                    (rtnl.RTM_NEWLINK, "RTM_NEWLINK"),
                    (rtnl.RTM_SETLINK, "RTM_SETLINK"),
                ):
                    sent[f"{mname} with it = {v}"] = nl.set(index=idx, extra=extra, mtype=mt)
            attr_after = (nl.link(names["dummy"]) or {}).get("netns_immutable", "absent")
            moves = {}
            for k, n in devs.items():
                before = nl.index_of(n)
                moves[k] = nl.set(n, netns_fd=fd)
                moves[k]["init's ifindex before, after"] = [before, nl.index_of(n)]
            return {"attr": attr, "sent to the dummy": sent, "dummy's attr after": attr_after,
                    "moves": moves}  # fmt: skip
        finally:
            os.close(fd)
            delete_if_present(*names.values(), "nshi54p")


# ------------------------------------------------------------------ item 55


@op
def add_into_other_netns() -> dict:
    """Item 55: `ip link add netns B NAME` as RTM_NEWLINK (CREATE|EXCL, IFLA_NET_NS_FD=B)
    when NAME exists only in init; with ifindex I that only init uses; with both name and
    index of one init device; a name B already has. Every device's place read three ways."""
    with netns_holder("hold netns B (own sysfs)", sysfs=True) as B, rtnl_in(None) as nl:
        fd = open_netns(B)
        try:
            need(nl.add("nshi55a"), "create dummy nshi55a in init")
            need(nl.add("nshi55i"), "create dummy nshi55i in init")
            a_idx, i_idx = nl.index_of("nshi55a"), nl.index_of("nshi55i")
            free = max(d["index"] for d in nl.links()) + 50
            need(nl.add("nshi55j", index=free), f"create dummy nshi55j index {free} in init")
            out = {"init ifindex": {"nshi55a": a_idx, "nshi55i": i_idx, "nshi55j": free}}
            cases = (("name only in init", "nshi55a", 0),
                     ("ifindex only in init", "nshi55x", i_idx),
                     ("name and ifindex of one init device", "nshi55j", free),
                     ("a name B already has", "nshi55x", 0))  # fmt: skip
            for case, name, index in cases:
                res = nl.add(name, netns_fd=fd, index=index)
                out[case] = {"reply": res, "B": present(B, name),
                             "B ifindex": (link_in(B, name) or {}).get("index")}  # fmt: skip
            out["init after"] = {n: nl.index_of(n) for n in ("nshi55a", "nshi55i", "nshi55j")}
            return out
        finally:
            os.close(fd)
            delete_if_present("nshi55a", "nshi55i", "nshi55j")


# ------------------------------------------------------------------ items 56-57


@op
def link_netns_on_create() -> dict:
    """Items 56-57: Y holds dummy nshi56l; X knows Y as nsid N. From init, create macvlan
    nshi56m into X with IFLA_LINK=nshi56l's index, IFLA_LINK_NETNSID=N: where it is, its
    link netnsid and lower device, and the link events a listener in Y saw (none expected
    from 6.15: the device is made in X directly); the same name as a device Y has; a veth
    into X whose peer goes to Y."""
    with (netns_holder("hold netns X") as X, netns_holder("hold netns Y") as Y,
          rtnl_in(None) as nl, rtnl_in(X) as nlx, rtnl_in(Y) as nly):  # fmt: skip
        fx, fy = open_netns(X), open_netns(Y)
        mon_y = rtnl_in(Y, groups=(rtnl.RTNLGRP_LINK,))
        try:
            need(nly.add("nshi56l"), "create dummy nshi56l in Y")
            need(nly.add("nshi56c"), "create dummy nshi56c in Y")
            lower, ys_own = nly.index_of("nshi56l"), nly.index_of("nshi56c")
            nsid = nlx.assign_nsid(fy)
            if nsid is None:
                need({"errno": "no nsid"}, "give Y an nsid in X")
            mon_y.events(0.0)
            extra = rtnl.as32(rtnl.IFLA_LINK_NETNSID, nsid)
            mode = rtnl.au32(rtnl.IFLA_MACVLAN_MODE, rtnl.MACVLAN_MODE_BRIDGE)
            out = {"Y's nsid in X": nsid, "lower ifindex in Y": lower, "Y's nshi56c": ys_own}
            for case, name in (("macvlan", "nshi56m"), ("a name Y has", "nshi56c")):
                res = nl.add(name, "macvlan", netns_fd=fx, link=lower, data=mode, extra=extra)
                out[case] = {"reply": res, "in X": link_in(X, name),
                             "ifindex in Y": nly.index_of(name)}  # fmt: skip
                out[case]["Y's listener saw"] = [e["type"] for e in mon_y.events(0.2)
                                                 if e.get("ifname") == name]  # fmt: skip
            res = nl.add("nshi56v", "veth", peer="nshi56w", peer_netns_fd=fy, netns_fd=fx)
            out["veth into X, peer into Y"] = {"reply": res, "in X": link_in(X, "nshi56v"),
                                               "peer in Y": link_in(Y, "nshi56w")}  # fmt: skip
            return out
        finally:
            mon_y.close()
            os.close(fx)
            os.close(fy)


@op
def all_nsid_events() -> dict:
    """Item 57: a NETLINK_LISTEN_ALL_NSID listener in N1: a device made in N1 with no nsid
    assigned; N1 given an nsid for itself (self-referential), another local device; N2
    known in N1 as an nsid, a device made in N2. The nsid cmsg each event carried."""
    with (netns_holder("hold netns N1") as n1, netns_holder("hold netns N2") as n2,
          rtnl_in(n1) as nl1, rtnl_in(n2) as nl2):  # fmt: skip
        f1, f2 = open_netns(n1), open_netns(n2)
        mon = rtnl_in(n1, groups=(rtnl.RTNLGRP_LINK,))
        mon.s.setsockopt(rtnl.SOL_NETLINK, rtnl.NETLINK_LISTEN_ALL_NSID, 1)
        try:
            out: dict = {}
            need(nl1.add("nshi57lo"), "create dummy nshi57lo in N1")
            out["local, no nsid"] = mon.events_with_nsid(0.2)
            self_id = nl1.assign_nsid(f1)
            out["N1's nsid for itself"] = self_id
            need(nl1.add("nshi57sr"), "create dummy nshi57sr in N1")
            out["local, self nsid"] = mon.events_with_nsid(0.2)
            n2_id = nl1.assign_nsid(f2)
            out["N2's nsid in N1"] = n2_id
            need(nl2.add("nshi57re"), "create dummy nshi57re in N2")
            out["remote"] = mon.events_with_nsid(0.2)
            return out
        finally:
            mon.close()
            os.close(f1)
            os.close(f2)
