"""Guest probes of test_devices.py: veth across network namespaces — deleting one end
(item 31), a netns's death taking its devices (31) — devices that cannot move (32), and
lo's "netns-local" feature as ethtool shows it (v1).

Other netns are held by processes started in them (netns_holders.py), and a device's
presence is read three ways (outside_views.py): RTM_GETLINK from a socket in that netns,
its /proc/<holder>/net/dev, and a sysfs mounted in it; a netns's death is watched apart
from any device (netns_death.DeathWatch). Ops return raw observations; the host decides.
Everything made in init is deleted in `finally`.
"""

from __future__ import annotations

import os

from . import rtnl
from .ethtool import ioctl_features, netlink_features
from .netns_death import DeathWatch
from .netns_holders import netns_holder, open_netns, rtnl_in, uevents_in
from .outside_views import (
    delete_if_present,
    events_of,
    link_in,
    present,
    settled,
    uevents_of,
)
from .procs import wait_until
from .registry import op
from .scene import need
from .views import ifindex, net_dev_names

# ------------------------------------------------------------------ item 31


@op
def veth_delete_one_end() -> dict:
    """veth nsh31a (init) <-> nsh31b (created straight in B). Delete nsh31a: is nsh31b still
    in B right when RTM_DELLINK returned (netlink, procfs, sysfs of B), and did B's
    listeners get its RTM_DELLINK and remove@ uevent?"""
    with netns_holder("hold netns B (own sysfs)", sysfs=True) as B:
        fd = open_netns(B)
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
    B = netns_holder("hold netns B")
    watch = mon = ue = None
    mode = rtnl.au32(rtnl.IFLA_MACVLAN_MODE, rtnl.MACVLAN_MODE_BRIDGE)
    try:
        fd = open_netns(B)
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
        out["gone after s"] = wait_until(
            lambda: not rtnl.link_present("nsh31c"), timeout, step=0.01, also=watch.poll
        )
        if out["gone after s"] is not None or watch.died_s is not None:
            wait_until(watch.poll, 2.0, step=0.01)  # the id goes within ~0.1 s of the devices
        out["B destroyed after s"] = watch.died_s
        out["nsh31l let go after s"] = wait_until(
            lambda: _promisc("nsh31l") == 0, 0.5 if watch.died_s is None else 2.0, step=0.01
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
    with (
        netns_holder("hold netns B (own sysfs)", sysfs=True) as B,
        netns_holder("hold netns C") as C,
    ):
        fd_b, fd_c = open_netns(B), open_netns(C)
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
            out["lo in C: /proc/net/dev"] = net_dev_names(C.pid).count("lo")
            with rtnl_in(None) as nl:
                need(nl.add("nsh32br", "bridge"), "create bridge nsh32br in init")
                out["move bridge to B"] = nl.set("nsh32br", netns_fd=fd_b)
                out["bridge in init after"] = {
                    **present(None, "nsh32br"),
                    "SIOCGIFINDEX": ifindex("nsh32br"),
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


# ------------------------------------------------------------------ v1: ethtool features


@op
def ethtool_netns_local() -> dict:
    """lo's and a dummy's "netns-local" feature through the SIOCETHTOOL ioctl and through
    ethtool-netlink."""
    with rtnl_in(None) as r:
        need(r.add("nshv1d"), "create dummy nshv1d in init")
    try:
        out = {}
        for dev in ("lo", "nshv1d"):
            f = ioctl_features(dev)
            nl = netlink_features(dev)
            out[dev] = {
                "ioctl strings": f["strings"],
                "ioctl netns-local": f.get("netns-local"),
                "netlink active": "netns-local" in nl.get("active", []),
                "netlink fixed": "netns-local" in nl.get("nochange", []),
                "netlink active count": len(nl.get("active", [])),
            }
        return out
    finally:
        delete_if_present("nshv1d")
