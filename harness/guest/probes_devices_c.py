"""Guest probes of the devices area, part C: device nodes are not namespaced and a tun
device is born in its opener's netns (item 37); creating a device in another netns under a
name the caller's netns has (34); lo's "netns-local" feature as ethtool shows it, read
through the SIOCETHTOOL ioctl and through ethtool-netlink (v1).

Ops return raw observations; the host decides.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

from . import rtnl
from .nsops import CLONE, MS_BIND, in_ns, mount, ns_ino, setns, socket_netns_inode
from .probes_devices_common import (
    delete_if_present,
    hold,
    link_in,
    need,
    netns_fd,
    present,
    rtnl_in,
)
from .registry import SetupError, op

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

    with hold("hold a container (mount + net namespaces)", mnt=True, setup=setup) as C:
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


def _in_child(path: str, fn) -> int:
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
    with hold("hold netns B (own sysfs)", sysfs=True) as B:
        fds: list[int] = []
        out: dict = {"B": B.ino(), "init": ns_ino("net", "1")}
        try:
            a, b = socket.socketpair()

            def open_in_b():
                fd = os.open("/dev/net/tun", os.O_RDWR)
                _setiff(fd, "nsh37a")
                socket.send_fds(b, [b"t"], [fd])

            if _in_child(B.ns(), open_in_b):
                raise SetupError("(a) open /dev/net/tun and TUNSETIFF nsh37a in B: failed")
            _m, got, _f, _ad = socket.recv_fds(a, 16, 1)
            a.close()
            b.close()
            fds += got
            fb = os.open("/dev/net/tun", os.O_RDWR)
            fds.append(fb)
            if _in_child(B.ns(), lambda: _setiff(fb, "nsh37b")):
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


# ------------------------------------------------------------------ item 34


@op
def add_in_other_netns_name_clash() -> dict:
    """RTM_NEWLINK (NLM_F_CREATE|NLM_F_EXCL) from init with IFLA_NET_NS_FD=B: under a name
    only init has (nsh34), under a name only B has (nsh34e), a fresh name (control); then the
    first again without NLM_F_EXCL. Where the devices are after each."""
    with hold("hold netns B (own sysfs)", sysfs=True) as B, rtnl_in(None) as nl:
        fd = netns_fd(B)
        try:
            need(nl.add("nsh34"), "create dummy nsh34 in init")
            idx = nl.index_of("nsh34")
            with rtnl_in(B) as nlb:
                need(nlb.add("nsh34e"), "create dummy nsh34e in B")
            out = {"add nsh34 into B": nl.add("nsh34", netns_fd=fd)}
            out["nsh34 in B after"] = present(B, "nsh34")
            out["init's nsh34 after"] = {"ifindex": nl.index_of("nsh34"), "ifindex before": idx}
            out["add nsh34e into B"] = nl.add("nsh34e", netns_fd=fd)
            out["nsh34e in init after"] = present(None, "nsh34e")
            out["add nsh34f into B (control)"] = nl.add("nsh34f", netns_fd=fd)
            out["nsh34f in B after"] = present(B, "nsh34f")
            out["add nsh34 into B without NLM_F_EXCL"] = nl.add(
                "nsh34", netns_fd=fd, flags=rtnl.NLM_F_CREATE
            )
            out["nsh34 in init after no-EXCL"] = present(None, "nsh34")
            out["nsh34 in B after no-EXCL"] = {
                **present(B, "nsh34"),
                "ifindex": (link_in(B, "nsh34") or {}).get("index"),
            }
        finally:
            os.close(fd)
            delete_if_present("nsh34", "nsh34e", "nsh34f")
    return out


# ------------------------------------------------------------------ v1: ethtool features

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


@op
def ethtool_netns_local() -> dict:
    """lo's and a dummy's "netns-local" feature through the SIOCETHTOOL ioctl and through
    ethtool-netlink."""
    with rtnl_in(None) as r:
        need(r.add("nshv1d"), "create dummy nshv1d in init")
    try:
        out = {}
        for dev in ("lo", "nshv1d"):
            f = ioctl_features(dev)
            nl = netlink_features(dev)
            out[dev] = {
                "ioctl strings": f["strings"],
                "ioctl netns-local": f.get("netns-local"),
                "netlink active": "netns-local" in nl.get("active", []),
                "netlink fixed": "netns-local" in nl.get("nochange", []),
                "netlink active count": len(nl.get("active", [])),
            }
        return out
    finally:
        delete_if_present("nshv1d")
