"""Guest probes of the devices area, part A: veth across netns (item 31), devices that
cannot move (32), clashes on move — name, altname, ifindex (33, v3).

Other netns are held by processes started in them (probes_devices_common.hold), and a
device's presence is read three ways: RTM_GETLINK from a socket in that netns, its
/proc/<holder>/net/dev, and a sysfs mounted in it. Ops return raw observations; the host
decides. Everything made in init is deleted in `finally`.
"""

from __future__ import annotations

import os

from . import rtnl
from .probes_devices_common import (
    DeathWatch,
    delete_if_present,
    events_of,
    hold,
    ioctl_index,
    link_in,
    need,
    netns_fd,
    present,
    proc_dev,
    read_attr,
    rtnl_in,
    settled,
    uevents_in,
    uevents_of,
    wait_for,
)
from .registry import op

# ------------------------------------------------------------------ item 31


@op
def veth_delete_one_end() -> dict:
    """veth nsh31a (init) <-> nsh31b (created straight in B). Delete nsh31a: is nsh31b still
    in B right when RTM_DELLINK returned (netlink, procfs, sysfs of B), and did B's
    listeners get its RTM_DELLINK and remove@ uevent?"""
    with hold("hold netns B (own sysfs)", sysfs=True) as B:
        fd = netns_fd(B)
        ue_b, mon_b = uevents_in(B), rtnl_in(B, groups=(rtnl.RTNLGRP_LINK,))
        try:
            with rtnl_in(None) as nl:
                need(
                    nl.add("nsh31a", "veth", peer="nsh31b", peer_netns_fd=fd),
                    "create veth nsh31a (init) with peer nsh31b in B",
                )
                out = {"peer before": present(B, "nsh31b")}
                ue_b.read(0.0)
                mon_b.events(0.0)
                out["delete nsh31a"] = nl.delete("nsh31a")
            out["peer after"] = present(B, "nsh31b")
            out["nsh31a in init after"] = present(None, "nsh31a")
            out["RTM_DELLINK nsh31b in B"] = "DELLINK" in events_of(mon_b, "nsh31b", 0.1)
            out["remove uevent nsh31b in B"] = "remove" in uevents_of(ue_b, "nsh31b", 0.1)
        finally:
            ue_b.close()
            mon_b.close()
            os.close(fd)
            delete_if_present("nsh31a")
    return out


def _promisc(name: str):
    return (link_in(None, name) or {}).get("promiscuity")


@op
def veth_dies_with_netns(timeout: float = 5.0) -> dict:
    """veth nsh31c (init) <-> nsh31d (in B), and a second virtual device in B whose end is
    visible from init: macvlan nsh31m (up) on init's dummy nsh31l, which it keeps
    promiscuous. B's only process exits: when does nsh31c leave init (RTM_GETLINK polls), do
    procfs/sysfs agree, is nsh31l let go (promiscuity 0: B's virtual devices were deleted at
    all), and — apart from any device — was B destroyed (its id's RTM_DELNSID / id gone)?
    Init's RTM_DELLINK and remove@ for nsh31c are recorded."""
    B = hold("hold netns B")
    watch = mon = ue = None
    mode = rtnl.au32(1, 4)  # IFLA_MACVLAN_MODE: bridge
    try:
        fd = netns_fd(B)
        try:
            with rtnl_in(None) as nl:
                need(
                    nl.add("nsh31c", "veth", peer="nsh31d", peer_netns_fd=fd),
                    "create veth nsh31c (init) with peer nsh31d in B",
                )
                need(nl.add("nsh31l", up=True), "create dummy nsh31l (up) in init")
                need(
                    nl.add(
                        "nsh31m",
                        "macvlan",
                        netns_fd=fd,
                        link=nl.index_of("nsh31l"),
                        data=mode,
                        up=True,
                    ),
                    "create macvlan nsh31m (up) in B on nsh31l",
                )
        finally:
            os.close(fd)
        watch = DeathWatch(B)
        mon, ue = rtnl_in(None, groups=(rtnl.RTNLGRP_LINK,)), uevents_in(None)
        out = {
            "before": present(None, "nsh31c"),
            "B's id in init": watch.nsid,
            "nsh31l promiscuity before": _promisc("nsh31l"),
        }
        watch.start()
        B.release()
        out["gone after s"] = wait_for(
            lambda: not rtnl.link_present("nsh31c"), timeout, also=watch.poll
        )
        if out["gone after s"] is not None or watch.died_s is not None:
            wait_for(watch.poll, 2.0)  # the id goes within ~0.1 s of the devices
        out["B destroyed after s"] = watch.died_s
        out["nsh31l let go after s"] = wait_for(
            lambda: _promisc("nsh31l") == 0, 0.5 if watch.died_s is None else 2.0
        )
        out["after"] = settled(None, "nsh31c", False)
        out["RTM_DELLINK in init"] = "DELLINK" in events_of(mon, "nsh31c", 0.1)
        out["remove uevent in init"] = "remove" in uevents_of(ue, "nsh31c", 0.1)
    finally:
        B.release()
        for x in (watch, mon, ue):
            if x is not None:
                x.close()
        delete_if_present("nsh31c", "nsh31l")
    return out


# ------------------------------------------------------------------ item 32


@op
def netns_immutable_devices() -> dict:
    """B's lo moved to C; a bridge moved from init to B; a dummy moved from init to B as the
    control. For each: the reply (errno, extack) and where the device is afterwards."""
    with hold("hold netns B (own sysfs)", sysfs=True) as B, hold("hold netns C") as C:
        fd_b, fd_c = netns_fd(B), netns_fd(C)
        out: dict = {}
        try:
            with rtnl_in(B) as nlb:
                idx = nlb.index_of("lo")
                out["move B's lo to C"] = nlb.set(index=idx, netns_fd=fd_c)
            out["lo in B after"] = {
                **present(B, "lo"),
                "ifindex": (link_in(B, "lo") or {}).get("index"),
            }
            with rtnl_in(C) as nlc:
                out["lo in C: RTM_GETLINK dump"] = nlc.names().count("lo")
            out["lo in C: /proc/net/dev"] = proc_dev(C.pid).count("lo")
            with rtnl_in(None) as nl:
                need(nl.add("nsh32br", "bridge"), "create bridge nsh32br in init")
                out["move bridge to B"] = nl.set("nsh32br", netns_fd=fd_b)
                out["bridge in init after"] = {
                    **present(None, "nsh32br"),
                    "SIOCGIFINDEX": ioctl_index("nsh32br"),
                }
                out["bridge in B after"] = present(B, "nsh32br")
                need(nl.add("nsh32d"), "create dummy nsh32d in init")
                out["move dummy to B (control)"] = nl.set("nsh32d", netns_fd=fd_b)
                out["dummy in B after"] = present(B, "nsh32d")
        finally:
            os.close(fd_b)
            os.close(fd_c)
            delete_if_present("nsh32br", "nsh32d")
    return out


# ------------------------------------------------------------------ item 33, v3


@op
def move_name_clash() -> dict:
    """nsh33 exists in init and in B. Move init's to B: the reply, and both netns after.
    Then the same move with IFLA_IFNAME=nsh33r in the same request."""
    with hold("hold netns B (own sysfs)", sysfs=True) as B, rtnl_in(None) as nl:
        fd = netns_fd(B)
        try:
            need(nl.add("nsh33"), "create dummy nsh33 in init")
            with rtnl_in(B) as nlb:
                need(nlb.add("nsh33"), "create dummy nsh33 in B")
                b_idx = nlb.index_of("nsh33")
            i_idx = nl.index_of("nsh33")
            out = {"move": nl.set(index=i_idx, netns_fd=fd)}
            out["init after"] = {
                **present(None, "nsh33"),
                "ifindex": nl.index_of("nsh33"),
                "ifindex before": i_idx,
            }
            out["B after"] = {
                "nsh33 in /proc/net/dev": proc_dev(B.pid).count("nsh33"),
                "ifindex": (link_in(B, "nsh33") or {}).get("index"),
                "ifindex before": b_idx,
            }
            out["move renamed"] = nl.set(index=i_idx, netns_fd=fd, ifname="nsh33r")
            out["nsh33r in B"] = present(B, "nsh33r")
            out["nsh33 in init after the renaming move"] = present(None, "nsh33")
        finally:
            os.close(fd)
            delete_if_present("nsh33")
    return out


@op
def move_altname_clash() -> dict:
    """Altnames on move. Init: nsh33a with altname nsh33alt. B: nsh33b with altname
    nsh33alt (same string, other netns), nsh33c with altname "nsh33a" (init's *name*).
    Move each to init. Then nsh33m (altname nsh33malt) moved init -> B: who resolves the
    altname where, and who may reuse it."""
    with hold("hold netns B (own sysfs)", sysfs=True) as B, rtnl_in(None) as nl:
        fd_b, fd_i = netns_fd(B), netns_fd(None)
        nlb = rtnl_in(B)
        out: dict = {}
        try:
            need(nl.add("nsh33a"), "create dummy nsh33a in init")
            need(nl.altname_add("nsh33alt", "nsh33a"), "altname nsh33alt on init's nsh33a")
            need(nlb.add("nsh33b"), "create dummy nsh33b in B")
            out["altname nsh33alt on B's nsh33b"] = nlb.altname_add("nsh33alt", "nsh33b")
            need(nlb.add("nsh33c"), "create dummy nsh33c in B")
            need(nlb.altname_add("nsh33a", "nsh33c"), "altname nsh33a on B's nsh33c")
            out["move nsh33b to init"] = nlb.set("nsh33b", netns_fd=fd_i)
            out["nsh33b in B after"] = present(B, "nsh33b")
            out["init resolves nsh33alt to"] = (nl.link(altname="nsh33alt") or {}).get("ifname")
            out["move nsh33c to init"] = nlb.set("nsh33c", netns_fd=fd_i)
            out["nsh33c in B after"] = present(B, "nsh33c")
            need(nl.add("nsh33m"), "create dummy nsh33m in init")
            need(nl.altname_add("nsh33malt", "nsh33m"), "altname nsh33malt on nsh33m")
            need(nl.set("nsh33m", netns_fd=fd_b), "move nsh33m to B")
            out["B resolves nsh33malt to"] = (nlb.link(altname="nsh33malt") or {}).get("ifname")
            out["B's nsh33m altnames"] = (nlb.link("nsh33m") or {}).get("altnames")
            out["init resolves nsh33malt to"] = (nl.link(altname="nsh33malt") or {}).get("ifname")
            need(nl.add("nsh33n"), "create dummy nsh33n in init")
            out["init gives nsh33malt to nsh33n"] = nl.altname_add("nsh33malt", "nsh33n")
            need(nlb.add("nsh33o"), "create dummy nsh33o in B")
            out["B gives nsh33malt to nsh33o"] = nlb.altname_add("nsh33malt", "nsh33o")
        finally:
            nlb.close()
            os.close(fd_b)
            os.close(fd_i)
            delete_if_present("nsh33a", "nsh33b", "nsh33c", "nsh33n")
    return out


def _add_at(r: rtnl.Rtnl, name: str, index: int) -> dict:
    """RTM_NEWLINK dummy *name* with ifi_index *index* (creation at a chosen ifindex)."""
    body = rtnl.ifinfo(index) + rtnl.astr(rtnl.IFLA_IFNAME, name)
    body += rtnl.nest(rtnl.IFLA_LINKINFO, rtnl.astr(rtnl.IFLA_INFO_KIND, "dummy"))
    res = r.req(rtnl.RTM_NEWLINK, rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL, body)
    return {"errno": res["errno"], "extack": res["extack"]}


@op
def move_ifindex_clash() -> dict:
    """Init has nsh33i at ifindex X; B has nsh33j at X and nsh33k at X+1 (free in init).
    Move nsh33j to init asking for IFLA_NEW_IFINDEX=X, then without asking; move nsh33k.
    The ifindex each got, read three ways in init: RTM_GETLINK, sysfs, SIOCGIFINDEX."""
    with hold("hold netns B") as B, rtnl_in(None) as nl:
        fd_i = netns_fd(None)
        nlb = rtnl_in(B)
        try:
            x = next(
                i
                for i in range(3333, 4000, 2)
                if nl.link(index=i) is None and nl.link(index=i + 1) is None
            )
            need(_add_at(nl, "nsh33i", x), f"create dummy nsh33i at ifindex {x} in init")
            need(_add_at(nlb, "nsh33j", x), f"create dummy nsh33j at ifindex {x} in B")
            need(_add_at(nlb, "nsh33k", x + 1), f"create dummy nsh33k at ifindex {x + 1} in B")
            out: dict = {"X": x, "nsh33i": nl.index_of("nsh33i")}
            out["move nsh33j asking for X"] = nlb.set(index=x, netns_fd=fd_i, new_ifindex=x)
            out["move nsh33j"] = nlb.set(index=x, netns_fd=fd_i)
            out["move nsh33k"] = nlb.set(index=x + 1, netns_fd=fd_i)
            for name in ("nsh33j", "nsh33k"):
                out[name] = {
                    "RTM_GETLINK": nl.index_of(name),
                    "sysfs": read_attr(None, name, "ifindex"),
                    "SIOCGIFINDEX": ioctl_index(name),
                }
            out["nsh33i after"] = nl.index_of("nsh33i")
        finally:
            nlb.close()
            os.close(fd_i)
            delete_if_present("nsh33i", "nsh33j", "nsh33k")
    return out
