"""Sockets per network namespace (catalogue items 25-30).

Every target netns is held by a process that unshare()d into it. The references a socket is
judged against come from that process, never from the setns -> socket path under test: the
netns cookie of a socket *it* made, its /proc/<pid>/ns/net inode, its /proc/<pid>/net
tables. So a kernel whose socket() ignores the caller's netns cannot agree with itself:
the holder's own socket, SIOCGSKNS vs nsfs, and procfs each disagree. Each test reports
every broken expectation at once (Findings).
"""

import pytest

from harness.guest.nsops import CLONE
from harness.scenario import kernel_version, needs_config, needs_version
from harness.verdict import Findings

from ._devsock import which

pytestmark = [pytest.mark.vm, pytest.mark.area("sockets")]

IN_CREATOR = "a socket belongs to the netns current at socket(), for its whole life"


def judge_socket(f: Findings, s: dict, refs: dict, what: str, cookies: bool) -> None:
    """Socket *s* ({cookie, skns}) must be in B by SIOCGSKNS and SO_NETNS_COOKIE."""
    b = refs["B"]
    if s["skns"] != b["inode"]:
        f.check(
            False,
            f"{what} is in netns inode {s['skns']} ({which(refs, 'inode', s['skns'])})"
            f" by SIOCGSKNS; B's is {b['inode']} (/proc/<pid>/ns/net of a process started "
            f"in B) ({IN_CREATOR})",
        )
    if cookies and s["cookie"] != b["cookie"]:
        f.check(
            False,
            f"{what} has netns cookie {s['cookie']} "
            f"({which(refs, 'cookie', s['cookie'])}); a socket made by a process started "
            f"in B has {b['cookie']} ({IN_CREATOR})",
        )


def distinct_refs(f: Findings, refs: dict, cookies: bool) -> None:
    """The references themselves: three netns, three cookies — else a socket() that ignores
    the creator's netns made them all (and every comparison below would agree with it)."""
    if cookies and len({r["cookie"] for r in refs.values()}) != 3:
        f.check(
            False,
            "sockets made by processes started in B and in C have netns cookies "
            f"{refs['B']['cookie']} and {refs['C']['cookie']}, init's is "
            f"{refs['init']['cookie']}: not three different netns — socket() does not "
            "put a socket in its creator's netns",
        )


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
    f.check(
        r["port_in_B_tcp"] and not r["port_in_init_tcp"],
        f"its listening port is {'' if r['port_in_B_tcp'] else 'not '}in B's "
        f"/proc/<holder>/net/tcp and {'' if r['port_in_init_tcp'] else 'not '}in init's; "
        "expected only in B's (a socket's port lives in the socket's netns)",
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
        art = "an" if fam[0] in "AEIOU" else "a"
        judge_socket(f, s, refs, f"{art} {fam} socket made after setns(B)", cookies)
    nobody = r["nobody"]
    if cookies:
        f.expect(
            nobody.get("cookie"),
            refs["B"]["cookie"],
            what="SO_NETNS_COOKIE as uid 65534",
            why="reading a socket's cookie needs no privilege",
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
        f.check(
            s["port_in_B_udp"] and not s["port_in_init_udp"],
            f"the port the receiver bound on the socket from {what} is "
            f"{'' if s['port_in_B_udp'] else 'not '}in B's /proc/<holder>/net/udp and "
            f"{'' if s['port_in_init_udp'] else 'not '}in init's; expected only in B's "
            "(bind() acts in the socket's netns, not the caller's)",
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


@pytest.mark.behaviour(26)
def test_fresh_netns_has_lo_down_connect_fails_enetunreach_but_bind_127_succeeds(
    agent, nsh_kernel, observe
):
    """26. A netns nobody configured: lo is DOWN — netlink IFF_UP (socket in B), B's own sysfs
    flags/operstate, no 127.0.0.1 in /proc/<holder>/net/fib_trie — and 127.0.0.1 is
    unreachable: TCP connect and UDP sendto fail ENETUNREACH, bind ::1 EADDRNOTAVAIL. The
    catalogue's "bind 127.0.0.1 fails until lo up" is wrong: with IP_MULTIPLE_TABLES=y there
    is no local FIB table yet, so inet_addr_type() says RTN_BROADCAST and bind() accepts any
    address (10.99.0.1 too). After lo up: 0x9, 127.0.0.1 in the FIB, connect ECONNREFUSED,
    ::1 bindable, 10.99.0.1 EADDRNOTAVAIL (the control that bind checks at all). Bug: a new
    netns's lo created UP -> "lo in a fresh netns: netlink IFF_UP gave True; expected False"."""
    multi = nsh_kernel.config.get("IP_MULTIPLE_TABLES") == "y"
    r = observe("probe", agent.fresh_netns_loopback())
    b, a = r["before"], r["after_lo_up"]
    f = Findings()
    down = "a new netns's lo starts DOWN"
    f.expect(b["netlink IFF_UP"], False, what="lo in a fresh netns: netlink IFF_UP", why=down)
    f.check(
        int(b["sysfs flags"], 16) & 1 == 0 and b["sysfs operstate"] == "down",
        f"lo in a fresh netns: B's sysfs says flags {b['sysfs flags']}, operstate "
        f"{b['sysfs operstate']}; expected IFF_UP clear and 'down' ({down})",
    )
    f.expect(
        b["fib_trie has 127.0.0.1"],
        False,
        what="127.0.0.1 in a fresh netns's fib_trie",
        why="the loopback address is configured when lo goes up",
    )
    for call, want, why in (
        ("TCP connect 127.0.0.1", "ENETUNREACH", "no route while lo is down"),
        ("UDP sendto 127.0.0.1", "ENETUNREACH", "no route while lo is down"),
        ("bind ::1", "EADDRNOTAVAIL", "IPv6 adds ::1 only when lo goes up"),
        (
            "bind 127.0.0.1",
            None if multi else "EADDRNOTAVAIL",
            "with IP_MULTIPLE_TABLES=y a fresh netns has no local table: any address binds"
            if multi
            else "without IP_MULTIPLE_TABLES the local table exists (from source)",
        ),
    ):
        f.errno(b[call], want, call=f"{call} in a fresh netns (lo down)", why=why)
    f.expect(a["netlink IFF_UP"], True, what="lo after 'set up': netlink IFF_UP", why="it was set")
    f.check(
        int(a["sysfs flags"], 16) & 1 == 1 and a["fib_trie has 127.0.0.1"],
        f"after lo up B's sysfs says flags {a['sysfs flags']} and 127.0.0.1 in fib_trie: "
        f"{a['fib_trie has 127.0.0.1']}; expected IFF_UP and the address",
    )
    for call, want, why in (
        ("TCP connect 127.0.0.1", "ECONNREFUSED", "reachable now, nobody listens"),
        ("UDP sendto 127.0.0.1", None, "reachable now"),
        ("bind ::1", None, "::1 exists once lo is up"),
        ("bind 127.0.0.1", None, "127.0.0.1 is local"),
        (
            "bind 10.99.0.1 (no device has it)",
            "EADDRNOTAVAIL",
            "with a local table, a foreign address is refused",
        ),
    ):
        f.errno(a[call], want, call=f"{call} after lo up", why=why)
    f.done()


@pytest.mark.behaviour(26)
def test_same_address_and_port_bind_in_two_netns_at_once(agent, observe):
    """26. 127.0.0.1:P listening in B, in C (lo up in both, by their holders) and in init at
    once; a second bind in B is EADDRINUSE (the control: the port check works). Oracles: the
    bind results, each holder's /proc/<pid>/net/tcp listing P once, and which listener a
    connect from B reaches (B's only). Bug: the inet bind hash ignoring the netns -> "bind
    127.0.0.1:P in C failed with EADDRINUSE; expected success (ports are per netns)"."""
    r = observe("probe", agent.same_port_in_two_netns())
    f = Findings()
    for k in ("B", "C", "init"):
        f.errno(
            r[f"bind in {k}"],
            None,
            call=f"bind 127.0.0.1:{r['port']} in {k} (also bound in the others)",
            why="each netns has its own port space",
        )
    f.errno(
        r["second bind in B"],
        "EADDRINUSE",
        call="a second bind of the same address and port in B",
        why="within one netns the port is taken",
    )
    for k in ("B", "C"):
        f.expect(
            r[f"listed in {k}'s tcp"],
            1,
            what=f"listeners on port {r['port']} in {k}'s /proc/<holder>/net/tcp",
            why="one listener per netns",
        )
    f.errno(r["connect from B"], None, call="connect to 127.0.0.1 from B", why="B listens")
    f.expect(
        r["accepted by"],
        ["B"],
        what="the listeners that accepted B's connection",
        why="a connection stays in its netns",
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


@pytest.mark.behaviour(28)
def test_proc_self_net_is_the_leaders_netns_and_thread_self_net_the_threads(agent, observe):
    """28. In a process whose non-leader thread joined B (B has dummy nsh28b), and again
    whose leader joined B while another thread stayed home: /proc/self/net and /proc/net
    (-> self/net) show the leader's netns, /proc/thread-self/net the thread's. References:
    the B holder's /proc/<pid>/net/dev and init's /proc/1/net/dev; cross-check: an
    RTM_GETLINK dump from a socket the thread makes, and /proc/{self,thread-self}/ns/net.
    Bug: proc_tgid_net resolving via the calling thread -> "/proc/self/net/dev in the
    non-leader thread in B gave [lo, nsh28b]; expected init's devices"."""
    r = observe("probe", agent.proc_net_follows_leader())
    bdev, idev = r["B reference"]["devices"], r["init reference"]["devices"]
    bino, iino = r["B reference"]["inode"], r["init reference"]["inode"]
    f = Findings()
    f.expect(
        r["readlink /proc/net"],
        "self/net",
        what="readlink /proc/net",
        why="/proc/net is the process's (leader's) view",
    )
    leader, thread = "the thread-group leader's netns", "the calling thread's netns"
    cases = {
        "non-leader thread in B": {
            "/proc/self/net/dev": (idev, leader),
            "/proc/net/dev": (idev, leader),
            "/proc/thread-self/net/dev": (bdev, thread),
            "RTM_GETLINK dump": (bdev, thread),
            "/proc/thread-self/ns/net": (bino, thread),
            "/proc/self/ns/net": (iino, leader),
        },
        "thread staying home while the leader is in B": {
            "/proc/self/net/dev": (bdev, leader),
            "/proc/net/dev": (bdev, leader),
            "/proc/thread-self/net/dev": (idev, thread),
            "RTM_GETLINK dump": (idev, thread),
            "/proc/thread-self/ns/net": (iino, thread),
            "/proc/self/ns/net": (bino, leader),
        },
    }
    for case, want in cases.items():
        for view, (exp, why) in want.items():
            f.expect(r[case][view], exp, what=f"{view} in the {case}", why=f"it shows {why}")
    f.done()


@pytest.mark.behaviour(29)
def test_link_events_stay_in_their_netns_and_a_netns_id_cannot_change(agent, observe):
    """29. Link events: a dummy made in init and one made in B reach only their own netns's
    rtnetlink and uevent listeners; an init listener with NETLINK_LISTEN_ALL_NSID gets B's
    events only once B has an id in init (tagged with it), a plain one never. Ids — the
    netlink-only form of `ip netns set B 42` / `ip netns list-id`: RTM_NEWNSID(B, 42)
    succeeds, emits an RTM_NEWNSID event, GETNSID and the id dump say 42; changing it (43) is
    EEXIST "Peer netns already has a nsid assigned", giving 42 to C is EEXIST "The specified
    nsid is already used" (extacks as observed on 6.1/6.12). A veth init<->B: the init end's
    IFLA_LINK_NETNSID is 42, B's end shows B's id for init (GETNSID asked in B, announced by an
    RTM_NEWNSID event in B), and each end's IFLA_LINK is the other's ifindex. Bugs: rtnl_notify
    into init_net -> "RTM_NEWLINK of nsh29b (made in B) reached init's listener"; an
    rtnl_net_newid that overwrites -> "RTM_NEWNSID(B, 43) succeeded; expected EEXIST"."""
    r = observe("probe", agent.netlink_events_and_nsids())
    ev, n = r["events"], r["nsid"]
    own = "link events are delivered only in the device's netns"
    f = Findings()
    for who, mine, other in (("init", "nsh29i", "nsh29b"), ("B", "nsh29b", "nsh29i")):
        for kind in ("rtnetlink", "uevent"):
            got = ev[f"{kind} listener in {who}"]
            f.check(
                mine in got and other not in got,
                f"the {kind} listener in {who} got events"
                f" for {got}; expected {mine} (made in {who}) and not {other} ({own})",
            )
    f.check(
        not any(e[0] == "nsh29x" for e in r["all-nsid listener, B without an id"]),
        f"an all-nsid listener in init got {r['all-nsid listener, B without an id']} from B"
        " before B had an id in init; expected nothing (peers need an id)",
    )
    f.check(
        ["nsh29y", n] in r["all-nsid listener, B with an id"],
        f"an all-nsid listener in init got {r['all-nsid listener, B with an id']} after B "
        f"got id {n}; expected ['nsh29y', {n}] (B's event, tagged with B's id)",
    )
    f.check(
        "nsh29y" not in r["plain init listener meanwhile"],
        f"a plain init listener got B's nsh29y event ({r['plain init listener meanwhile']}); {own}",
    )
    f.errno(
        r["set"]["errno"],
        None,
        call=f"RTM_NEWNSID(B, {n}) (ip netns set B {n})",
        why="B had no id in init",
    )
    f.expect(
        r["NEWNSID events in init"],
        [{"type": "NEWNSID", "nsid": n}],
        what="RTNLGRP_NSID events in init",
        why="assigning an id is announced",
    )
    f.expect(r["GETNSID B"], n, what="RTM_GETNSID of B", why="the id just assigned")
    f.check(
        n in r["id dump"],
        f"the id dump (ip netns list-id) is {r['id dump']}; expected it to contain {n}",
    )
    for key, call, text in (
        (
            "change",
            f"RTM_NEWNSID(B, {n + 1}) after B got {n}",
            "Peer netns already has a nsid assigned",
        ),
        (
            "reuse for C",
            f"RTM_NEWNSID(C, {n}) while B has {n}",
            "The specified nsid is already used",
        ),
    ):
        got = r[key]
        f.errno(got["errno"], "EEXIST", call=call, why="a netns id is fixed once assigned")
        if got["errno"] == "EEXIST":
            f.expect(got["extack"], text, what=f"the extack of {call}", why="as on 6.1 and 6.12")
    f.expect(
        r["GETNSID B after change"],
        n,
        what="B's id after the refused change",
        why="ids cannot change",
    )
    f.expect(r["GETNSID C"], -1, what="C's id after the refused reuse", why="nothing assigned")
    vi, vb, bid = r["veth init side"], r["veth B side"], r["GETNSID init, asked in B"]
    f.expect(
        vi.get("link_netnsid"),
        n,
        what="IFLA_LINK_NETNSID of the init end nsh29v",
        why="its peer is in B, whose id in init is that",
    )
    f.check(
        bid is not None and bid >= 0 and vb.get("link_netnsid") == bid,
        f"IFLA_LINK_NETNSID of B's end nsh29w is {vb.get('link_netnsid')}, B's id for init "
        f"(GETNSID asked in B) is {bid}; expected equal (allocated for the peer link)",
    )
    f.expect(
        r["NEWNSID events in B"],
        [{"type": "NEWNSID", "nsid": bid}],
        what="RTNLGRP_NSID events in B while the veth was made",
        why="B's id for init was allocated then",
    )
    f.check(
        vi.get("link") == vb["index"] and vb.get("link") == vi["index"],
        f"veth IFLA_LINK: init end {vi.get('link')} (B end's ifindex {vb['index']}), B end "
        f"{vb.get('link')} (init end's {vi['index']}); expected each to name the other",
    )
    f.done()
