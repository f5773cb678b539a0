"""Composite guest operations: the kernel behaviours each scenario observes, measured in
one round trip. Each returns raw observations (inodes, cookies, errno names); the
host-side tests decide what they must be.
"""

from __future__ import annotations

import ctypes
import os
import socket
import time

import nsops
import procs
import views
from nsops import CLONE, libc, setns, try_errno
from registry import op
from rtnl import Rtnl


def socket_in(nsfd, family=socket.AF_INET, kind=socket.SOCK_STREAM):
    """setns(fd) -> socket -> setns back (fd-based form)."""
    if nsfd is None:
        return socket.socket(family, kind)
    return nsops.socket_in(f"/proc/self/fd/{nsfd}", family, kind)


@op
def msg_create(key: int) -> int:
    """Create a SysV message queue (in this context's IPC namespace); its id."""
    r = libc.msgget(key, 0o1600)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


@op
def ipc_view(key: int) -> dict:
    """What this context sees: hostname (UTS), whether SysV queue *key* exists (IPC)."""
    return {
        "hostname": socket.gethostname(),
        "has_queue": key in _sysvipc_keys(),
        "msgget": try_errno(lambda: _msgget(key)),
        "uts_inode": os.stat("/proc/thread-self/ns/uts").st_ino,
        "ipc_inode": os.stat("/proc/thread-self/ns/ipc").st_ino,
    }


@op
def bind_device(root: str, node: str) -> str:
    """Container-style /dev: a tmpfs at *root* with *node* bind-mounted under dev/container."""
    os.makedirs(root, exist_ok=True)
    nsops.mount("tmpfs", root, "tmpfs", 0, "mode=755")
    target = f"{root}/dev/container/{os.path.basename(node)}"
    os.makedirs(os.path.dirname(target))
    open(target, "w").close()
    nsops.mount(node, target, None, nsops.MS_BIND)
    return target


@op
def read_node(path: str, size: int = 16) -> dict:
    """Open and read a (device) file here; its type, numbers and first bytes, or the errno."""
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            data = f.read(size)
    except OSError as e:
        return {"errno": nsops.errno_name(e.errno)}
    return {
        "errno": None,
        "read": data.hex(),
        "is_chr": (st.st_mode & 0o170000) == 0o020000,
        "rdev": [os.major(st.st_rdev), os.minor(st.st_rdev)],
        "mnt_ns": os.stat("/proc/thread-self/ns/mnt").st_ino,
    }


@op
def udp_burst(dst: str, port: int, count: int) -> int:
    """Send *count* UDP datagrams from this context; how many left."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    for i in range(count):
        s.sendto(b"nsh%d" % i, (dst, port))
        sent += 1
    s.close()
    return sent


@op
def setns_view(path: str, nstype: int = 0) -> dict:
    """setns() into a netns WITHOUT remounting sysfs; report what each view then shows."""
    before = views.views()
    fd = os.open(path, os.O_RDONLY)
    try:
        setns(fd, nstype)
    finally:
        os.close(fd)
    return {"before": before, "after": views.views()}


@op
def setns_errors(path: str) -> dict:
    """setns's argument checks (LTP setns01): which errno for which mistake."""
    fd = os.open(path, os.O_RDONLY)
    reg = os.open("/etc/hostname", os.O_RDONLY)
    memfd = os.memfd_create("nsh")
    try:
        return {
            "mismatched_nstype": try_errno(setns, fd, CLONE["uts"]),
            "regular_file": try_errno(setns, reg, 0),
            "memfd": try_errno(setns, memfd, CLONE["net"]),
            "bad_fd": try_errno(setns, -1, 0),
            "matching_nstype": try_errno(setns, fd, CLONE["net"]),
        }
    finally:
        for f in (fd, reg, memfd):
            os.close(f)


@op
def setns_unprivileged(path: str, uid: int = 65534) -> dict:
    """As an unprivileged user (no CAP_SYS_ADMIN), setns into a netns must be refused."""
    fd = os.open(path, os.O_RDONLY)
    before = os.stat("/proc/thread-self/ns/net").st_ino
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    err = try_errno(setns, fd, CLONE["net"])
    return {
        "uid": os.geteuid(),
        "errno": err,
        "unchanged": os.stat("/proc/thread-self/ns/net").st_ino == before,
    }


@op
def thread_netns(paths: list[str]) -> dict:
    """Each thread setns()es into its own netns at the same time; what does each see?"""

    def worker(path):
        def run():
            fd = os.open(path, os.O_RDONLY)
            setns(fd, CLONE["net"])
            os.close(fd)
            time.sleep(0.05)  # all threads switched at once before anyone looks
            return {
                "thread_ns": os.stat("/proc/thread-self/ns/net").st_ino,
                "process_ns": os.stat("/proc/self/ns/net").st_ino,
                "thread_dev": sorted(views.proc_net_dev("thread-self")),
                "netlink": [link["ifname"] for link in views.links()],
            }

        return run

    results = procs.run_threads([worker(p) for p in paths])
    for r in results:
        if isinstance(r, Exception):
            raise r
    return {"threads": results, "main_ns": os.stat("/proc/thread-self/ns/net").st_ino}


def _sysvipc_keys() -> list[int]:
    with open("/proc/sysvipc/msg") as f:
        return [int(line.split()[0]) for line in f.read().splitlines()[1:] if line.strip()]


def _msgget(key: int) -> int:
    r = libc.msgget(key, 0)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


@op
def pidfd_setns_probe(hostname: str = "nsh-pidfd") -> dict:
    """setns(pidfd, CLONE_NEWNET|CLONE_NEWUTS) switches both at once (5.8+), and a set
    that cannot be joined entirely changes nothing (all-or-nothing)."""
    holder = procs.Holder(kinds=("net", "uts"), hostname=hostname)
    pid = holder.pid
    try:
        target = {k: os.stat(f"/proc/{pid}/ns/{k}").st_ino for k in ("net", "uts")}
        pidfd = nsops.pidfd_open(pid)
        home = {k: os.stat(f"/proc/thread-self/ns/{k}").st_ino for k in ("net", "uts")}
        zero = try_errno(setns, pidfd, 0)
        # The caller's own user ns cannot be re-entered (EINVAL): the whole call fails.
        partial = try_errno(setns, pidfd, CLONE["net"] | CLONE["user"])
        after_partial = {k: os.stat(f"/proc/thread-self/ns/{k}").st_ino for k in ("net", "uts")}
        both = try_errno(setns, pidfd, CLONE["net"] | CLONE["uts"])
        after = {k: os.stat(f"/proc/thread-self/ns/{k}").st_ino for k in ("net", "uts")}
        return {
            "target": target,
            "home": home,
            "zero_flags": zero,
            "partial": partial,
            "after_partial": after_partial,
            "both": both,
            "after": after,
            "hostname_after": socket.gethostname(),
        }
    finally:
        holder.release()


@op
def bind_keepalive(path: str, dummy: str = "keep0") -> dict:
    """A child makes a netns with a device, bind-mounts its ns file on *path*, exits."""
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            nsops.unshare(CLONE["net"])
            with Rtnl() as r:
                r.add(dummy)
            nsops.mount("/proc/self/ns/net", path, "none", nsops.MS_BIND)
            os.write(w, str(os.stat("/proc/self/ns/net").st_ino).encode())
        except BaseException as e:  # noqa: BLE001
            os.write(w, f"error: {e}".encode())
        os._exit(0)
    os.close(w)
    msg = os.read(r, 200).decode()
    os.close(r)
    os.waitpid(pid, 0)
    if msg.startswith("error"):
        raise OSError(msg)
    return {
        "inode": int(msg),
        "creator_pid": pid,
        "creator_gone": not os.path.exists(f"/proc/{pid}"),
    }


@op
def mountinfo_for(path: str) -> dict | None:
    """The /proc/self/mountinfo entry mounted at *path* (fstype, root)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = pre.split()
            if fields[4] == path:
                return {"root": fields[3], "fstype": post.split()[0], "source": post.split()[1]}
    return None


@op
def stat_and_readlink(path: str) -> dict:
    st = os.stat(path)
    return {"inode": st.st_ino, "dev": st.st_dev, "readlink": try_errno(os.readlink, path)}


@op
def nstypes(where: str = "self") -> dict:
    """Per namespace file: readlink text, stat inode, NS_GET_NSTYPE."""
    out = {}
    for kind in sorted(os.listdir(f"/proc/{where}/ns")):
        p = f"/proc/{where}/ns/{kind}"
        fd = os.open(p, os.O_RDONLY)
        try:
            out[kind] = {
                "link": os.readlink(p),
                "inode": os.fstat(fd).st_ino,
                "nstype": nsops.nstype_of(fd),
            }
        finally:
            os.close(fd)
    return out


def _listed_ports(proto: str = "tcp") -> set[int]:
    ports = set()
    for name in (proto, proto + "6"):
        try:
            with open(f"/proc/thread-self/net/{name}") as f:
                for line in f.read().splitlines()[1:]:
                    ports.add(int(line.split()[1].split(":")[1], 16))
        except FileNotFoundError:
            pass
    return ports


@op
def socketat_probe(paths: list[str | None]) -> dict:
    """One process, one thread: a listening TCP socket in each netns (None = init) made by
    setns -> socket -> setns back. Where does each socket live?"""
    fds = [os.open(p, os.O_RDONLY) if p else None for p in paths]
    socks, out = [], []
    home = os.stat("/proc/thread-self/ns/net").st_ino
    for fd in fds:
        s = socket_in(fd)
        s.bind(("0.0.0.0", 0))
        s.listen()
        socks.append(s)
    for p, fd, s in zip(paths, fds, socks, strict=True):
        ns_inode = os.fstat(fd).st_ino if fd is not None else home
        # the ns's own view of listening ports, read from inside it
        listed = {}
        for p2, fd2 in zip(paths, fds, strict=True):
            view_home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            if fd2 is not None:
                setns(fd2, CLONE["net"])
            listed[p2 or "init"] = s.getsockname()[1] in _listed_ports()
            setns(view_home, CLONE["net"])
            os.close(view_home)
        out.append(
            {
                "ns": p or "init",
                "ns_inode": ns_inode,
                "sk_netns_inode": nsops.socket_netns_inode(s),
                "cookie": nsops.netns_cookie(s),
                "port": s.getsockname()[1],
                "listed_in": listed,
            }
        )
    ref = []  # cookies of sockets made by a different route: a forked child that setns'd
    for fd in fds:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            if fd is not None:
                setns(fd, CLONE["net"])
            c = nsops.netns_cookie(socket.socket())
            os.write(w, str(c).encode())
            os._exit(0)
        os.close(w)
        ref.append(os.read(r, 64).decode())
        os.close(r)
        os.waitpid(pid, 0)
    for o, c in zip(out, ref, strict=True):
        o["reference_cookie"] = None if c == "None" else int(c)
    return {
        "home_inode": os.stat("/proc/thread-self/ns/net").st_ino,
        "home_before": home,
        "sockets": out,
    }


@op
def same_port_probe(paths: list[str], port: int) -> dict:
    """Bind 127.0.0.1:port in every netns (lo up); then once more in the first one."""
    res, socks = {}, []
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        s = socket_in(fd)
        os.close(fd)
        res[p] = try_errno(s.bind, ("127.0.0.1", port))
        socks.append(s)
    fd = os.open(paths[0], os.O_RDONLY)
    again = socket_in(fd)
    os.close(fd)
    res["again_in_first"] = try_errno(again.bind, ("127.0.0.1", port))
    return res


@op
def veth_traffic_probe(
    client_ns: str, server_ns: str, server_ip: str, decoy_ns: str, port: int = 7000
) -> dict:
    """TCP and UDP from client_ns to server_ns over their veth; a decoy listens on the same
    port in a third netns. All sockets live in this one process (socketat idiom)."""
    fds = {
        k: os.open(p, os.O_RDONLY)
        for k, p in (("client", client_ns), ("server", server_ns), ("decoy", decoy_ns))
    }
    tcp_srv = socket_in(fds["server"])
    tcp_srv.bind(("0.0.0.0", port))
    tcp_srv.listen()
    udp_srv = socket_in(fds["server"], kind=socket.SOCK_DGRAM)
    udp_srv.bind(("0.0.0.0", port))
    decoy = socket_in(fds["decoy"])
    decoy.bind(("0.0.0.0", port))
    decoy.listen()
    decoy.settimeout(0.2)
    udp_decoy = socket_in(fds["decoy"], kind=socket.SOCK_DGRAM)
    udp_decoy.bind(("0.0.0.0", port))
    udp_decoy.settimeout(0.2)
    cli = socket_in(fds["client"])
    cli.settimeout(5)
    cli.connect((server_ip, port))
    cli.sendall(b"nsh-tcp")
    tcp_srv.settimeout(5)
    conn, peer = tcp_srv.accept()
    conn.settimeout(5)
    tcp_data = conn.recv(100)
    ucli = socket_in(fds["client"], kind=socket.SOCK_DGRAM)
    ucli.sendto(b"nsh-udp", (server_ip, port))
    udp_srv.settimeout(5)
    udp_data, upeer = udp_srv.recvfrom(100)
    try:
        decoy.accept()
        decoy_got = True
    except TimeoutError:
        decoy_got = False
    try:
        udp_decoy.recvfrom(100)
        udp_decoy_got = True
    except TimeoutError:
        udp_decoy_got = False
    return {
        "tcp_data": tcp_data.decode(),
        "tcp_peer": peer[0],
        "udp_data": udp_data.decode(),
        "udp_peer": upeer[0],
        "decoy_tcp_got": decoy_got,
        "decoy_udp_got": udp_decoy_got,
    }


@op
def concurrent_socket_probe(paths: list[str], threads: int = 8, iterations: int = 40) -> dict:
    """Many threads switch namespaces and create sockets at once; every socket must land
    in the namespace its thread meant (checked by SO_NETNS_COOKIE and SIOCGSKNS)."""
    fds = [os.open(p, os.O_RDONLY) for p in paths]
    inodes = [os.fstat(fd).st_ino for fd in fds]
    cookies = []
    for fd in fds:
        s = socket_in(fd)
        cookies.append(nsops.netns_cookie(s))
        s.close()

    def worker(t):
        def run():
            bad, made = [], 0
            for i in range(iterations):
                k = (t + i) % len(fds)
                s = socket_in(fds[k], kind=socket.SOCK_DGRAM if i % 2 else socket.SOCK_STREAM)
                c, ino = nsops.netns_cookie(s), nsops.socket_netns_inode(s)
                s.close()
                made += 1
                if ino != inodes[k] or (cookies[k] is not None and c != cookies[k]):
                    bad.append({"thread": t, "iter": i, "want": inodes[k], "got": ino})
            return {"made": made, "bad": bad}

        return run

    res = procs.run_threads([worker(t) for t in range(threads)])
    for r in res:
        if isinstance(r, Exception):
            raise r
    return {
        "sockets": sum(r["made"] for r in res),
        "bad": [b for r in res for b in r["bad"]],
        "home_ns_ok": os.stat("/proc/thread-self/ns/net").st_ino not in inodes,
    }


@op
def lo_probe() -> dict:
    """A new netns's loopback: its state in every view, and what using it does."""
    link = next(link for link in views.links() if link["ifname"] == "lo")
    s = socket.socket()
    s.settimeout(2)
    before = {
        "netlink_up": link["up"],
        "operstate": link["operstate"],
        "sysfs_flags": views.sysfs_attrs("lo", ["flags", "operstate"]),
        "connect": try_errno(s.connect, ("127.0.0.1", 9)),
    }
    s.close()
    views.link_up("lo")
    s = socket.socket()
    s.settimeout(2)
    after = {
        "netlink_up": next(k for k in views.links() if k["ifname"] == "lo")["up"],
        "connect": try_errno(s.connect, ("127.0.0.1", 9)),
    }
    return {"before": before, "after": after}


@op
def abstract_unix_probe(ns_a: str, ns_b: str, name: str = "nsh-abstract") -> dict:
    addr = "\0" + name
    fa, fb = os.open(ns_a, os.O_RDONLY), os.open(ns_b, os.O_RDONLY)
    srv = socket_in(fa, family=socket.AF_UNIX)
    srv.bind(addr)
    srv.listen()
    same = socket_in(fa, family=socket.AF_UNIX)
    other = socket_in(fb, family=socket.AF_UNIX)
    clash = socket_in(fb, family=socket.AF_UNIX)
    return {
        "connect_same_ns": try_errno(same.connect, addr),
        "connect_other_ns": try_errno(other.connect, addr),
        "bind_same_name_other_ns": try_errno(clash.bind, addr),
    }


@op
def move_errno(ifname: str, target: str, new_name: str | None = None) -> str | None:
    """Move a device into another netns over netlink; the errno name if refused."""
    fd = os.open(target, os.O_RDONLY)
    try:
        with Rtnl() as r:
            return r.set(ifname, netns_fd=fd, ifname=new_name)["errno"]
    finally:
        os.close(fd)
