"""Raw rtnetlink: links, netns ids and their events, with the kernel's extack messages.

A few struct calls instead of pyroute2 (whose import costs ~2 s in a TCG guest), and
errors come back as values — {"errno": "EEXIST", "extack": "..."} — so a probe reports
what the kernel said instead of raising. A socket pins the netns it was made in: close it
before expecting that netns to die.
"""

from __future__ import annotations

import os
import select
import socket
import struct

from .nsops import check_placed, errno_name, socket_in
from .rtnlmsg import (  # noqa: F401 - re-exported: probes use rtnl.<name>
    EVENT_NAMES,
    IFA_ADDRESS,
    IFA_LOCAL,
    IFF_UP,
    IFLA_ALT_IFNAME,
    IFLA_IFNAME,
    IFLA_INFO_DATA,
    IFLA_INFO_KIND,
    IFLA_LINK,
    IFLA_LINK_NETNSID,
    IFLA_LINKINFO,
    IFLA_MACVLAN_MODE,
    IFLA_MASTER,
    IFLA_MTU,
    IFLA_NET_NS_FD,
    IFLA_NETNS_IMMUTABLE,
    IFLA_NEW_IFINDEX,
    IFLA_PROP_LIST,
    MACVLAN_MODE_BRIDGE,
    NETLINK_ADD_MEMBERSHIP,
    NETLINK_CAP_ACK,
    NETLINK_EXT_ACK,
    NETLINK_LISTEN_ALL_NSID,
    NETNSA_FD,
    NETNSA_NSID,
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_EXCL,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    RTM_DELLINK,
    RTM_DELLINKPROP,
    RTM_DELNSID,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNSID,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWLINKPROP,
    RTM_NEWNSID,
    RTM_SETLINK,
    RTNLGRP_LINK,
    RTNLGRP_NSID,
    SOL_NETLINK,
    VETH_INFO_PEER,
    _cstr,
    as32,
    astr,
    attr,
    au32,
    ifinfo,
    nest,
    parse_attrs,
    parse_link,
    parse_nsid,
)


class Rtnl:
    """A NETLINK_ROUTE socket in the caller's netns (or made inside netns file *path*
    with the setns -> socket -> setns back idiom). Requests return values, not raises:
    {"errno": name|None, "extack": text|None, "msgs": [(type, payload)]}."""

    def __init__(self, path: str | None = None, groups: tuple[int, ...] = ()):
        self.s = socket_in(path, socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        check_placed(self.s, path, f"an rtnetlink socket made in {path or 'this thread'}")
        self.s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self.s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        self.s.bind((0, 0))
        for g in groups:
            self.s.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g)
        self.seq = int.from_bytes(os.urandom(3), "little") + 1

    def close(self) -> None:
        self.s.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def req(self, mtype: int, flags: int, body: bytes) -> dict:
        self.seq += 1
        seq = self.seq
        hdr = struct.pack("IHHII", 16 + len(body), mtype, flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0)
        self.s.send(hdr + body)
        res: dict = {"errno": None, "extack": None, "msgs": []}
        while True:
            data = self.s.recv(1 << 20)
            off = 0
            while off + 16 <= len(data):
                ln, t, _fl, sq, _pid = struct.unpack_from("IHHII", data, off)
                payload = data[off + 16 : off + ln]
                off += (ln + 3) & ~3
                if sq != seq:
                    continue
                if t == NLMSG_ERROR:
                    err = -struct.unpack_from("i", payload)[0]
                    res["errno"] = errno_name(err) if err else None
                    for at, v in parse_attrs(payload[20:]):
                        if at == 1:  # NLMSGERR_ATTR_MSG
                            res["extack"] = _cstr(v)
                    return res
                if t == NLMSG_DONE:
                    return res
                res["msgs"].append((t, payload))

    # ------------------------------------------------------------ links
    def links(self) -> list[dict]:
        r = self.req(RTM_GETLINK, NLM_F_DUMP, ifinfo())
        return sorted(
            (parse_link(p) for t, p in r["msgs"] if t == RTM_NEWLINK), key=lambda d: d["index"]
        )

    def names(self) -> list[str]:
        return sorted(d["ifname"] for d in self.links())

    def link(self, name: str | None = None, index: int = 0, altname: str | None = None):
        """One link by name, index or altname; None if there is no such link (no side
        effects, unlike SIOCGIFINDEX, which makes the kernel run modprobe for a name it
        does not know)."""
        body = ifinfo(index)
        if name:
            body += astr(IFLA_IFNAME, name)
        if altname:
            body += astr(IFLA_ALT_IFNAME, altname)
        r = self.req(RTM_GETLINK, 0, body)
        return parse_link(r["msgs"][0][1]) if r["msgs"] else None

    def index_of(self, name: str) -> int | None:
        link = self.link(name)
        return link["index"] if link else None

    def add(
        self,
        name: str,
        kind: str = "dummy",
        *,
        peer: str | None = None,
        peer_netns_fd: int | None = None,
        netns_fd: int | None = None,
        link: int | None = None,
        data: bytes = b"",
        up: bool = False,
        flags: int = NLM_F_CREATE | NLM_F_EXCL,
        index: int = 0,
        extra: bytes = b"",
    ) -> dict:
        """RTM_NEWLINK create; a veth *peer* may go straight into another netns; *index*
        asks for that ifindex; *extra* is more attributes, as bytes."""
        body = ifinfo(index, IFF_UP if up else 0, IFF_UP if up else 0) + astr(IFLA_IFNAME, name)
        body += extra
        if netns_fd is not None:
            body += au32(IFLA_NET_NS_FD, netns_fd)
        if link is not None:
            body += au32(IFLA_LINK, link)
        info = astr(IFLA_INFO_KIND, kind)
        if peer is not None:
            pa = astr(IFLA_IFNAME, peer)
            if peer_netns_fd is not None:
                pa += au32(IFLA_NET_NS_FD, peer_netns_fd)
            data = attr(VETH_INFO_PEER, ifinfo() + pa)
        if data:
            info += attr(IFLA_INFO_DATA, data)
        r = self.req(RTM_NEWLINK, flags, body + nest(IFLA_LINKINFO, info))
        return {"errno": r["errno"], "extack": r["extack"]}

    def set(
        self,
        name: str | None = None,
        *,
        index: int = 0,
        netns_fd: int | None = None,
        ifname: str | None = None,
        new_ifindex: int | None = None,
        up: bool | None = None,
        mtu: int | None = None,
        master: int | None = None,
        extra: bytes = b"",
        mtype: int = RTM_NEWLINK,
    ) -> dict:
        """RTM_NEWLINK (or *mtype*, e.g. RTM_SETLINK) on an existing link (move with
        IFLA_NET_NS_FD, rename, up/down); *extra* is more attributes, as bytes."""
        if not index:
            index = self.index_of(name) or 0
            if not index:
                return {"errno": "ENODEV", "extack": None}
        flags, change = (0, 0) if up is None else (IFF_UP if up else 0, IFF_UP)
        body = ifinfo(index, flags, change)
        if netns_fd is not None:
            body += au32(IFLA_NET_NS_FD, netns_fd)
        if ifname:
            body += astr(IFLA_IFNAME, ifname)
        if new_ifindex:
            body += as32(IFLA_NEW_IFINDEX, new_ifindex)
        if mtu is not None:
            body += au32(IFLA_MTU, mtu)
        if master is not None:
            body += au32(IFLA_MASTER, master)
        r = self.req(mtype, 0, body + extra)
        return {"errno": r["errno"], "extack": r["extack"]}

    def delete(self, name: str | None = None, index: int = 0) -> dict:
        body = ifinfo(index) + (astr(IFLA_IFNAME, name) if name else b"")
        r = self.req(RTM_DELLINK, 0, body)
        return {"errno": r["errno"], "extack": r["extack"]}

    def altname_add(self, altname: str, name: str | None = None, index: int = 0) -> dict:
        index = index or self.index_of(name) or 0
        body = ifinfo(index) + nest(IFLA_PROP_LIST, astr(IFLA_ALT_IFNAME, altname))
        r = self.req(RTM_NEWLINKPROP, NLM_F_EXCL | NLM_F_CREATE, body)
        return {"errno": r["errno"], "extack": r["extack"]}

    def addresses(self) -> list[str]:
        """Every address as "ifindex address/prefix" (RTM_GETADDR dump)."""
        r = self.req(RTM_GETADDR, NLM_F_DUMP, struct.pack("BBBBI", 0, 0, 0, 0, 0))
        out = []
        for t, p in r["msgs"]:
            if t != RTM_NEWADDR:
                continue
            fam, plen, _fl, _scope, index = struct.unpack_from("BBBBI", p)
            a = dict(parse_attrs(p[8:]))
            raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS) or b""
            af = socket.AF_INET if fam == socket.AF_INET else socket.AF_INET6
            text = socket.inet_ntop(af, raw) if raw else "?"
            out.append(f"{index} {text}/{plen}")
        return sorted(out)

    # ------------------------------------------------------------ netns ids
    def nsids(self) -> list[int]:
        """The id table of this netns (what `ip netns list-id` shows)."""
        r = self.req(RTM_GETNSID, NLM_F_DUMP, struct.pack("Bxxx", 0))
        return sorted(
            n for t, p in r["msgs"] if t == RTM_NEWNSID if (n := parse_nsid(p)) is not None
        )

    def set_nsid(self, netns_fd: int, nsid: int = -1) -> dict:
        body = struct.pack("Bxxx", 0) + au32(NETNSA_FD, netns_fd) + as32(NETNSA_NSID, nsid)
        r = self.req(RTM_NEWNSID, 0, body)
        return {"errno": r["errno"], "extack": r["extack"]}

    def assign_nsid(self, netns_fd: int) -> int | None:
        """Have the kernel pick an id for that netns in this socket's netns (RTM_NEWNSID
        with -1) and read it back: the id, or None if none was assigned."""
        self.set_nsid(netns_fd, -1)
        nsid = self.get_nsid(netns_fd)
        return nsid if nsid is not None and nsid >= 0 else None

    def get_nsid(self, netns_fd: int) -> int | None:
        r = self.req(RTM_GETNSID, 0, struct.pack("Bxxx", 0) + au32(NETNSA_FD, netns_fd))
        return parse_nsid(r["msgs"][0][1]) if r["msgs"] else None

    # ------------------------------------------------------------ multicast events
    def events_with_nsid(self, timeout: float = 0.0) -> list[list]:
        """[ifname, nsid] of the link events received, the nsid from the
        NETLINK_LISTEN_ALL_NSID cmsg (None without one); wait at most *timeout* for the
        first."""
        out = []
        while select.select([self.s], [], [], timeout)[0]:
            timeout = 0.0
            data, anc, _fl, _ad = self.s.recvmsg(1 << 16, socket.CMSG_SPACE(4))
            nsid = None
            for lvl, typ, d in anc:
                if lvl == SOL_NETLINK and typ == NETLINK_LISTEN_ALL_NSID:
                    nsid = struct.unpack("i", d[:4])[0]
            off = 0
            while off + 16 <= len(data):
                ln, t, _f, _s, _p = struct.unpack_from("IHHII", data, off)
                if t in (RTM_NEWLINK, RTM_DELLINK):
                    out.append([parse_link(data[off + 16 : off + ln]).get("ifname"), nsid])
                off += (ln + 3) & ~3
        return out

    def events(self, timeout: float = 0.0) -> list[dict]:
        """Drain notifications ({type, ifname, index} / {type, nsid}); wait at most
        *timeout* for the first one."""
        out: list[dict] = []
        while True:
            if not select.select([self.s], [], [], timeout)[0]:
                return out
            timeout = 0.0
            data = self.s.recv(1 << 20)
            off = 0
            while off + 16 <= len(data):
                ln, t, _fl, _sq, _pid = struct.unpack_from("IHHII", data, off)
                payload = data[off + 16 : off + ln]
                off += (ln + 3) & ~3
                if t in (RTM_NEWLINK, RTM_DELLINK):
                    d = parse_link(payload)
                    out.append(
                        {"type": EVENT_NAMES[t], "ifname": d.get("ifname"), "index": d["index"]}
                    )
                elif t in (RTM_NEWNSID, RTM_DELNSID):
                    out.append({"type": EVENT_NAMES[t], "nsid": parse_nsid(payload)})


def link_present(name: str) -> bool:
    """Does *name* exist in this thread's netns (RTM_GETLINK by name, no side effects)?"""
    with Rtnl() as r:
        return r.link(name) is not None


def link_names() -> list[str]:
    """The device names of this thread's netns (an RTM_GETLINK dump)."""
    with Rtnl() as r:
        return r.names()


def nsid_table() -> list[int]:
    with Rtnl() as r:
        return r.nsids()


def nsid_events() -> Rtnl:
    """A socket subscribed to netns id events of the caller's netns."""
    return Rtnl(groups=(RTNLGRP_NSID,))


def read_nsid_events(r: Rtnl) -> list[tuple[str, int]]:
    return [
        ("new" if e["type"] == "NEWNSID" else "del", e["nsid"]) for e in r.events() if "nsid" in e
    ]
