"""Guest probes of the sysfs-views area, part C: a real NIC's device tree across a move
(item 7), one name in two netns (8), attribute ownership, writes and counters across a
move (9), and `ip netns exec` (10).
"""

from __future__ import annotations

import os
import socket
import subprocess

from . import nsops
from .nsops import CLONE, NOBODY, try_errno
from .probes_sysfs_a import (
    SetupError,
    dummy_setup,
    hold,
    in_child,
    listdir,
    mount_at,
    mounts,
    nl_link,
    nl_names,
    nl_ok,
    owner,
    private_mounts,
    proc_dev_names,
    read_text,
    st_dev,
    step,
    sysfs_of,
    sysfs_views,
    write_text,
)
from .probes_sysfs_b import short
from .procs import wait_until
from .registry import op
from .rtnl import Rtnl, link_present
from .uevents import Uevents

# ------------------------------------------------------------------ item 7


@op
def sysfs_nic_device_tree(nic: str = "eth1") -> dict:
    """The spare NIC moved into B and back: its class glue dir (.../virtioN/net/) in the
    host's /sys and in a B-tagged sysfs, class/net and devices/virtual/net in both,
    uevents in both, rtnetlink in both. Returns the NIC to init (named *nic*, DOWN)."""
    if not link_present(nic):
        raise SetupError(f"find the spare NIC {nic} in init: not there")
    with hold("holder B (new netns, dummy nshv7b)", setup=dummy_setup("nshv7b")) as b:
        try:
            return in_child("item 7", _nic_move, b.ns(), nic)
        finally:
            if not link_present(nic):  # B's death returns a real NIC to init (item 36)
                b.release()
                wait_until(lambda: link_present(nic), 10)


def _nic_move(b_ns: str, nic: str) -> dict:
    private_mounts()
    sysfs_of(b_ns, "/mnt/b")
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
            "init_netlink": nl_names(),
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


# ------------------------------------------------------------------ item 8


def _name_view(name: str) -> dict:
    link = nl_link(name) or {}
    attrs = {a: read_text(f"/sys/class/net/{name}/{a}") for a in ("ifindex", "address", "mtu")}
    return {
        "netlink": {k: link.get(k) for k in ("index", "address", "mtu")},
        "ioctl_ifindex": socket.if_nametoindex(name) if link else None,
        "sysfs": attrs,
        "proc_net_dev": name in proc_dev_names(),
    }


@op
def sysfs_same_name_two_netns() -> dict:
    """Dummy nshv8 created in init (mtu 1400) and, by a holder from inside B, in B (mtu
    1300): each netns's rtnetlink, SIOCGIFINDEX, sysfs and /proc/net/dev views."""
    init_made = dummy_setup("nshv8", 1400)()
    if init_made["errno"]:
        raise SetupError(f"create dummy nshv8 in init: {init_made['errno']}")
    try:
        with hold(
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
    with open("/proc/thread-self/net/dev") as f:
        rows = [ln.split(":", 1) for ln in f.read().splitlines()[2:]]
    proc = next((v.split() for k, v in rows if k.strip() == dev), [])
    return {
        "sysfs": read_text(f"{root}/class/net/{dev}/statistics/tx_packets"),
        "netlink": link.get("tx_packets"),
        "proc": int(proc[9]) if proc else None,
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
        nl_ok(rt.add("nshv9"), "create dummy nshv9 in init")
    try:
        with Rtnl() as rt:
            nl_ok(rt.set("nshv9", up=True), "set nshv9 up")
        sent = step("send 7 frames through nshv9 (AF_PACKET)", _send_frames, "nshv9", 7)
        with Rtnl() as rt:  # down: no more traffic (e.g. IPv6 autoconf) can move counters
            nl_ok(rt.set("nshv9", up=False), "set nshv9 down")
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
        with hold(
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


# ------------------------------------------------------------------ item 10

SCRIPT = (
    'while IFS= read -r l; do echo "$l"; done </proc/self/mountinfo; echo ---; '
    "echo /sys/class/net/*; echo ---; exec stat -c %d /sys {sub}"
)


@op
def sysfs_ip_netns_exec(name: str) -> dict:
    """In a private mount ns, a tmpfs ("nshv10sub") covers an empty sysfs directory; then
    one `ip netns exec NAME sh -c ...` prints its mountinfo, class/net and st_dev of /sys
    and of the covered path (sh builtins: one exec of stat besides ip and sh)."""

    def child():
        private_mounts()
        sub = next(
            p
            for p in ("/sys/kernel/debug", "/sys/fs/cgroup", "/sys/kernel/tracing")
            if os.path.isdir(p) and not mount_at(p)
        )
        step(f"mount a tmpfs on {sub}", nsops.mount, "nshv10sub", sub, "tmpfs")
        outside = {
            "sys_mounts": [m for m in mounts() if m["target"].startswith("/sys")],
            "sub_dev": st_dev(sub),
            "sys_dev": st_dev("/sys"),
        }
        r = subprocess.run(
            ["ip", "netns", "exec", name, "sh", "-c", SCRIPT.format(sub=sub)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        parts = r.stdout.split("---\n")
        inside = []
        for line in parts[0].splitlines():
            pre, _, post = line.partition(" - ")
            a, b = pre.split(), post.split()
            if len(a) > 4 and len(b) > 1 and a[4].startswith("/sys"):
                inside.append({"target": a[4], "fstype": b[0], "source": b[1]})
        names = parts[1].split() if len(parts) > 1 else []
        devs = parts[2].split() if len(parts) > 2 else []
        return {
            "sub": sub,
            "outside": outside,
            "rc": r.returncode,
            "stderr": r.stderr[-400:],
            "inside": {
                "sys_mounts": inside,
                "class_net": sorted(n.rsplit("/", 1)[-1] for n in names),
                "sys_dev": devs[0] if devs else None,
                "sub_dev": devs[1] if len(devs) > 1 else None,
            },
        }

    return in_child("item 10", child)
