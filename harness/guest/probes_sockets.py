"""Guest probes of test_sockets.py: a socket keeps the netns it was created in (item 25),
the socketat() idioms (30), abstract and path AF_UNIX names per netns (27).

Every target netns is held by a process that unshare()d into it (netns_holders.py): the
cookie of a socket *that* process made, its /proc/<pid>/ns/net inode and its /proc/<pid>/net
tables are the references — none of them comes from the setns -> socket path under test.
Ops return raw observations; the host decides. Run them in a child (the typed methods
default to CHILD): they switch the calling thread's netns and back.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket

from .netns_holders import netns_holder, refs, sock_in, sock_ns
from .nsops import become, errno_name, in_ns, ns_ino, nstype_of, setns, socket_in, try_errno
from .outside_views import ports
from .procs import fork_call, run_threads
from .registry import SetupError, op
from .uapi import CLONE, SIOCGSKNS, SO_NETNS_COOKIE

# ------------------------------------------------------------------ item 25


@op
def socket_stays_in_creation_netns() -> dict:
    """setns(B) -> socket() -> setns(back): where the socket lives afterwards, seen by
    SO_NETNS_COOKIE, SIOCGSKNS (and NS_GET_NSTYPE on its fd, and a socket made through that
    fd), and B's /proc/<holder>/net/tcp listing its port; five families; the unprivileged
    side (cookie readable, SIOCGSKNS needs CAP_NET_ADMIN); the cookie's exact length."""
    with netns_holder("hold netns B") as B, netns_holder("hold netns C") as C:
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
    with netns_holder("hold netns B") as B, netns_holder("hold netns C") as C:
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


# ------------------------------------------------------------------ item 27


def _unix_table(where: str | int, needle: str) -> dict:
    """Entries of /proc/<where>/net/unix whose path is *needle*: how many, how many listen."""
    n = listening = 0
    with open(f"/proc/{where}/net/unix") as f:
        for ln in f.read().splitlines()[1:]:
            v = ln.split()
            if len(v) >= 8 and v[7] == needle:
                n += 1
                listening += v[3] == "00010000"  # __SO_ACCEPTCON
    return {"entries": n, "listening": listening}


@op
def unix_names_per_netns() -> dict:
    """An abstract name bound in B: connect from B, C, init; the same name bound in C and
    again in B; each netns's /proc/<holder>/net/unix. A path name bound in B: connect from C,
    data through it, and where the server's accepted socket lives (cookie, SIOCGSKNS)."""
    tag = f"nsh27-{random.randint(0, 1 << 30)}"
    abstract, path = "\0" + tag, f"/tmp/{tag}.sock"
    with netns_holder("hold netns B") as B, netns_holder("hold netns C") as C:
        out: dict = {"refs": refs(B=B, C=C)}
        srv = sock_in(B, socket.AF_UNIX)
        srv.bind(abstract)
        srv.listen()
        a: dict = {}
        for who, h in (("B", B), ("C", C), ("init", None)):
            x = sock_in(h, socket.AF_UNIX)
            x.settimeout(2)
            a[f"connect from {who}"] = try_errno(x.connect, abstract)
            x.close()
        clash = sock_in(C, socket.AF_UNIX)
        a["bind the same name in C"] = try_errno(clash.bind, abstract)
        again = sock_in(B, socket.AF_UNIX)
        a["bind the same name again in B"] = try_errno(again.bind, abstract)
        again.close()
        for who, where in (("B", B.pid), ("C", C.pid), ("init", 1)):
            a[f"listed in {who}'s /proc/net/unix"] = _unix_table(where, "@" + tag)["entries"]
        clash.close()
        srv.close()
        out["abstract"] = a

        p: dict = {}
        srv = sock_in(B, socket.AF_UNIX)
        srv.bind(path)
        srv.listen()
        try:
            cli = sock_in(C, socket.AF_UNIX)
            cli.settimeout(2)
            p["connect from C"] = try_errno(cli.connect, path)
            if p["connect from C"] is None:
                conn, _ = srv.accept()
                cli.sendall(b"nsh27")
                p["data"] = conn.recv(16).decode()
                p["accepted socket"] = sock_ns(conn)
                p["client socket"] = sock_ns(cli)
                conn.close()
            for who, where in (("B", B.pid), ("C", C.pid)):
                p[f"listening in {who}'s /proc/net/unix"] = _unix_table(where, path)["listening"]
            cli.close()
        finally:
            srv.close()
            os.unlink(path)
        out["path"] = p
    return out
