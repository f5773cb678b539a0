"""A mount namespace's id and mounts, read four ways: NS_GET_MNTNS_ID on its nsfs fd,
NS_MNT_GET_INFO/NEXT/PREV (6.11+), statmount()/listmount() (6.8+, by mount id), and
/proc/<pid>/mountinfo — so each can be checked against the others (probes_nsfs_ioctls).
Results are values: {"id": n} / {"count": n} or {"errno": name}, never raises.
"""

from __future__ import annotations

import ctypes
import os
import struct

from .nsops import errno_name, libc, ns_ioctl
from .uapi import NS_GET_MNTNS_ID, NS_GET_NSTYPE, NS_MNT_GET_INFO

SYS_STATX, SYS_STATMOUNT, SYS_LISTMOUNT = 332, 457, 458
STATX_MNT_ID_UNIQUE, STATMOUNT_MNT_NS_ID, LSMT_ROOT = 0x4000, 0x40, 0xFFFFFFFFFFFFFFFF


def mntns_id(fd: int) -> dict:
    buf = ctypes.create_string_buffer(8)
    if libc.ioctl(fd, ctypes.c_ulong(NS_GET_MNTNS_ID), buf) < 0:
        return {"errno": errno_name(ctypes.get_errno())}
    return {"id": struct.unpack("Q", buf.raw)[0]}


def mnt_ns_info(fd: int, req: int) -> dict:
    """NS_MNT_GET_INFO / _NEXT / _PREV: the struct mnt_ns_info (and, for NEXT/PREV, the
    returned mount ns fd's own NS_GET_MNTNS_ID and NS_GET_NSTYPE)."""
    buf = ctypes.create_string_buffer(16)
    struct.pack_into("I", buf, 0, 16)
    r = libc.ioctl(fd, ctypes.c_ulong(req), buf)
    if r < 0:
        return {"errno": errno_name(ctypes.get_errno())}
    out = dict(zip(("size", "nr_mounts", "mnt_ns_id"), struct.unpack("IIQ", buf.raw), strict=True))
    if req != NS_MNT_GET_INFO:
        out["fd_mntns_id"] = mntns_id(r).get("id")
        out["fd_nstype"] = ns_ioctl(r, NS_GET_NSTYPE).get("ret")
        os.close(r)
    return out


def statmount_ns_id(path: str):
    """statx(STATX_MNT_ID_UNIQUE) of *path*, then statmount(STATMOUNT_MNT_NS_ID) of it."""
    sx = ctypes.create_string_buffer(256)
    if libc.syscall(SYS_STATX, -100, path.encode(), 0, STATX_MNT_ID_UNIQUE, sx) < 0:
        return {"errno": errno_name(ctypes.get_errno())}
    if not struct.unpack_from("I", sx, 0)[0] & STATX_MNT_ID_UNIQUE:
        return {"errno": "no STATX_MNT_ID_UNIQUE"}
    mnt_id = struct.unpack_from("Q", sx, 0x90)[0]
    req = struct.pack("IIQQ", 24, 0, mnt_id, STATMOUNT_MNT_NS_ID)
    buf = ctypes.create_string_buffer(4096)
    if libc.syscall(SYS_STATMOUNT, req, buf, 4096, 0) < 0:
        return {"errno": errno_name(ctypes.get_errno())}
    if not struct.unpack_from("Q", buf, 8)[0] & STATMOUNT_MNT_NS_ID:
        return {"errno": "no STATMOUNT_MNT_NS_ID"}
    return {"id": struct.unpack_from("Q", buf, 112)[0]}


def listmount_count(mnt_ns_id: int):
    req = struct.pack("IIQQQ", 32, 0, LSMT_ROOT, 0, mnt_ns_id)
    ids = (ctypes.c_uint64 * 1024)()
    r = libc.syscall(SYS_LISTMOUNT, req, ids, 1024, 0)
    return {"errno": errno_name(ctypes.get_errno())} if r < 0 else {"count": r}


def mountinfo_lines(pid: str) -> int:
    with open(f"/proc/{pid}/mountinfo") as f:
        return sum(1 for _ in f)


def mnt_ns_walk(fd: int, req: int, limit: int = 64) -> list:
    """NS_MNT_GET_NEXT (or _PREV) from *fd* step by step: the mount ns ids it reaches, and
    last the errno that ended the walk (ENOENT at the end of the list)."""
    out: list = []
    cur = os.dup(fd)
    try:
        for _ in range(limit):
            buf = ctypes.create_string_buffer(16)
            struct.pack_into("I", buf, 0, 16)
            nxt = libc.ioctl(cur, ctypes.c_ulong(req), buf)
            if nxt < 0:
                out.append(errno_name(ctypes.get_errno()))
                break
            out.append(struct.unpack("IIQ", buf.raw)[2])
            os.close(cur)
            cur = nxt
    finally:
        os.close(cur)
    return out
