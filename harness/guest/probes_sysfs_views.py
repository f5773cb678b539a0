"""Guest probes of test_sysfs_views.py: whose devices a sysfs mount shows — after setns()
alone and after the `ip netns exec` remount (item 1), per superblock and netns (2),
through /proc/PID/root (3), and for one name in two netns (8).

Each op builds its own scene (sysfs_scene.py) and returns raw observations; the host
decides what they must be. A step that only sets the scene raises SetupError.
"""

from __future__ import annotations

import os
import socket

from . import nsops
from .nsops import try_errno
from .registry import SetupError, op
from .rtnl import Rtnl, link_names
from .scene import in_child, start_holder, step
from .sysfs_scene import (
    dummy_setup,
    listdir,
    mount_at,
    nl_link,
    private_mounts,
    read_text,
    st_dev,
    sysfs_views,
)
from .uapi import CLONE, MNT_DETACH
from .views import net_dev_names

# ------------------------------------------------------------------ item 1


@op
def sysfs_setns_vs_remount() -> dict:
    """setns() into B alone, then the `ip netns exec` remount: what /sys shows each time,
    beside rtnetlink and /proc/thread-self/net/dev of the same thread. B is a holder that
    unshared its netns and created dummy nshv1b there."""
    with start_holder("holder B (new netns, dummy nshv1b)", setup=dummy_setup("nshv1b")) as b:

        def child():
            init_netlink = link_names()
            step("setns into B", nsops.in_ns, b.ns())
            after_setns = {
                **sysfs_views(),
                "netlink": link_names(),
                "proc_net_dev": net_dev_names(),
                "netns": nsops.ns_ino(),
            }
            step("unshare(NEWNS) + remount /sys", nsops.enter_sysfs_view)
            link = nl_link("nshv1b") or {}
            after_remount = {
                **sysfs_views(),
                "netlink": link_names(),
                "ifindex_sysfs": read_text("/sys/class/net/nshv1b/ifindex"),
                "ifindex_netlink": link.get("index"),
            }
            return {
                "init_netlink": init_netlink,
                "after_setns": after_setns,
                "after_remount": after_remount,
            }

        return {"b": {"inode": b.ino(), **b.info}, **in_child("item 1", child)}


# ------------------------------------------------------------------ item 2


@op
def sysfs_superblocks() -> dict:
    """sysfs mounted from init (once), from B (twice), from C (once), beside the host /sys:
    st_dev, mountinfo's major:minor and the class/net each shows."""
    with (
        start_holder("holder B (new netns, dummy nshv2b)", setup=dummy_setup("nshv2b")) as b,
        start_holder("holder C (new netns, dummy nshv2c)", setup=dummy_setup("nshv2c")) as c,
    ):

        def child():
            private_mounts()
            where = {"init": None, "b1": b.ns(), "b2": b.ns(), "c": c.ns()}
            res = {
                "host": {
                    "st_dev": st_dev("/sys"),
                    "class_net": listdir("/sys/class/net"),
                    "mountinfo": (mount_at("/sys") or {}).get("devno"),
                }
            }
            for name, ns in where.items():
                target = f"/mnt/{name}"
                os.makedirs(target)
                home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
                if ns:
                    step(f"setns into the netns of {name}", nsops.in_ns, ns)
                err = try_errno(nsops.mount, f"nshv2{name}", target, "sysfs")
                nsops.setns(home, CLONE["net"])
                os.close(home)
                res[name] = {
                    "mount": err,
                    "st_dev": st_dev(target),
                    "mountinfo": (mount_at(target) or {}).get("devno"),
                    "class_net": listdir(f"{target}/class/net"),
                }
            return res

        made = {"b_made": b.info, "c_made": c.info}
        return {"init_netlink": link_names(), **made, **in_child("item 2", child)}


# ------------------------------------------------------------------ item 3


@op
def sysfs_proc_root_view() -> dict:
    """/proc/PID/root/sys of two holders, read from the initial namespaces: R unshared net
    and mnt and remounted /sys (source "nshv3") from inside; S unshared only net."""

    def remounted():
        info = dummy_setup("nshv3r")()
        nsops.umount2("/sys", MNT_DETACH)
        nsops.mount("nshv3", "/sys", "sysfs")
        return info

    with (
        start_holder(
            "holder R (net+mnt, dummy nshv3r, /sys remounted)",
            kinds=("net", "mnt"),
            setup=remounted,
        ) as r,
        start_holder("holder S (net only, dummy nshv3s)", setup=dummy_setup("nshv3s")) as s,
    ):
        return {
            "init_netlink": link_names(),
            "r": {
                **r.info,
                "via_root": listdir(f"/proc/{r.pid}/root/sys/class/net"),
                "ifindex_via_root": read_text(f"/proc/{r.pid}/root/sys/class/net/nshv3r/ifindex"),
                "sys_mount": mount_at("/sys", str(r.pid)),
            },
            "s": {**s.info, "via_root": listdir(f"/proc/{s.pid}/root/sys/class/net")},
        }


# ------------------------------------------------------------------ item 8


def _name_view(name: str) -> dict:
    link = nl_link(name) or {}
    attrs = {a: read_text(f"/sys/class/net/{name}/{a}") for a in ("ifindex", "address", "mtu")}
    return {
        "netlink": {k: link.get(k) for k in ("index", "address", "mtu")},
        "ioctl_ifindex": socket.if_nametoindex(name) if link else None,
        "sysfs": attrs,
        "proc_net_dev": name in net_dev_names(),
    }


@op
def sysfs_same_name_two_netns() -> dict:
    """Dummy nshv8 created in init (mtu 1400) and, by a holder from inside B, in B (mtu
    1300): each netns's rtnetlink, SIOCGIFINDEX, sysfs and /proc/net/dev views."""
    init_made = dummy_setup("nshv8", 1400)()
    if init_made["errno"]:
        raise SetupError(f"create dummy nshv8 in init: {init_made['errno']}")
    try:
        with start_holder(
            "holder B (creates dummy nshv8 with mtu 1300)", setup=dummy_setup("nshv8", 1300)
        ) as b:

            def in_b():
                step("setns into B", nsops.in_ns, b.ns())
                step("unshare(NEWNS) + remount /sys", nsops.enter_sysfs_view)
                return _name_view("nshv8")

            view_b = in_child("item 8 (B view)", in_b) if not b.info["errno"] else None
            return {
                "init_made": init_made,
                "b_made": b.info,
                "init": _name_view("nshv8"),
                "b": view_b,
            }
    finally:
        with Rtnl() as rt:
            rt.delete("nshv8")
