"""The namespace syscalls and idioms every guest probe builds on (guest: Python 3.11, root).

Python 3.11 has no os.setns/os.unshare, so the syscalls go through ctypes (the numbers
they take are in uapi.py). Errors come back as errno *names* ("EINVAL") where a probe
reports them, so the host can assert on them and put them in the report.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct

from .registry import SetupError
from .uapi import (
    CLONE,
    MNT_DETACH,
    MS_REC,
    MS_SLAVE,
    NS_GET_NSTYPE,
    SIOCGSKNS,
    SO_NETNS_COOKIE,
    SYS_PIDFD_OPEN,
)

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

NOBODY = 65534  # Debian's nobody: the unprivileged uid the probes become
NETNS_RUN_DIR = "/run/netns"  # where `ip netns add` names a netns


class ErrnoError(OSError):
    """A failed syscall (or a step that failed like one), carrying its errno: the host
    sees its errno by name (EINVAL, EPERM...)."""


def _check(ret: int, what: str) -> int:
    if ret == -1:
        e = ctypes.get_errno()
        raise ErrnoError(e, f"{what}: {os.strerror(e)}")
    return ret


def errno_name(e: int | None) -> str | None:
    return errno.errorcode.get(e, str(e)) if e else None


def try_errno(fn, *args, **kw) -> str | None:
    """None if fn succeeded, else the errno name it failed with ("TimeoutError" for a
    socket timeout, whose errno is None)."""
    try:
        fn(*args, **kw)
        return None
    except TimeoutError:
        return "TimeoutError"
    except OSError as e:
        return errno_name(e.errno) or type(e).__name__


# ------------------------------------------------------------------ syscalls


def setns(fd: int, nstype: int = 0) -> None:
    _check(libc.setns(fd, ctypes.c_int(nstype)), "setns")


def unshare(flags: int) -> None:
    _check(libc.unshare(flags), "unshare")


def mount(src: str | None, target: str, fstype: str | None, flags: int = 0, data=None) -> None:
    _check(
        libc.mount(
            src.encode() if src else None,
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


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def set_realtime(time_ns: int) -> None:
    """clock_settime(CLOCK_REALTIME)."""
    ts = _Timespec(time_ns // 1_000_000_000, time_ns % 1_000_000_000)
    _check(libc.clock_settime(0, ctypes.byref(ts)), "clock_settime")


# ------------------------------------------------------------------ namespace files


def ns_ino(kind: str = "net", where: str = "thread-self") -> int:
    return os.stat(f"/proc/{where}/ns/{kind}").st_ino


def nstype_of(fd: int) -> int:
    return fcntl.ioctl(fd, NS_GET_NSTYPE)


def ns_ioctl(fd: int, req: int, arg: int = 0) -> dict:
    """An nsfs ioctl with a plain integer argument: {"ret": n} or {"errno": name}."""
    r = libc.ioctl(fd, ctypes.c_ulong(req), ctypes.c_ulong(arg))
    return {"errno": errno_name(ctypes.get_errno())} if r < 0 else {"ret": r}


def ns_ioctl_fd(fd: int, req: int) -> dict:
    """NS_GET_USERNS/NS_GET_PARENT: the returned namespace's inode and type, or errno."""
    r = libc.ioctl(fd, ctypes.c_ulong(req), ctypes.c_ulong(0))
    if r < 0:
        return {"errno": errno_name(ctypes.get_errno())}
    try:
        return {"ino": os.fstat(r).st_ino, "nstype": nstype_of(r)}
    finally:
        os.close(r)


def ns_ioctl_out(fd: int, req: int, size: int) -> dict:
    """An nsfs ioctl that fills a struct of *size* bytes: {"ret", "data": hex} or errno."""
    buf = ctypes.create_string_buffer(size)
    if size >= 4:
        struct.pack_into("I", buf, 0, size)  # struct mnt_ns_info starts with its size
    r = libc.ioctl(fd, ctypes.c_ulong(req), buf)
    if r < 0:
        return {"errno": errno_name(ctypes.get_errno())}
    return {"ret": r, "data": buf.raw.hex()}


def in_ns(path: str, kind: str = "net") -> None:
    """setns() this thread into the namespace file *path*."""
    fd = os.open(path, os.O_RDONLY)
    try:
        setns(fd, CLONE[kind])
    finally:
        os.close(fd)


def enter_sysfs_view(over: bool = False) -> None:
    """What `ip netns exec` does after setns: a private mount ns with sysfs remounted, so
    /sys/class/net is tagged with the *current* netns (iproute2 lib/namespace.c). With
    *over*, mount on top of /sys instead: inside a user namespace the inherited /sys is a
    locked mount (umount2 -> EINVAL)."""
    unshare(CLONE["mnt"])
    mount(None, "/", None, MS_REC | MS_SLAVE)
    if not over:
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
    if "net" in fds:  # what every op in a net context rests on, checked once here
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            check_placed(s, None, f"a socket made after setns(net) into {ctx['net']}")
    if ctx.get("sysfs"):
        enter_sysfs_view()


# ------------------------------------------------------------------ sockets


def socket_in(path: str | None, family=socket.AF_INET, kind=socket.SOCK_STREAM, proto=0):
    """The socketat() idiom: setns(target) -> socket() -> setns(back), in this thread."""
    if path is None:
        return socket.socket(family, kind, proto)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        in_ns(path)
        try:
            return socket.socket(family, kind, proto)
        finally:
            setns(home, CLONE["net"])
    finally:
        os.close(home)


def check_placed(sock, path: str | None, what: str) -> None:
    """A SetupError unless *sock* lives in the netns of file *path* (this thread's for None).

    A scene's sockets (rtnetlink above all) are the views its test reads: one that landed
    in another netns would misread every behaviour observed through it. Where sockets land
    is behaviours 25 and 30's verdict (their tests judge it, failing); any other test
    stops as a setup step that names them. Two views that do not share that path: the
    nsfs inode of the file vs SIOCGSKNS of the socket (skipped where SIOCGSKNS is not
    permitted, e.g. without CAP_NET_ADMIN over the socket's netns)."""
    try:
        want = os.stat(path or "/proc/thread-self/ns/net").st_ino
    except OSError:
        return
    got = socket_netns_inode(sock)
    if not isinstance(got, int):  # no SIOCGSKNS here: is it init's, though we are not?
        init_ino, init_cookie = INIT_NET
        if want != init_ino and isinstance(init_cookie, int):
            got = init_ino if netns_cookie(sock) == init_cookie else want
        else:
            got = want
    if got != want:
        sock.close()
        raise SetupError(
            f"{what}: the socket lives in net:[{got}], not net:[{want}] where it was made: "
            "socket() does not create in its caller's netns (behaviours 25 and 30 judge that)"
        )


def _init_net() -> tuple[int, int | str | None]:
    """init_net's nsfs inode and netns cookie, taken when the agent starts (as root, in
    init): the witness check_placed() falls back on where SIOCGSKNS is not permitted."""
    try:
        ino = os.stat("/proc/1/ns/net").st_ino
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            return ino, netns_cookie(s)
    except OSError:
        return 0, None


def netns_cookie(sock: socket.socket) -> int | str:
    """SO_NETNS_COOKIE (5.14+): the netns's never-reused id, or the errno name."""
    try:
        return struct.unpack("Q", sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8))[0]
    except OSError as e:
        return errno_name(e.errno)


def socket_netns_inode(sock_or_fd) -> int | str:
    """SIOCGSKNS: the inode of the netns a socket lives in, or the errno name."""
    fileno = sock_or_fd if isinstance(sock_or_fd, int) else sock_or_fd.fileno()
    try:
        fd = fcntl.ioctl(fileno, SIOCGSKNS)
    except OSError as e:
        return errno_name(e.errno)
    try:
        return os.fstat(fd).st_ino
    finally:
        os.close(fd)


# ------------------------------------------------------------------ users and capabilities


class _CapHdr(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]  # fmt: skip


CAPS = {"CAP_DAC_OVERRIDE": 1, "CAP_NET_ADMIN": 12, "CAP_SYS_CHROOT": 18, "CAP_SYS_ADMIN": 21}


def drop_effective_caps(names: list[str]) -> None:
    """Clear capabilities from this thread's effective set (the permitted set is kept)."""
    hdr = _CapHdr(0x20080522, 0)
    data = (_CapData * 2)()
    _check(libc.syscall(125, ctypes.byref(hdr), data), "capget")
    for n in names:
        c = CAPS[n]
        data[c // 32].effective &= ~(1 << (c % 32))
    _check(libc.syscall(126, ctypes.byref(hdr), data), "capset")


def become(uid: int, gid: int | None = None) -> None:
    """Drop to *uid* (all of real/effective/saved): no capabilities left."""
    gid = uid if gid is None else gid
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: keep /proc/self/*_map writable


def enter_own_userns(extra_flags: int = 0) -> None:
    """unshare(CLONE_NEWUSER | extra) as the current uid and map it to root inside."""
    uid, gid = os.geteuid(), os.getegid()
    unshare(CLONE["user"] | extra_flags)
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


INIT_NET = _init_net()
