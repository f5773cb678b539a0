"""A device's features as ethtool shows them, read two independent ways: the SIOCETHTOOL
ioctl (GSSET_INFO + GSTRINGS + GFEATURES) and ethtool-netlink (ETHTOOL_MSG_FEATURES_GET,
what `ethtool -k` asks) — so a feature such as lo's "netns-local" is seen through both.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

from . import rtnl

SIOCETHTOOL = 0x8946
ETHTOOL_GSSET_INFO, ETHTOOL_GSTRINGS, ETHTOOL_GFEATURES, ETH_SS_FEATURES = 0x37, 0x1B, 0x3A, 4


def ioctl_features(ifname: str) -> dict:
    """SIOCETHTOOL: GSSET_INFO + GSTRINGS(ETH_SS_FEATURES) + GFEATURES -> {name: flags}."""
    s = socket.socket()

    def call(req: bytes) -> bytes:
        buf = ctypes.create_string_buffer(req, len(req))
        ifr = struct.pack("16sQ", ifname.encode(), ctypes.addressof(buf)) + bytes(16)
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)
        return buf.raw

    try:
        n = struct.unpack_from(
            "I", call(struct.pack("IIQI", ETHTOOL_GSSET_INFO, 0, 1 << ETH_SS_FEATURES, 0)), 16
        )[0]
        raw = call(struct.pack("III", ETHTOOL_GSTRINGS, ETH_SS_FEATURES, n) + bytes(32 * n))
        names = [raw[12 + 32 * i : 44 + 32 * i].split(b"\0")[0].decode() for i in range(n)]
        blocks = (n + 31) // 32
        feat = call(struct.pack("II", ETHTOOL_GFEATURES, blocks) + bytes(16 * blocks))
    finally:
        s.close()
    out: dict = {"strings": n}
    for i, name in enumerate(names):
        if name:
            _av, _rq, active, never = struct.unpack_from("IIII", feat, 8 + 16 * (i // 32))
            out[name] = {
                "active": bool(active >> (i % 32) & 1),
                "fixed": bool(never >> (i % 32) & 1),
            }
    return out


GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 0x10, 3, 1, 2
ETHTOOL_MSG_FEATURES_GET, ETHTOOL_A_FEATURES_HEADER, ETHTOOL_A_HEADER_DEV_NAME = 11, 1, 2
FEATURE_SETS = {2: "hw", 3: "wanted", 4: "active", 5: "nochange"}


def _genl(s: socket.socket, family: int, cmd: int, attrs: bytes) -> list[bytes]:
    """One generic-netlink request: the payloads (after the genl header) of its replies."""
    body = struct.pack("BBH", cmd, 1, 0) + attrs
    s.send(
        struct.pack("IHHII", 16 + len(body), family, rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK, 1, 0)
        + body
    )
    out = []
    while True:
        data = s.recv(1 << 16)
        off = 0
        while off + 16 <= len(data):
            ln, t, _f, _q, _p = struct.unpack_from("IHHII", data, off)
            payload = data[off + 16 : off + ln]
            off += (ln + 3) & ~3
            if t == rtnl.NLMSG_ERROR:
                err = -struct.unpack_from("i", payload)[0]
                if err:
                    raise OSError(err, f"genl request {cmd}: {os.strerror(err)}")
                return out
            out.append(payload[4:])


def netlink_features(ifname: str) -> dict:
    """ethtool-netlink (ETHTOOL_MSG_FEATURES_GET, what `ethtool -k` asks), verbose bitsets:
    {"active": [names], "nochange": [names], ...}."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)  # NETLINK_GENERIC
    try:
        s.bind((0, 0))
        fam = _genl(
            s, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, rtnl.astr(CTRL_ATTR_FAMILY_NAME, "ethtool")
        )
        fid = next(
            struct.unpack("H", v[:2])[0]
            for t, v in rtnl.parse_attrs(fam[0])
            if t == CTRL_ATTR_FAMILY_ID
        )
        hdr = rtnl.nest(ETHTOOL_A_FEATURES_HEADER, rtnl.astr(ETHTOOL_A_HEADER_DEV_NAME, ifname))
        reply = _genl(s, fid, ETHTOOL_MSG_FEATURES_GET, hdr)[0]
    finally:
        s.close()
    out: dict = {}
    for t, bitset in rtnl.parse_attrs(reply):
        if t not in FEATURE_SETS:
            continue
        names = []
        for bt, bits in rtnl.parse_attrs(bitset):
            if bt != 3:  # ETHTOOL_A_BITSET_BITS
                continue
            for _b, bit in rtnl.parse_attrs(bits):
                a = dict(rtnl.parse_attrs(bit))  # list mode (no mask): every bit listed is set
                if 2 in a:  # ETHTOOL_A_BITSET_BIT_NAME
                    names.append(a[2].split(b"\0")[0].decode())
        out[FEATURE_SETS[t]] = sorted(names)
    return out
