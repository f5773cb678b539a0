"""Is device X in netns N, and what does N list — read from outside N through kernel
interfaces that never go through the path under test (the devices and sockets probes).

Three views of a device: rtnetlink (RTM_GETLINK by name, from a socket made in N), procfs
(/proc/<pid>/net/dev of a process living in N) and sysfs (a /sys mounted in N, read through
/proc/<pid>/root). N is a netns_holders.netns_holder (None: init). SIOCGIFINDEX is used
only for names known to exist (views.ifindex): for an absent name the kernel runs modprobe
twice (0.2-1 s).
"""

from __future__ import annotations

import os

from . import rtnl
from .netns_holders import rtnl_in
from .procs import Holder, wait_until
from .views import net_dev_names


def ports(where: str | int, proto: str = "tcp") -> list[int]:
    """Local ports in /proc/<where>/net/{proto,proto6}: TCP listeners, or every UDP socket."""
    out = []
    for name in (proto, proto + "6"):
        try:
            with open(f"/proc/{where}/net/{name}") as f:
                lines = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for ln in lines:
            v = ln.split()
            if proto == "udp" or v[3] == "0A":
                out.append(int(v[1].rsplit(":", 1)[1], 16))
    return sorted(out)


def class_net_dir(h: Holder | None) -> str:
    """The class/net directory of the sysfs mounted in h's netns (init's /sys for None)."""
    return f"/proc/{h.pid}/root/sys/class/net" if h else "/sys/class/net"


def read_attr(h: Holder | None, name: str, attr: str):
    try:
        with open(f"{class_net_dir(h)}/{name}/{attr}") as f:
            return f.read().strip()
    except OSError as e:
        return f"errno {e.errno}"


def present(h: Holder | None, name: str) -> dict:
    """Is *name* a device of h's netns (init for None): per rtnetlink, procfs and sysfs."""
    with rtnl_in(h) as r:
        nl = r.link(name) is not None
    out = {"netlink": nl, "procfs": name in net_dev_names(h.pid if h else 1)}
    if h is None or getattr(h, "has_sysfs", False):
        out["sysfs"] = os.path.exists(f"{class_net_dir(h)}/{name}")
    return out


def settled(h: Holder | None, name: str, want: bool, timeout: float = 1.0) -> dict:
    """present(h, name) once every view agrees on *want* (or after *timeout*): views that
    are updated one after another (netlink first, sysfs later) are read once settled."""
    p: dict = {}

    def agree() -> bool:
        p.clear()
        p.update(present(h, name))
        return all(v == want for v in p.values())

    wait_until(agree, timeout, step=0.02)
    return p


def link_in(h: Holder | None, name: str) -> dict | None:
    with rtnl_in(h) as r:
        return r.link(name)


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
    """Uevent actions a listener got for device *name*."""
    return [e["action"] for e in ue.read(timeout) if e.get("interface") == name]
