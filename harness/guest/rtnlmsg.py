"""rtnetlink messages as bytes: the constants, attribute encoders and the parsers of links
and netns ids that rtnl.py's socket speaks (apart, so each file holds one job)."""

from __future__ import annotations

import struct

NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x2, 0x4, 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NETLINK_LISTEN_ALL_NSID = 270, 1, 8
NETLINK_CAP_ACK, NETLINK_EXT_ACK = 10, 11
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWNSID, RTM_DELNSID, RTM_GETNSID = 88, 89, 90
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTM_NEWLINKPROP, RTM_DELLINKPROP = 108, 109
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_STATS64, IFLA_NET_NS_FD, IFLA_EXT_MASK = 16, 18, 23, 28, 29
IFLA_PROMISCUITY, IFLA_LINK_NETNSID, IFLA_NEW_IFINDEX, IFLA_PROP_LIST = 30, 37, 49, 52
IFLA_ALT_IFNAME, IFLA_NETNS_IMMUTABLE = 53, 67
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFLA_MACVLAN_MODE, MACVLAN_MODE_BRIDGE = 1, 4
NETNSA_NSID, NETNSA_PID, NETNSA_FD = 1, 2, 3
RTNLGRP_LINK, RTNLGRP_NSID = 1, 28
NLA_F_NESTED = 0x8000
IFF_UP = 1
EVENT_NAMES = {
    RTM_NEWLINK: "NEWLINK",
    RTM_DELLINK: "DELLINK",
    RTM_NEWNSID: "NEWNSID",
    RTM_DELNSID: "DELNSID",
}


def attr(t: int, data: bytes) -> bytes:
    a = struct.pack("HH", 4 + len(data), t) + data
    return a + b"\0" * (-len(a) % 4)


def nest(t: int, *attrs: bytes) -> bytes:
    return attr(t | NLA_F_NESTED, b"".join(attrs))


def astr(t: int, s: str) -> bytes:
    return attr(t, s.encode() + b"\0")


def au32(t: int, v: int) -> bytes:
    return attr(t, struct.pack("I", v))


def as32(t: int, v: int) -> bytes:
    return attr(t, struct.pack("i", v))


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return struct.pack("BxHiII", 0, 0, index, flags, change)


def parse_attrs(data: bytes) -> list[tuple[int, bytes]]:
    out, off = [], 0
    while off + 4 <= len(data):
        ln, t = struct.unpack_from("HH", data, off)
        if ln < 4:
            break
        out.append((t & ~NLA_F_NESTED, data[off + 4 : off + ln]))
        off += (ln + 3) & ~3
    return out


def _cstr(b: bytes) -> str:
    return b.split(b"\0")[0].decode(errors="replace")


def _u32(v: bytes) -> int:
    return struct.unpack("I", v[:4])[0]


def parse_link(payload: bytes) -> dict:
    _fam, _t, index, flags, _c = struct.unpack_from("BxHiII", payload)
    d: dict = {"index": index, "up": bool(flags & IFF_UP), "altnames": [], "kind": None}
    for t, v in parse_attrs(payload[16:]):
        if t == IFLA_IFNAME:
            d["ifname"] = _cstr(v)
        elif t == IFLA_MTU:
            d["mtu"] = _u32(v)
        elif t == IFLA_LINK_NETNSID:
            d["link_netnsid"] = struct.unpack("i", v[:4])[0]
        elif t == IFLA_LINK:
            d["link"] = _u32(v)
        elif t == IFLA_NETNS_IMMUTABLE:
            d["netns_immutable"] = v[0]
        elif t == IFLA_MASTER:
            d["master"] = _u32(v)
        elif t == IFLA_PROMISCUITY:
            d["promiscuity"] = _u32(v)
        elif t == IFLA_ADDRESS:
            d["address"] = ":".join(f"{x:02x}" for x in v)
        elif t == IFLA_OPERSTATE:
            d["operstate"] = v[0]
        elif t == IFLA_STATS64:
            d["rx_packets"], d["tx_packets"] = struct.unpack_from("2Q", v)
        elif t == IFLA_PROP_LIST:
            d["altnames"] = [_cstr(x) for tt, x in parse_attrs(v) if tt == IFLA_ALT_IFNAME]
        elif t == IFLA_LINKINFO:
            for tt, x in parse_attrs(v):
                if tt == IFLA_INFO_KIND:
                    d["kind"] = _cstr(x)
    return d


def parse_nsid(payload: bytes) -> int | None:
    for t, v in parse_attrs(payload[4:]):
        if t == NETNSA_NSID:
            return struct.unpack("i", v[:4])[0]
    return None
