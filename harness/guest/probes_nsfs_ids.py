"""Guest probes of test_nsfs_ids.py: namespace ids (NS_GET_ID, the fixed ids and inode
numbers of the initial namespaces), nsfs file handles (encode, decode on FD_NSFS_ROOT,
id-only handles), nsfs's ioctl validation and NS_MNT_GET_NEXT/PREV's privilege (catalogue
items 38-45).

Every call is made whatever the kernel; the host knows from the version what each must
answer. References come from other interfaces: fstat and readlink of the nsfs file, the
handle's fields vs NS_GET_ID, listns(2), statmount(STATMOUNT_MNT_NS_ID).
"""

from __future__ import annotations

import os
import struct

from .mntns_ids import mnt_ns_info, mnt_ns_walk, mntns_id, statmount_ns_id
from .nsids import handle_of, id_handle, id_witnesses, listns, ns_id, open_handle, reopen
from .nsops import NOBODY, become, enter_own_userns, ns_ioctl, ns_ioctl_out, unshare
from .procs import fork_call
from .registry import op
from .scene import start_holder
from .uapi import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_HANDLE_FID,
    CLONE,
    NS_GET_NSTYPE,
    NS_MNT_GET_INFO,
    NS_MNT_GET_NEXT,
    NS_MNT_GET_PREV,
)

NS_FILES = ("cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time",
            "time_for_children", "user", "uts")  # fmt: skip
KINDS = ("user", "net", "uts", "ipc", "mnt", "cgroup", "pid", "time")


def _file(path: str) -> dict:
    """One ns file: NS_GET_ID, fstat inode, readlink, NS_GET_NSTYPE, the handle's fields."""
    fd = os.open(path, os.O_RDONLY)
    try:
        t, h = ns_ioctl(fd, NS_GET_NSTYPE), handle_of(fd)
        return {"id": ns_id(fd), "ino": os.fstat(fd).st_ino, "link": os.readlink(path),
                "nstype": t.get("ret", t.get("errno")),
                "handle": {k: h.get(k) for k in ("errno", "ns_id", "ns_type", "ns_inum")
                           if k in h}}  # fmt: skip
    finally:
        os.close(fd)


def _fresh_namespaces() -> dict:
    """A grandchild after unshare() of all eight types (pid and time apply to children):
    its ns files, seen by itself."""

    def inner():
        unshare(sum(CLONE[k] for k in KINDS))
        return fork_call(lambda: {k: _file(f"/proc/self/ns/{k}") for k in KINDS})

    return fork_call(inner)


@op
def nsfs_ns_ids() -> dict:
    """Items 38-40: every /proc/self/ns file and init's (/proc/1/ns); the namespaces of a
    process that unshared all eight types; NS_GET_ID on fds that are not namespaces.
    References: listns(), statmount(STATMOUNT_MNT_NS_ID) of "/", NS_GET_MNTNS_ID."""
    fd = os.open("/proc/self/ns/net", os.O_PATH)
    try:
        o_path = ns_id(fd)
    finally:
        os.close(fd)
    with open("/dev/null") as f:
        devnull = ns_id(f.fileno())
    mnt, net = (os.open(f"/proc/self/ns/{k}", os.O_RDONLY) for k in ("mnt", "net"))
    try:
        mntns = {"mnt": mntns_id(mnt), "net": mntns_id(net)}
    finally:
        os.close(mnt)
        os.close(net)
    lst = listns()
    return {
        "self": {f: _file(f"/proc/self/ns/{f}") for f in NS_FILES},
        "init": {k: _file(f"/proc/1/ns/{k}") for k in KINDS},
        "fresh": _fresh_namespaces(),
        "NS_GET_MNTNS_ID": mntns,
        "statmount_ns_id": statmount_ns_id("/"),
        "listns": lst.get("ids", lst.get("errno")),
        "not nsfs": {"/dev/null": devnull, "an O_PATH nsfs fd": o_path},
    }


# ------------------------------------------------------------------ items 41-43


def _decodes(cases: dict) -> dict:
    return {name: reopen(raw) for name, raw in cases.items()}


@op
def nsfs_handles() -> dict:
    """Items 41-42: name_to_handle_at on every /proc/self/ns file (fields vs NS_GET_ID,
    NS_GET_NSTYPE, fstat), buffer sizes, AT_HANDLE_FID; open_by_handle_at(FD_NSFS_ROOT) of
    our own namespaces, with each open flag, and of another netns H by root, uid 65534,
    root of a child user ns (in its own netns) and root in a child pid ns."""
    enc, own = {}, {}
    for f in NS_FILES:
        fd = os.open(f"/proc/self/ns/{f}", os.O_RDONLY)
        try:
            h, t = handle_of(fd), ns_ioctl(fd, NS_GET_NSTYPE)
            h["ref"] = {"id": ns_id(fd), "nstype": t.get("ret"), "ino": os.fstat(fd).st_ino}
            raw = bytes.fromhex(h["raw"]) if "raw" in h else id_handle(0, t.get("ret", 0), 0)
            own[f] = reopen(raw) | {"ref_ino": h["ref"]["ino"]}
            enc[f] = h
        finally:
            os.close(fd)
    net = enc["net"]
    raw = bytes.fromhex(net["raw"]) if "raw" in net else id_handle(0, CLONE["net"], 0)
    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        sizes = {str(n): handle_of(fd, n) for n in (0, 8, 15, 24)}
        fid = handle_of(fd, 128, AT_EMPTY_PATH | AT_HANDLE_FID)
    finally:
        os.close(fd)
    flags = {n: reopen(raw, fl) for n, fl in (
        ("O_WRONLY", os.O_WRONLY), ("O_RDWR", os.O_RDWR), ("O_TRUNC", os.O_TRUNC),
        ("O_DIRECT", os.O_DIRECT), ("O_TMPFILE", os.O_TMPFILE),
        ("O_DIRECTORY", os.O_DIRECTORY), ("O_PATH", os.O_PATH), ("O_CLOEXEC", os.O_CLOEXEC),
        ("O_NOFOLLOW", os.O_NOFOLLOW))}  # fmt: skip
    fdcwd = open_handle(raw, mountfd=AT_FDCWD)
    if "fd" in fdcwd:
        os.close(fdcwd.pop("fd"))
        fdcwd["opened"] = True
    with start_holder("hold another netns H", kinds=("net",)) as h:
        hfd = os.open(h.ns("net"), os.O_RDONLY)
        try:
            hid, hino = ns_id(hfd), os.fstat(hfd).st_ino
        finally:
            os.close(hfd)
        full_h, idonly_h = id_handle(hid, CLONE["net"], hino), id_handle(hid)
        own_net = {"own netns": raw}

        def nobody():
            become(NOBODY)
            return _decodes({**own_net, "H": full_h})

        def userns_root():
            become(NOBODY)
            enter_own_userns(CLONE["net"])
            mine = os.open("/proc/self/ns/net", os.O_RDONLY)
            try:
                h2 = handle_of(mine)
            finally:
                os.close(mine)
            mine_raw = bytes.fromhex(h2["raw"]) if "raw" in h2 else id_handle(0)
            return _decodes({"its own netns": mine_raw, "init's netns": raw, "H": idonly_h})

        def pidns_root():
            unshare(CLONE["pid"])
            return fork_call(_decodes, {**own_net, "H": idonly_h})

        other = {
            "H": {"ino": hino, "id": hid},
            "root in init": _decodes({"H": full_h, "H id-only": idonly_h}),
            "uid 65534": fork_call(nobody),
            "root of a child user ns": fork_call(userns_root),
            "root in a child pid ns": fork_call(pidns_root),
        }
    lst = listns()
    return {"encode": enc, "sizes": sizes, "AT_HANDLE_FID": fid, "decode own": own,
            "flags": flags, "mountfd AT_FDCWD": fdcwd, "other": other,
            "listns": lst.get("ids", lst.get("errno"))}  # fmt: skip


@op
def nsfs_id_only_handles() -> dict:
    """Item 43: handles of our own netns with fields left out or wrong, decoded on
    FD_NSFS_ROOT; an id-only handle of init's user ns (id 3 on 6.19+: by its NS_GET_ID)."""
    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        nid, ino, net = ns_id(fd), os.fstat(fd).st_ino, CLONE["net"]
    finally:
        os.close(fd)
    ufd = os.open("/proc/self/ns/user", os.O_RDONLY)
    try:
        ns_id_of_user, uid = ns_id(ufd), os.fstat(ufd).st_ino
    finally:
        os.close(ufd)
    lst = listns()
    unknown = max(lst.get("ids") or [0]) + 100000
    cases = {
        "id-only {id, 0, 0}": id_handle(nid),
        "full {id, type, inode}": id_handle(nid, net, ino),
        "type set, inode 0": id_handle(nid, net, 0),
        "type 0, inode set": id_handle(nid, 0, ino),
        "id 0": id_handle(0, net, ino),
        "wrong inode": id_handle(nid, net, ino + 1),
        "wrong type (uts)": id_handle(nid, CLONE["uts"], ino),
        "12 bytes": id_handle(nid, net, ino)[:12],
        "24 bytes, zero tail": id_handle(nid, net, ino, bytes(8)),
        "an id no namespace has": id_handle(unknown),
        "init's user ns, id-only": id_handle(ns_id_of_user),
    }
    out = _decodes(cases)
    out["handle type 0xf2"] = open_handle(id_handle(nid, net, ino), htype=0xF2)
    if "fd" in out["handle type 0xf2"]:
        os.close(out["handle type 0xf2"].pop("fd"))
    tails = {"24 bytes, non-zero tail": id_handle(nid, net, ino, b"\1" + bytes(7)),
             "20 bytes, non-zero tail": id_handle(nid, net, ino, b"\xff" * 4)}  # fmt: skip
    return {"ref": {"id": nid, "ino": ino, "user id": ns_id_of_user, "user ino": uid},
            "witness": id_witnesses(("net", "user")), "cases": out,
            "tails": _decodes(tails)}  # fmt: skip


# ------------------------------------------------------------------ items 44-45


def _ioc(d: int, t: int, nr: int, size: int) -> int:
    return (d << 30) | (size << 16) | (t << 8) | nr


CMDS = {
    "NS_MNT_GET_INFO": NS_MNT_GET_INFO,
    "_IOW(0xb7, 10, 16)": _ioc(1, 0xB7, 10, 16),
    "_IOWR(0xb7, 10, 16)": _ioc(3, 0xB7, 10, 16),
    "_IOR(0xb8, 10, 16)": _ioc(2, 0xB8, 10, 16),
    "_IOR(0xb7, 10, 8)": _ioc(2, 0xB7, 10, 8),
    "_IOR(0xb7, 10, 24)": _ioc(2, 0xB7, 10, 24),
    "_IOR(0xb7, 13, 4)": _ioc(2, 0xB7, 13, 4),
    "_IO(0xb7, 13)": _ioc(0, 0xB7, 13, 0),
}


@op
def nsfs_ioctl_checks() -> dict:
    """Item 44: NS_MNT_GET_INFO's number with the wrong direction, type or size, and
    NS_GET_ID's, on our mount ns and netns fds; what a call that succeeded filled in
    (struct mnt_ns_info {size, nr_mounts, mnt_ns_id}). Reference: NS_GET_MNTNS_ID."""
    out: dict = {}
    for kind in ("mnt", "net"):
        fd = os.open(f"/proc/self/ns/{kind}", os.O_RDONLY)
        try:
            res = {}
            for name, cmd in CMDS.items():
                r = ns_ioctl_out(fd, cmd, 64)
                if "data" in r:
                    r["info"] = list(struct.unpack_from("IIQ", bytes.fromhex(r.pop("data"))))
                res[name] = r
            out[kind] = res
            if kind == "mnt":
                out["NS_GET_MNTNS_ID"] = mntns_id(fd)
        finally:
            os.close(fd)
    return out


@op
def mntns_walk() -> dict:
    """Item 45: NS_MNT_GET_NEXT from ours to the end and PREV from ours, with U (a mount ns
    owned by uid 65534's user ns) alive; NEXT/PREV as uid 65534, as root of a child user
    ns and as root in a child pid ns. References: NS_GET_MNTNS_ID of U's ns file (another
    ioctl), listns(CLONE_NEWNS)."""
    with start_holder("hold U: uid 65534's user+mnt ns", kinds=("user", "mnt"),
                      as_uid=NOBODY) as u:  # fmt: skip
        fd = os.open("/proc/self/ns/mnt", os.O_RDONLY)
        try:
            walk = mnt_ns_walk(fd, NS_MNT_GET_NEXT)

            def nobody():
                become(NOBODY)
                return {"NEXT": mnt_ns_info(fd, NS_MNT_GET_NEXT),
                        "PREV": mnt_ns_info(fd, NS_MNT_GET_PREV)}  # fmt: skip

            def userns_root():
                become(NOBODY)
                enter_own_userns(CLONE["mnt"])
                return {"NEXT": mnt_ns_info(fd, NS_MNT_GET_NEXT)}

            def pidns_root():
                unshare(CLONE["pid"])
                return fork_call(lambda: {"NEXT": mnt_ns_info(fd, NS_MNT_GET_NEXT)})

            lst = listns(ns_type=CLONE["mnt"])
            return {
                "own": mntns_id(fd),
                "U": _mntns_id_at(u.ns("mnt")),
                "NEXT walk": walk,
                "PREV from ours": mnt_ns_info(fd, NS_MNT_GET_PREV),
                "listns(CLONE_NEWNS)": lst.get("ids", lst.get("errno")),
                "uid 65534": fork_call(nobody),
                "root of a child user ns": fork_call(userns_root),
                "root in a child pid ns": fork_call(pidns_root),
            }
        finally:
            os.close(fd)


def _mntns_id_at(path: str) -> dict:
    fd = os.open(path, os.O_RDONLY)
    try:
        return mntns_id(fd)
    finally:
        os.close(fd)
