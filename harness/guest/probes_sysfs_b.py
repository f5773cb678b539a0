"""Guest probes of the sysfs-views area, part B: who may mount a sysfs (item 4), what a
mount shows once its netns is gone (5), a device moving between namespaces as uevents and
sysfs views show it (6, v2).

Uevents are read with harness/guest/uevents.py (a listener per netns). They are sent
inside the RTM_NEWLINK request, before its ACK, so a drain right after the request is
complete: no sleeps.
"""

from __future__ import annotations

import os
import time

from . import nsops
from .nsops import CLONE, MS_REC, MS_SLAVE, NOBODY, errno_name, try_errno
from .probes_sysfs_a import (
    SetupError,
    dummy_setup,
    hold,
    in_child,
    listdir,
    mount_at,
    nl_names,
    nl_ok,
    private_mounts,
    step,
    sysfs_of,
    sysfs_views,
)
from .procs import wait_until
from .registry import op
from .rtnl import RTNLGRP_LINK, RTNLGRP_NSID, Rtnl, link_present, nsid_table
from .uevents import Uevents


def names_in(path: str) -> list[str]:
    """rtnetlink's device list of the netns at *path* (a socket made there)."""
    with Rtnl(path) as r:
        return r.names()


def short(ev: dict) -> list:
    """A uevent as [action, device name, old name or None] (names are DEVPATH's tails)."""
    old = ev.get("devpath_old")
    return [ev["action"], ev["devpath"].rsplit("/", 1)[-1], old.rsplit("/", 1)[-1] if old else None]


def _mine(events: list[dict], names: set[str]) -> list[list]:
    return [short(e) for e in events if short(e)[1] in names or short(e)[2] in names]


# ------------------------------------------------------------------ item 4


def _mount_as_userns_root(with_netns: bool) -> dict:
    """uid 65534 becomes root of its own user ns (and mount ns, and with *with_netns* a
    netns that user ns owns); a tmpfs mount is the control, then sysfs."""
    init_net = nsops.ns_ino()
    step("become uid 65534", nsops.become, NOBODY)
    flags = CLONE["mnt"] | (CLONE["net"] if with_netns else 0)
    step(
        "unshare(CLONE_NEWUSER|NEWNS" + ("|NEWNET)" if with_netns else ")"),
        nsops.enter_own_userns,
        flags,
    )
    step("make / rslave", nsops.mount, None, "/", None, MS_REC | MS_SLAVE)
    step("control: mount a tmpfs on /mnt", nsops.mount, "nshv4", "/mnt", "tmpfs")
    os.mkdir("/mnt/s")
    err = try_errno(nsops.mount, "nshv4sys", "/mnt/s", "sysfs")
    return {
        "uid": os.getuid(),
        "in_init_netns": nsops.ns_ino() == init_net,
        "mount_sysfs": err,
        "mount_at_target": mount_at("/mnt/s"),
        "class_net": listdir("/mnt/s/class/net"),
        "netlink": nl_names(),
    }


@op
def sysfs_mount_permission() -> dict:
    """mount sysfs as root of a user ns that does not own the current netns (init's), and
    as root of one that does."""
    return {
        "userns_in_init_netns": in_child("item 4a", _mount_as_userns_root, False),
        "userns_owning_netns": in_child("item 4b", _mount_as_userns_root, True),
    }


# ------------------------------------------------------------------ item 5


def _outlive(timeout: float) -> dict:
    private_mounts()
    mon = Rtnl(groups=(RTNLGRP_LINK, RTNLGRP_NSID))
    home_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    g = os.fork()
    if g == 0:  # shares this mount ns: makes B, its devices and the B-tagged mount, exits
        try:
            nsops.unshare(CLONE["net"])
            with Rtnl() as rt:
                nl_ok(rt.add("nshv5b"), "create dummy nshv5b in B")
                nl_ok(
                    rt.add("nshv5p", "veth", peer="nshv5i", peer_netns_fd=home_fd),
                    "create veth nshv5p in B with peer nshv5i in init",
                )
            os.mkdir("/mnt/b")
            nsops.mount("nshv5", "/mnt/b", "sysfs")
            os.write(w, ("ok " + " ".join(nl_names())).encode())
        except BaseException as e:  # noqa: BLE001
            os.write(w, repr(e).encode()[:500])
        os.read(go_r, 1)
        os._exit(0)
    os.close(home_fd)
    msg = os.read(r, 600).decode()
    try:
        if not msg.startswith("ok "):
            raise SetupError(f"make netns B with a sysfs mount: {msg}")
        bfd = os.open(f"/proc/{g}/ns/net", os.O_RDONLY)
        with Rtnl() as rt:
            nl_ok(rt.set_nsid(bfd, 4105), "assign nsid 4105 to B")
        os.close(bfd)
        lo_fd = os.open("/mnt/b/class/net/lo/ifindex", os.O_RDONLY)
        before = {
            "netlink_in_b": msg.split()[1:],
            **sysfs_views("/mnt/b"),
            "peer_in_init": link_present("nshv5i"),
            "nsids": nsid_table(),
            "old_fd_read": os.read(lo_fd, 64).decode().strip(),
        }
        dir_fd = os.open("/mnt/b/class/net", os.O_RDONLY)
        mon.events()
    finally:
        os.write(go_w, b"x")
        os.waitpid(g, 0)
    # B's last process is gone; the mount (in this mount ns) is what remains tagged with B.
    start, seen = time.monotonic(), []
    peer_gone = wait_until(lambda: not link_present("nshv5i"), timeout)
    while time.monotonic() - start < timeout:
        seen += mon.events(0.05)
        if {"DELNSID", "DELLINK"} <= {e["type"] for e in seen}:
            break
    mon.close()
    try:
        os.lseek(lo_fd, 0, 0)
        old_fd_read = os.read(lo_fd, 64).decode().strip()
    except OSError as e:
        old_fd_read = errno_name(e.errno)
    after = {
        **sysfs_views("/mnt/b"),
        "via_old_dirfd": listdir(f"/proc/self/fd/{dir_fd}"),
        "old_fd_read": old_fd_read,
        "mount": mount_at("/mnt/b"),
        "top_dirs": listdir("/mnt/b"),
        "peer_gone_after_s": peer_gone,
        "events": [e for e in seen if e.get("nsid") == 4105 or e.get("ifname") == "nshv5i"],
        "nsids": nsid_table(),
    }
    return {"before": before, "after": after}


@op
def sysfs_mount_outlives_netns(timeout: float = 5.0) -> dict:
    """A grandchild makes netns B (dummy nshv5b, veth nshv5p with peer nshv5i in init),
    mounts a sysfs from B in our private mount ns and exits; then: is B destroyed (the
    init-side peer vanishes, nsid 4105 leaves the table, RTM_DELNSID/DELLINK arrive), and
    what does the mount show?"""
    try:
        return in_child("item 5", _outlive, timeout)
    finally:  # if B outlived its mount ns (a bug), it dies with it: wait for the peer —
        if wait_until(lambda: not link_present("nshv5i"), 10) is None:
            with Rtnl() as rt:  # and a peer a broken veth left behind is not our leftover
                rt.delete("nshv5i")


# ------------------------------------------------------------------ item 6


@op
def sysfs_move_views_and_uevents() -> dict:
    """`ip link set nshv6 netns B` as one RTM_NEWLINK: uevents seen in init, in B and in a
    bystander C; RTM_NEWLINK/DELLINK multicast in init and B; init's /sys and a B-tagged
    sysfs, before and after."""
    with hold("holder B (new netns)", setup=dummy_setup("nshv6b")) as b, hold("holder C") as c:

        def child():
            private_mounts()
            sysfs_of(b.ns(), "/mnt/b")
            ue = {"init": Uevents(None), "B": Uevents(b.ns()), "C": Uevents(c.ns())}
            mon = {"init": Rtnl(groups=(RTNLGRP_LINK,)), "B": Rtnl(b.ns(), (RTNLGRP_LINK,))}
            bfd = os.open(b.ns(), os.O_RDONLY)

            def snap():
                return {
                    "uevents": {k: _mine(u.read(), {"nshv6"}) for k, u in ue.items()},
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
                nl_ok(rt.add("nshv6"), "create dummy nshv6 in init")
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
    with hold("holder B (new netns, dummy nshv2c)", setup=dummy_setup("nshv2c")) as b:

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
                    nl_ok(rt.add(name), f"create dummy {name} in init")
                    ue_i.read(), ue_b.read()
                    err = rt.set(name, netns_fd=bfd, ifname=new)
                    names = {name, new or name}
                    out[case] = {
                        "move": err,
                        "target": _mine(ue_b.read(), names),
                        "source": _mine(ue_i.read(), names),
                    }
                    if err["errno"]:
                        rt.delete(name)
            return out

        return in_child("v2", child)
