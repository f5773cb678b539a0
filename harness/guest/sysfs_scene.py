"""What the sysfs probes build their scenes with and read them through.

Scenes: holders that *unshare* into new network namespaces and create their devices from
inside (dummy_setup), so the reference list of a namespace's devices comes from
rtnetlink inside it, never from sysfs; a private mount namespace with a tmpfs on /mnt to
mount on (private_mounts); a sysfs tagged with a chosen netns (mount_sysfs_of).

Observations never raise: a failed read is reported as its errno name, so a probe
returns what it saw and the host decides what it must be.
"""

from __future__ import annotations

import os

from . import nsops
from .nsops import errno_name
from .rtnl import Rtnl
from .scene import need, step
from .uapi import CLONE, MS_PRIVATE, MS_REC

# ------------------------------------------------------------------ scenes


def dummy_setup(name: str, mtu: int | None = None):
    """Holder setup: create dummy *name* from inside the holder's own netns; report the
    creation's errno and what rtnetlink lists there (the namespace's reference list)."""

    def setup():
        with Rtnl() as r:
            res = r.add(name)
            if not res["errno"] and mtu:
                need(r.set(name, mtu=mtu), f"set mtu {mtu} on {name}")
            link = r.link(name) or {}
            return {
                "errno": res["errno"],
                "names": r.names(),
                "index": link.get("index"),
                "address": link.get("address"),
                "mtu": link.get("mtu"),
            }

    return setup


def private_mounts() -> None:
    """This (child) process gets a private mount namespace with a tmpfs on /mnt for mount
    points: nothing it mounts is seen by, or left in, the initial mount namespace."""
    step("unshare(CLONE_NEWNS)", nsops.unshare, CLONE["mnt"])
    step("make / rprivate", nsops.mount, None, "/", None, MS_REC | MS_PRIVATE)
    step("mount a tmpfs on /mnt", nsops.mount, "nshv-tmp", "/mnt", "tmpfs")


def mount_sysfs_of(netns_path: str, target: str, source: str = "sysfs") -> None:
    """Mount a sysfs tagged with the netns at *netns_path* on *target* (setns there, mount,
    setns back: the tag is the mounter's netns at mount time)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        step(f"setns into {netns_path}", nsops.in_ns, netns_path)
        os.makedirs(target, exist_ok=True)
        step(f"mount sysfs on {target}", nsops.mount, source, target, "sysfs")
    finally:
        nsops.setns(home, CLONE["net"])
        os.close(home)


# ------------------------------------------------------------------ observations


def listdir(path: str) -> list[str] | str:
    try:
        return sorted(os.listdir(path))
    except OSError as e:
        return errno_name(e.errno)


def read_text(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        return errno_name(e.errno)


def write_text(path: str, text: str) -> str | None:
    """None if the write succeeded, else its errno name."""
    try:
        with open(path, "w") as f:
            f.write(text)
        return None
    except OSError as e:
        return errno_name(e.errno)


def owner(path: str) -> list[int] | str:
    try:
        st = os.stat(path)
        return [st.st_uid, st.st_gid]
    except OSError as e:
        return errno_name(e.errno)


def nl_link(name: str) -> dict | None:
    """Device *name* of this thread's netns as RTM_GETLINK reports it, or None."""
    with Rtnl() as r:
        return r.link(name)


def names_in(path: str) -> list[str]:
    """rtnetlink's device list of the netns at *path* (a socket made there)."""
    with Rtnl(path) as r:
        return r.names()


def mounts(pid: str = "self") -> list[dict]:
    """/proc/PID/mountinfo as {target, fstype, source, devno}."""
    out = []
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            a, b = pre.split(), post.split()
            out.append({"target": a[4], "devno": a[2], "fstype": b[0], "source": b[1]})
    return out


def mount_at(target: str, pid: str = "self") -> dict | None:
    """The topmost mount on *target*, or None."""
    found = [m for m in mounts(pid) if m["target"] == target]
    return found[-1] if found else None


def st_dev(path: str) -> str:
    try:
        d = os.stat(path).st_dev
        return f"{os.major(d)}:{os.minor(d)}"
    except OSError as e:
        return errno_name(e.errno)


def sysfs_views(root: str = "/sys") -> dict:
    """class/net and devices/virtual/net of the sysfs mounted at *root*."""
    return {
        "class_net": listdir(f"{root}/class/net"),
        "virtual_net": listdir(f"{root}/devices/virtual/net"),
    }


def short(ev: dict) -> list:
    """A uevent as [action, device name, old name or None] (names are DEVPATH's tails)."""
    old = ev.get("devpath_old")
    return [ev["action"], ev["devpath"].rsplit("/", 1)[-1], old.rsplit("/", 1)[-1] if old else None]


def uevents_about(events: list[dict], names: set[str]) -> list[list]:
    """The uevents (short form) of devices named, or formerly named, one of *names*."""
    return [short(e) for e in events if short(e)[1] in names or short(e)[2] in names]
