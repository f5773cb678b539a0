"""Guest probes of test_devices_links.py, devices tied to another netns's device: a macvlan
in another netns than its lower device (item 35), the spare virtio NIC moved into a netns
and back when that netns dies (36).

Whether a netns died is watched apart from any device (netns_death.DeathWatch: its id's
RTM_DELNSID), so "the device did not follow" never reads as "the netns did not die". Ops
return raw observations; the host decides. Init is restored in `finally` — the NIC
included: name eth1, DOWN, no altnames.
"""

from __future__ import annotations

import os
import socket
import struct
import time

from . import rtnl
from .lifecycle import kmsg_mark, kmsg_since
from .netns_death import DeathWatch
from .netns_holders import netns_holder, open_netns, rtnl_in, sock_in
from .nsops import errno_name
from .outside_views import delete_if_present, link_in, present, read_attr, settled
from .procs import wait_until
from .registry import SetupError, op
from .scene import need
from .views import proc_net_dev

# ------------------------------------------------------------------ item 35


def _enslave(nl: rtnl.Rtnl, lower: str) -> dict:
    """Make *lower* a port of a fresh bridge (its rx_handler must be free): the reply."""
    need(nl.add("nsh35br", "bridge"), "create bridge nsh35br in init")
    try:
        return nl.set(lower, master=nl.index_of("nsh35br"))
    finally:
        nl.delete("nsh35br")


@op
def macvlan_lower_in_other_netns(timeout: float = 5.0) -> dict:
    """Macvlan nsh35m created straight in B on init's dummy nsh35l: how B sees it, then
    nsh35l deleted. Macvlan nsh35q (up) in B on nsh35p: nsh35p's promiscuity and bridge
    enslave (rx_handler taken) before and after B's only process exits, kernel log lines,
    and B's destruction seen apart (its id's RTM_DELNSID)."""
    B = netns_holder("hold netns B (own sysfs)", sysfs=True)
    watch = None
    mode = rtnl.au32(rtnl.IFLA_MACVLAN_MODE, rtnl.MACVLAN_MODE_BRIDGE)
    out: dict = {}
    try:
        fd, fd_i = open_netns(B), open_netns(None)
        with rtnl_in(None) as nl, rtnl_in(B) as nlb:
            try:
                need(nl.add("nsh35l", up=True), "create dummy nsh35l (up) in init")
                low = nl.index_of("nsh35l")
                need(
                    nl.add("nsh35m", "macvlan", netns_fd=fd, link=low, data=mode),
                    "create macvlan nsh35m in B on init's nsh35l",
                )
                out["lower ifindex"] = low
                out["nsh35m in B (RTM_GETLINK)"] = nlb.link("nsh35m")
                out["B's id for init (GETNSID)"] = nlb.get_nsid(fd_i)
                out["nsh35m in B"] = present(B, "nsh35m")
                out["nsh35m in init"] = present(None, "nsh35m")
                out["delete lower"] = nl.delete("nsh35l")
                out["nsh35m in B after the lower was deleted"] = present(B, "nsh35m")
                need(nl.add("nsh35p", up=True), "create dummy nsh35p (up) in init")
                need(
                    nl.add("nsh35q", "macvlan", netns_fd=fd, link=nl.index_of("nsh35p"), data=mode),
                    "create macvlan nsh35q in B on nsh35p",
                )
                need(nlb.set("nsh35q", up=True), "set nsh35q up in B")
            finally:
                os.close(fd)
                os.close(fd_i)
            out["promiscuity with the macvlan up"] = nl.link("nsh35p")["promiscuity"]
            out["enslave before"] = _enslave(nl, "nsh35p")
        watch = DeathWatch(B)
        out["B's id in init"] = watch.nsid
        mark = kmsg_mark()
        watch.start()
        B.release()
        out["promiscuity 0 after s"] = wait_until(
            lambda: (link_in(None, "nsh35p") or {}).get("promiscuity") == 0,
            timeout,
            step=0.01,
            also=watch.poll,
        )
        if watch.died_s is None:
            wait_until(
                watch.poll, 2.0 if out["promiscuity 0 after s"] is not None else 0.5, step=0.01
            )
        out["B destroyed after s"] = watch.died_s
        out["promiscuity after"] = (link_in(None, "nsh35p") or {}).get("promiscuity")
        log: list[str] = []

        def logged() -> bool:  # the printk follows the counter update: give it a moment
            log[:] = [ln for ln in kmsg_since(mark) if "nsh35" in ln]
            return any("left promiscuous" in ln for ln in log)

        if out["promiscuity 0 after s"] is not None:
            wait_until(logged, 1.0, step=0.02)
        out["kernel log"] = log
        with rtnl_in(None) as nl:
            out["enslave after"] = _enslave(nl, "nsh35p")
    finally:
        B.release()
        if watch:
            watch.close()
        delete_if_present("nsh35br", "nsh35l", "nsh35p")
    return out


# ------------------------------------------------------------------ item 36


def _add_addr(r: rtnl.Rtnl, index: int, ip: str, plen: int) -> dict:
    """RTM_NEWADDR: IPv4 *ip*/*plen* on device *index*."""
    raw = socket.inet_aton(ip)
    body = struct.pack("BBBBI", socket.AF_INET, plen, 0, 0, index)
    body += rtnl.attr(rtnl.IFA_LOCAL, raw) + rtnl.attr(rtnl.IFA_ADDRESS, raw)
    res = r.req(rtnl.RTM_NEWADDR, rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL, body)
    return {"errno": res["errno"], "extack": res["extack"]}


def _del_altname(r: rtnl.Rtnl, index: int, altname: str) -> dict:
    """RTM_DELLINKPROP: drop *altname* from device *index*."""
    body = rtnl.ifinfo(index) + rtnl.nest(
        rtnl.IFLA_PROP_LIST, rtnl.astr(rtnl.IFLA_ALT_IFNAME, altname)
    )
    res = r.req(rtnl.RTM_DELLINKPROP, 0, body)
    return {"errno": res["errno"], "extack": res["extack"]}


def _by_mac(mac: str) -> str | None:
    """sysfs in init: the device with this MAC address."""
    for n in os.listdir("/sys/class/net"):
        if read_attr(None, n, "address") == mac:
            return n
    return None


def _nl_by_mac(mac: str) -> dict | None:
    """RTM_GETLINK dump in init: the device with this MAC. A moved device is listed (in the
    name hash) only once its move is complete, renamed included; sysfs may show the old
    kobject name for a moment first (6.1 renames it after the add@ uevent)."""
    with rtnl.Rtnl() as r:
        return next((d for d in r.links() if d.get("address") == mac), None)


def _icmp_echo(h, dst: str, timeout: float = 3.0) -> dict:
    """One ICMP echo from a raw socket made in h's netns: who answered, or the errno."""
    s = sock_in(h, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(timeout)
    ident = os.getpid() & 0xFFFF
    body = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"nsh36nic"
    csum = sum(struct.unpack(f"!{len(body) // 2}H", body))
    csum = (csum >> 16) + (csum & 0xFFFF)
    csum = ~(csum + (csum >> 16)) & 0xFFFF
    pkt = body[:2] + struct.pack("!H", csum) + body[4:]
    t0 = time.monotonic()
    try:
        s.sendto(pkt, (dst, 0))
        while True:
            data, addr = s.recvfrom(1500)
            typ, _c, _s, rid, _q = struct.unpack_from("!BBHHH", data, (data[0] & 0xF) * 4)
            if typ == 0 and rid == ident:
                return {"reply from": addr[0], "rtt s": round(time.monotonic() - t0, 4)}
    except TimeoutError:
        return {"error": "no reply (timeout)"}
    except OSError as e:
        return {"error": errno_name(e.errno)}
    finally:
        s.close()


def _arp(pid: int, ip: str) -> str | None:
    with open(f"/proc/{pid}/net/arp") as f:
        for ln in f.read().splitlines()[1:]:
            v = ln.split()
            if v[0] == ip:
                return v[3]
    return None


def _restore_nic(nic: str, mac: str) -> dict:
    """Init as it was: no dummy of ours, the NIC named *nic*, down, without altnames."""
    with rtnl_in(None) as nl:
        cur = nl.link(nic)
        if cur and cur.get("kind") == "dummy":
            nl.delete(nic)
        delete_if_present("nsh36x", "nsh36v")
        name = _by_mac(mac)
        if name and name != nic:
            nl.set(name, up=False)
            nl.set(name, ifname=nic)
        link = nl.link(nic) or {}
        for alt in link.get("altnames", []):
            _del_altname(nl, link["index"], alt)
        if link.get("up"):
            nl.set(nic, up=False)
        link = nl.link(nic) or {}
    return {"name": _by_mac(mac), "up": link.get("up"), "altnames": link.get("altnames")}


@op
def nic_moved_and_returned(
    clash: bool = False, nic: str = "eth1", gw: str = "10.0.2.2", timeout: float = 15.0
) -> dict:
    """The spare NIC moved into B: its views in B and init. Without *clash*: configured in B
    and pinged to QEMU's slirp gateway *gw* (a reply from outside the guest kernel, the ARP
    entry, rx counters). With *clash*: altnames nshalt36 and nshkeep36 on it in B, and in
    init a dummy named *nic* and one with altname nshalt36. Then B's only process exits:
    when and as what the NIC comes back (found by MAC in init's sysfs), B's destruction
    seen apart, init's RTM_NEWLINK events, kernel log lines; and (without *clash*) whether
    a dummy made in B came to init too (virtual devices are deleted instead)."""
    if not os.path.exists(f"/sys/class/net/{nic}/device"):
        raise SetupError(f"the spare NIC: {nic} is not a device of init")
    mac = read_attr(None, nic, "address")
    out: dict = {
        "mac": mac,
        "before": {
            "ifindex": int(read_attr(None, nic, "ifindex")),
            "up": link_in(None, nic)["up"],
            "device": os.path.basename(os.readlink(f"/sys/class/net/{nic}/device")),
        },
    }
    B = netns_holder("hold netns B (own sysfs)", sysfs=True)
    watch = mon = None
    try:
        watch = DeathWatch(B)
        out["B's id in init"] = watch.nsid
        fd = open_netns(B)
        with rtnl_in(None) as nl:
            out["move"] = nl.set(nic, netns_fd=fd)
        os.close(fd)
        if out["move"]["errno"]:
            return out
        out["in B"] = {
            **present(B, nic),
            "up": (link_in(B, nic) or {}).get("up"),
            "sysfs address": read_attr(B, nic, "address"),
        }
        out["in init"] = present(None, nic)
        with rtnl_in(B) as nlb:
            idx = nlb.index_of(nic)
            if not clash:
                need(_add_addr(nlb, idx, "10.0.2.15", 24), f"add 10.0.2.15/24 to {nic} in B")
                need(nlb.set(index=idx, up=True), f"set {nic} up in B")
                need(nlb.add("nsh36v"), "create dummy nsh36v in B")  # a virtual device
            else:
                for alt in ("nshalt36", "nshkeep36"):
                    need(nlb.altname_add(alt, index=idx), f"altname {alt} on {nic} in B")
        if not clash:
            out["carrier after s"] = wait_until(
                lambda: read_attr(B, nic, "operstate") == "up", 5, step=0.01
            )
            out["echo"] = _icmp_echo(B, gw)
            out["arp entry for gw in B"] = _arp(B.pid, gw)
            out["counters in B"] = proc_net_dev(B.pid).get(nic)
        else:
            with rtnl_in(None) as nl:
                need(nl.add(nic), f"create a dummy named {nic} in init")
                need(nl.add("nsh36x"), "create dummy nsh36x in init")
                need(nl.altname_add("nshalt36", "nsh36x"), "altname nshalt36 on nsh36x")
        mon = rtnl_in(None, groups=(rtnl.RTNLGRP_LINK,))
        mark = kmsg_mark()
        watch.start()
        B.release()
        out["back after s"] = wait_until(
            lambda: _nl_by_mac(mac) is not None, timeout, step=0.01, also=watch.poll
        )
        if watch.died_s is None:
            wait_until(watch.poll, 2.0 if out["back after s"] is not None else 0.5, step=0.01)
        out["B destroyed after s"] = watch.died_s
        if not clash and out["back after s"] is not None:  # same cleanup_net run as the NIC
            out["dummy nsh36v in init"] = settled(None, "nsh36v", False)
        link = _nl_by_mac(mac) or {}
        name = link.get("ifname")
        if name:
            out["returned"] = {
                "name": name,
                "sysfs name": _by_mac(mac),
                "up": link.get("up"),
                "ifindex": link.get("index"),
                "sysfs ifindex": int(read_attr(None, name, "ifindex")),
                "altnames": link.get("altnames"),
                "sysfs flags": read_attr(None, name, "flags"),
                "device": os.path.basename(os.readlink(f"/sys/class/net/{name}/device")),
            }
        seen: set[str] = set()

        def announced() -> bool:  # RTM_NEWLINK follows list_netdevice: give it a moment
            seen.update(e["ifname"] for e in mon.events(0.0) if e["type"] == "NEWLINK")
            return name in seen

        if name:
            wait_until(announced, 1.0, step=0.02)
        out["NEWLINK events in init"] = sorted(seen)
        out["kernel log"] = [
            ln for ln in kmsg_since(mark) if nic in ln or (name and name in ln) or "init_net" in ln
        ]
    finally:
        B.release()
        for x in (watch, mon):
            if x:
                x.close()
        out["restored"] = _restore_nic(nic, mac)
    return out
