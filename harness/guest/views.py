"""Views of one context's network devices through independent kernel interfaces:
rtnetlink (RTM_GETLINK), sysfs (the /sys the context mounted), procfs (/proc/<who>/net/dev),
and the ioctl path (SIOCGIFINDEX) — plus small generic ops (a shell command, a link up,
waiting for a device to go). The probes read procfs and SIOCGIFINDEX through these too."""

from __future__ import annotations

import os
import socket

from . import nsops
from .procs import wait_until
from .registry import op
from .rtnl import Rtnl, link_present


@op
def links() -> list[dict]:
    """The netlink view: every link with its index, kind, flags, peer netns id, counters."""
    with Rtnl() as r:
        return [
            {
                "ifname": d.get("ifname"),
                "index": d["index"],
                "address": d.get("address"),
                "mtu": d.get("mtu"),
                "up": d["up"],
                "operstate": d.get("operstate"),
                "kind": d.get("kind"),
                "link_netnsid": d.get("link_netnsid"),
                "rx_packets": d.get("rx_packets"),
                "tx_packets": d.get("tx_packets"),
            }
            for d in r.links()
        ]


@op
def class_net() -> list[str]:
    """The sysfs view: what /sys/class/net lists for whoever mounted this /sys."""
    return sorted(os.listdir("/sys/class/net"))


@op
def virtual_net() -> list[str]:
    try:
        return sorted(os.listdir("/sys/devices/virtual/net"))
    except FileNotFoundError:
        return []


@op
def sysfs_attrs(ifname: str, attrs: list[str]) -> dict:
    out = {}
    for a in attrs:
        try:
            with open(f"/sys/class/net/{ifname}/{a}") as f:
                out[a] = f.read().strip()
        except OSError as e:
            out[a] = nsops.errno_name(e.errno)
    return out


def parse_net_dev(text: str) -> dict[str, dict]:
    """/proc/net/dev as {ifname: {rx_packets, tx_packets}}."""
    out = {}
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        f = rest.split()
        if len(f) >= 10:
            out[name.strip()] = {"rx_packets": int(f[1]), "tx_packets": int(f[9])}
    return out


@op
def proc_net_dev(where: str = "thread-self") -> dict[str, dict]:
    """The procfs view of the netns of process/thread *where*."""
    with open(f"/proc/{where}/net/dev") as f:
        return parse_net_dev(f.read())


def net_dev_names(where: str | int = "thread-self") -> list[str]:
    """The device names in /proc/<where>/net/dev: the procfs view of that netns."""
    return sorted(proc_net_dev(where))


@op
def ns_inodes(where: str = "thread-self") -> dict[str, int]:
    return {
        k: os.stat(f"/proc/{where}/ns/{k}").st_ino for k in sorted(os.listdir(f"/proc/{where}/ns"))
    }


@op
def views() -> dict:
    """Every view of this context's devices at once: sysfs, netlink, procfs."""
    return {
        "class_net": class_net(),
        "virtual_net": virtual_net(),
        "netlink": sorted(d["ifname"] for d in links()),
        "proc_net_dev": sorted(proc_net_dev()),
        "netns_inode": nsops.ns_ino("net"),
    }


@op
def ifindex(name: str) -> int | None:
    """SIOCGIFINDEX (the ioctl path). Only for a name that exists: as root, a lookup of an
    unknown name makes the kernel run modprobe twice (dev_load)."""
    if not link_present(name):
        return None
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


@op
def wait_gone(ifname: str, timeout: float = 10.0) -> float | None:
    """Seconds until *ifname* vanished from this netns (RTM_GETLINK polls), None if not."""
    return wait_until(lambda: not link_present(ifname), timeout)


@op
def link_up(ifname: str = "lo") -> None:
    with Rtnl() as r:
        res = r.set(ifname, up=True)
    if res["errno"]:
        raise nsops.ErrnoError(0, f"set {ifname} up: {res['errno']} {res['extack'] or ''}")


@op
def sh(cmd: str, timeout: float = 30) -> dict:
    import subprocess

    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    return {"rc": r.returncode, "out": r.stdout, "err": r.stderr}
