"""Guest probes of test_sysfs_mounts.py: who may mount a sysfs (item 4), what a mount shows
once its netns is gone (5), and what `ip netns exec` mounts (10).

Each op builds its own scene (sysfs_scene.py) and returns raw observations; the host
decides what they must be. A step that only sets the scene raises SetupError.
"""

from __future__ import annotations

import os
import subprocess
import time

from . import nsops
from .nsops import NOBODY, errno_name, try_errno
from .procs import wait_until
from .registry import SetupError, op
from .rtnl import RTNLGRP_LINK, RTNLGRP_NSID, Rtnl, link_names, link_present, nsid_table
from .scene import in_child, need, step
from .sysfs_scene import listdir, mount_at, mounts, private_mounts, st_dev, sysfs_views
from .uapi import CLONE, MS_REC, MS_SLAVE

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
        "netlink": link_names(),
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
                need(rt.add("nshv5b"), "create dummy nshv5b in B")
                need(
                    rt.add("nshv5p", "veth", peer="nshv5i", peer_netns_fd=home_fd),
                    "create veth nshv5p in B with peer nshv5i in init",
                )
            os.mkdir("/mnt/b")
            nsops.mount("nshv5", "/mnt/b", "sysfs")
            os.write(w, ("ok " + " ".join(link_names())).encode())
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
            need(rt.set_nsid(bfd, 4105), "assign nsid 4105 to B")
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

    def read_old() -> str:
        try:
            os.lseek(lo_fd, 0, 0)
            return os.read(lo_fd, 64).decode().strip()
        except OSError as e:
            return errno_name(e.errno)

    # lo goes last in B's teardown, after the veth and the nsid: until its sysfs node is
    # removed a read finds the device dead (netdev_show: EINVAL); wait for that to settle.
    reads = [read_old()]
    wait_until(lambda: reads.append(read_old()) or reads[-1] != "EINVAL", timeout, step=0.02)
    old_fd_read = reads[-1]
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
