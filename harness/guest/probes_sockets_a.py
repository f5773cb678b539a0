"""Guest probes of the sockets area, part A: a socket keeps the netns it was created in
(item 25), the socketat() idioms (30), a fresh netns's loopback and the same port in two
netns (26).

Every target netns is held by a process that unshare()d into it: the cookie of a socket
*that* process made, its /proc/<pid>/ns/net inode and its /proc/<pid>/net tables are the
references — none of them comes from the setns -> socket path under test. Ops return raw
observations; the host decides. Run them in a child (the typed methods default to CHILD):
they switch the calling thread's netns and back.
"""

from __future__ import annotations

import fcntl
import os
import random
import select
import socket

from .nsops import (
    CLONE,
    SIOCGSKNS,
    SO_NETNS_COOKIE,
    become,
    errno_name,
    in_ns,
    netns_cookie,
    ns_ino,
    nstype_of,
    setns,
    socket_in,
    socket_netns_inode,
    try_errno,
)
from .probes_devices_common import hold, link_in, need, read_attr, rtnl_in, sock_in
from .procs import fork_call, run_threads
from .registry import SetupError, op


def ports(where: str | int, proto: str = "tcp") -> list[int]:
    """Local ports in /proc/<where>/net/{proto,proto6}: TCP listeners, or every UDP socket."""
    out = []
    for name in (proto, proto + "6"):
        try:
            with open(f"/proc/{where}/net/{name}") as f:
                lines = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for ln in lines:
            v = ln.split()
            if proto == "udp" or v[3] == "0A":
                out.append(int(v[1].rsplit(":", 1)[1], 16))
    return sorted(out)


def sock_ns(s) -> dict:
    """Where a socket lives, two ways: SO_NETNS_COOKIE and SIOCGSKNS (the nsfs inode)."""
    return {"cookie": netns_cookie(s), "skns": socket_netns_inode(s)}


def refs(**holders) -> dict:
    """Reference identities: init's (pid 1, a socket made here), and each holder's (a
    socket it made itself: cookie and SIOCGSKNS; its /proc/<pid>/ns/net inode)."""
    s = socket.socket()
    out = {
        "init": {
            "cookie": netns_cookie(s),
            "inode": ns_ino("net", "1"),
            "skns": socket_netns_inode(s),
        }
    }
    s.close()
    for k, h in holders.items():
        out[k] = {"cookie": h.info["cookie"], "inode": h.ino(), "skns": h.info["skns"]}
    return out


# ------------------------------------------------------------------ item 25


@op
def socket_stays_in_creation_netns() -> dict:
    """setns(B) -> socket() -> setns(back): where the socket lives afterwards, seen by
    SO_NETNS_COOKIE, SIOCGSKNS (and NS_GET_NSTYPE on its fd, and a socket made through that
    fd), and B's /proc/<holder>/net/tcp listing its port; five families; the unprivileged
    side (cookie readable, SIOCGSKNS needs CAP_NET_ADMIN); the cookie's exact length."""
    with hold("hold netns B") as B, hold("hold netns C") as C:
        out: dict = {"refs": refs(B=B, C=C), "home": ns_ino("net")}
        s = socket_in(B.ns())
        out["thread_after"] = ns_ino("net")
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = out["port"] = s.getsockname()[1]
        out["sock"] = sock_ns(s)
        out["port_in_B_tcp"] = port in ports(B.pid)
        out["port_in_init_tcp"] = port in ports(1)
        try:
            nsfd = fcntl.ioctl(s.fileno(), SIOCGSKNS)
        except OSError as e:
            out["skns_nstype"] = out["roundtrip"] = f"SIOCGSKNS failed: errno {e.errno}"
        else:
            out["skns_nstype"] = nstype_of(nsfd)
            home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            try:
                setns(nsfd, CLONE["net"])
                s2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                setns(home, CLONE["net"])
                out["roundtrip"] = sock_ns(s2)
                s2.close()
            finally:
                os.close(home)
                os.close(nsfd)
        fams = {}
        for label, args in (
            ("UDP", (socket.AF_INET, socket.SOCK_DGRAM)),
            ("TCPv6", (socket.AF_INET6, socket.SOCK_STREAM)),
            ("AF_UNIX", (socket.AF_UNIX, socket.SOCK_STREAM)),
            ("AF_NETLINK", (socket.AF_NETLINK, socket.SOCK_RAW)),
            ("AF_PACKET", (socket.AF_PACKET, socket.SOCK_RAW)),
        ):
            x = socket_in(B.ns(), *args)
            fams[label] = sock_ns(x)
            x.close()
        out["families"] = fams
        try:
            s.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 4)
            out["cookie_optlen_4"] = None
        except OSError as e:
            out["cookie_optlen_4"] = errno_name(e.errno)

        def as_nobody(fd: int) -> dict:
            become(65534)
            x = socket.socket(fileno=os.dup(fd))
            return {"uid": os.getuid(), **sock_ns(x)}

        out["nobody"] = fork_call(as_nobody, s.fileno())
        s.close()
    return out


# ------------------------------------------------------------------ item 30


@op
def socketat_idioms(threads: int = 4, rounds: int = 15) -> dict:
    """No socketat() syscall exists; the two idioms: (1) setns(B) -> socket -> setns(back)
    in one thread; (2) a child that setns()ed to B creates the socket, passes it over
    SCM_RIGHTS and exits. Each socket's port (bound by the receiver, in init) must show in
    B's /proc/<holder>/net/udp. Then *threads* threads run idiom 1 concurrently, half for B
    and half for C, *rounds* times each."""
    with hold("hold netns B") as B, hold("hold netns C") as C:
        out: dict = {"refs": refs(B=B, C=C), "home": ns_ino("net")}
        s1 = socket_in(B.ns(), socket.AF_INET, socket.SOCK_DGRAM)
        out["idiom1_thread_after"] = ns_ino("net")
        s1.bind(("0.0.0.0", 0))
        out["idiom1"] = {
            **sock_ns(s1),
            "port_in_B_udp": s1.getsockname()[1] in ports(B.pid, "udp"),
            "port_in_init_udp": s1.getsockname()[1] in ports(1, "udp"),
        }
        s1.close()
        a, b = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the creator: never returns into the agent's code
            code = 1
            try:
                a.close()
                in_ns(B.ns())
                x = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socket.send_fds(b, [b"s"], [x.fileno()])
                code = 0
            finally:
                os._exit(code)
        b.close()
        _msg, fds, _fl, _ad = socket.recv_fds(a, 16, 1)
        a.close()
        os.waitpid(pid, 0)
        if not fds:
            raise SetupError("idiom 2: the child in B passed no socket back")
        s2 = socket.socket(fileno=fds[0])
        s2.bind(("0.0.0.0", 0))
        out["idiom2_thread_after"] = ns_ino("net")
        out["idiom2"] = {
            **sock_ns(s2),
            "port_in_B_udp": s2.getsockname()[1] in ports(B.pid, "udp"),
            "port_in_init_udp": s2.getsockname()[1] in ports(1, "udp"),
        }
        s2.close()

        def worker(h, label):
            def run():
                wrong = []
                for i in range(rounds):
                    x = socket_in(h.ns(), socket.AF_INET, socket.SOCK_DGRAM)
                    got = sock_ns(x)
                    x.close()
                    if got != {"cookie": h.info["cookie"], "skns": h.ino()}:
                        wrong.append({"round": i, "netns": label, **got})
                return {"wrong": wrong, "thread_after": ns_ino("net")}

            return run

        res = run_threads([worker(B if i % 2 == 0 else C, "BC"[i % 2]) for i in range(threads)])
        out["threads"] = [r if isinstance(r, dict) else {"exception": repr(r)} for r in res]
        out["sockets_per_thread"] = rounds
    return out


# ------------------------------------------------------------------ item 26


def _attempts(h, port: int) -> dict:
    """bind/connect/sendto on the loopback addresses, each with a socket made in h's netns
    (checked to live there: where sockets land is item 25's verdict, not this one's)."""

    def mk(family=socket.AF_INET, kind=socket.SOCK_STREAM):
        return sock_in(h, family, kind)

    res = {}
    for label, fam, kind, call, addr in (
        ("bind 127.0.0.1", socket.AF_INET, socket.SOCK_STREAM, "bind", ("127.0.0.1", port)),
        (
            "bind 10.99.0.1 (no device has it)",
            socket.AF_INET,
            socket.SOCK_STREAM,
            "bind",
            ("10.99.0.1", port),
        ),
        ("bind ::1", socket.AF_INET6, socket.SOCK_STREAM, "bind", ("::1", port)),
        (
            "TCP connect 127.0.0.1",
            socket.AF_INET,
            socket.SOCK_STREAM,
            "connect",
            ("127.0.0.1", port),
        ),
        ("UDP sendto 127.0.0.1", socket.AF_INET, socket.SOCK_DGRAM, "sendto", ("127.0.0.1", port)),
    ):
        s = mk(fam, kind)
        s.settimeout(2.0)
        fn = (lambda s=s, a=addr: s.sendto(b"x", a)) if call == "sendto" else getattr(s, call)
        res[label] = try_errno(fn) if call == "sendto" else try_errno(fn, addr)
        s.close()
    return res


@op
def fresh_netns_loopback(port: int = 0) -> dict:
    """A netns nobody configured: lo's state (netlink IFF_UP from a socket in B, B's own
    sysfs flags/operstate, /proc/<holder>/net/fib_trie) and what bind/connect/sendto do
    there — then the same after setting lo up."""
    port = port or random.randint(40000, 49999)
    with hold("hold a fresh netns B", sysfs=True) as B:

        def state() -> dict:
            lo = link_in(B, "lo")
            with open(f"/proc/{B.pid}/net/fib_trie") as f:
                fib = f.read()
            return {
                "netlink IFF_UP": lo["up"] if lo else None,
                "sysfs flags": read_attr(B, "lo", "flags"),
                "sysfs operstate": read_attr(B, "lo", "operstate"),
                "fib_trie has 127.0.0.1": "127.0.0.1" in fib,
            }

        out = {"port": port, "before": {**state(), **_attempts(B, port)}}
        with rtnl_in(B) as r:
            need(r.set("lo", up=True), "set lo up in B")
        out["after_lo_up"] = {**state(), **_attempts(B, port)}
    return out


@op
def same_port_in_two_netns(port: int = 0) -> dict:
    """127.0.0.1:PORT bound in B, C (lo up, by their holders) and init at once; a second
    bind in B; each holder's /proc/<pid>/net/tcp; and which listener a connect from B
    reaches."""
    port = port or random.randint(40000, 49999)
    with hold("hold netns B", lo_up=True) as B, hold("hold netns C", lo_up=True) as C:
        lis = {"B": sock_in(B), "C": sock_in(C), "init": sock_in(None)}
        out: dict = {"port": port}
        try:
            for k, s in lis.items():
                out[f"bind in {k}"] = try_errno(s.bind, ("127.0.0.1", port))
                if out[f"bind in {k}"] is None:
                    s.listen()
                s.setblocking(False)
            again = sock_in(B)
            out["second bind in B"] = try_errno(again.bind, ("127.0.0.1", port))
            again.close()
            out["listed in B's tcp"] = ports(B.pid).count(port)
            out["listed in C's tcp"] = ports(C.pid).count(port)
            cli = sock_in(B)
            cli.settimeout(3)
            out["connect from B"] = try_errno(cli.connect, ("127.0.0.1", port))
            select.select([lis["B"]], [], [], 1.0)
            out["accepted by"] = []
            for k, s in lis.items():
                try:
                    conn, _ = s.accept()
                    out["accepted by"].append(k)
                    conn.close()
                except OSError:
                    pass
            cli.close()
        finally:
            for s in lis.values():
                s.close()
    return out
