"""Guest probes of test_sysfs_moves.py: a device moving between network namespaces as
uevents, rtnetlink and sysfs views show it — a dummy (item 6), three renaming moves (v2),
the spare NIC's device tree (7), attribute owners, writes and counters (9).

Uevents are read with uevents.py (a listener per netns). They are sent inside the
RTM_NEWLINK request, before its ACK, so a drain right after the request is complete: no
sleeps. Each op builds its own scene (sysfs_scene.py) and returns raw observations; the
host decides what they must be.
"""

from __future__ import annotations

import os
import socket

from . import nsops
from .nsops import NOBODY, try_errno
from .procs import wait_until
from .registry import SetupError, op
from .rtnl import RTNLGRP_LINK, Rtnl, link_names, link_present
from .scene import in_child, need, start_holder, step
from .sysfs_scene import (
    dummy_setup,
    listdir,
    mount_sysfs_of,
    names_in,
    nl_link,
    owner,
    private_mounts,
    read_text,
    short,
    sysfs_views,
    uevents_about,
    write_text,
)
from .uapi import CLONE
from .uevents import Uevents
from .views import proc_net_dev

# ------------------------------------------------------------------ item 6


@op
def sysfs_move_views_and_uevents() -> dict:
    """`ip link set nshv6 netns B` as one RTM_NEWLINK: uevents seen in init, in B and in a
    bystander C; RTM_NEWLINK/DELLINK multicast in init and B; init's /sys and a B-tagged
    sysfs, before and after."""
    with (
        start_holder("holder B (new netns)", setup=dummy_setup("nshv6b")) as b,
        start_holder("holder C") as c,
    ):

        def child():
            private_mounts()
            mount_sysfs_of(b.ns(), "/mnt/b")
            ue = {"init": Uevents(None), "B": Uevents(b.ns()), "C": Uevents(c.ns())}
            mon = {"init": Rtnl(groups=(RTNLGRP_LINK,)), "B": Rtnl(b.ns(), (RTNLGRP_LINK,))}
            bfd = os.open(b.ns(), os.O_RDONLY)

            def snap():
                return {
                    "uevents": {k: uevents_about(u.read(), {"nshv6"}) for k, u in ue.items()},
                    "rtnl": {
                        k: [
                            [e["type"], e["ifname"]]
                            for e in m.events()
                            if e.get("ifname") == "nshv6"
                        ]
                        for k, m in mon.items()
                    },
                    "init_sysfs": sysfs_views(),
                    "b_sysfs": sysfs_views("/mnt/b"),
                    "b_netlink": names_in(b.ns()),
                }

            with Rtnl() as rt:
                need(rt.add("nshv6"), "create dummy nshv6 in init")
                created = snap()
                err = rt.set("nshv6", netns_fd=bfd)
                moved = snap()
                if err["errno"]:
                    rt.delete("nshv6")
            return {"created": created, "move": err, "moved": moved}

        return in_child("item 6", child)


# ------------------------------------------------------------------ v2


@op
def sysfs_move_uevent_sequences() -> dict:
    """The uevents of three moves into B, in order: plain (nshv2a); with a new name that is
    free in B (nshv2r -> nshv2n); with a new name while the old one is taken in B (nshv2c
    -> nshv2x: the kernel renames inside the move)."""
    with start_holder("holder B (new netns, dummy nshv2c)", setup=dummy_setup("nshv2c")) as b:

        def child():
            ue_i, ue_b = Uevents(None), Uevents(b.ns())
            bfd = os.open(b.ns(), os.O_RDONLY)
            out = {}
            with Rtnl() as rt:
                for case, name, new in (
                    ("plain", "nshv2a", None),
                    ("rename", "nshv2r", "nshv2n"),
                    ("clash_rename", "nshv2c", "nshv2x"),
                ):
                    need(rt.add(name), f"create dummy {name} in init")
                    ue_i.read(), ue_b.read()
                    err = rt.set(name, netns_fd=bfd, ifname=new)
                    names = {name, new or name}
                    out[case] = {
                        "move": err,
                        "target": uevents_about(ue_b.read(), names),
                        "source": uevents_about(ue_i.read(), names),
                    }
                    if err["errno"]:
                        rt.delete(name)
            return out

        return in_child("v2", child)


# ------------------------------------------------------------------ item 7


@op
def sysfs_nic_device_tree(nic: str = "eth1") -> dict:
    """The spare NIC moved into B and back: its class glue dir (.../virtioN/net/) in the
    host's /sys and in a B-tagged sysfs, class/net and devices/virtual/net in both,
    uevents in both, rtnetlink in both. Returns the NIC to init (named *nic*, DOWN)."""
    if not link_present(nic):
        raise SetupError(f"find the spare NIC {nic} in init: not there")
    with start_holder("holder B (new netns, dummy nshv7b)", setup=dummy_setup("nshv7b")) as b:
        try:
            return in_child("item 7", _nic_move, b.ns(), nic)
        finally:
            if not link_present(nic):  # B's death returns a real NIC to init (item 36)
                b.release()
                wait_until(lambda: link_present(nic), 10)


def _nic_move(b_ns: str, nic: str) -> dict:
    private_mounts()
    mount_sysfs_of(b_ns, "/mnt/b")
    devpath = os.path.realpath(f"/sys/class/net/{nic}")  # /sys/devices/pci.../net/eth1
    glue = os.path.dirname(devpath)
    b_glue = "/mnt/b" + glue[len("/sys") :]
    before = {
        "init_glue": listdir(glue),
        "b_glue": listdir(b_glue),
        "init": sysfs_views(),
        "b": sysfs_views("/mnt/b"),
    }
    ue_i, ue_b = Uevents(None), Uevents(b_ns)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    bfd = os.open(b_ns, os.O_RDONLY)
    with Rtnl() as rt:
        err = rt.set(nic, netns_fd=bfd)
    with Rtnl(b_ns) as rb:
        in_b = rb.link(nic)
        after = {
            "init_glue": listdir(glue),
            "b_glue": listdir(b_glue),
            "init_class_net": listdir("/sys/class/net"),
            "b_class_net": listdir("/mnt/b/class/net"),
            "b_link": os.path.realpath(f"/mnt/b/class/net/{nic}"),
            "b_uevent_file": read_text(f"/mnt/b/class/net/{nic}/uevent"),
            "init_netlink": link_names(),
            "b_netlink": in_b,
            "init_uevents": [short(e) + [e["devpath"]] for e in ue_i.read()],
            "b_uevents": [short(e) + [e["devpath"]] for e in ue_b.read()],
        }
        back = rb.set(nic, netns_fd=home) if in_b else None
    link = nl_link(nic)
    return {
        "glue": glue,
        "before": before,
        "move": err,
        "after": after,
        "move_back": back,
        "back": {
            "name": link and link["ifname"],
            "up": link and link["up"],
            "init_glue": listdir(glue),
        },
    }


# ------------------------------------------------------------------ item 9


def _send_frames(ifname: str, n: int) -> int:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    try:
        s.bind((ifname, 0))
        frame = b"\xff" * 6 + b"\x02\0\0\0\0\x01" + b"\x88\xb5" + b"nshv9" * 10
        return sum(1 for _ in range(n) if s.send(frame) == len(frame))
    finally:
        s.close()


def _counters(dev: str, root: str = "/sys") -> dict:
    link = nl_link(dev) or {}
    return {
        "sysfs": read_text(f"{root}/class/net/{dev}/statistics/tx_packets"),
        "netlink": link.get("tx_packets"),
        "proc": (proc_net_dev().get(dev) or {}).get("tx_packets"),
    }


def _owners(root: str) -> dict:
    d = f"{root}/class/net/nshv9"
    return {
        "dir": owner(d + "/"),
        "mtu": owner(d + "/mtu"),
        "queue": owner(d + "/queues/tx-0/tx_maxrate"),
    }


@op
def sysfs_attrs_across_move() -> dict:
    """Dummy nshv9 (7 frames sent, then down) moved into U's netns — U = user+net+mnt ns
    made by uid 65534 — and back: owners, writes, tx counters at each stage."""
    attr = "/sys/class/net/nshv9"
    with Rtnl() as rt:
        need(rt.add("nshv9"), "create dummy nshv9 in init")
    try:
        with Rtnl() as rt:
            need(rt.set("nshv9", up=True), "set nshv9 up")
        sent = step("send 7 frames through nshv9 (AF_PACKET)", _send_frames, "nshv9", 7)
        with Rtnl() as rt:  # down: no more traffic (e.g. IPv6 autoconf) can move counters
            need(rt.set("nshv9", up=False), "set nshv9 down")
        out = {"sent": sent, "before": {"owners": _owners("/sys"), "tx": _counters("nshv9")}}

        def no_net_admin():
            nsops.drop_effective_caps(["CAP_NET_ADMIN"])
            return write_text(attr + "/mtu", "1450")

        def caps_only_in_own_userns():  # opened as root, written as root of a new user ns
            fd = os.open(attr + "/mtu", os.O_WRONLY)
            step("unshare(CLONE_NEWUSER)", nsops.unshare, CLONE["user"])
            return try_errno(os.write, fd, b"1450")

        out["before"]["write_mtu_without_cap_net_admin"] = in_child("9 no cap", no_net_admin)
        out["before"]["write_mtu_as_root_of_new_userns"] = in_child(
            "9 new userns", caps_only_in_own_userns
        )
        with start_holder(
            "holder U (uid 65534: user+net+mnt ns)", kinds=("user", "net", "mnt"), as_uid=NOBODY
        ) as u:
            out["u_maps"] = [
                read_text(f"/proc/{u.pid}/{m}").split() for m in ("uid_map", "gid_map")
            ]
            ufd = os.open(u.ns(), os.O_RDONLY)
            with Rtnl() as rt:
                out["move"] = rt.set("nshv9", netns_fd=ufd)
            os.close(ufd)

            def root_view():  # init's root through a sysfs tagged with U's netns
                step("setns into U's netns", nsops.in_ns, u.ns())
                step("unshare(NEWNS) + remount /sys", nsops.enter_sysfs_view)
                return {"owners": _owners("/sys"), "tx": _counters("nshv9")}

            def inside():  # U's root: user ns first (its owner may), then mnt and net
                step("become uid 65534", nsops.become, NOBODY)
                for k in ("user", "mnt", "net"):
                    step(f"setns into U's {k} ns", nsops.in_ns, u.ns(k), k)
                step("mount sysfs over /sys in U", nsops.enter_sysfs_view, over=True)
                res = {
                    "ids": [os.getuid(), os.getgid()],
                    "owners": _owners("/sys"),
                    "write_mtu": write_text(attr + "/mtu", "1400"),
                    "write_tx_queue_len": write_text(attr + "/tx_queue_len", "555"),
                }
                res["mtu_sysfs"] = read_text(attr + "/mtu")
                res["mtu_netlink"] = (nl_link("nshv9") or {}).get("mtu")
                return res

            if not out["move"]["errno"]:
                out["in_u_root_view"] = in_child("9 root view", root_view)
                out["in_u_inside"] = in_child("9 inside U", inside)
                home = os.open("/proc/self/ns/net", os.O_RDONLY)
                with Rtnl(u.ns()) as ru:
                    out["move_back"] = ru.set("nshv9", netns_fd=home)
                os.close(home)
        link = nl_link("nshv9") or {}
        out["back"] = {"owners": _owners("/sys"), "tx": _counters("nshv9"), "mtu": link.get("mtu")}
        return out
    finally:
        with Rtnl() as rt:
            rt.delete("nshv9")
