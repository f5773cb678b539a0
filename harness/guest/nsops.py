"""Guest-side namespace operations, run by the agent inside the VM (Python 3.11, root).

Python 3.11 has no os.setns/os.unshare, so the syscalls go through ctypes. Everything
here returns plain JSON-able values (inodes, ifindexes, errno names) so the host can
assert on them and put them in the report. Operations that must enter a namespace run
in a forked child (see agent.py), so the agent's own namespaces never change.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import subprocess
import threading
import time

from registry import op

libc = ctypes.CDLL(None, use_errno=True)

CLONE = {
    "cgroup": 0x02000000,
    "ipc": 0x08000000,
    "mnt": 0x00020000,
    "net": 0x40000000,
    "pid": 0x20000000,
    "time": 0x00000080,
    "user": 0x10000000,
    "uts": 0x04000000,
}
NS_GET_USERNS, NS_GET_PARENT, NS_GET_NSTYPE, NS_GET_OWNER_UID = 0xB701, 0xB702, 0xB703, 0xB704
SO_NETNS_COOKIE = 71
SIOCGSKNS = 0x894C
MS_BIND, MS_REC, MS_PRIVATE, MS_SLAVE, MS_SHARED = 4096, 16384, 1 << 18, 1 << 19, 1 << 20
MNT_DETACH = 2
SYS_PIDFD_OPEN = 434
NETNS_RUN_DIR = "/run/netns"


class GuestOpError(OSError):
    """An errno-carrying failure the host should see by name (EINVAL, EPERM...)."""


def _check(ret: int, what: str) -> int:
    if ret == -1:
        e = ctypes.get_errno()
        raise GuestOpError(e, f"{what}: {os.strerror(e)}")
    return ret


# ------------------------------------------------------------------ syscalls


def setns(fd: int, nstype: int = 0) -> None:
    _check(libc.setns(fd, nstype), "setns")


def unshare(flags: int) -> None:
    _check(libc.unshare(flags), "unshare")


def mount(src: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        libc.mount(
            src.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def umount2(target: str, flags: int = 0) -> None:
    _check(libc.umount2(target.encode(), flags), f"umount {target}")


def pidfd_open(pid: int) -> int:
    return _check(libc.syscall(SYS_PIDFD_OPEN, pid, 0), "pidfd_open")


def errno_name(e: int | None) -> str | None:
    return errno.errorcode.get(e, str(e)) if e else None


def try_errno(fn, *args) -> str | None:
    """Run fn; return None on success or the errno name it failed with."""
    try:
        fn(*args)
        return None
    except OSError as e:
        return errno_name(e.errno)


def nstype_of(fd: int) -> int:
    return fcntl.ioctl(fd, NS_GET_NSTYPE)


def enter_sysfs_view() -> None:
    """What `ip netns exec` does after setns: a private mount ns with sysfs remounted,
    so /sys/class/net is tagged with the *current* netns (iproute2 lib/namespace.c)."""
    unshare(CLONE["mnt"])
    mount("none", "/", None, MS_REC | MS_SLAVE)
    umount2("/sys", MNT_DETACH)
    mount("sysfs", "/sys", "sysfs", 0)


ENTER_ORDER = ("pid", "cgroup", "ipc", "uts", "net", "time", "mnt")


def enter(ctx: dict) -> None:
    """Apply a namespace context: {kind: ns file path, ..., "sysfs": True}.

    Runs in a freshly forked, single-threaded child (joining a mount ns requires it). All
    ns files are opened before the first setns, so joining the mount namespace cannot
    hide the path of another namespace's file; the mount namespace is joined last."""
    fds = {k: os.open(ctx[k], os.O_RDONLY) for k in ENTER_ORDER if ctx.get(k)}
    try:
        for kind, fd in fds.items():
            setns(fd, CLONE[kind])
    finally:
        for fd in fds.values():
            os.close(fd)
    if ctx.get("sysfs"):
        enter_sysfs_view()


def hold(kinds: list[str], hostname: str | None = None) -> tuple[int, int]:
    """Fork a process that unshares the *kinds* of namespace and waits, keeping them alive
    for others to enter through /proc/PID/ns/*. Returns (pid, fd to release it with)."""
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            flags = 0
            for k in kinds:
                flags |= CLONE[k]
            unshare(flags)
            if "mnt" in kinds:  # keep the holder's mounts to itself
                mount("none", "/", None, MS_REC | MS_SLAVE)
            if hostname:
                socket.sethostname(hostname)
            os.write(w, b"ok")
        except BaseException as e:  # noqa: BLE001
            os.write(w, f"error: {e}".encode())
        os.read(go_r, 1)
        os._exit(0)
    os.close(w)
    os.close(go_r)
    msg = os.read(r, 300).decode()
    os.close(r)
    if msg != "ok":
        release(pid, go_w)
        raise OSError(msg)
    return pid, go_w


def release(pid: int, go_w: int) -> bool:
    """Let a holder exit; True once reaped."""
    os.write(go_w, b"x")
    os.close(go_w)
    return os.waitpid(pid, 0)[0] == pid


# ------------------------------------------------------------------ views


def ipr():
    from pyroute2 import IPRoute

    return IPRoute()


@op
def links() -> list[dict]:
    """The netlink view of this netns's devices."""
    with ipr() as ip:
        out = []
        for msg in ip.get_links():
            info = msg.get_attr("IFLA_LINKINFO")
            stats = msg.get_attr("IFLA_STATS64") or {}
            out.append(
                {
                    "ifname": msg.get_attr("IFLA_IFNAME"),
                    "index": msg["index"],
                    "address": msg.get_attr("IFLA_ADDRESS"),
                    "mtu": msg.get_attr("IFLA_MTU"),
                    "up": bool(msg["flags"] & 1),
                    "operstate": msg.get_attr("IFLA_OPERSTATE"),
                    "kind": info.get_attr("IFLA_INFO_KIND") if info else None,
                    "link_netnsid": msg.get_attr("IFLA_LINK_NETNSID"),
                    "rx_packets": stats.get("rx_packets"),
                    "tx_packets": stats.get("tx_packets"),
                }
            )
        return sorted(out, key=lambda d: d["index"])


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
            out[a] = errno_name(e.errno)
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
    with open(f"/proc/{where}/net/dev") as f:
        return parse_net_dev(f.read())


@op
def ns_inodes(where: str = "thread-self") -> dict[str, int]:
    out = {}
    for kind in sorted(os.listdir(f"/proc/{where}/ns")):
        out[kind] = os.stat(f"/proc/{where}/ns/{kind}").st_ino
    return out


@op
def sh(cmd: str, timeout: float = 30) -> dict:
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    return {"rc": r.returncode, "out": r.stdout, "err": r.stderr}


@op
def ifindex(name: str) -> int | None:
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


@op
def wait_gone(ifname: str, timeout: float = 10.0) -> float | None:
    """Seconds until *ifname* vanished from this netns, None if it never did."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if ifindex(ifname) is None:
            return round(time.monotonic() - start, 4)
        time.sleep(0.01)
    return None


@op
def link_up(ifname: str = "lo") -> None:
    with ipr() as ip:
        ip.link("set", index=ip.link_lookup(ifname=ifname)[0], state="up")


# ------------------------------------------------------------------ sockets


def netns_cookie(sock: socket.socket) -> int | None:
    try:
        return struct.unpack("Q", sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8))[0]
    except OSError:
        return None


def socket_netns_inode(sock: socket.socket) -> int:
    """SIOCGSKNS: an fd for the netns the socket lives in; return that netns's inode."""
    fd = fcntl.ioctl(sock.fileno(), SIOCGSKNS)
    try:
        return os.fstat(fd).st_ino
    finally:
        os.close(fd)


def socket_in(nsfd: int | None, family=socket.AF_INET, kind=socket.SOCK_STREAM) -> socket.socket:
    """The socketat() idiom: setns(target) -> socket() -> setns(back), in this thread."""
    if nsfd is None:
        return socket.socket(family, kind)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        setns(nsfd, CLONE["net"])
        try:
            return socket.socket(family, kind)
        finally:
            setns(home, CLONE["net"])
    finally:
        os.close(home)


def run_threads(fns: list) -> list:
    """Run callables in threads at once; return their results (or exceptions)."""
    results: list = [None] * len(fns)
    barrier = threading.Barrier(len(fns))

    def wrap(i, fn):
        barrier.wait()
        try:
            results[i] = fn()
        except Exception as e:  # noqa: BLE001 - carried back to the host
            results[i] = e

    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
