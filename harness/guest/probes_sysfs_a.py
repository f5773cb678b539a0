"""Guest probes of the sysfs-views area, part A: whose devices a sysfs mount shows (items
1-3). The helpers parts B and C share live here.

Each op builds its own scene — holders that *unshare* into new network namespaces and
create their devices from inside, so the reference list of a namespace's devices comes
from rtnetlink inside it, never from sysfs — and returns raw observations; the host
decides what they must be. Observation helpers never raise (a failed read is reported as
its errno name); a step that only sets the scene raises SetupError, which the host
reports as a setup error naming the step.
"""

from __future__ import annotations

import os

from . import nsops
from .nsops import CLONE, MNT_DETACH, MS_PRIVATE, MS_REC, errno_name, try_errno
from .procs import Holder, fork_call
from .registry import SetupError, op
from .rtnl import Rtnl

# ------------------------------------------------------------------ scene helpers


def step(what: str, fn, *args, **kw):
    """fn(*args, **kw), or a SetupError naming *what*."""
    try:
        return fn(*args, **kw)
    except OSError as e:
        raise SetupError(f"{what}: {e}") from None


def nl_ok(res: dict, what: str) -> None:
    """An rtnetlink request that only sets the scene must have succeeded."""
    if res["errno"]:
        raise SetupError(f"{what}: {res['errno']} {res['extack'] or ''}".strip())


def hold(what: str, **kw) -> Holder:
    """A Holder (a process in new namespaces), or a SetupError naming *what*."""
    try:
        return Holder(**kw)
    except OSError as e:
        raise SetupError(f"{what}: {e}") from None


def in_child(what: str, fn, *args):
    """fn(*args) in a forked child (free to change its namespaces and credentials); a
    SetupError there comes back as one here, any other exception as a harness error."""

    def wrapped():
        try:
            return {"ok": fn(*args)}
        except SetupError as e:
            return {"setup_error": str(e)}

    r = fork_call(wrapped)
    if "setup_error" in r:
        raise SetupError(r["setup_error"])
    if "exception" in r:
        raise RuntimeError(f"{what}: probe child raised {r['exception']}\n{r.get('trace')}")
    return r["ok"]


def dummy_setup(name: str, mtu: int | None = None):
    """Holder setup: create dummy *name* from inside the holder's own netns; report the
    creation's errno and what rtnetlink lists there (the namespace's reference list)."""

    def setup():
        with Rtnl() as r:
            res = r.add(name)
            if not res["errno"] and mtu:
                nl_ok(r.set(name, mtu=mtu), f"set mtu {mtu} on {name}")
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


def sysfs_of(netns_path: str, target: str, source: str = "sysfs") -> None:
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


# ------------------------------------------------------------------ observation helpers


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


def nl_names() -> list[str]:
    with Rtnl() as r:
        return r.names()


def nl_link(name: str) -> dict | None:
    with Rtnl() as r:
        return r.link(name)


def proc_dev_names(where: str = "thread-self") -> list[str]:
    with open(f"/proc/{where}/net/dev") as f:
        return sorted(ln.partition(":")[0].strip() for ln in f.read().splitlines()[2:])


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


# ------------------------------------------------------------------ item 1


@op
def sysfs_setns_vs_remount() -> dict:
    """setns() into B alone, then the `ip netns exec` remount: what /sys shows each time,
    beside rtnetlink and /proc/thread-self/net/dev of the same thread. B is a holder that
    unshared its netns and created dummy nshv1b there."""
    with hold("holder B (new netns, dummy nshv1b)", setup=dummy_setup("nshv1b")) as b:

        def child():
            init_netlink = nl_names()
            step("setns into B", nsops.in_ns, b.ns())
            after_setns = {
                **sysfs_views(),
                "netlink": nl_names(),
                "proc_net_dev": proc_dev_names(),
                "netns": nsops.ns_ino(),
            }
            step("unshare(NEWNS) + remount /sys", nsops.enter_sysfs_view)
            link = nl_link("nshv1b") or {}
            after_remount = {
                **sysfs_views(),
                "netlink": nl_names(),
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
        hold("holder B (new netns, dummy nshv2b)", setup=dummy_setup("nshv2b")) as b,
        hold("holder C (new netns, dummy nshv2c)", setup=dummy_setup("nshv2c")) as c,
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
        return {"init_netlink": nl_names(), **made, **in_child("item 2", child)}


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
        hold(
            "holder R (net+mnt, dummy nshv3r, /sys remounted)",
            kinds=("net", "mnt"),
            setup=remounted,
        ) as r,
        hold("holder S (net only, dummy nshv3s)", setup=dummy_setup("nshv3s")) as s,
    ):
        return {
            "init_netlink": nl_names(),
            "r": {
                **r.info,
                "via_root": listdir(f"/proc/{r.pid}/root/sys/class/net"),
                "ifindex_via_root": read_text(f"/proc/{r.pid}/root/sys/class/net/nshv3r/ifindex"),
                "sys_mount": mount_at("/sys", str(r.pid)),
            },
            "s": {**s.info, "via_root": listdir(f"/proc/{s.pid}/root/sys/class/net")},
        }
