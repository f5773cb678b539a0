"""Guest probes of test_mntns_from_fds.py: mount namespaces made from file descriptors —
open_tree(OPEN_TREE_NAMESPACE) (item 66, 7.0+), fsmount(FSMOUNT_NAMESPACE) (67, 7.1+),
empty mount namespaces (unshare UNSHARE_EMPTY_MNTNS, clone3 CLONE_EMPTY_MNTNS: 68, 7.1+) —
and the clone3 flags that came with them (69).

What a new mount ns holds is read from inside it (after setns, or in the new child)
through an fd of init's /proc opened before — mountinfo, NS_MNT_GET_INFO, listmount, the
root directory's listing and statfs magic — against what the source tree shows outside.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import struct
import tempfile
import time

from .mntns_ids import LSMT_ROOT, SYS_LISTMOUNT, mnt_ns_info
from .nsids import ns_id
from .nsops import NOBODY, become, errno_name, libc, mount, ns_ioctl, setns, umount2, unshare
from .procs import fork_call
from .registry import op
from .uapi import (
    AT_FDCWD,
    AT_RECURSIVE,
    CLONE,
    CLONE_AUTOREAP,
    CLONE_EMPTY_MNTNS,
    CLONE_NNP,
    CLONE_PIDFD,
    CLONE_PIDFD_AUTOKILL,
    FSCONFIG_CMD_CREATE,
    FSMOUNT_NAMESPACE,
    MNT_DETACH,
    MS_PRIVATE,
    MS_REC,
    NS_GET_NSTYPE,
    NS_MNT_GET_INFO,
    OPEN_TREE_CLONE,
    OPEN_TREE_NAMESPACE,
    SYS_CLONE3,
    SYS_FSCONFIG,
    SYS_FSMOUNT,
    SYS_FSOPEN,
    SYS_OPEN_TREE,
    UNSHARE_EMPTY_MNTNS,
)

MS_UNBINDABLE, SIGCHLD, WALL = 1 << 17, 17, 0x40000000


def _sys(nr: int, *args) -> dict:
    r = libc.syscall(nr, *args)
    return {"errno": errno_name(ctypes.get_errno())} if r < 0 else {"fd": r}


def _statfs_magic(path: str) -> int:
    buf = ctypes.create_string_buffer(120)
    return struct.unpack_from("q", buf, 0)[0] if libc.statfs(path.encode(), buf) == 0 else -1


def _here(proc: int) -> dict:
    """The caller's mount ns from inside: mountinfo (root, mount point, type) through
    *proc* (an fd of init's /proc), its id and nr_mounts, listmount's count, cwd, /."""
    with os.fdopen(os.open("thread-self/mountinfo", os.O_RDONLY, dir_fd=proc)) as f:
        lines = [" ".join([*ln.split()[3:5], ln.split(" - ")[1].split()[0]]) for ln in f]
    fd = os.open("thread-self/ns/mnt", os.O_RDONLY, dir_fd=proc)
    try:
        nid, info = ns_id(fd), mnt_ns_info(fd, NS_MNT_GET_INFO)
    finally:
        os.close(fd)
    req = struct.pack("IIQQQ", 32, 0, LSMT_ROOT, 0, nid if isinstance(nid, int) else 0)
    ids = (ctypes.c_uint64 * 256)()
    n = libc.syscall(SYS_LISTMOUNT, req, ids, 256, 0)
    return {"mountinfo": lines, "id": nid, "nr_mounts": info.get("nr_mounts", info.get("errno")),
            "listmount": n if n >= 0 else errno_name(ctypes.get_errno()), "cwd": os.getcwd(),
            "ls /": sorted(os.listdir("/")), "statfs magic": _statfs_magic("/")}  # fmt: skip


def _mntns_fd(fd: int) -> dict:
    """What an fd that should be a mount ns is: its type, id, nr_mounts, and inside."""
    t = ns_ioctl(fd, NS_GET_NSTYPE)
    proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
    try:

        def inside():
            setns(fd, CLONE["mnt"])
            return _here(proc)

        return {"nstype": t.get("ret", t.get("errno")), "id": ns_id(fd),
                "nr_mounts": mnt_ns_info(fd, NS_MNT_GET_INFO).get("nr_mounts"),
                "inside": fork_call(inside)}  # fmt: skip
    finally:
        os.close(proc)


def _open_tree(path: str, flags: int) -> dict:
    r = _sys(SYS_OPEN_TREE, AT_FDCWD, path.encode(), flags | os.O_CLOEXEC)
    if "fd" in r:
        try:
            return _mntns_fd(r["fd"])
        finally:
            os.close(r["fd"])
    return r


@op
def open_tree_namespace() -> dict:
    """Item 66: open_tree(OPEN_TREE_NAMESPACE) of /run (one mount) and of / with
    AT_RECURSIVE; with OPEN_TREE_CLONE as well; as uid 65534; of an unbindable mount.
    References: /run's listing and our own mountinfo's mount points, read outside."""
    with open("/proc/self/mountinfo") as f:
        ours = [ln.split()[4] for ln in f]
    ns = OPEN_TREE_NAMESPACE

    def unbindable():
        unshare(CLONE["mnt"])
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        t = tempfile.mkdtemp(prefix="nshi66")
        mount("tmpfs", t, "tmpfs")
        mount(None, t, None, MS_UNBINDABLE)
        r = _open_tree(t, ns)
        umount2(t, MNT_DETACH)
        os.rmdir(t)
        return r

    def nobody():
        become(NOBODY)
        return _open_tree("/tmp", ns)

    return {
        "ours": {"mount points": ours, "ls /run": sorted(os.listdir("/run"))},
        "/run": _open_tree("/run", ns),
        "/, AT_RECURSIVE": _open_tree("/", ns | AT_RECURSIVE),
        "/run, with OPEN_TREE_CLONE": _open_tree("/run", ns | OPEN_TREE_CLONE),
        "uid 65534": fork_call(nobody),
        "an unbindable mount": fork_call(unbindable),
    }


@op
def fsmount_namespace() -> dict:
    """Item 67: a tmpfs context (fsopen, FSCONFIG_CMD_CREATE) mounted with
    FSMOUNT_NAMESPACE, then fsmount of the same context again (flags 0)."""
    fs = _sys(SYS_FSOPEN, b"tmpfs", 0)
    if "fd" not in fs:
        return {"fsopen": fs}
    try:
        cfg = _sys(SYS_FSCONFIG, fs["fd"], FSCONFIG_CMD_CREATE, None, None, 0)
        m = _sys(SYS_FSMOUNT, fs["fd"], FSMOUNT_NAMESPACE, 0)
        out = {"fsconfig CREATE": cfg.get("errno")}
        if "fd" in m:
            out["FSMOUNT_NAMESPACE"] = _mntns_fd(m["fd"])
            os.close(m["fd"])
        else:
            out["FSMOUNT_NAMESPACE"] = m
        again = _sys(SYS_FSMOUNT, fs["fd"], 0, 0)
        if "fd" in again:
            os.close(again["fd"])
        out["fsmount again, flags 0"] = again.get("errno")
        return out
    finally:
        os.close(fs["fd"])


def _clone3(flags: int, exit_signal: int = 0, child=None, linger: bool = False) -> dict:
    """clone3(flags, exit_signal) without a stack (fork-like): the child runs *child*,
    sends its JSON result on a pipe and exits 3 (with *linger*: sleeps 30 s instead);
    the parent reports the result, the pidfd's fate and waitpid's answer."""
    r, w = os.pipe()
    pidfd = ctypes.c_int(-1)
    args = struct.pack("11Q", flags, ctypes.addressof(pidfd), 0, 0, exit_signal, *([0] * 6))
    buf = ctypes.create_string_buffer(args, len(args))
    pid = libc.syscall(SYS_CLONE3, buf, len(args))
    if pid == 0:
        try:
            os.close(r)
            os.write(w, json.dumps(child() if child else {}).encode())
            os.close(w)
            if linger:
                time.sleep(30)
        finally:
            os._exit(3)
    if pid < 0:
        err = errno_name(ctypes.get_errno())
        os.close(r)
        os.close(w)
        return {"errno": err}
    os.close(w)
    data = b""
    while select.select([r], [], [], 10)[0]:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    out = {"child": json.loads(data) if data else None}
    if linger and pidfd.value >= 0:
        os.close(pidfd.value)
        for _ in range(500):
            if _reaped_or_zombie(pid):
                break
            time.sleep(0.01)
        out["alive after its pidfd closed"] = not _reaped_or_zombie(pid)
        if out["alive after its pidfd closed"]:
            os.kill(pid, 9)
    elif pidfd.value >= 0:
        os.close(pidfd.value)
    for _ in range(500):  # an autoreaped child is gone on its own: wait for that
        if not os.path.exists(f"/proc/{pid}/stat") or not (flags & CLONE_AUTOREAP):
            break
        time.sleep(0.005)
    try:
        out["waitpid"] = os.waitpid(pid, WALL)[1]
    except ChildProcessError as e:
        out["waitpid"] = errno_name(e.errno)
    return out


def _reaped_or_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def _no_new_privs() -> dict:
    with open("/proc/self/status") as f:
        nnp = next((ln.split()[1] for ln in f if ln.startswith("NoNewPrivs")), None)
    return {"NoNewPrivs": nnp}


@op
def empty_mntns() -> dict:
    """Item 68: unshare(UNSHARE_EMPTY_MNTNS), with CLONE_NEWNS too, and clone3 with
    CLONE_EMPTY_MNTNS: the new mount ns from inside (through an fd of /proc opened
    before), and the id of ours for comparison."""
    proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
    try:
        own = os.open("/proc/self/ns/mnt", os.O_RDONLY)
        try:
            ours = ns_id(own)
        finally:
            os.close(own)
        return {
            "ours": ours,
            "unshare(UNSHARE_EMPTY_MNTNS)": fork_call(_unshare_view, proc, UNSHARE_EMPTY_MNTNS),
            "unshare(UNSHARE_EMPTY_MNTNS | CLONE_NEWNS)": fork_call(
                _unshare_view, proc, UNSHARE_EMPTY_MNTNS | CLONE["mnt"]
            ),
            "clone3(CLONE_EMPTY_MNTNS)": _clone3(CLONE_EMPTY_MNTNS, SIGCHLD, lambda: _here(proc)),
        }
    finally:
        os.close(proc)


def _unshare_view(proc: int, flags: int) -> dict:
    try:
        unshare(flags)
    except OSError as e:
        return {"errno": errno_name(e.errno)}
    return _here(proc)


@op
def clone3_new_flags() -> dict:
    """Item 69: clone3 with CLONE_AUTOREAP (exit_signal 0, and with SIGCHLD), CLONE_NNP,
    CLONE_PIDFD|CLONE_AUTOREAP|CLONE_PIDFD_AUTOKILL (the pidfd then closed), and
    CLONE_PIDFD_AUTOKILL without CLONE_AUTOREAP. References: waitpid, /proc/<pid>."""
    return {
        "AUTOREAP": _clone3(CLONE_AUTOREAP),
        "AUTOREAP, exit_signal SIGCHLD": _clone3(CLONE_AUTOREAP, SIGCHLD),
        "NNP": _clone3(CLONE_NNP, SIGCHLD, _no_new_privs),
        "PIDFD | AUTOREAP | PIDFD_AUTOKILL": _clone3(
            CLONE_PIDFD | CLONE_AUTOREAP | CLONE_PIDFD_AUTOKILL, linger=True
        ),
        "PIDFD | PIDFD_AUTOKILL": _clone3(CLONE_PIDFD | CLONE_PIDFD_AUTOKILL, SIGCHLD),
        "control: PIDFD, SIGCHLD": _clone3(CLONE_PIDFD, SIGCHLD),
    }
