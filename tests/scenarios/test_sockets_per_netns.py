"""Per-netns socket state (catalogue items 26, 28, 29): a fresh netns's loopback and the
same port in two netns, /proc/self/net against /proc/thread-self/net, link events and netns
ids.

Targets are held by processes that unshare()d into them; the sockets a probe uses to *look*
are checked to live where they were made (a misplaced one is a setup error naming item 25,
not a verdict here). References are the holders' /proc/<pid>/net tables and nsfs inodes.
Each test reports every broken expectation at once (Findings).
"""

import pytest

from harness.scenario.gates import kernel_version
from harness.scenario.verdict import Findings

from ._devsock import needs_drivers

pytestmark = [pytest.mark.vm, pytest.mark.area("sockets")]


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


@pytest.mark.behaviour(28)
def test_proc_self_net_is_the_leaders_netns_and_thread_self_net_the_threads(
    agent, nsh_kernel, observe
):
    """28. In a process whose non-leader thread joined B (B has dummy nsh28b), and again
    whose leader joined B while another thread stayed home: /proc/self/net and /proc/net
    (-> self/net) show the leader's netns, /proc/thread-self/net the thread's. References:
    the B holder's /proc/<pid>/net/dev and init's /proc/1/net/dev; cross-check: an
    RTM_GETLINK dump from a socket the thread makes, and /proc/{self,thread-self}/ns/net.
    Bug: proc_tgid_net resolving via the calling thread -> "/proc/self/net/dev in the
    non-leader thread in B gave [lo, nsh28b]; expected init's devices"."""
    needs_drivers(nsh_kernel, "DUMMY")
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
def test_link_events_stay_in_their_netns_and_a_netns_id_cannot_change(agent, nsh_kernel, observe):
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
    needs_drivers(nsh_kernel, "DUMMY", "VETH")
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
        if got["errno"] == "EEXIST" and kernel_version(nsh_kernel) >= (6, 1):
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
