"""A namespace's u64 id and the interfaces that speak it (6.18+): NS_GET_ID on an nsfs fd,
nsfs file handles (name_to_handle_at, and open_by_handle_at on FD_NSFS_ROOT), listns(2).

Each is a separate kernel path to the same ns->ns_id (fs/nsfs.c ns_ioctl, nsfs_encode_fh /
nsfs_fh_to_dentry, kernel/nstree.c), so the probes check one against the others. Results
are values, never raises: an id or an errno name; {"ids": [...]} or {"errno": name}.
"""

from __future__ import annotations

import ctypes
import os
import struct

from .nsops import errno_name, libc
from .uapi import (
    AT_EMPTY_PATH,
    CLONE,
    FD_NSFS_ROOT,
    FILEID_NSFS,
    NS_GET_ID,
    SYS_LISTNS,
    SYS_NAME_TO_HANDLE_AT,
    SYS_OPEN_BY_HANDLE_AT,
)


def _errno() -> str:
    e = ctypes.get_errno()
    return "EOPNOTSUPP" if e == 95 else errno_name(e)  # (Python names 95 ENOTSUP)


def ns_id(fd: int) -> int | str:
    """NS_GET_ID: the namespace's id, or the errno name (ENOTTY before 6.18)."""
    buf = ctypes.create_string_buffer(8)
    if libc.ioctl(fd, ctypes.c_ulong(NS_GET_ID), buf) < 0:
        return _errno()
    return struct.unpack("Q", buf.raw)[0]


def ns_id_at(path: str) -> int | str:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        return errno_name(e.errno)
    try:
        return ns_id(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------ file handles


class _FileHandle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint32), ("handle_type", ctypes.c_int32),
                ("f_handle", ctypes.c_ubyte * 128)]  # fmt: skip


def handle_of(fd: int, nbytes: int = 128, flags: int = AT_EMPTY_PATH) -> dict:
    """name_to_handle_at(fd, "", ..., flags): {"errno", "handle_bytes"} or the handle:
    {"handle_bytes", "handle_type", "raw" (hex), and for 16+ bytes its fields
    "ns_id", "ns_type", "ns_inum" (struct nsfs_file_handle)}."""
    fh, mnt = _FileHandle(), ctypes.c_int(0)
    fh.handle_bytes = nbytes
    r = libc.syscall(SYS_NAME_TO_HANDLE_AT, fd, b"", ctypes.byref(fh), ctypes.byref(mnt), flags)
    if r < 0:
        return {"errno": _errno(), "handle_bytes": fh.handle_bytes}
    raw = bytes(fh.f_handle)[: fh.handle_bytes]
    out = {"handle_bytes": fh.handle_bytes, "handle_type": fh.handle_type, "raw": raw.hex()}
    if len(raw) >= 16:
        fields = struct.unpack_from("QII", raw)
        out.update(zip(("ns_id", "ns_type", "ns_inum"), fields, strict=True))
    return out


def id_handle(ns_id_: int | str, ns_type: int = 0, ns_inum: int = 0, tail: bytes = b"") -> bytes:
    """A struct nsfs_file_handle (+ *tail*); an id that is an errno name becomes 0."""
    return struct.pack("QII", ns_id_ if isinstance(ns_id_, int) else 0, ns_type, ns_inum) + tail


def open_handle(raw: bytes, htype: int = FILEID_NSFS, flags: int = os.O_RDONLY,
                mountfd: int = FD_NSFS_ROOT) -> dict:  # fmt: skip
    """open_by_handle_at(mountfd, handle, flags): {"fd": n} (the caller closes it) or errno."""
    fh = _FileHandle()
    fh.handle_bytes, fh.handle_type = len(raw), htype
    ctypes.memmove(fh.f_handle, raw, len(raw))
    r = libc.syscall(SYS_OPEN_BY_HANDLE_AT, mountfd, ctypes.byref(fh), flags)
    return {"errno": _errno()} if r < 0 else {"fd": r}


def reopen(raw: bytes, flags: int = os.O_RDONLY, htype: int = FILEID_NSFS) -> dict:
    """Decode a handle on FD_NSFS_ROOT: {"ino", "id"} of the namespace it opened (the fd's
    fstat and NS_GET_ID, read on the new fd), or {"errno"}."""
    r = open_handle(raw, htype, flags)
    if "fd" not in r:
        return r
    try:
        return {"ino": os.fstat(r["fd"]).st_ino, "id": ns_id(r["fd"])}
    finally:
        os.close(r["fd"])


# ------------------------------------------------------------------ listns(2)


def listns(ns_type: int = 0, user_ns_id: int = 0, last: int = 0, n: int = 1024, size: int = 32,
           spare: int = 0, spare2: int = 0, flags: int = 0, extra: bytes = b"",
           ids_ptr: int | None = None, req_ptr: int | None = None) -> dict:  # fmt: skip
    """listns(req, ids, n, flags) with struct ns_id_req {size, spare, ns_id=last, ns_type,
    spare2, user_ns_id} (+ *extra* bytes): {"ids": [...]} or {"errno"}; with a raw
    *ids_ptr*/*req_ptr* (bad-address cases) {"ret": n} or {"errno"}."""
    req = struct.pack("IIQIIQ", size, spare, last, ns_type, spare2, user_ns_id) + extra
    rb = ctypes.create_string_buffer(req, max(len(req), 8192))
    ids = (ctypes.c_uint64 * max(n, 1))()
    r = libc.syscall(
        SYS_LISTNS,
        ctypes.c_void_p(req_ptr) if req_ptr is not None else rb,
        ctypes.c_void_p(ids_ptr) if ids_ptr is not None else ids,
        ctypes.c_size_t(n),
        ctypes.c_uint(flags),
    )
    if r < 0:
        return {"errno": _errno()}
    return {"ret": r} if ids_ptr is not None else {"ids": list(ids[:r])}


def seen(nid: int | str, kind: str, ino: int | None = None) -> dict:
    """How the namespace tree shows namespace *nid* of type *kind* to this caller: listed by
    listns(ns_type) (True/False, or listns's errno), and what an id-only handle and a full
    {id, type, inode} handle decode to (its inode, or the errno)."""
    if not isinstance(nid, int):
        return {"listed": nid, "id-only handle": nid, "full handle": nid}
    lst = listns(ns_type=CLONE[kind])
    out = {"listed": lst["errno"] if "errno" in lst else nid in lst["ids"]}
    for name, raw in (("id-only handle", id_handle(nid)),
                      ("full handle", id_handle(nid, CLONE[kind], ino or 0))):  # fmt: skip
        if name == "full handle" and ino is None:
            continue
        r = reopen(raw)
        out[name] = r.get("ino", r.get("errno"))
    return out


def id_witnesses(kinds: tuple[str, ...] = ("net", "user", "mnt"), where: str = "self") -> dict:
    """{kind: [NS_GET_ID, the nsfs handle's ns_id]} of /proc/<where>/ns/<kind>: two kernel
    paths to one id (ns_ioctl, nsfs_encode_fh). A probe that trusts NS_GET_ID for its
    references carries these, so the host can tell "the behaviour broke" from "the id a
    reference came from is wrong" (each an errno name where the kernel has neither)."""
    out = {}
    for k in kinds:
        fd = os.open(f"/proc/{where}/ns/{k}", os.O_RDONLY)
        try:
            h = handle_of(fd)
            out[k] = [ns_id(fd), h.get("ns_id", h.get("errno"))]
        finally:
            os.close(fd)
    return out
