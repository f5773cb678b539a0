"""Where a socket lives (catalogue items 25, 27, 30): the netns current at socket() — after
switching back, through the socketat() idioms, and for AF_UNIX names and accepted sockets.
Items 26, 28, 29 are in test_sockets_per_netns.py.

Every target netns is held by a process that unshare()d into it. The references a socket is
judged against come from that process, never from the setns -> socket path under test: the
netns cookie of a socket *it* made, its /proc/<pid>/ns/net inode, its /proc/<pid>/net
tables. So a kernel whose socket() ignores the caller's netns cannot agree with itself:
the holder's own socket, SIOCGSKNS vs nsfs, and procfs each disagree. Each test reports
every broken expectation at once (Findings).
"""

import pytest

from harness.guest.uapi import CLONE
from harness.scenario.gates import kernel_version, needs_config, needs_version
from harness.scenario.verdict import Findings

from ._devsock import which

pytestmark = [pytest.mark.vm, pytest.mark.area("sockets")]

IN_CREATOR = "a socket belongs to the netns current at socket(), for its whole life"


def judge_socket(f: Findings, s: dict, refs: dict, what: str, cookies: bool) -> None:
    """Socket *s* ({cookie, skns}) must be in B by SIOCGSKNS and by SO_NETNS_COOKIE. When
    only one of the two disagrees (and the references are sound), that view is named."""
    b = refs["B"]
    cookies = cookies and refs_sound(refs)  # broken references: judge by the nsfs inode only
    sk_ok, ck_ok = s["skns"] == b["inode"], not cookies or s["cookie"] == b["cookie"]
    if cookies and not sk_ok and ck_ok:
        f.check(
            False,
            f"SIOCGSKNS on {what} returned netns inode {s['skns']} "
            f"({which(refs, 'inode', s['skns'])}) though its SO_NETNS_COOKIE is B's "
            f"({b['cookie']}); expected B's inode {b['inode']} (SIOCGSKNS returns the "
            "socket's netns, not the caller's)",
        )
    elif cookies and sk_ok and not ck_ok:
        f.check(
            False,
            f"SO_NETNS_COOKIE of {what} is {s['cookie']} "
            f"({which(refs, 'cookie', s['cookie'])}) though SIOCGSKNS places it in B; "
            f"expected B's cookie {b['cookie']} (a process started in B made a socket "
            "with it)",
        )
    elif not sk_ok:
        cookie = f", netns cookie {s['cookie']} (B's: {b['cookie']})" if cookies else ""
        f.check(
            False,
            f"{what} is in netns inode {s['skns']} "
            f"({which(refs, 'inode', s['skns'])}) by SIOCGSKNS{cookie}; B's is "
            f"{b['inode']} (/proc/<pid>/ns/net of a process started in B) ({IN_CREATOR})",
        )


def refs_sound(refs: dict) -> bool:
    return len({r["cookie"] for r in refs.values()}) == 3


def distinct_refs(f: Findings, refs: dict, cookies: bool) -> None:
    """The references themselves. A process started in B made a socket: SIOCGSKNS must say
    B's nsfs inode (else socket() ignores its creator's netns, and every comparison below
    would agree with it); init's, B's and C's cookies must differ (else the cookie is no
    witness here, and only the nsfs inode is judged)."""
    for k in ("B", "C"):
        r = refs[k]
        f.check(r["skns"] == r["inode"], f"a process started in {k} made a socket that lives in "
                f"netns inode {r['skns']} ({which(refs, 'inode', r['skns'])}) by SIOCGSKNS; its "
                f"own netns is {r['inode']} (/proc/<pid>/ns/net): socket() does not put a socket"
                " in its creator's netns")  # fmt: skip
    if cookies and not refs_sound(refs):
        placed = all(refs[k]["skns"] == refs[k]["inode"] for k in ("B", "C"))
        f.check(not placed, "sockets of three different netns (SIOCGSKNS tells them apart) "
                f"have netns cookies {refs['init']['cookie']} (init), {refs['B']['cookie']} "
                f"(B), {refs['C']['cookie']} (C): SO_NETNS_COOKIE is not per netns")  # fmt: skip


@pytest.mark.behaviour(25)
def test_socket_created_after_setns_stays_in_that_netns_after_switching_back(
    agent, nsh_kernel, observe
):
    """25. setns(B) -> socket() -> setns(back): the thread is home again, the socket stays in
    B. Oracles: SO_NETNS_COOKIE vs the cookie of a socket made by a process *started* in B;
    SIOCGSKNS's nsfs inode vs /proc/<that process>/ns/net; the listening port in that
    process's /proc/<pid>/net/tcp and not init's; NS_GET_NSTYPE on the SIOCGSKNS fd, and a
    socket made after setns() to it (round trip); UDP, TCPv6, AF_UNIX, AF_NETLINK, AF_PACKET
    alike; as uid 65534 the cookie is readable but SIOCGSKNS is EPERM (CAP_NET_ADMIN over the
    socket's netns); the cookie is exactly 8 bytes (optlen 4 -> EINVAL). SO_NETNS_COOKIE needs
    5.14 (gated by version, never by the call failing). Bug: `__sock_create(&init_net, ...)` in
    sock_create() -> the holder's own socket gets init's cookie ("... not three different
    netns"), SIOCGSKNS says init's inode, the port is missing from B's tcp table."""
    needs_version(nsh_kernel, (4, 9), "SIOCGSKNS")
    cookies = kernel_version(nsh_kernel) >= (5, 14)
    r = observe("probe", agent.socket_stays_in_creation_netns())
    refs = r["refs"]
    f = Findings()
    distinct_refs(f, refs, cookies)
    f.expect(
        r["thread_after"],
        r["home"],
        what="the thread's /proc/thread-self/ns/net after setns(B) -> socket() -> setns(back)",
        why="setns back to the saved fd returns home",
    )
    judge_socket(f, r["sock"], refs, "a TCP socket made after setns(B)", cookies)
    lists = [w for w in ("B", "init") if r[f"port_in_{w}_tcp"]]
    f.check(
        lists == ["B"],
        f"the socket's listening port {r['port']} is listed in the "
        f"/proc/<pid>/net/tcp of {' and '.join(lists) or 'neither B nor init'}; expected "
        "B's only (a socket's port lives in the socket's netns)",
    )
    f.expect(
        r["skns_nstype"],
        CLONE["net"],
        what="NS_GET_NSTYPE on the fd SIOCGSKNS returned",
        why="SIOCGSKNS returns the socket's network namespace",
    )
    if isinstance(r["roundtrip"], dict):
        judge_socket(f, r["roundtrip"], refs, "a socket made after setns() to that fd", cookies)
    for fam, s in r["families"].items():
        art = "an" if fam.startswith("AF_") else "a"
        judge_socket(f, s, refs, f"{art} {fam} socket made after setns(B)", cookies)
    nobody = r["nobody"]
    if cookies:
        f.expect(
            nobody.get("cookie"),
            r["sock"]["cookie"],
            what="SO_NETNS_COOKIE of the same socket read as uid 65534",
            why="reading a socket's cookie needs no privilege: root read the same",
        )
        f.errno(
            r["cookie_optlen_4"],
            "EINVAL",
            call="getsockopt(SO_NETNS_COOKIE, optlen 4)",
            why="the cookie is a u64: optlen must be 8",
        )
    f.errno(
        nobody.get("skns"),
        "EPERM",
        call="SIOCGSKNS as uid 65534",
        why="it needs CAP_NET_ADMIN over the socket netns's user namespace",
    )
    f.done()


@pytest.mark.behaviour(30)
def test_socketat_idioms_create_sockets_in_the_target_netns(agent, nsh_kernel, observe):
    """30. There is no socketat() syscall (never merged: nothing to probe); the idioms: (1)
    setns(B) -> socket -> setns(back) in one thread, (2) a child that joined B creates the
    socket, passes it over SCM_RIGHTS and exits (pyroute2's netns.create_socket). Then 4
    threads run idiom 1 at once, for B and C, 15 times each. Oracles: SIOCGSKNS vs the holder's
    /proc/<pid>/ns/net, SO_NETNS_COOKIE vs a socket the holder made, the UDP port — bound by
    the *receiver*, in init — listed in B's /proc/<holder>/net/udp and not init's; the
    caller's thread netns unchanged. Bugs: SCM_RIGHTS or socket() re-homing a socket into the
    receiver's/init's netns, a setns that leaks into other threads -> "... is in netns inode
    I (init) by SIOCGSKNS; B's is J"."""
    cookies = kernel_version(nsh_kernel) >= (5, 14)
    r = observe("probe", agent.socketat_idioms())
    refs = r["refs"]
    f = Findings()
    distinct_refs(f, refs, cookies)
    for idiom, what in (
        ("idiom1", "setns(B) -> socket -> setns(back)"),
        ("idiom2", "a child in B that passed its socket over SCM_RIGHTS"),
    ):
        s = r[idiom]
        judge_socket(f, s, refs, f"a UDP socket made by {what}", cookies)
        lists = [w for w in ("B", "init") if s[f"port_in_{w}_udp"]]
        where = " and ".join(lists) or "neither B nor init"
        f.check(
            lists == ["B"],
            f"the port the receiver bound on the socket from {what} is listed in the "
            f"/proc/<pid>/net/udp of {where}; expected B's only (bind() acts in the "
            "socket's netns)",
        )
        f.expect(
            r[f"{idiom}_thread_after"],
            r["home"],
            what=f"the caller's thread netns after {what}",
            why="the idiom leaves the caller where it was",
        )
    for i, t in enumerate(r["threads"]):
        if "exception" in t:
            f.check(False, f"thread {i} running the idiom raised {t['exception']}")
            continue
        f.check(
            not t["wrong"],
            f"thread {i} ({'BC'[i % 2]}): {len(t['wrong'])} of "
            f"{r['sockets_per_thread']} sockets made by the idiom while other threads did "
            f"the same landed elsewhere, e.g. {t['wrong'][:2]} (setns is per thread)",
        )
        f.expect(
            t["thread_after"],
            r["home"],
            what=f"thread {i}'s netns after its rounds",
            why="each round switched back",
        )
    f.done()


@pytest.mark.behaviour(27)
def test_abstract_unix_names_are_per_netns_path_names_are_not(agent, nsh_kernel, observe):
    """27. An abstract name bound in B: reachable from B only (ECONNREFUSED from C and init),
    bindable again in C, EADDRINUSE again in B; listed in B's and C's /proc/<holder>/net/unix,
    not init's. A path name bound in B: C connects and data flows; the server's accepted
    socket lives in the *client's* netns (af_unix unix_stream_connect creates it with
    sock_net(client)): its cookie/SIOCGSKNS = C's holder's. Bug: the abstract hash ignoring
    the netns -> "connect from C to the abstract name bound in B succeeded; expected
    ECONNREFUSED"."""
    needs_config(nsh_kernel, "UNIX", "AF_UNIX sockets")
    cookies = kernel_version(nsh_kernel) >= (5, 14)
    r = observe("probe", agent.unix_names_per_netns())
    a, p, refs = r["abstract"], r["path"], r["refs"]
    per = "abstract AF_UNIX names are per netns"
    f = Findings()
    f.errno(
        a["connect from B"],
        None,
        call="connect from B to the abstract name bound in B",
        why="same netns",
    )
    for who in ("C", "init"):
        f.errno(
            a[f"connect from {who}"],
            "ECONNREFUSED",
            call=f"connect from {who} to the abstract name bound in B",
            why=per,
        )
    f.errno(a["bind the same name in C"], None, call="bind of B's abstract name in C", why=per)
    f.errno(
        a["bind the same name again in B"],
        "EADDRINUSE",
        call="a second bind of the abstract name in B",
        why="taken in B",
    )
    listed = {w: a[f"listed in {w}'s /proc/net/unix"] for w in ("B", "C", "init")}
    f.check(
        listed["B"] >= 1 and listed["C"] >= 1 and listed["init"] == 0,
        f"/proc/<holder>/net/unix entries of the abstract name: {listed}; expected B and C "
        f"(each its own socket) and not init ({per})",
    )
    f.errno(
        p["connect from C"],
        None,
        call="connect from C to a path socket bound in B",
        why="path names live in the filesystem, not in a netns",
    )
    if p["connect from C"] is None:
        f.expect(p["data"], "nsh27", what="data sent through it", why="the connection works")
        acc = p["accepted socket"]
        f.expect(
            acc["skns"],
            refs["C"]["inode"],
            what=f"SIOCGSKNS of the server's accepted socket ({which(refs, 'inode', acc['skns'])})",
            why="it is created in the connecting client's netns (unix_stream_connect)",
        )
        if cookies:
            f.expect(
                acc["cookie"],
                refs["C"]["cookie"],
                what="the accepted socket's netns cookie",
                why="it lives in the client's netns, C",
            )
    lb, lc = (p[f"listening in {w}'s /proc/net/unix"] for w in ("B", "C"))
    f.check(
        lb == 1 and lc == 0,
        f"the path listener is listed {lb} time(s) in B's and {lc} in "
        "C's /proc/net/unix; expected B only (it was created in B)",
    )
    f.done()
