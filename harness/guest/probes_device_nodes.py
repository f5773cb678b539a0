"""Guest probes of test_devices_links.py, device nodes: a node bind-mounted into a
"container" is the same node, device nodes are not namespaced, and a tun device is born in
its opener's netns, not in the netns of whoever configures it (item 37).

Ops return raw observations; the host decides.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct

from .netns_holders import netns_holder
from .nsops import in_ns, mount, ns_ino, setns, socket_netns_inode
from .outside_views import delete_if_present, present
from .registry import SetupError, op
from .uapi import CLONE, MS_BIND

TUNSETIFF, TUNGETIFF = 0x400454CA, 0x800454D2
IFF_TAP, IFF_NO_PI = 0x2, 0x1000

# ------------------------------------------------------------------ item 37: device nodes


def _node(path: str) -> dict:
    try:
        st = os.stat(path)
    except OSError as e:
        return {"errno": e.errno}
    out = {"rdev": [os.major(st.st_rdev), os.minor(st.st_rdev)], "ino": [st.st_dev, st.st_ino]}
    if path.endswith("zero"):
        with open(path, "rb") as f:
            out["first bytes"] = f.read(8).hex()
    return out


@op
def dev_node_in_container() -> dict:
    """A "container": a process with its own mount and net namespaces bind-mounts /dev/zero
    onto /mnt/zero of a tmpfs only it has. The node seen inside (by the container itself,
    and from outside through /proc/<pid>/root), outside at the same path, in its mountinfo;
    and /dev/net/tun from inside the container and from init."""

    def setup():
        mount("tmpfs", "/mnt", "tmpfs")
        with open("/mnt/zero", "w"):
            pass
        mount("/dev/zero", "/mnt/zero", None, MS_BIND)
        return {"/mnt/zero": _node("/mnt/zero"), "/dev/net/tun": _node("/dev/net/tun")}

    with netns_holder("hold a container (mount + net namespaces)", mnt=True, setup=setup) as C:
        with open(f"/proc/{C.pid}/mountinfo") as f:
            mi = [ln.split(" - ")[1].split()[0] for ln in f if ln.split()[4] == "/mnt/zero"]
        return {
            "inside": C.info["setup"],
            "through /proc/<pid>/root": _node(f"/proc/{C.pid}/root/mnt/zero"),
            "outside /mnt/zero": _node("/mnt/zero"),
            "container mountinfo /mnt/zero fstype": mi,
            "init /dev/zero": _node("/dev/zero"),
            "init /dev/net/tun": _node("/dev/net/tun"),
            "container netns": C.ino(),
            "init netns": ns_ino("net", "1"),
        }


# ------------------------------------------------------------------ item 37: tun


def _setiff(fd: int, name: str) -> None:
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI) + bytes(22))


def _tun_name(fd: int) -> str:
    return fcntl.ioctl(fd, TUNGETIFF, bytes(40))[:16].split(b"\0")[0].decode()


def _status_in_netns(path: str, fn) -> int:
    """fn() in a forked child that joined netns *path*; its exit status (0 = ok)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            in_ns(path)
            fn()
            code = 0
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@op
def tun_created_in_openers_netns() -> dict:
    """Three taps: (a) /dev/net/tun opened and TUNSETIFF'd by a process in B, fd passed to
    init; (b) opened in init, TUNSETIFF'd by a child that joined B; (c) opened in init,
    TUNSETIFF'd by this thread after setns(B). Where each device is (init and B, three views
    each), SIOCGSKNS on each fd, TUNGETIFF."""
    with netns_holder("hold netns B (own sysfs)", sysfs=True) as B:
        fds: list[int] = []
        out: dict = {"B": B.ino(), "init": ns_ino("net", "1")}
        try:
            a, b = socket.socketpair()

            def open_in_b():
                fd = os.open("/dev/net/tun", os.O_RDWR)
                _setiff(fd, "nsh37a")
                socket.send_fds(b, [b"t"], [fd])

            if _status_in_netns(B.ns(), open_in_b):
                raise SetupError("(a) open /dev/net/tun and TUNSETIFF nsh37a in B: failed")
            _m, got, _f, _ad = socket.recv_fds(a, 16, 1)
            a.close()
            b.close()
            fds += got
            fb = os.open("/dev/net/tun", os.O_RDWR)
            fds.append(fb)
            if _status_in_netns(B.ns(), lambda: _setiff(fb, "nsh37b")):
                raise SetupError("(b) TUNSETIFF nsh37b in B on an fd opened in init: failed")
            fc = os.open("/dev/net/tun", os.O_RDWR)
            fds.append(fc)
            home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            try:
                in_ns(B.ns())
                try:
                    _setiff(fc, "nsh37c")
                finally:
                    setns(home, CLONE["net"])
            finally:
                os.close(home)
            for fd, name in zip(fds, ("nsh37a", "nsh37b", "nsh37c"), strict=True):
                out[name] = {
                    "in B": present(B, name),
                    "in init": present(None, name),
                    "fd's SIOCGSKNS": socket_netns_inode(fd),
                    "TUNGETIFF": _tun_name(fd),
                }
        finally:
            for fd in fds:
                os.close(fd)
            delete_if_present("nsh37b", "nsh37c")
    return out
