"""Raw rtnetlink for what pyroute2 does not wrap: the netns id table (RTM_GETNSID dump)
and its events (RTNLGRP_NSID: RTM_NEWNSID / RTM_DELNSID). A few struct calls, and an
oracle that shares no code with pyroute2's link handling."""

from __future__ import annotations

import os
import socket
import struct

NETLINK_ROUTE = 0
RTM_NEWNSID, RTM_DELNSID, RTM_GETNSID = 88, 89, 90
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NETNSA_NSID, NETNSA_PID, NETNSA_FD = 1, 2, 3
RTNLGRP_NSID = 28
SOL_NETLINK, NETLINK_ADD_MEMBERSHIP = 270, 1


def _attrs(data: bytes) -> dict[int, bytes]:
    out, pos = {}, 0
    while pos + 4 <= len(data):
        alen, atype = struct.unpack_from("HH", data, pos)
        if alen < 4:
            break
        out[atype & 0x3FFF] = data[pos + 4 : pos + alen]
        pos += (alen + 3) & ~3
    return out


def _messages(buf: bytes):
    pos = 0
    while pos + 16 <= len(buf):
        length, mtype, _flags, _seq, _pid = struct.unpack_from("IHHII", buf, pos)
        if length < 16:
            return
        yield mtype, buf[pos + 16 : pos + length]
        pos += (length + 3) & ~3


def _nsid_of(payload: bytes) -> int | None:
    a = _attrs(payload[4:])
    return struct.unpack("i", a[NETNSA_NSID])[0] if NETNSA_NSID in a else None


def nsid_table() -> list[int]:
    """Every netns id assigned in the caller's netns (what `ip netns list-id` shows)."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    try:
        s.bind((0, 0))
        req = struct.pack("IHHII", 20, RTM_GETNSID, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
        s.send(req + struct.pack("Bxxx", socket.AF_UNSPEC))
        ids = []
        while True:
            buf = s.recv(65536)
            for mtype, payload in _messages(buf):
                if mtype == NLMSG_DONE:
                    return sorted(ids)
                if mtype == NLMSG_ERROR:
                    err = struct.unpack_from("i", payload)[0]
                    if err:
                        raise OSError(-err, os.strerror(-err))
                if mtype == RTM_NEWNSID:
                    nsid = _nsid_of(payload)
                    if nsid is not None:
                        ids.append(nsid)
    finally:
        s.close()


def nsid_events() -> socket.socket:
    """A socket subscribed to netns id events of the caller's netns (non-blocking)."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    s.bind((0, 0))
    s.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, RTNLGRP_NSID)
    s.setblocking(False)
    return s


def read_nsid_events(s: socket.socket) -> list[tuple[str, int]]:
    """[("new"|"del", nsid)] received so far."""
    out = []
    while True:
        try:
            buf = s.recv(65536)
        except BlockingIOError:
            return out
        for mtype, payload in _messages(buf):
            if mtype in (RTM_NEWNSID, RTM_DELNSID):
                out.append(("new" if mtype == RTM_NEWNSID else "del", _nsid_of(payload)))
