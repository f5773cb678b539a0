"""Guest probes of test_active_refs.py: which references keep a network namespace
*active* — listed by listns(2), its handle decodable — and which only keep it existing
(catalogue items 46-48, 6.19+): a socket alone, an nsfs fd, a bind mount (`ip netns
add/delete` done here as mount/umount), a PIDFD_GET_NET_NAMESPACE fd, SIOCGSKNS on a socket
of an inactive netns and the user namespace that owns it.

Each netns is made by a child that unshares it and hands back what the case keeps (a
socket, its ns fd) over SCM_RIGHTS, then exits and is reaped: no task is left in it. That
the netns still exists is read from the kept socket (SO_NETNS_COOKIE, unchanged), apart from
what is asserted (nstree: listns, handle decode). Controls in every reading: our own netns
(always active) must be listed and decode, so "not listed" is never a broken listns.
"""

from __future__ import annotations

import array
import ctypes
import fcntl
import json
import os
import socket

from .nsids import handle_of, ns_id, seen
from .nsops import (
    NETNS_RUN_DIR,
    NOBODY,
    become,
    check_placed,
    enter_own_userns,
    errno_name,
    libc,
    mount,
    netns_cookie,
    umount2,
    unshare,
)
from .procs import fork_call
from .registry import op
from .scene import start_holder, step
from .uapi import CLONE, MNT_DETACH, MS_BIND, PIDFD_GET_NS, SIOCGSKNS


def _left_behind(keep: tuple[str, ...], userns: bool = False) -> tuple[dict, list[int]]:
    """A child unshares a netns (with *userns*: as uid 65534, inside a user ns of its own
    that owns it), reports its ids and inode, passes back what *keep* names ("socket",
    "nsfd") and exits; reaped here before this returns. (info, the fds in *keep*'s order)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    pid = os.fork()
    if pid == 0:
        try:
            a.close()
            if userns:
                become(NOBODY)
                enter_own_userns(CLONE["net"])
            else:
                unshare(CLONE["net"])
            nfd = os.open("/proc/self/ns/net", os.O_RDONLY)
            ufd = os.open("/proc/self/ns/user", os.O_RDONLY)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            check_placed(s, None, "the socket a child made in its new netns")
            info = {"id": ns_id(nfd), "ino": os.fstat(nfd).st_ino, "user id": ns_id(ufd),
                    "user ino": os.fstat(ufd).st_ino, "cookie": netns_cookie(s)}  # fmt: skip
            fds = [{"socket": s.fileno(), "nsfd": nfd}[k] for k in keep]
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
            b.sendmsg([json.dumps(info).encode()], anc)
        except BaseException as e:  # noqa: BLE001 - carried back as the setup error
            b.send(json.dumps({"error": str(e) or repr(e)}).encode())
        os._exit(0)
    b.close()
    msg, anc, _fl, _ad = a.recvmsg(4096, socket.CMSG_SPACE(4 * 2))
    os.waitpid(pid, 0)
    a.close()
    fds: list[int] = []
    for _lvl, _typ, data in anc:
        fds += list(array.array("i", data[: len(data) - len(data) % 4]))
    info = json.loads(msg)
    if "error" in info:
        for fd in fds:
            os.close(fd)
        step(f"a child making a netns that keeps {keep or 'nothing'}", _raise, info["error"])
    return info, fds


def _raise(text: str):
    raise OSError(text)


def _view(info: dict, sock: int | None = None, owner: bool = False) -> dict:
    """The netns as nstree shows it (listns, handles), its owner user ns's too (*owner*),
    the kept socket's cookie (the struct lives), and the control (our own netns)."""
    out = seen(info["id"], "net", info["ino"])
    if owner:
        out["owner listed"] = seen(info["user id"], "user")["listed"]
    if sock is not None:
        with socket.socket(fileno=os.dup(sock)) as s:
            out["cookie"] = netns_cookie(s)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        nid = ns_id(own)
        ctl = seen(nid, "net", os.fstat(own).st_ino)
        witness = [nid, handle_of(own).get("ns_id")]
    finally:
        os.close(own)
    out["control: own netns"] = [ctl["listed"], ctl["id-only handle"], *witness]
    return out


def _skns(sock: int) -> dict:
    """SIOCGSKNS on *sock*: {"fd", "ino"} (the caller closes fd) or {"errno"}."""
    try:
        fd = fcntl.ioctl(sock, SIOCGSKNS)
    except OSError as e:
        return {"errno": errno_name(e.errno)}
    return {"fd": fd, "ino": os.fstat(fd).st_ino}


@op
def netns_active_refs() -> dict:
    """Item 46: a netns kept by a socket alone, by an nsfs fd alone, by a
    PIDFD_GET_NET_NAMESPACE fd of a task that has exited, and by nothing: before and after
    each reference is dropped."""
    out: dict = {}
    info, (sock,) = _left_behind(("socket",))
    out["socket only"] = {"info": info, "kept": _view(info, sock)}
    os.close(sock)
    out["socket only"]["after closing it"] = _view(info)
    info, (nfd,) = _left_behind(("nsfd",))
    out["nsfs fd only"] = {"info": info, "kept": _view(info)}
    os.close(nfd)
    out["nsfs fd only"]["after closing it"] = _view(info)
    info, _ = _left_behind(())
    out["nothing"] = {"info": info, "after the task exited": _view(info)}
    h = start_holder("hold a netns for its pidfd", kinds=("net",))
    try:
        pfd = step("pidfd_open(holder)", os.pidfd_open, h.pid)
        hfd = os.open(h.ns("net"), os.O_RDONLY)
        info = {"id": ns_id(hfd), "ino": os.fstat(hfd).st_ino}
        os.close(hfd)
        r = libc.ioctl(pfd, ctypes.c_ulong(0xFF00 | PIDFD_GET_NS["net"]), ctypes.c_ulong(0))
        got = {"errno": errno_name(ctypes.get_errno())} if r < 0 else {"ino": os.fstat(r).st_ino}
    finally:
        h.release()
    d = {"info": info, "PIDFD_GET_NET_NAMESPACE": got}
    if r >= 0:
        d["task gone, its fd kept"] = _view(info)
        os.close(r)
        d["after closing it"] = _view(info)
    os.close(pfd)
    out["PIDFD_GET_NET_NAMESPACE fd"] = d
    return out


@op
def netns_bind_mount_active(name: str = "nshi47") -> dict:
    """Item 47: a netns bind-mounted on /run/netns/NAME (what `ip netns add` does) after
    its task exited, with a socket in it kept too; unmounted and unlinked (`ip netns
    delete`) while the socket stays open. Reference: /proc/self/mountinfo's nsfs entry."""
    path = f"{NETNS_RUN_DIR}/{name}"
    info, (sock, nfd) = _left_behind(("socket", "nsfd"))
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        step(f"bind-mount the netns on {path}", mount, f"/proc/self/fd/{nfd}", path, None, MS_BIND)
        os.close(nfd)
        nfd = -1
        out = {"info": info, "bind mount + socket": _view(info, sock),
               "mountinfo has it": _mounted(path)}  # fmt: skip
        umount2(path, MNT_DETACH)
        os.unlink(path)
        out["unmounted, socket still open"] = _view(info, sock)
        out["mountinfo after"] = _mounted(path)
        return out
    finally:
        if nfd >= 0:
            os.close(nfd)
        os.close(sock)
        if os.path.lexists(path):
            try:
                umount2(path, MNT_DETACH)
            except OSError:
                pass
            os.unlink(path)


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(ln.split()[4] == path and " - nsfs " in ln for ln in f)


@op
def siocgskns_resurrects() -> dict:
    """Item 48: SIOCGSKNS on the socket of a netns kept only by that socket: the fd, then
    its netns seen while the fd is open and after it is closed (socket still open); the same
    for a netns owned by a user ns U that has no task left (U goes along); SIOCGSKNS on
    fds that are not sockets and as uid 65534 on its own socket."""
    out: dict = {}
    for case, userns in (("netns of init's user ns", False), ("netns owned by U", True)):
        info, (sock,) = _left_behind(("socket",), userns=userns)
        try:
            d = {"info": info, "socket only": _view(info, sock, owner=True)}
            r = _skns(sock)
            d["SIOCGSKNS"] = {k: v for k, v in r.items() if k != "fd"}
            if "fd" in r:
                d["SIOCGSKNS fd's NS_GET_ID"] = ns_id(r["fd"])
                d["SIOCGSKNS fd open"] = _view(info, sock, owner=True)
                os.close(r["fd"])
                d["SIOCGSKNS fd closed"] = _view(info, sock, owner=True)
        finally:
            os.close(sock)
        out[case] = d

    def nobody():
        become(NOBODY)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            r = _skns(s.fileno())
        if "fd" in r:
            os.close(r.pop("fd"))
        return r

    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        errs = {"an nsfs fd": _skns(fd)}
    finally:
        os.close(fd)
    with open("/dev/null") as f:
        errs["/dev/null"] = _skns(f.fileno())
    for r in errs.values():
        if "fd" in r:
            os.close(r.pop("fd"))
    errs["uid 65534, its own socket"] = fork_call(nobody)
    out["errors"] = errs
    return out
